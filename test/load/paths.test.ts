// loadPaths reads real folders: recursive sorted walk of .yaml/.yml/.json, hidden entries skipped,
// symlinks followed only inside the folder, and unreadable paths reported instead of thrown.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, symlink, writeFile, copyFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPaths } from '../../src/load/index.js';
import { readTree, SYNC_READER } from '../../src/load/file-tree.js';
import type { MappingSpec } from '../../src/api/schemas.js';
import type { Resource } from '../../src/api/resource.js';

const FIXTURES = join(process.cwd(), 'test', 'testdata', 'load', 'edge');

const mapping = (name: string) =>
  `apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: {name: ${name}}\nspec: {prefix: /${name}/, service: ${name}, hostname: "*"}\n`;

test('a folder of mixed shapes loads in sorted path order', async (t) => {
  const r = await loadPaths([FIXTURES], { source: 'dir' });
  await t.test('every gateway object loads, in file order', () => {
    assert.deepEqual(
      r.resources.map((x) => [x.kind, x.namespace, x.name]),
      [
        ['Mapping', 'shop', 'quote-mapping'],
        ['Mapping', 'shop', 'flat-mapping'],
        ['Listener', 'default', 'http'],
        ['Host', 'team-a', 'a-example'],
        ['Mapping', 'team-a', 'team-a-api'],
        ['Mapping', 'team-a', 'team-a-web'],
      ],
    );
  });
  await t.test('only the Deployment is reported, as skipped; hidden folders and other extensions are not read', () => {
    assert.deepEqual(r.problems.map((p) => [p.code, p.severity]), [['NonEmissaryKind', 'warning']]);
  });
  await t.test('origins carry the path as given plus line and column', () => {
    const api = r.resources.find((x) => x.name === 'team-a-api') as Resource;
    assert.deepEqual(api.origin, { source: 'dir', path: join(FIXTURES, 'team-a', 'mappings.yml'), line: 1, col: 3 });
    assert.deepEqual(api.labels, Object.assign(Object.create(null), { team: 'a' }));
  });
  await t.test('the annotated v2 Mapping is normalised and inherits the Service namespace', () => {
    const quote = r.resources[0] as Resource<MappingSpec>;
    assert.equal(quote.apiVersion, 'getambassador.io/v2');
    assert.equal(quote.spec.hostname, '*');
    assert.deepEqual([...(quote.spec.v2BoolHeaders ?? [])], ['x-beta']);
    assert.deepEqual([quote.origin.line, quote.origin.col], [10, 7]);
  });
});

test('symlinks, explicit files and missing paths', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portico-load-'));
  const outside = await mkdtemp(join(tmpdir(), 'portico-outside-'));
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });
  await mkdir(join(dir, 'root', 'sub'), { recursive: true });
  await writeFile(join(dir, 'root', 'a.yaml'), mapping('a'));
  await writeFile(join(dir, 'root', 'sub', 'b.yaml'), mapping('b'));
  await writeFile(join(outside, 'secret.yaml'), mapping('outside'));
  await symlink(join(dir, 'root', 'sub', 'b.yaml'), join(dir, 'root', 'c-link.yaml'));
  await symlink(join(outside, 'secret.yaml'), join(dir, 'root', 'd-escape.yaml'));
  await symlink(outside, join(dir, 'root', 'e-escape-dir'));
  await symlink(join(dir, 'root'), join(dir, 'root', 'sub', 'loop'));

  const r = await loadPaths([join(dir, 'root')]);
  await t.test('a link inside the folder is followed; a loop back to the root is not walked twice', () => {
    assert.deepEqual(r.resources.map((x) => x.name), ['a', 'b', 'b']);
  });
  await t.test('links leading outside the folder are reported, not followed', () => {
    assert.deepEqual(
      r.problems.map((p) => [p.code, p.origin.path]),
      [
        ['PathOutsideRoot', join(dir, 'root', 'd-escape.yaml')],
        ['PathOutsideRoot', join(dir, 'root', 'e-escape-dir')],
      ],
    );
    assert.ok(!r.resources.some((x) => x.name === 'outside'));
  });
  await t.test('a file named explicitly loads whatever its extension', async () => {
    await copyFile(join(dir, 'root', 'a.yaml'), join(dir, 'mapping.conf'));
    const one = await loadPaths([join(dir, 'mapping.conf')]);
    assert.deepEqual(one.resources.map((x) => x.name), ['a']);
  });
  await t.test('a missing path is a problem, not an exception, that says why in words', async () => {
    const missing = await loadPaths([join(dir, 'nope')], { source: 'cli' });
    assert.deepEqual(missing.resources, []);
    assert.deepEqual(missing.problems.map((p) => [p.code, p.origin.source]), [['FileUnreadable', 'cli']]);
    assert.equal(missing.problems[0]?.message, 'cannot read: ENOENT (no such file or directory)');
  });
});

