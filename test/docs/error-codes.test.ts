// The catalogue of PORTICO_ERR_* codes (docs/reference/errors.md) and the program agree both ways:
// every code in src/ is documented, and no page of the documentation names a code src/ lacks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const repo = new URL('../../../', import.meta.url).pathname;
const CODE = /PORTICO_ERR_[A-Z0-9_]*[A-Z0-9]/g;

function files(dir: string, ext: RegExp): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(repo, dir), { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p, ext));
    else if (ext.test(e.name)) out.push(p);
  }
  return out;
}

function codesIn(paths: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const p of paths) for (const m of readFileSync(join(repo, p), 'utf8').matchAll(CODE)) if (!found.has(m[0])) found.set(m[0], p);
  return found;
}

const catalogue = readFileSync(join(repo, 'docs/reference/errors.md'), 'utf8');
const rows = new Set([...catalogue.matchAll(/^\| `(PORTICO_ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]!));
const inSource = codesIn(files('src', /\.ts$/));

test('every PORTICO_ERR_* code in src/ has a row in docs/reference/errors.md', () => {
  assert.ok(inSource.size >= 20, `the codes in src/ were found (${inSource.size})`);
  const missing = [...inSource].filter(([c]) => !rows.has(c)).map(([c, where]) => `${c} (${where})`);
  assert.deepEqual(missing, [], 'add a row for each to docs/reference/errors.md');
});

test('no page of the documentation names a PORTICO_ERR_* code that src/ lacks', () => {
  const docs = codesIn(['README.md', ...files('docs', /\.md$/)]);
  assert.ok(docs.size >= rows.size);
  const stale = [...docs].filter(([c]) => !inSource.has(c)).map(([c, where]) => `${c} (${where})`);
  assert.deepEqual(stale, []);
});
