// The git source against real repositories: pinned-commit reads, path and extension filtering,
// hostile content (cases 23), fetch failures (15, 16) and SSH signature verification (19–21).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { GitSource, FetchError } from '../../src/sources/git-source.js';
import { makeSourceSpec, parseSourceArg, SourceSpecError } from '../../src/sources/source-spec.js';
import { verifyCommits } from '../../src/sources/commit-signatures.js';
import { GitDaemon, TestRepo, git, makeSshKey, processMentions, removeDir, startBlackhole, startGitHttp, tempDir } from './git-fixture.js';

const root = tempDir('git-source');
after(() => removeDir(root));

function source(name: string, url: string, path = '', extra: { fetchTimeoutMs?: number; limits?: Record<string, number> } = {}): GitSource {
  return new GitSource(makeSourceSpec({ name, url, branch: 'main', path }), { cacheDir: join(root, 'cache'), ...extra });
}

describe('reading a pinned commit', () => {
  it('returns only configuration files under the path, as of the fetched commit', async () => {
    const repo = new TestRepo(root, 'pinned');
    repo.write('deploy/a.yaml', 'a: 1\n').write('deploy/sub/b.json', '{"b":2}').write('deploy/README.md', '# no').write('other/c.yaml', 'c: 3\n');
    const first = repo.commit('first');
    const src = source('pinned', repo.bare, 'deploy');
    const rev = await src.fetch();
    assert.equal(rev, first);
    // A later push does not change what the pinned revision reads.
    repo.write('deploy/a.yaml', 'a: 2\n').commit('second');
    const snap = await src.readSnapshot(rev);
    assert.deepEqual(
      snap.files.map((f) => [f.path, f.content.toString()]),
      [
        ['deploy/a.yaml', 'a: 1\n'],
        ['deploy/sub/b.json', '{"b":2}'],
      ],
    );
    assert.equal(snap.problems.length, 0);
    assert.equal(snap.commit.message, 'first');
    assert.match(snap.commit.author, /Team Member <member@example.com>/);
    const next = await src.fetch();
    assert.notEqual(next, first);
    assert.equal((await src.readSnapshot(next)).files[0]!.content.toString(), 'a: 2\n');
    assert.equal(await src.isAncestor(first, next), true);
  });

  it('refuses a symlink, naming the file (case 23)', async () => {
    const repo = new TestRepo(root, 'symlink');
    repo.write('deploy/ok.yaml', 'a: 1\n').symlink('deploy/routes.yaml', '/etc/passwd').symlink('deploy/up.yaml', '../../secret');
    const src = source('symlink', repo.bare, 'deploy');
    const snap = await src.readSnapshot(await (repo.commit('links'), src.fetch()));
    assert.deepEqual(snap.problems.map((p) => [p.code, p.origin.path]), [
      ['PathOutsideRoot', 'deploy/routes.yaml'],
      ['PathOutsideRoot', 'deploy/up.yaml'],
    ]);
    assert.equal(snap.files.length, 0, 'nothing of a refused revision is read');
  });

  it('refuses an oversized file before reading it, and too many files (case 23)', async () => {
    const repo = new TestRepo(root, 'caps');
    repo.write('big.yaml', 'x: ' + 'y'.repeat(5000) + '\n');
    for (let i = 0; i < 4; i++) repo.write(`f${i}.yaml`, `n: ${i}\n`);
    repo.commit('caps');
    const big = source('caps', repo.bare, '', { limits: { maxFileBytes: 4096 } });
    const s1 = await big.readSnapshot(await big.fetch());
    assert.deepEqual(s1.problems.map((p) => [p.code, p.origin.path]), [['FileTooLarge', 'big.yaml']]);
    const many = source('caps', repo.bare, '', { limits: { maxFiles: 3 } });
    const s2 = await many.readSnapshot(await many.fetch());
    assert.deepEqual(s2.problems.map((p) => p.code), ['TooManyFiles']);
  });
});

