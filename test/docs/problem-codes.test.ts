import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PROBLEM_CODES } from '../../src/api/problems.js';

const doc = readFileSync(new URL('../../../docs/reference/problems.md', import.meta.url), 'utf8');
const rows = [...doc.matchAll(/^\| `([A-Za-z0-9]+)` \| (error|warning) \|/gm)].map((m) => [m[1]!, m[2]!] as const);

test('every problem code in the code is documented with its severity', () => {
  const documented = new Map(rows);
  for (const [code, severity] of Object.entries(PROBLEM_CODES)) {
    assert.equal(documented.get(code), severity, `docs/reference/problems.md: ${code} should be listed as ${severity}`);
  }
});

test('the documentation lists no code that the code does not have', () => {
  const known = new Set(Object.keys(PROBLEM_CODES));
  const stale = rows.map(([c]) => c).filter((c) => !known.has(c));
  assert.deepEqual(stale, []);
  assert.ok(rows.length >= 30, 'the table of codes was found');
});