test('the synchronous reader (offline commands) reads a tree as the asynchronous one does', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portico-sync-'));
  const outside = await mkdtemp(join(tmpdir(), 'portico-outside-'));
  after(async () => {
    await chmod(join(dir, 'root', 'f-locked.yaml'), 0o644).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });
  await mkdir(join(dir, 'root', 'sub'), { recursive: true });
  await writeFile(join(dir, 'root', 'a.yaml'), mapping('a'));
  await writeFile(join(dir, 'root', 'sub', 'b.yml'), mapping('b'));
  await writeFile(join(dir, 'root', 'notes.txt'), 'not configuration');
  await writeFile(join(outside, 'secret.yaml'), mapping('outside'));
  await symlink(join(dir, 'root', 'sub', 'b.yml'), join(dir, 'root', 'c-link.yaml'));
  await symlink(join(outside, 'secret.yaml'), join(dir, 'root', 'd-escape.yaml'));
  await symlink(join(dir, 'root'), join(dir, 'root', 'sub', 'loop'));
  await symlink(join(dir, 'gone.yaml'), join(dir, 'root', 'e-dangling.yaml'));
  // Links to what would never be read (not a folder, not a configuration file) are not worth a word.
  await symlink(join(dir, 'gone.txt'), join(dir, 'root', 'e-dangling-notes.txt'));
  await writeFile(join(outside, 'passwords.txt'), 'not configuration');
  await symlink(join(outside, 'passwords.txt'), join(dir, 'root', 'e-escape-notes.txt'));
  await writeFile(join(dir, 'root', 'f-locked.yaml'), mapping('f'));
  await chmod(join(dir, 'root', 'f-locked.yaml'), 0o000);
  const paths = [join(dir, 'root'), join(dir, 'missing'), join(dir, 'root', 'a.yaml')];

  const async = await readTree(paths);
  const sync = await readTree(paths, SYNC_READER);
  const view = (t: typeof async) => ({ files: t.files.map((f) => [f.path, f.content.toString('utf8')]), problems: t.problems });
  assert.deepEqual(view(sync), view(async));
  // What each saw, so that two equally wrong walks cannot pass.
  assert.deepEqual(
    sync.files.map((f) => f.path).filter((p) => !p.endsWith('f-locked.yaml')),
    [join(dir, 'root', 'a.yaml'), join(dir, 'root', 'c-link.yaml'), join(dir, 'root', 'sub', 'b.yml'), join(dir, 'root', 'a.yaml')],
  );
  assert.deepEqual(
    sync.problems.map((p) => [p.code, p.path] as const).filter(([, p]) => !p.endsWith('f-locked.yaml')),
    [
      ['PathOutsideRoot', join(dir, 'root', 'd-escape.yaml')],
      ['FileUnreadable', join(dir, 'root', 'e-dangling.yaml')],
      ['FileUnreadable', join(dir, 'missing')],
    ],
  );
  assert.equal(sync.problems.find((p) => p.path.endsWith('e-dangling.yaml'))?.message, 'symbolic link cannot be followed: ENOENT (no such file or directory)');
});