describe('download and disk caps (16.6)', () => {
  function dirBytes(dir: string): number {
    return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
  }

  it('stops a fetch that downloads more than its cap, keeps the served revision, and leaves the cache as it was', async () => {
    const repo = new TestRepo(root, 'blob');
    const served = repo.write('deploy/routes.yaml', 'a: 1\n').commit('routes');
    const src = source('blob', repo.bare, 'deploy', { limits: { maxFetchBytes: 2 * 1024 * 1024 } });
    assert.equal(await src.fetch(), served);
    const cacheBefore = dirBytes(src.repoDir);
    // A team commits an 8 MiB blob beside its YAML (random bytes: git cannot compress them away).
    repo.write('deploy/routes.yaml', 'a: 2\n').write('assets/video.bin', randomBytes(8 * 1024 * 1024).toString('latin1')).commit('a large file');
    await assert.rejects(src.fetch(), (e: unknown) => e instanceof FetchError && e.reason === 'TooLarge' && /more than 2097152 bytes/.test(e.message));
    assert.equal(await src.cachedRevision(), served, 'the fetched ref still names the served revision');
    assert.ok(dirBytes(src.repoDir) < cacheBefore + 1024 * 1024, `the cache did not keep the download (${dirBytes(src.repoDir)} bytes, was ${cacheBefore})`);
  });

  it('refuses a fetch that would grow the cache past its cap', async () => {
    const repo = new TestRepo(root, 'cache-cap');
    repo.write('a.yaml', 'a: 1\n').write('blob.bin', randomBytes(600 * 1024).toString('latin1')).commit('first');
    const src = source('cache-cap', repo.bare, '', { limits: { maxCacheBytes: 256 * 1024 } });
    await assert.rejects(src.fetch(), (e: unknown) => e instanceof FetchError && e.reason === 'TooLarge' && /cache .* over its limit of 262144/.test(e.message));
    assert.equal(await src.cachedRevision(), undefined);
  });

  it('refuses a tree with an entry named ".." (git fsck refuses such trees; a push without fsck stores them)', async () => {
    const repo = new TestRepo(root, 'dotdot');
    repo.write('deploy/ok.yaml', 'a: 1\n').commit('ok');
    // deploy/ holds ok.yaml and a subtree named '..' with evil.yaml: made with hash-object --literally.
    const blob = git(repo.work, ['hash-object', '-w', '--stdin'], {}, 'kind: Mapping\n');
    const evil = git(repo.work, ['mktree'], {}, `100644 blob ${blob}\tevil.yaml\n`);
    const okBlob = git(repo.work, ['rev-parse', 'HEAD:deploy/ok.yaml']);
    const deployTree = literalTree(repo.work, [['100644', 'ok.yaml', okBlob], ['40000', '..', evil]]);
    const rootTree = literalTree(repo.work, [['40000', 'deploy', deployTree]]);
    const commit = git(repo.work, ['commit-tree', rootTree, '-p', 'HEAD', '-m', 'dot-dot'], {});
    git(repo.work, ['push', '-q', '--force', 'origin', `${commit}:refs/heads/main`]);
    const src = source('dotdot', repo.bare, 'deploy');
    const snap = await src.readSnapshot(await src.fetch());
    assert.ok(snap.problems.some((p) => p.code === 'PathOutsideRoot' && p.severity === 'error' && p.origin.path === 'deploy/../evil.yaml'), JSON.stringify(snap.problems));
    assert.ok(!snap.files.some((f) => f.path.includes('..')), 'the file is never read as deploy/../evil.yaml');
  });
});

/** A tree object written as given, names unchecked (what a hostile pusher can store). */
function literalTree(cwd: string, entries: [mode: string, name: string, oid: string][]): string {
  const body = Buffer.concat(entries.map(([mode, name, oid]) => Buffer.concat([Buffer.from(`${mode} ${name}\0`), Buffer.from(oid, 'hex')])));
  return execFileSync('git', ['hash-object', '-t', 'tree', '-w', '--literally', '--stdin'], { cwd, input: body, encoding: 'utf8' }).trim();
}

