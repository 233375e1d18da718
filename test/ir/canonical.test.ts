// hashIR is the sha256 of the IR's JSON text, encoded as UTF-8; these tests pin that contract so that
// a faster way of hashing can never change a served hash.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { hashIR } from '../../src/ir/canonical.js';

const digestOfStringify = (v: unknown): string => createHash('sha256').update(JSON.stringify(v), 'utf8').digest('hex');

test('hashIR is the sha256 of JSON.stringify for any JSON-like value', () => {
  fc.assert(
    fc.property(fc.anything({ maxDepth: 6, withNullPrototype: true, withBoxedValues: true, withSparseArray: true, withObjectString: true }), (v) => {
      fc.pre(v !== undefined && typeof v !== 'function' && typeof v !== 'symbol');
      assert.equal(hashIR(v), digestOfStringify(v));
    }),
    { numRuns: 500 },
  );
});

test('hashIR follows JSON.stringify on members it leaves out, toJSON, non-ASCII text and large arrays', () => {
  const route = (i: number): unknown => ({ id: `ns/r-${i}`, match: { prefix: `/p${i}/`, headers: [], query: [] }, weight: i % 7 === 0 ? undefined : i, note: 'é ✓ 𝄞 "q" \\ \n' });
  const value = {
    version: 1,
    skipped: undefined,
    fn: () => 1,
    sym: Symbol('x'),
    when: new Date(0),
    custom: { toJSON: (key: string) => ({ key, n: 1 }) },
    boxed: [new Number(3), new String('s'), new Boolean(false)],
    holes: [1, undefined, () => 2, Symbol('y'), null],
    nested: { listeners: [{ virtualHosts: [{ routes: Array.from({ length: 5000 }, (_, i) => route(i)) }] }] },
    numbers: [0, -0, 1e21, 1.5, Number.NaN, Number.POSITIVE_INFINITY],
  };
  assert.equal(hashIR(value), digestOfStringify(value));
  assert.equal(hashIR([]), digestOfStringify([]));
  assert.equal(hashIR({}), digestOfStringify({}));
  assert.equal(hashIR('text'), digestOfStringify('text'));
});

test('hashIR of IRs that share routes arrays with IRs hashed before: the same digest as hashing afresh', () => {
  const routes = (tag: string, n: number): unknown[] => Array.from({ length: n }, (_, i) => ({ id: `${tag}/r-${i}`, prefix: `/${tag}/${i}/` }));
  const a = routes('a', 50);
  const b = routes('b', 50);
  const c = routes('c', 50);
  const shared = routes('s', 3);
  const ir = (global: string, vhosts: unknown[][], tail = 'x'): unknown => ({
    global: { name: global },
    listeners: [{ name: 'l', virtualHosts: vhosts.map((r, i) => ({ hostname: `h${i}`, routes: r })) }],
    tail,
  });
  const cases = [
    ir('g', [a, b, c]),
    ir('g', [a, b, c]), // everything resumed
    ir('g', [a, routes('b', 50), c]), // a new array with the same text in the middle
    ir('g', [a, routes('b2', 50), c]), // a changed vhost in the middle
    ir('g', [a, b, c], 'y'), // only the text after the last routes differs
    ir('g2', [a, b, c]), // the text before the first routes differs
    ir('g', [c, b, a]), // the same arrays in another order
    ir('g', [a, b]), // one fewer
    ir('g', [shared, a, shared, b, shared]), // one array at several places
    ir('g', [shared, a, shared, b, shared]),
    ir('g', [a, shared, b, shared, c]),
    ir('g', [a, b, c]),
  ];
  for (const v of cases) assert.equal(hashIR(v), digestOfStringify(v));
});
