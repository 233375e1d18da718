// Nesting past the limit, in every style YAML has: refused as NestingTooDeep at the collection that
// goes one level too deep (file:line:col), at any depth, and never by running out of stack.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadFiles, LOAD_LIMITS } from '../../src/load/index.js';

const MAX = LOAD_LIMITS.maxDepth;

/**
 * Texts whose values nest `d` collections deep (the document's own root counted), and where the
 * collection at level MAX + 1 starts (line and column), by style.
 */
const STYLES: Record<string, { text: (d: number) => string; at: (d: number) => [number, number]; most?: number }> = {
  'block mappings': {
    text: (d) => `${Array.from({ length: d }, (_, i) => `${' '.repeat(i)}k${i}:${i === d - 1 ? ' v' : ''}`).join('\n')}\n`,
    at: () => [MAX + 1, MAX + 1],
    // Each level is one more column of indentation: past 1,000 levels the file is over the size cap
    // (100,000 would be 5 GB); the explicit-key style below nests block mappings 100,000 deep.
    most: 1_000,
  },
  'block mappings as explicit keys': { text: (d) => `${'? '.repeat(d - 1)}a: b\n`, at: () => [1, 2 * MAX + 1] },
  'block sequences': { text: (d) => `${'- '.repeat(d)}x\n`, at: () => [1, 2 * MAX + 1] },
  'indented block sequences': {
    text: (d) => `${Array.from({ length: d }, (_, i) => `${' '.repeat(2 * i)}-${i === d - 1 ? ' x' : ''}`).join('\n')}\n`,
    at: () => [MAX + 1, 2 * MAX + 1],
    // Past 1,000 levels the indentation alone is over the file size cap; see block sequences above.
    most: 1_000,
  },
  'flow sequences': { text: (d) => `${'['.repeat(d)}${']'.repeat(d)}\n`, at: () => [1, MAX + 1] },
  'flow mappings': { text: (d) => `${'{a: '.repeat(d - 1)}{}${'}'.repeat(d - 1)}\n`, at: () => [1, 4 * MAX + 1] },
  'flow sequences over lines': { text: (d) => `${'[\n'.repeat(d)}${']\n'.repeat(d)}`, at: () => [MAX + 1, 1] },
  'block sequences holding flow sequences': {
    text: (d) => `${'- '.repeat(Math.floor(d / 2))}${'['.repeat(d - Math.floor(d / 2))}${']'.repeat(d - Math.floor(d / 2))}\n`,
    at: (d) => (Math.floor(d / 2) > MAX ? [1, 2 * MAX + 1] : [1, 2 * Math.floor(d / 2) + (MAX + 1 - Math.floor(d / 2))]),
  },
  'anchored flow sequences': { text: (d) => `${'&a ['.repeat(d)}${']'.repeat(d)}\n`, at: () => [1, 4 * MAX + 4] },
};

function deepProblems(text: string) {
  const r = loadFiles([{ path: 'deep.yaml', content: text }]);
  return { deep: r.problems.filter((p) => p.code === 'NestingTooDeep'), all: r.problems };
}

for (const [style, s] of Object.entries(STYLES)) {
  test(`${style}: ${MAX - 1} and ${MAX} levels load; ${MAX + 1}, 1,000 and 100,000 are refused as NestingTooDeep at the level too deep`, () => {
    for (const d of [MAX - 1, MAX]) {
      const { deep, all } = deepProblems(s.text(d));
      assert.deepEqual(deep, [], `${d} levels`);
      assert.ok(!all.some((p) => /stack/i.test(p.message)), `${d} levels`);
    }
    for (const d of [MAX + 1, 1_000, 100_000]) {
      const depth = Math.min(d, s.most ?? d);
      const { deep, all } = deepProblems(s.text(depth));
      const [line, col] = s.at(depth);
      assert.deepEqual(
        deep.map((p) => [p.message, p.origin.path, p.origin.line, p.origin.col]),
        [[`nesting deeper than ${MAX} levels`, 'deep.yaml', line, col]],
        `${depth} levels`,
      );
      // The document is refused with that one problem, and nothing about the stack.
      assert.deepEqual(
        all.map((p) => p.code),
        ['NestingTooDeep'],
        `${depth} levels`,
      );
    }
  });
}

test('an alias counts the depth of the node it copies: a copy that would go past the limit is refused at the alias', () => {
  const nested = (d: number, inner: string) => `${'['.repeat(d)}${inner}${']'.repeat(d)}`;
  // The root mapping is level 1, the anchored list starts at level 2.
  const within = `a: &x ${nested(31, '1')}\nb: ${nested(32, '*x')}\n`;
  assert.deepEqual(deepProblems(within).deep, []);
  const past = `a: &x ${nested(31, '1')}\nb: ${nested(33, '*x')}\n`;
  const { deep } = deepProblems(past);
  assert.deepEqual(
    deep.map((p) => [p.origin.line, p.origin.col]),
    [[2, 4 + 33]],
  );
});

test('documents after a deep one still load, and the deep one costs only itself', () => {
  const mapping = 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: {name: after}\nspec: {prefix: /a/, service: s, hostname: "*"}\n';
  const r = loadFiles([{ path: 'deep.yaml', content: `${'['.repeat(100_000)}${']'.repeat(100_000)}\n---\n${mapping}` }]);
  assert.deepEqual(
    r.problems.map((p) => [p.code, p.origin.line]),
    [['NestingTooDeep', 1]],
  );
  assert.deepEqual(
    r.resources.map((x) => x.name),
    ['after'],
  );
});
