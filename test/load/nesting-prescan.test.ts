// The nesting prescan skips ordinary characters in bulk; held here to a plain character-by-character
// reading of the same rules, so what it refuses, and where it says so, stays exactly the same.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nestingIssue } from '../../src/load/yaml-documents.js';
import { LOAD_LIMITS } from '../../src/load/index.js';

/** The rules of the prescan, one character at a time: flow brackets, and `- `, `? `, `: ` chains on a line. */
function referenceScan(text: string): { line: number; col: number } | undefined {
  const max = LOAD_LIMITS.maxDepth;
  let flow = 0;
  let line = 1;
  let col = 0;
  let lineStart = true;
  let compact = 0;
  let quote = '';
  let prev = '\n';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    col++;
    if (c === '\n') {
      line++;
      col = 0;
      lineStart = true;
      compact = 0;
      quote = '';
      prev = c;
      continue;
    }
    if (quote !== '') {
      if (c === quote) quote = '';
      prev = c;
      continue;
    }
    if (lineStart && c === ' ') {
      prev = c;
      continue;
    }
    if ((c === '-' || c === '?') && (lineStart || prev === ' ')) {
      const next = text[i + 1];
      if (next === ' ' || next === '\n') {
        if (++compact > max) return { line, col };
        prev = c;
        continue;
      }
    }
    lineStart = false;
    if (c === '#' && (prev === ' ' || prev === '\n')) {
      const nl = text.indexOf('\n', i);
      if (nl < 0) break;
      i = nl - 1;
      continue;
    }
    if ((c === '"' || c === "'") && [' ', '[', '{', ',', ':'].includes(prev)) quote = c;
    else if (c === '[' || c === '{') {
      if (++flow > max) return { line, col };
    } else if (c === ']' || c === '}') flow = Math.max(0, flow - 1);
    else if (c === ':') {
      const next = text[i + 1];
      if ((next === ' ' || next === '\n') && ++compact > max) return { line, col };
    }
    prev = c;
  }
  return undefined;
}

function prescan(text: string): { line: number; col: number } | undefined {
  const issue = nestingIssue(text);
  return issue ? { line: issue.at.line, col: issue.at.col } : undefined;
}

const pieces = ['[', ']', '{', '}', '- ', '? ', ': ', ':', '-', '?', ' ', '  ', '\n', '\n  ', '#', ' #', '"', "'", ',', 'a', 'key', '0.5', '/p/', 'é', '@', '|', '`', '\\', '~'];

test('the prescan refuses exactly what a character-by-character scan refuses, at the same line and column', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 400 }), fc.integer({ min: 0, max: 3 }), (parts, repeat) => {
      // Repeating the text pushes the counters past the limit more often.
      const text = parts.join('').repeat(repeat + 1);
      assert.deepEqual(prescan(text), referenceScan(text), JSON.stringify(text));
    }),
    { numRuns: 2000, seed: 20261126 },
  );
});

test('long lines of one repeated piece: compact chains and brackets cross the limit on the line', () => {
  const linePieces = pieces.filter((p) => !p.includes('\n'));
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...linePieces), { minLength: 1, maxLength: 4 }), fc.integer({ min: 30, max: 140 }), fc.constantFrom('', 'k: ', '- ', '  '), (chunk, times, lead) => {
      const text = `${lead}${chunk.join('').repeat(times)}\n`;
      assert.deepEqual(prescan(text), referenceScan(text), JSON.stringify(text));
    }),
    { numRuns: 2000, seed: 20261126 },
  );
});

test('the prescan at the edges of the limit: flow brackets, compact chains, quotes and comments', () => {
  const max = LOAD_LIMITS.maxDepth;
  const texts = [
    `x: ${'['.repeat(max)}${']'.repeat(max)}\n`,
    `x: ${'['.repeat(max + 1)}\n`,
    `x: ${'{a: '.repeat(max + 1)}\n`,
    `${'- '.repeat(max)}a\n`,
    `${'- '.repeat(max + 1)}a\n`,
    `${'a: '.repeat(max + 1)}\n`,
    `x: "${'['.repeat(max + 1)}"\n`,
    `x: 1 # ${'['.repeat(max + 1)}\n`,
    `${'x: a[b\n'.repeat(max + 1)}`,
    `ab/12.3@${'['.repeat(max + 1)}`,
  ];
  for (const text of texts) assert.deepEqual(prescan(text), referenceScan(text), text);
  assert.notEqual(prescan(`x: ${'['.repeat(max + 1)}\n`), undefined);
});
