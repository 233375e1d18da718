// The state folder's files: the last-known-good set (atomic, checksummed; corruption detected) and
// the audit history (durable appends, rotation keeps it bounded, a torn last line is skipped).

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LastKnownGoodStore, LkgCorruptError } from '../../src/controller/last-known-good.js';
import { AuditHistory } from '../../src/controller/history.js';
import { removeDir, tempDir } from '../sources/git-fixture.js';

const root = tempDir('state-files');
after(() => removeDir(root));

const entry = {
  spec: { name: 'ops', url: '/srv/central.git', branch: 'main', path: '' },
  revision: 'b'.repeat(40),
  commit: { author: 'A <a@example.com>', authorDate: '2026-01-01T00:00:00Z', committer: 'A <a@example.com>', date: '2026-01-01T00:00:00Z', message: 'm' },
  files: [{ path: 'a.yaml', content: 'x: 1\n' }],
  appliedAt: '2026-01-01T00:00:01Z',
};

describe('last-known-good file', () => {
  it('round-trips and leaves no temporary file behind', () => {
    const dir = join(root, 'lkg-ok');
    const store = new LastKnownGoodStore(dir);
    assert.equal(store.load(), undefined);
    store.save({ version: 1, sources: { ops: entry } });
    assert.deepEqual(store.load()!.sources.ops, entry);
    assert.deepEqual(readdirSync(dir), ['last-known-good.json']);
  });

  it('is unaffected by a crash in the middle of a later write (a torn temp file)', () => {
    const dir = join(root, 'lkg-crash');
    const store = new LastKnownGoodStore(dir);
    store.save({ version: 1, sources: { ops: entry } });
    // What a kill -9 during save leaves: a partial temp file beside the intact real one.
    writeFileSync(join(dir, 'last-known-good.json.tmp-99999'), '{"checksum":"ab');
    assert.deepEqual(store.load()!.sources.ops!.revision, entry.revision);
    store.removeStaleTemp();
    assert.deepEqual(readdirSync(dir), ['last-known-good.json']);
  });

  const damage: [string, (text: string) => string, RegExp][] = [
    ['a truncated file', (t) => t.slice(0, t.length - 20), /not valid JSON/],
    ['an edited body', (t) => t.replace('x: 1', 'x: 2'), /checksum mismatch/],
    ['a file without checksum', () => '{"body":{}}', /missing checksum/],
  ];
  for (const [name, spoil, why] of damage) {
    it(`detects ${name}`, () => {
      const dir = join(root, `lkg-${name.replace(/\W+/g, '-')}`);
      const store = new LastKnownGoodStore(dir);
      store.save({ version: 1, sources: { ops: entry } });
      writeFileSync(store.file, spoil(readFileSync(store.file, 'utf8')));
      assert.throws(() => store.load(), (e: unknown) => e instanceof LkgCorruptError && e.code === 'PORTICO_ERR_LKG_CORRUPT' && why.test(e.message));
      const moved = store.quarantine()!;
      assert.match(moved, /last-known-good\.json\.corrupt-\d+$/);
      assert.equal(store.load(), undefined);
    });
  }
});

describe('audit history file', () => {
  it('keeps appending across instances (restarts) and skips a torn last line', () => {
    const dir = join(root, 'hist');
    new AuditHistory(dir).append({ source: 'ops', revision: '1', result: 'Applied' });
    new AuditHistory(dir).append({ source: 'shop', revision: '2', result: 'Rejected', reason: 'SignatureMissing' });
    appendFileSync(join(dir, 'history.jsonl'), '{"source":"ops","revis');
    const h = new AuditHistory(dir);
    assert.deepEqual(h.read().map((e) => [e.source, e.result]), [
      ['ops', 'Applied'],
      ['shop', 'Rejected'],
    ]);
    assert.deepEqual(h.read({ source: 'shop' }).map((e) => e.reason), ['SignatureMissing']);
  });

  it('rotates to one older file so that it stays bounded', () => {
    const dir = join(root, 'rotate');
    const h = new AuditHistory(dir, 2000);
    for (let i = 0; i < 100; i++) h.append({ source: 'ops', revision: String(i), result: 'Applied', message: 'x'.repeat(50) });
    const size = statSync(join(dir, 'history.jsonl')).size + statSync(join(dir, 'history.jsonl.1')).size;
    assert.ok(size <= 4000, `history holds ${size} bytes`);
    const kept = h.read();
    assert.equal(kept.at(-1)!.revision, '99', 'the newest entry is kept');
    assert.ok(kept.length < 100);
  });
});
