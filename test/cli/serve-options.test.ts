// The command line of `portico serve`: folders and git repositories become named roots of one
// reconcile, team folders and pins are checked, and every bad option is a clear usage error.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseServeArgs } from '../../src/cli/serve-options.js';
import { UsageError } from '../../src/cli/args.js';
import { CommandError } from '../../src/cli/command-errors.js';
import { removeDir, tempDir } from '../sources/git-fixture.js';

const dir = tempDir('serve-options');
after(() => removeDir(dir));

describe('portico serve options', () => {
  it('turn git sources and folders into roots of the same reconcile', () => {
    const signers = join(dir, 'allowed_signers');
    writeFileSync(signers, 'lead@example.com namespaces="git" ssh-ed25519 AAAA\n');
    const r = parseServeArgs(
      ['--source', 'ops=https://git.example.com/edge.git#main:deploy', '--config', 'edge=local/edge', '--workers', '0', '--state=/var/lib/portico', '--poll-interval', '10s', '--verify', `ops=strict:${signers}`, '--webhook-secret', 'abcdefgh12', '--ambassador-id', 'edge-a', '--pin', 'shop=refs/pull/12/merge', '--local', 'search=../search/deploy'],
      {},
      '/work',
    );
    assert.equal(r.serve.workers, 0);
    const s = r.sources;
    assert.equal(s.stateDir, '/var/lib/portico');
    assert.equal(s.defaultIntervalMs, 10_000);
    assert.deepEqual(s.webhookSecrets, ['abcdefgh12']);
    assert.equal(s.ambassadorId, 'edge-a');
    assert.deepEqual(
      s.roots.map((x) => [x.spec.name, x.kind, x.spec.url]),
      [
        ['ops', 'git', 'https://git.example.com/edge.git'],
        ['edge', 'directory', '/work/local/edge'],
      ],
    );
    assert.deepEqual(s.roots[0]!.spec, { name: 'ops', url: 'https://git.example.com/edge.git', branch: 'main', path: 'deploy' });
    assert.equal(s.roots[0]!.verify?.mode, 'strict');
    assert.match(s.roots[0]!.verify!.allowedSigners!, /lead@example.com/);
    assert.deepEqual(s.pins, { shop: 'refs/pull/12/merge' });
    assert.deepEqual(s.localTeams, { search: '/search/deploy' });
  });

  it('name a plain folder "dir" and keep its state in memory unless --state is given', () => {
    const r = parseServeArgs(['--config', 'policies'], {}, '/srv');
    assert.deepEqual(r.sources.roots.map((x) => [x.spec.name, x.kind, x.spec.url]), [['dir', 'directory', '/srv/policies']]);
    assert.equal(r.sources.stateDir, undefined);
    assert.equal(parseServeArgs(['--source', 'a=/r'], {}, '/srv').sources.stateDir, '.portico');
  });

  it('take a namespace as a root source, and the status-writer lease and identity from the pod', () => {
    const r = parseServeArgs(['--kubernetes', 'ops=portico-system', '--kubeconfig', 'kube.yaml'], { POD_NAME: 'portico-7d9', POD_NAMESPACE: 'portico' }, '/srv');
    assert.deepEqual(r.sources.roots.map((x) => [x.spec.name, x.kind, x.spec.url, x.kubernetes]), [['ops', 'kubernetes', 'kubernetes:portico-system', { namespace: 'portico-system' }]]);
    assert.deepEqual(r.sources.kubernetes, { kubeconfig: '/srv/kube.yaml', identity: 'portico-7d9', lease: { name: 'portico-status-writer', namespace: 'portico' }, writeStatus: true });
    const off = parseServeArgs(['--config', 'x', '--lease', 'off', '--no-status', '--identity', 'me'], {}, '/srv').sources.kubernetes;
    assert.deepEqual(off, { identity: 'me', lease: 'off', writeStatus: false });
    assert.deepEqual(parseServeArgs(['--config', 'x', '--lease', 'edge/writer'], {}, '/srv').sources.kubernetes?.lease, { name: 'writer', namespace: 'edge' });
  });

  const bad: [string, string[], RegExp][] = [
    ['a namespace that is not one', ['--kubernetes', 'ops=Portico_System'], /'Portico_System' is not a namespace name/],
    ['a lease that is not NAMESPACE/NAME', ['--config', 'x', '--lease', 'a/b/c'], /--lease needs NAMESPACE\/NAME/],
    ['no source at all', ['--workers', '0'], /give --config DIR, --source NAME=URL#BRANCH:PATH or --kubernetes NAME=NAMESPACE/],
    ['a source without a name', ['--source', 'https://x/y.git'], /NAME=URL/],
    ['the same name twice', ['--source', 'a=/r1', '--source', 'a=/r2'], /named 'a'/],
    ['a folder named like a git source', ['--source', 'dir=/r1', '--config', '/x'], /named 'dir'/],
    ['a namespace named like a git source', ['--source', 'a=/r1', '--kubernetes', 'a=portico'], /named 'a'/],
    ['a source URL without a host name (an example\'s ellipsis)', ['--source', 'a=https://…'], /source URL 'https:\/\/…' has no valid host name/],
    ['a short webhook secret', ['--source', 'a=/r', '--webhook-secret', 'short'], /at least 8/],
    ['three webhook secrets', ['--source', 'a=/r', '--webhook-secret', 'aaaaaaaa1', '--webhook-secret', 'aaaaaaaa2', '--webhook-secret', 'aaaaaaaa3'], /at most two/],
    ['a poll interval under a second', ['--source', 'a=/r', '--poll-interval', '100ms'], /at least 1s/],
    ['--verify for an unknown source', ['--source', 'a=/r', '--verify', 'b=head:/dev/null'], /no --source named 'b'/],
    ['an unknown force-push policy', ['--source', 'a=/r', '--on-force-push', 'yolo'], /refuse or accept-with-strict/],
    ['a misspelled option', ['--config', 'x', '--worker', '2'], /unknown option '--worker' \(did you mean '--workers'\?\)/],
    ['a pin without a ref', ['--source', 'a=/r', '--pin', 'shop='], /expected NAME=REF/],
    ['a pin that looks like an option', ['--source', 'a=/r', '--pin', 'shop=--upload-pack=x'], /not a valid ref/],
    ['a local team named like a root', ['--source', 'a=/r', '--local', 'a=/x'], /not a team source/],
    ['a fetch size without a unit it knows', ['--source', 'a=/r', '--fetch-max-size', '64MB'], /at least 1KiB/],
  ];
  writeFileSync(join(dir, 'not-a-dir'), '');
  for (const [name, argv, message] of bad) {
    it(`refuse ${name} with a clear message`, () => {
      assert.throws(() => parseServeArgs(argv, {}, '/srv'), (e: unknown) => e instanceof UsageError && message.test(e.message));
    });
  }

  it('refuse a secrets directory that cannot be read with its code, PORTICO_ERR_SECRETS_DIR', () => {
    for (const [secrets, why] of [['/nonexistent/secrets', /cannot be read: ENOENT \(no such file or directory\)/], [join(dir, 'not-a-dir'), /not-a-dir cannot be read: not a directory/]] as const) {
      assert.throws(() => parseServeArgs(['--source', 'a=/r', '--secrets', secrets], {}, '/srv'), (e: unknown) => e instanceof CommandError && e.code === 'PORTICO_ERR_SECRETS_DIR' && why.test(e.message));
    }
  });

  it('take download and cache caps with binary units', () => {
    assert.deepEqual(parseServeArgs(['--source', 'a=/r', '--fetch-max-size', '8MiB', '--cache-max-size', '1GiB'], {}).sources.limits, { maxFetchBytes: 8 * 1024 ** 2, maxCacheBytes: 1024 ** 3 });
  });

  it('take the secrets directory relative to the working directory', () => {
    assert.equal(parseServeArgs(['--source', 'a=/r', '--secrets', '.'], {}, dir).sources.secretsDir, dir);
    assert.equal(parseServeArgs(['--source', 'a=/r'], {}, dir).sources.secretsDir, undefined);
  });

  it('read webhook secrets from the environment too', () => {
    assert.deepEqual(parseServeArgs(['--source', 'a=/r'], { PORTICO_WEBHOOK_SECRETS: 'one-secret-1, two-secret-2' }).sources.webhookSecrets, ['one-secret-1', 'two-secret-2']);
  });
});

describe('portico serve options for telling teams', () => {
  const base = ['--source', 'ops=https://git.example.com/acme/edge.git#main'];
  it('read the forge, the token reference, the context and repository overrides', () => {
    const secrets = join(dir, 'notify-secrets');
    mkdirSync(join(secrets, 'forge'), { recursive: true });
    writeFileSync(join(secrets, 'forge', 'token'), 't0ken\n');
    const r = parseServeArgs([...base, '--secrets', secrets, '--commit-status', 'gitlab=https://gitlab.example.com/api/v4', '--commit-status-token', 'secret:forge/token', '--commit-status-context', 'portico/eu', '--commit-status-repo', 'shop=platform/teams/shop', '--notify-webhook', 'https://hooks.example.com/x'], {}, '/work');
    assert.deepEqual(r.sources.notify, {
      commitStatus: { forge: 'gitlab', api: 'https://gitlab.example.com/api/v4', token: { kind: 'secret', dir: secrets, name: 'forge', key: 'token' }, context: 'portico/eu', repositories: { shop: 'platform/teams/shop' } },
      webhooks: [{ kind: 'literal', value: 'https://hooks.example.com/x' }],
    });
  });
  const bad: Record<string, string[]> = {
    'an unknown forge': ['--commit-status', 'bitbucket=https://api.bitbucket.org', '--commit-status-token', 'file:/etc/hostname'],
    'an API URL with credentials in it': ['--commit-status', 'github=https://user:pw@api.github.com', '--commit-status-token', 'file:/etc/hostname'],
    'no token': ['--commit-status', 'github=https://api.github.com'],
    'a token on the command line': ['--commit-status', 'github=https://api.github.com', '--commit-status-token', 'ghp_abcdef'],
    'secret: without --secrets': ['--commit-status', 'github=https://api.github.com', '--commit-status-token', 'secret:forge/token'],
    'a context without --commit-status': ['--commit-status-context', 'x'],
    'a webhook that is not a URL': ['--notify-webhook', 'hooks.example.com'],
  };
  for (const [name, args] of Object.entries(bad)) {
    it(`refuse ${name} with a usage error`, () => assert.throws(() => parseServeArgs([...base, ...args], {}, '/work'), UsageError));
  }
});
