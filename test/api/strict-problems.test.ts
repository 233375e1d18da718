// `--strict` over problems (a function other commands can take too): every warning but the note on
// a non-gateway object becomes an error; errors stay errors; nothing else changes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFiles } from '../../src/load/index.js';
import { strictProblems } from '../../src/api/problems.js';

test("strictProblems: the docs example's typo (topics/running/host-crd.md, \"hosname\") becomes an error; a skipped Deployment stays a note", () => {
  const docs = readFileSync(join(process.cwd(), 'test', 'testdata', 'emissary', 'docs', 'topics.running.host-crd.4.yaml'), 'utf8');
  const deployment = '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: quote}\nspec: {replicas: 1}\n';
  const r = loadFiles([{ path: 'host-crd.yaml', content: docs + deployment }]);
  assert.deepEqual(r.problems.map((p) => [p.code, p.severity]), [['UnknownField', 'warning'], ['NonEmissaryKind', 'warning']]);
  const strict = strictProblems(r.problems);
  assert.deepEqual(strict.map((p) => [p.code, p.severity]), [['UnknownField', 'error'], ['NonEmissaryKind', 'warning']]);
  assert.deepEqual(strict.map((p) => [p.message, p.origin, p.field]), r.problems.map((p) => [p.message, p.origin, p.field]));
  assert.equal(r.problems[0]!.severity, 'warning', 'the input is not changed');
});
