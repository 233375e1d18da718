// Bad input never crashes the loader: arbitrary text and arbitrary object trees come back as
// resources and problems, each problem with a code, a severity and an origin.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { loadFiles, type LoadResult } from '../../src/load/index.js';
import { PROBLEM_CODES } from '../../src/api/problems.js';

function wellFormed(r: LoadResult): void {
  for (const p of r.problems) {
    assert.ok(p.code in PROBLEM_CODES, p.code);
    assert.equal(p.severity === 'error' || p.severity === 'warning', true);
    assert.equal(p.origin.path, 'fuzz.yaml');
    assert.ok(p.message.length > 0);
  }
  for (const res of r.resources) assert.ok(res.name.length > 0);
}

test('arbitrary text', () => {
  const yamlish = fc
    .array(
      fc.constantFrom('a', ':', ' ', '\n', '-', '[', ']', '{', '}', ',', '"', "'", '&x', '*x', '!', '#', '|', '>', '---', 'kind: Mapping', '\t', '<<'),
      { maxLength: 120 },
    )
    .map((parts) => parts.join(''));
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 200 }), yamlish), (text) => {
      wellFormed(loadFiles([{ path: 'fuzz.yaml', content: text }]));
    }),
    { numRuns: 400, seed: 20261126 },
  );
});

test('arbitrary specs under real kinds', () => {
  const kinds = fc.constantFrom('Mapping', 'Host', 'Listener', 'TLSContext', 'TCPMapping', 'Module');
  const spec = fc.dictionary(
    fc.constantFrom('prefix', 'service', 'port', 'hostname', 'headers', 'tls', 'config', 'cors', 'weight', 'labels', 'x', 'ambassador_id'),
    fc.jsonValue({ maxDepth: 3 }),
  );
  fc.assert(
    fc.property(kinds, fc.constantFrom('v2', 'v3alpha1'), spec, (kind, version, s) => {
      const text = stringify({ apiVersion: `getambassador.io/${version}`, kind, metadata: { name: 'fuzz' }, spec: s });
      wellFormed(loadFiles([{ path: 'fuzz.yaml', content: text }]));
    }),
    { numRuns: 400, seed: 20261126 },
  );
});

test('process.env is the same object after a load, whatever the input', () => {
  const env = process.env;
  loadFiles([
    { path: 'a.yaml', content: 'a: [unclosed\n' },
    { path: 'b.yaml', content: 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: {name: m}\nspec: {prefix: /, service: s}\n' },
  ]);
  assert.equal(process.env, env);
  assert.equal(typeof process.env.PATH, 'string');
});
