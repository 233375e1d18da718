// `serve --source ops=GIT --config DIR`: a folder beside git is one more named source of the same
// reconcile, ranked below git. Edits in the folder add and change its own routes but never remove or
// override git's; with git unreachable and no state, the gateway refuses to start on the folder alone.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { freePort } from '../support/free-port.js';
import { cleartextGatewayYaml, listenerYaml, mappingYaml } from '../support/policy-yaml.js';
import { sourceYaml } from '../controller/controller-fixture.js';
import { removeDir, tempDir, TestRepo } from '../sources/git-fixture.js';
import { ServeProcess } from '../serve/serve-harness.js';
import { eventually, request } from '../serve/http-client.js';

const root = tempDir('folder-beside-git');
const echoes: EchoUpstream[] = [];
const procs: ServeProcess[] = [];
after(async () => {
  for (const p of procs) await p.stop();
  for (const e of echoes) await e.close();
  removeDir(root);
});

let gitA: EchoUpstream, gitB: EchoUpstream, local: EchoUpstream, rogue: EchoUpstream;
before(async () => {
  for (const name of ['git-a', 'git-b', 'local', 'rogue']) echoes.push(await startEcho(name));
  [gitA, gitB, local, rogue] = echoes as [EchoUpstream, EchoUpstream, EchoUpstream, EchoUpstream];
});

async function upstreamOf(port: number, path: string): Promise<string> {
  const r = await request(`http://127.0.0.1:${port}${path}`, { headers: { host: 'edge.example.com' } });
  if (r.status !== 200) return `status ${r.status}`;
  return (JSON.parse(r.body) as { name: string }).name;
}