describe('fetching over git://', () => {
  const daemonRoot = join(root, 'served');
  let daemon: GitDaemon;
  let repo: TestRepo;
  before(async () => {
    repo = new TestRepo(daemonRoot, 'remote');
    repo.write('x.yaml', 'x: 1\n').commit('served');
    daemon = new GitDaemon(daemonRoot);
    await daemon.start();
  });
  after(() => daemon.stop());

  it('fetches from git daemon, then reports the remote unreachable when it stops (case 15)', async () => {
    const src = source('daemon', daemon.url('remote.git'));
    assert.equal(await src.fetch(), repo.head());
    await daemon.stop();
    await assert.rejects(src.fetch(), (e: unknown) => e instanceof FetchError && e.reason === 'Unreachable');
    // The cached revision is still readable with the remote down.
    assert.equal(await src.cachedRevision(), repo.head());
    await daemon.start();
  });

  it('names a missing branch and a missing repository', async () => {
    const noBranch = new GitSource(makeSourceSpec({ name: 'nobranch', url: daemon.url('remote.git'), branch: 'nope' }), { cacheDir: join(root, 'cache') });
    await assert.rejects(noBranch.fetch(), (e: unknown) => e instanceof FetchError && e.reason === 'RefNotFound');
    const noRepo = source('norepo', daemon.url('missing.git'));
    await assert.rejects(noRepo.fetch(), (e: unknown) => e instanceof FetchError && e.reason === 'RepositoryNotFound');
  });

  it('aborts a fetch from a blackholed remote at its timeout and leaves no git process (case 16)', async () => {
    const hole = await startBlackhole();
    try {
      const src = source('hole', `git://127.0.0.1:${hole.port}/x.git`, '', { fetchTimeoutMs: 1500 });
      await assert.rejects(src.fetch(), (e: unknown) => e instanceof FetchError && e.reason === 'Timeout');
      assert.ok(!processMentions(`127.0.0.1:${hole.port}`), 'no git process is left talking to the blackhole');
    } finally {
      await hole.close();
    }
  });
});

describe('fetching over http', () => {
  it('fetches through smart HTTP, and names an authentication failure without prompting (case 17)', async () => {
    const httpRoot = join(root, 'http-served');
    const repo = new TestRepo(httpRoot, 'web');
    repo.write('x.yaml', 'x: 1\n').commit('over http');
    const open = await startGitHttp(httpRoot);
    const locked = await startGitHttp(httpRoot, { requireAuth: 'ci:s3cret' });
    try {
      const src = source('http', open.url('web.git'));
      assert.equal(await src.fetch(), repo.head());
      assert.equal((await src.readSnapshot(repo.head())).files[0]!.path, 'x.yaml');
      const denied = source('http-auth', locked.url('web.git'));
      await assert.rejects(denied.fetch(), (e: unknown) => e instanceof FetchError && e.reason === 'AuthenticationFailed');
    } finally {
      await open.close();
      await locked.close();
    }
  });
});

describe('source arguments', () => {
  it('parses NAME=URL#BRANCH:PATH and refuses dangerous values', () => {
    assert.deepEqual(parseSourceArg('ops=https://git.example.com/edge-ops.git#main:deploy'), {
      name: 'ops',
      url: 'https://git.example.com/edge-ops.git',
      branch: 'main',
      path: 'deploy',
    });
    assert.equal(parseSourceArg('ops=/srv/repo').branch, 'HEAD');
    assert.throws(() => parseSourceArg('ops=ext::sh -c touch% /tmp/pwned'), SourceSpecError);
    assert.throws(() => parseSourceArg('ops=--upload-pack=evil'), SourceSpecError);
    assert.throws(() => parseSourceArg('ops=/srv/repo#main:../etc'), SourceSpecError);
    assert.throws(() => parseSourceArg('Ops=/srv/repo'), /lower-case/);
    // A URL must name a host git can connect to; user, port and IPv6 literals are fine.
    for (const url of ['https://…', 'https://.../edge.git', 'https://git example.com/edge.git', 'ssh://-oProxyCommand=x/edge.git', 'https://host:http/edge.git']) {
      assert.throws(() => parseSourceArg(`ops=${url}`), /has no valid host name/, url);
    }
    for (const url of ['https://user:pw@git.example.com:8443/edge.git', 'ssh://git@[::1]:22/edge.git', 'git://localhost/edge.git', 'git@git.example.com:acme/edge.git']) {
      assert.equal(parseSourceArg(`ops=${url}`).url, url);
    }
  });
});

