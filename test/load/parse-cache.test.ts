// The parse cache: a load after a one-file change reads only that file, and what a load gives is the
// same with and without the cache, down to the revision in every origin.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir, unlink } from 'node:fs/promises';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { loadFiles, loadPaths, ParseCache, type LoadFile, type LoadResult } from '../../src/load/index.js';
import { compile } from '../../src/compile/index.js';

const TESTDATA = join(process.cwd(), 'test', 'testdata');

function corpus(dir: string, out: LoadFile[] = []): LoadFile[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) corpus(p, out);
    else if (/\.(ya?ml|json)$/.test(name)) out.push({ path: relative(TESTDATA, p), content: readFileSync(p) });
  }
  return out;
}

const mapping = (name: string, prefix = `/${name}/`) =>
  `apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata:\n  name: ${name}\n  namespace: default\nspec:\n  hostname: "*"\n  prefix: ${prefix}\n  service: ${name}:80\n`;

/** Fifty files of ten Mappings; the last document of each has a typo, so every file has a problem too. */
function team(n: number): LoadFile[] {
  return Array.from({ length: n }, (_, f) => ({
    path: `team-${String(f).padStart(2, '0')}.yaml`,
    content: `${Array.from({ length: 10 }, (_, i) => mapping(`svc-${f}-${i}`)).join('---\n')}---\n${mapping(`typo-${f}`).replace('service:', 'servise:')}`,
  }));
}

const plain = (r: LoadResult) => JSON.parse(JSON.stringify(r)) as unknown;

test('the corpus loads the same with and without the cache: cold, all reused, and reused under a new revision', () => {
  const files = corpus(TESTDATA);
  assert.ok(files.length > 50);
  const cache = new ParseCache();
  for (const revision of ['r1', 'r1', 'r2']) {
    const opts = { source: 'corpus', revision };
    const fresh = loadFiles(files, opts);
    const cached = loadFiles(files, opts, cache);
    assert.deepStrictEqual(plain(cached), plain(fresh), revision);
    // What compile makes of it is the same too (a cached resource is never changed by a load that reuses it).
    assert.equal(compile(cached.resources, {}, cached.problems).hash, compile(fresh.resources, {}, fresh.problems).hash, revision);
  }
  assert.deepEqual(cache.lastLoad, { reused: files.length, read: 0 });
  assert.ok(loadFiles(files, { source: 'corpus', revision: 'r2' }, cache).resources.every((r) => Object.isFrozen(r)));
});

test('after a one-file change, only that file is read again; the others keep their results and get the new revision', () => {
  const cache = new ParseCache();
  const files = team(50);
  const first = loadFiles(files, { source: 'team', revision: 'r1' }, cache);
  assert.deepEqual(cache.lastLoad, { reused: 0, read: 50 });
  assert.equal(first.resources.length, 500);
  assert.ok(first.problems.length >= 50);

  const changed = files.map((f, i) => (i === 17 ? { ...f, content: `${f.content as string}---\n${mapping('added')}` } : f));
  const second = loadFiles(changed, { source: 'team', revision: 'r2' }, cache);
  assert.deepEqual(cache.lastLoad, { reused: 49, read: 1 });
  assert.deepStrictEqual(plain(second), plain(loadFiles(changed, { source: 'team', revision: 'r2' })));
  assert.ok(second.resources.some((r) => r.name === 'added'));
  assert.ok(second.resources.every((r) => r.origin.revision === 'r2' && r.origin.source === 'team'));
  assert.ok(second.problems.every((p) => p.origin.revision === 'r2'));
  // The first load's results are untouched by the second.
  assert.ok(first.resources.every((r) => r.origin.revision === 'r1'));
});

test('what changes a file\'s result is part of its key: path, source and ambassador ID', () => {
  const cache = new ParseCache();
  const files = team(3);
  loadFiles(files, { source: 'a', revision: 'r1' }, cache);
  loadFiles(files, { source: 'a', revision: 'r1', ambassadorId: 'other' }, cache);
  assert.deepEqual(cache.lastLoad, { reused: 0, read: 3 });
  loadFiles(files, { source: 'b', revision: 'r1' }, cache);
  assert.deepEqual(cache.lastLoad, { reused: 0, read: 3 });
  const renamed = files.map((f, i) => (i === 0 ? { ...f, path: 'renamed.yaml' } : f));
  const r = loadFiles(renamed, { source: 'a', revision: 'r1' }, cache);
  assert.deepEqual(cache.lastLoad, { reused: 2, read: 1 });
  assert.ok(r.resources.filter((x) => x.name.startsWith('svc-0-')).every((x) => x.origin.path === 'renamed.yaml'));
  // A given blob id stands for the content.
  loadFiles(files.map((f) => ({ ...f, hash: `blob-${f.path}` })), { source: 'c' }, cache);
  loadFiles(files.map((f) => ({ ...f, hash: `blob-${f.path}` })), { source: 'c' }, cache);
  assert.deepEqual(cache.lastLoad, { reused: 3, read: 0 });
});

test('Portico\'s own namespace is part of the key: it is the namespace of a resource that names none', () => {
  const cache = new ParseCache();
  const files = [{ path: 'bare.yaml', content: mapping('bare').replace('  namespace: default\n', '') }];
  assert.equal(loadFiles(files, { source: 'a' }, cache).resources[0]!.namespace, 'default');
  const inPortico = loadFiles(files, { source: 'a', ambassadorNamespace: 'portico' }, cache);
  assert.deepEqual(cache.lastLoad, { reused: 0, read: 1 });
  assert.equal(inPortico.resources[0]!.namespace, 'portico');
  assert.equal(loadFiles(files, { source: 'a' }, cache).resources[0]!.namespace, 'default');
});

test('memory stays bounded: a load keeps only the files it saw, and sources do not push each other out', () => {
  const cache = new ParseCache();
  loadFiles(team(10), { source: 'a' }, cache);
  loadFiles(team(5), { source: 'b' }, cache);
  assert.equal(cache.size, 15);
  loadFiles(team(4), { source: 'a' }, cache);
  assert.equal(cache.size, 9);
  assert.deepEqual(cache.lastLoad, { reused: 4, read: 0 });
});

test('loadPaths: a folder re-read after one file changed on disk reads that file alone, and agrees with a fresh load', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portico-parse-cache-'));
  after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'teams'));
  for (const f of team(20)) await writeFile(join(dir, 'teams', f.path), f.content);
  const cache = new ParseCache();
  const opts = { source: 'dir', revision: 'h1' };
  await loadPaths([dir], opts, cache);
  assert.deepEqual(cache.lastLoad, { reused: 0, read: 20 });
  await writeFile(join(dir, 'teams', 'team-03.yaml'), mapping('only'));
  await unlink(join(dir, 'teams', 'team-04.yaml'));
  const again = await loadPaths([dir], { ...opts, revision: 'h2' }, cache);
  assert.deepEqual(cache.lastLoad, { reused: 18, read: 1 });
  assert.deepStrictEqual(plain(again), plain(await loadPaths([dir], { ...opts, revision: 'h2' })));
  assert.equal(cache.size, 19);
});