describe('a folder beside git', () => {
  it('adds its own routes, and an edit in it never removes or overrides git routes', async () => {
    const port = await freePort();
    const central = new TestRepo(root, 'central');
    central.write('gateway.yaml', cleartextGatewayYaml(port) + '---\n' + mappingYaml('git-route', '/git/', gitA.port)).commit('central');
    const dir = join(root, 'local-config');
    mkdirSync(dir);
    writeFileSync(join(dir, 'local.yaml'), mappingYaml('local-route', '/local/', local.port));
    const proc = new ServeProcess(['--source', `ops=${central.bare}#main`, '--config', `dev=${dir}`, '--state', join(root, 'state'), '--admin', '127.0.0.1:0', '--workers', '0', '--access-log', 'off']);
    procs.push(proc);
    await proc.ready();
    assert.equal(await upstreamOf(port, '/git/x'), 'git-a');
    assert.equal(await upstreamOf(port, '/local/x'), 'local');

    // The folder redefines git's Mapping and adds a Listener on git's port: refused as a whole.
    writeFileSync(join(dir, 'local.yaml'), mappingYaml('git-route', '/git/', rogue.port) + '---\n' + listenerYaml(port, 'rogue') + '---\n' + mappingYaml('local-route', '/local/', rogue.port));
    const status = await eventually('the folder revision refused', async () => {
      const s = JSON.parse((await request(`${proc.admin}/api/v1/status`)).body) as { sources: { name: string; state: string; message: string; role: string }[] };
      const dev = s.sources.find((x) => x.name === 'dev');
      return dev?.state === 'Refused' ? s : undefined;
    });
    assert.deepEqual(status.sources.map((s) => [s.name, s.role]), [['dev', 'root'], ['ops', 'root']]);
    assert.equal(await upstreamOf(port, '/git/x'), 'git-a', "git's route is untouched");
    assert.equal(await upstreamOf(port, '/local/x'), 'local', "the folder's last good revision keeps serving");

    // A valid edit in the folder applies; git's routes stay.
    writeFileSync(join(dir, 'local.yaml'), mappingYaml('local-route', '/local/', local.port) + '---\n' + mappingYaml('local-two', '/local2/', local.port));
    await eventually('the folder edit live', async () => (await upstreamOf(port, '/local2/x')) === 'local');
    assert.equal(await upstreamOf(port, '/git/x'), 'git-a');

    // Emptying the folder removes only the folder's routes.
    rmSync(join(dir, 'local.yaml'));
    await eventually('the folder routes gone', async () => (await upstreamOf(port, '/local/x')) === 'status 404');
    assert.equal(await upstreamOf(port, '/git/x'), 'git-a');

    // A git change goes live beside the folder.
    writeFileSync(join(dir, 'local.yaml'), mappingYaml('local-route', '/local/', local.port));
    central.write('gateway.yaml', cleartextGatewayYaml(port) + '---\n' + mappingYaml('git-route', '/git/', gitB.port)).commit('central v2');
    proc.signal('SIGHUP');
    await eventually('git v2 and the folder both live', async () => (await upstreamOf(port, '/git/x')) === 'git-b' && (await upstreamOf(port, '/local/x')) === 'local');
    const config = JSON.parse((await request(`${proc.admin}/api/v1/config`)).body) as { revision: string };
    assert.match(config.revision, /^dev@sha256:[0-9a-f]{12},ops@[0-9a-f]{12}$/, 'the served configuration names both sources and their revisions');
    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
  });

  it("never takes a team's route or resource from git: the folder ranks below git's teams", async () => {
    const port = await freePort();
    const shop = new TestRepo(root, 'shop');
    shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', gitA.port)).commit('shop');
    const central = new TestRepo(root, 'central-teams');
    central.write('gateway.yaml', cleartextGatewayYaml(port) + '---\n' + sourceYaml('shop', shop.bare, ['/shop/'])).commit('central');
    const dir = join(root, 'team-folder');
    mkdirSync(dir);
    writeFileSync(join(dir, 'local.yaml'), mappingYaml('local-route', '/local/', local.port));
    const proc = new ServeProcess(['--source', `ops=${central.bare}#main`, '--config', `dev=${dir}`, '--state', join(root, 'state-teams'), '--admin', '127.0.0.1:0', '--workers', '0', '--access-log', 'off']);
    procs.push(proc);
    await proc.ready();
    await eventually("the team's route live", async () => (await upstreamOf(port, '/shop/x')) === 'git-a');
    type Dev = { state: string; lastAttempt?: { revision: string; reason?: string } };
    const devState = async (): Promise<Dev | undefined> => {
      const s = JSON.parse((await request(`${proc.admin}/api/v1/status`)).body) as { sources: (Dev & { name: string })[] };
      return s.sources.find((x) => x.name === 'dev');
    };
    let seen = (await devState())?.lastAttempt?.revision;

    // A route on the team's prefix, then a Mapping of the team's name: each refused as a conflict.
    for (const [what, yaml] of [
      ["a route on the team's prefix", mappingYaml('local-route', '/shop/', rogue.port)],
      ["a Mapping of the team's name", mappingYaml('shop', '/local/', rogue.port)],
    ] as const) {
      writeFileSync(join(dir, 'local.yaml'), yaml);
      const dev = await eventually(`${what}: the folder refused`, async () => {
        const d = await devState();
        return d?.state === 'Refused' && d.lastAttempt?.revision !== seen ? d : undefined;
      });
      seen = dev.lastAttempt?.revision;
      assert.equal(dev.lastAttempt?.reason, 'Conflict', what);
      assert.equal(await upstreamOf(port, '/shop/x'), 'git-a', `${what}: the team's route is untouched`);
      assert.equal(await upstreamOf(port, '/local/x'), 'local', `${what}: the folder's last good revision keeps serving`);
    }
    writeFileSync(join(dir, 'local.yaml'), mappingYaml('local-route', '/local/', local.port));
    await eventually('the folder back to its good revision', async () => (await devState())?.state === 'Ready');
    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
  });

  it('refuses to start on the folder alone when git cannot be reached and nothing was served before', async () => {
    const port = await freePort();
    const dir = join(root, 'alone');
    mkdirSync(dir);
    writeFileSync(join(dir, 'all.yaml'), listenerYaml(await freePort()) + '---\n' + mappingYaml('local-route', '/local/', local.port));
    const out = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, ['bin/portico.js', 'serve', '--source', `ops=git://127.0.0.1:${port}/central.git#main`, '--config', dir, '--state', join(root, 'state-alone'), '--admin', '127.0.0.1:0', '--workers', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      p.once('exit', (code) => resolve({ code, stderr: err }));
    });
    assert.equal(out.code, 1);
    assert.match(out.stderr, /no valid configuration to serve for 'ops'/);
    assert.doesNotMatch(out.stderr, /no valid configuration to serve for 'ops', 'dev'|'dev': no valid revision/, 'the folder is not blamed');
    assert.doesNotMatch(out.stderr, /listening on/, "nothing of the folder's configuration is bound before the start is refused");
    assert.match(out.stderr, /PORTICO_ERR_NO_VALID_CONFIGURATION/);
  });
});