describe('SSH commit signatures', () => {
  const keys = join(root, 'keys');
  mkdirSync(keys, { recursive: true });
  const trusted = makeSshKey(keys, 'trusted@example.com');
  const stranger = makeSshKey(keys, 'stranger@example.com');
  const policyHead = { mode: 'head' as const, allowedSigners: trusted.allowedSigners };
  const policyStrict = { mode: 'strict' as const, allowedSigners: trusted.allowedSigners };
  const work = join(root, 'verify');

  it('accepts a commit signed by an allowed signer', async () => {
    const repo = new TestRepo(root, 'signed-ok');
    const c = repo.write('a.yaml', 'a: 1\n').commit('signed', { config: trusted.config, sign: true });
    const src = source('signed-ok', repo.bare);
    await src.fetch();
    const v = await verifyCommits(src, [c], policyHead, work);
    assert.equal(v.ok, true);
    assert.equal(v.status, 'G');
  });

  it('refuses an unsigned HEAD (case 19)', async () => {
    const repo = new TestRepo(root, 'unsigned');
    const c = repo.write('a.yaml', 'a: 1\n').commit('unsigned');
    const src = source('unsigned', repo.bare);
    await src.fetch();
    const v = await verifyCommits(src, [c], policyHead, work);
    assert.equal(v.ok, false);
    assert.equal(v.reason, 'SignatureMissing');
  });

  it('refuses a commit signed by a key not in allowed-signers, although git reports "U" (case 20)', async () => {
    const repo = new TestRepo(root, 'untrusted');
    const c = repo.write('a.yaml', 'a: 1\n').commit('stranger', { config: stranger.config, sign: true });
    const src = source('untrusted', repo.bare);
    await src.fetch();
    const v = await verifyCommits(src, [c], policyHead, work);
    assert.equal(v.ok, false);
    assert.equal(v.status, 'U');
    assert.equal(v.reason, 'SignatureUntrusted');
  });

  it('head mode accepts a signed merge of unsigned commits; strict mode refuses it (case 21)', async () => {
    const repo = new TestRepo(root, 'merge');
    const base = repo.write('a.yaml', 'a: 1\n').commit('base', { config: trusted.config, sign: true });
    const { git } = await import('./git-fixture.js');
    git(repo.work, ['checkout', '-q', '-b', 'feature']);
    repo.write('b.yaml', 'b: 1\n').commit('unsigned feature work', { push: false });
    git(repo.work, ['checkout', '-q', 'main']);
    git(repo.work, [...trusted.config, 'merge', '-q', '--no-ff', '-S', '-m', 'signed merge', 'feature']);
    repo.push();
    const src = source('merge', repo.bare);
    const headRev = await src.fetch();
    const commits = await src.commitsSince([base], headRev, 100);
    assert.equal(commits.length, 2);
    assert.equal((await verifyCommits(src, commits, policyHead, work)).ok, true);
    const strict = await verifyCommits(src, commits, policyStrict, work);
    assert.equal(strict.ok, false);
    assert.equal(strict.reason, 'SignatureMissing');
  });
});

describe('GPG commit signatures', () => {
  const home = join(root, 'gnupg-signer');
  mkdirSync(home, { recursive: true, mode: 0o700 });
  // Signing starts a gpg-agent for this home; stop it rather than wait for it to notice.
  after(() => execFileSync('gpgconf', ['--homedir', home, '--kill', 'all'], { stdio: 'ignore' }));
  const gpg = (args: string[]) => execFileSync('gpg', ['--batch', '--homedir', home, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const keyOf = (uid: string) => {
    gpg(['--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never']);
    const fpr = gpg(['--with-colons', '--list-keys', uid]).split('\n').find((l) => l.startsWith('fpr:'))!.split(':')[9]!;
    return fpr;
  };
  const lead = keyOf('Lead <lead@example.com>');
  const other = keyOf('Other <other@example.com>');
  const armoured = gpg(['--armor', '--export', lead, other]);
  const signWith = (fpr: string) => ({ config: ['-c', 'gpg.format=openpgp', '-c', `user.signingkey=${fpr}`], env: { GNUPGHOME: home } });
  const policy = { mode: 'head' as const, gpgKeys: armoured, gpgFingerprints: [lead] };
  const work = join(root, 'verify-gpg');

  it('accepts a commit signed by an allow-listed fingerprint', async () => {
    const repo = new TestRepo(root, 'gpg-ok');
    const c = repo.write('a.yaml', 'a: 1\n').commit('signed', { ...signWith(lead), sign: true });
    const src = source('gpg-ok', repo.bare);
    await src.fetch();
    const v = await verifyCommits(src, [c], policy, work);
    assert.equal(v.ok, true, v.detail);
    assert.equal(v.status, 'G');
  });

  it('refuses a key that is in the keyring but not on the fingerprint allow-list', async () => {
    const repo = new TestRepo(root, 'gpg-other');
    const c = repo.write('a.yaml', 'a: 1\n').commit('signed by other', { ...signWith(other), sign: true });
    const src = source('gpg-other', repo.bare);
    await src.fetch();
    const v = await verifyCommits(src, [c], policy, work);
    assert.equal(v.ok, false);
    assert.equal(v.reason, 'SignatureUntrusted');
  });
});
