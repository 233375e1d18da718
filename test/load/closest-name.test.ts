// The "did you mean" guess behind misspelled kinds, fields, commands and flags: which typos get a
// suggestion, and which words are too far from every candidate to get one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closestName } from '../../src/load/closest-name.js';

const COMMANDS = ['validate', 'render', 'routes', 'serve', 'plan', 'explain', 'test', 'history', 'status', 'crds', 'manifests', 'demo', 'help'];

test('two adjacent letters swapped are one typo, even in a short word', () => {
  const cases: [string, readonly string[], string][] = [
    ['tset', COMMANDS, 'test'],
    ['plna', COMMANDS, 'plan'],
    ['dmeo', COMMANDS, 'demo'],
    ['hlep', COMMANDS, 'help'],
    ['bsae', ['base', 'head', 'repo', 'help', 'version'], 'base'],
    ['haed', ['base', 'head', 'repo', 'help', 'version'], 'head'],
    ['rpeo', ['base', 'head', 'repo', 'help', 'version'], 'repo'],
    ['prot', ['header', 'listener', 'port', 'format'], 'port'],
    ['Mapipng', ['Mapping', 'Host'], 'Mapping'],
  ];
  for (const [word, candidates, want] of cases) assert.equal(closestName(word, candidates), want, word);
});

test('what was close before is still close, and what was far is still far', () => {
  assert.equal(closestName('valiate', COMMANDS), 'validate');
  assert.equal(closestName('rotes', COMMANDS), 'routes');
  assert.equal(closestName('timeout', ['timeout_ms', 'prefix']), 'timeout_ms');
  assert.equal(closestName('frobnicate', COMMANDS), undefined);
  // Two swaps in four letters are two typos: no guess.
  assert.equal(closestName('etts', COMMANDS), undefined);
});

test('with prefixes, a word of 3 or more letters that begins exactly one candidate suggests it', () => {
  assert.equal(closestName('rout', COMMANDS, { prefixes: true }), 'routes');
  assert.equal(closestName('stat', COMMANDS, { prefixes: true }), 'status');
  assert.equal(closestName('form', ['format', 'output'], { prefixes: true }), 'format');
  assert.equal(closestName('ROUT', COMMANDS, { prefixes: true }), 'routes', 'case does not matter');
  // Too short, or the start of more than one: no guess.
  assert.equal(closestName('ro', COMMANDS, { prefixes: true }), undefined);
  assert.equal(closestName('prefix_', ['prefix_regex', 'prefix_exact'], { prefixes: true }), undefined);
});

test('without prefixes (field names), a word cut short gets no guess', () => {
  assert.equal(closestName('rout', COMMANDS), undefined);
  assert.equal(closestName('host_rew', ['host_rewrite', 'host', 'prefix']), undefined);
});
