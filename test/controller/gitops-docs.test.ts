// docs/gitops.md stays in step with the code: every PORTICO_ERR_* code and every reason the git
// controller and sources can report is documented.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const repo = new URL('../../../', import.meta.url).pathname;
const doc = readFileSync(join(repo, 'docs', 'gitops.md'), 'utf8');

function sources(): string {
  const files: string[] = [];
  for (const dir of ['src/controller', 'src/sources']) for (const f of readdirSync(join(repo, dir))) if (f.endsWith('.ts')) files.push(join(repo, dir, f));
  return files.map((f) => readFileSync(f, 'utf8')).join('\n');
}

test('every PORTICO_ERR_* code of the git controller and sources is documented', () => {
  const codes = new Set(sources().match(/PORTICO_ERR_[A-Z_]+/g) ?? []);
  assert.ok(codes.size >= 8);
  for (const c of codes) assert.ok(doc.includes(`\`${c}\``), `docs/gitops.md should document ${c}`);
});

test('every reason the controller reports is documented', () => {
  const text = sources();
  const reasons = new Set<string>();
  for (const m of text.matchAll(/reason: '([A-Za-z]+)'/g)) reasons.add(m[1]!);
  for (const m of text.matchAll(/new FetchError\('([A-Za-z]+)'/g)) reasons.add(m[1]!);
  for (const m of text.matchAll(/fail\('([A-Za-z]+)'/g)) reasons.add(m[1]!);
  for (const m of (/export type FetchFailureReason = ([^;]+);/.exec(text)?.[1] ?? '').matchAll(/'([A-Za-z]+)'/g)) reasons.add(m[1]!);
  for (const m of (/export type SignatureReason = ([^;]+);/.exec(text)?.[1] ?? '').matchAll(/'([A-Za-z]+)'/g)) reasons.add(m[1]!);
  for (const m of (/export type RefusalReason =([^;]+);/.exec(text)?.[1] ?? '').matchAll(/'([A-Za-z]+)'/g)) reasons.add(m[1]!);
  assert.ok(reasons.size >= 15);
  for (const r of reasons) assert.ok(doc.includes(`| \`${r}\` |`), `docs/gitops.md should list the reason ${r}`);
});
