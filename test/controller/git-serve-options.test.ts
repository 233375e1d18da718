// The git options of `portico serve`: what they turn into, and the clear usage errors for bad ones.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { extractGitServeArgs, GitServeUsageError } from '../../src/controller/git-serve-options.js';
import { removeDir, tempDir } from '../sources/git-fixture.js';

const dir = tempDir('serve-options');
after(() => removeDir(dir));

describe('portico serve git options', () => {
  it('turn into root sources and provider options, leaving the other options to serve', () => {
    const signers = join(dir, 'allowed_signers');
    writeFileSync(signers, 'lead@example.com namespaces="git" ssh-ed25519 AAAA\n');
    const r = extractGitServeArgs(
      ['--source', 'ops=https://git.example.com/edge.git#main:deploy', '--workers', '0', '--state=/var/lib/portico', '--poll-interval', '10s', '--verify', `ops=strict:${signers}`, '--webhook-secret', 'abcdefgh12', '--ambassador-id', 'edge-a'],
      {},
    );
    assert.deepEqual(r.rest, ['--workers', '0']);
    const g = r.git!;
    assert.equal(g.stateDir, '/var/lib/portico');
    assert.equal(g.defaultIntervalMs, 10_000);
    assert.deepEqual(g.webhookSecrets, ['abcdefgh12']);
    assert.equal(g.ambassadorId, 'edge-a');
    assert.deepEqual(g.roots[0]!.spec, { name: 'ops', url: 'https://git.example.com/edge.git', branch: 'main', path: 'deploy' });
    assert.equal(g.roots[0]!.verify?.mode, 'strict');
    assert.match(g.roots[0]!.verify!.allowedSigners!, /lead@example.com/);
  });

  it('leave a plain --config command line alone', () => {
    assert.deepEqual(extractGitServeArgs(['--config', 'dir'], {}), { rest: ['--config', 'dir'] });
  });

  const bad: [string, string[], RegExp][] = [
    ['git options without a source', ['--state', 'x'], /at least one --source/],
    ['a source without a name', ['--source', 'https://x/y.git'], /NAME=URL/],
    ['the same name twice', ['--source', 'a=/r1', '--source', 'a=/r2'], /its own NAME/],
    ['a short webhook secret', ['--source', 'a=/r', '--webhook-secret', 'short'], /at least 8/],
    ['three webhook secrets', ['--source', 'a=/r', '--webhook-secret', 'aaaaaaaa1', '--webhook-secret', 'aaaaaaaa2', '--webhook-secret', 'aaaaaaaa3'], /at most two/],
    ['a poll interval under a second', ['--source', 'a=/r', '--poll-interval', '100ms'], /at least 1s/],
    ['--verify for an unknown source', ['--source', 'a=/r', '--verify', 'b=head:/dev/null'], /no --source named 'b'/],
    ['an unknown force-push policy', ['--source', 'a=/r', '--on-force-push', 'yolo'], /refuse or accept-with-strict/],
  ];
  for (const [name, argv, message] of bad) {
    it(`refuse ${name} with a clear message`, () => {
      assert.throws(() => extractGitServeArgs(argv, {}), (e: unknown) => e instanceof GitServeUsageError && message.test(e.message));
    });
  }

  it('read webhook secrets from the environment too', () => {
    assert.deepEqual(extractGitServeArgs(['--source', 'a=/r'], { PORTICO_WEBHOOK_SECRETS: 'one-secret-1, two-secret-2' }).git!.webhookSecrets, ['one-secret-1', 'two-secret-2']);
  });
});
