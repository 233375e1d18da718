// `portico serve` tells teams about their commits, as configured on its command line: a Gitea commit
// status with the token from the secrets directory, and a webhook whose URL is read from a file.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ServeProcess } from '../serve/serve-harness.js';
import { TestRepo, removeDir, tempDir } from '../sources/git-fixture.js';
import { freePort } from '../support/free-port.js';
import { cleartextGatewayYaml, mappingYaml } from '../support/policy-yaml.js';
import { startEcho } from '../support/echo-upstream.js';
import { startFakeForge, startWebhookReceiver } from '../support/fake-forge.js';

const root = tempDir('commit-status');
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  removeDir(root);
});

describe('portico serve --commit-status --notify-webhook', () => {
  it('writes the status of each commit with the token from --secrets, and posts to the webhook', async () => {
    const token = 'gitea-token-from-secrets';
    const forge = await startFakeForge(token, ['acme/edge']);
    const hook = await startWebhookReceiver();
    const up = await startEcho('up');
    cleanups.push(() => forge.close(), () => hook.close(), () => up.close());
    const secrets = join(root, 'secrets');
    mkdirSync(join(secrets, 'gitea'), { recursive: true });
    writeFileSync(join(secrets, 'gitea', 'token'), token);
    const hookFile = join(root, 'webhook-url');
    writeFileSync(hookFile, `${hook.url}\n`);
    const org = join(root, 'acme');
    mkdirSync(org);
    const repo = new TestRepo(org, 'edge');
    const port = await freePort();
    const good = repo.write('gateway.yaml', cleartextGatewayYaml(port) + '---\n' + mappingYaml('app', '/app/', up.port)).commit('edge v1');

    const proc = new ServeProcess([
      '--source', `ops=${repo.bare}#main`, '--state', join(root, 'state'), '--secrets', secrets, '--poll-interval', '1s',
      '--admin', '127.0.0.1:0', '--workers', '0', '--access-log', 'off',
      '--commit-status', `gitea=${forge.api.gitea}`, '--commit-status-token', 'secret:gitea/token', '--commit-status-context', 'portico/test',
      '--notify-webhook', `file:${hookFile}`,
    ]);
    cleanups.push(() => proc.stop());
    await proc.ready();
    await forge.waitFor((s) => s.some((x) => x.sha === good && x.state === 'success'), 'the success of edge v1');
    await hook.waitFor((m) => m.length >= 1, 'the applied message');
    assert.match(hook.messages[0]!.text, /^:rocket: ops [0-9a-f]{12} "edge v1" by Team Member is live/);

    const bad = repo.write('gateway.yaml', cleartextGatewayYaml(port) + '---\n' + mappingYaml('app', '/app/', up.port, '  precedence: high\n')).commit('edge v2');
    await forge.waitFor((s) => s.some((x) => x.sha === bad), 'the status of edge v2');
    const status = forge.statuses.find((x) => x.sha === bad)!;
    assert.equal(status.state, 'failure');
    assert.equal(status.context, 'portico/test');
    assert.match(status.description, /^Refused \(InvalidConfiguration\): gateway\.yaml:\d+: /);
    await hook.waitFor((m) => m.some((x) => x.portico.type === 'refused'), 'the refusal');
    assert.deepEqual(forge.refused, []);
    const ps = execFileSync('ps', ['-o', 'args=', '-p', String(proc.pid)], { encoding: 'utf8' });
    assert.ok(!ps.includes(token) && !ps.includes(hook.url), 'neither the token nor the webhook URL is on the command line');
    assert.ok(!proc.stderr.join('\n').includes(token), 'nor in the log');
    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
  });

  it('refuses to start when the token cannot be read', async () => {
    const repo = new TestRepo(join(root), 'lonely');
    repo.write('gateway.yaml', cleartextGatewayYaml(await freePort())).commit('v1');
    const secrets = join(root, 'empty-secrets');
    mkdirSync(secrets);
    const proc = new ServeProcess(['--source', `ops=${repo.bare}#main`, '--state', join(root, 'state2'), '--secrets', secrets, '--admin', '127.0.0.1:0', '--workers', '0', '--commit-status', 'github=https://api.github.com', '--commit-status-token', 'secret:forge/token']);
    cleanups.push(() => proc.stop());
    const exit = await proc.exited;
    assert.equal(exit.code, 1);
    assert.match(proc.stderr.join('\n'), /PORTICO_ERR_NOTIFY_CONFIG: --commit-status-token: cannot read secret:forge\/token: ENOENT/);
  });
});
