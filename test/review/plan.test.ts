// `portico plan` as CI runs it: real git repositories with two commits, the CLI as a process,
// golden outputs in three formats, team sources held to the claims their central repository grants.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeRepo } from './git-fixture.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'bin/portico.js');
const DATA = join(ROOT, 'test/testdata/review/plan');
const GOLDEN = join(ROOT, 'test/testdata/review/golden');
// Set PORTICO_UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change of output.
const UPDATE = process.env.PORTICO_UPDATE_GOLDEN === '1';

let dir = '';
let teamCommits: string[] = [];

function portico(cwd: string, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd, timeout: 60_000, env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function golden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (UPDATE) writeFileSync(file, actual);
  assert.equal(actual, readFileSync(file, 'utf8'), `output differs from ${file} (PORTICO_UPDATE_GOLDEN=1 rewrites it)`);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'portico-plan-'));
  makeRepo(join(dir, 'gateway'), [
    { from: join(DATA, 'base'), message: 'base' },
    { from: join(DATA, 'head'), message: 'canary for orders, new routes' },
  ]);
  teamCommits = makeRepo(join(dir, 'team'), [
    { from: join(DATA, 'team-base'), message: 'orders' },
    { from: join(DATA, 'team-head'), message: 'orders timeout, admin' },
  ]);
  cpSync(join(DATA, 'central'), join(dir, 'central'), { recursive: true });
  // The same two states kept in a folder of the repository, as the CI example reads them (REF:SUBDIR).
  for (const side of ['base', 'head']) cpSync(join(DATA, side), join(dir, `nested-${side}/config`), { recursive: true });
  makeRepo(join(dir, 'nested'), [
    { from: join(dir, 'nested-base'), message: 'base' },
    { from: join(dir, 'nested-head'), message: 'head' },
  ]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('plan between two commits: text golden, exit 3 for changes', () => {
  const r = portico(join(dir, 'gateway'), 'plan', '--base', 'main~1', '--head', 'main');
  assert.equal(r.code, 3, r.stderr);
  golden('plan.txt', r.stdout);
  // What a reviewer must see, spelled out so a golden rewrite cannot silently lose it.
  assert.match(r.stdout, /backends\[cluster_orders_v1_shop_8080_shop\]\.weight: 100 → 90/);
  assert.match(r.stdout, /timeouts\.requestMs: 10000 → 20000/);
  assert.match(r.stdout, /! shop\/carts on api\.example\.com .* can never match: shop\/carts-all/);
  assert.match(r.stdout, /- admin\.example\.com \/\* → console\.ops/);
  assert.match(r.stdout, /GET http:\/\/api\.example\.com\/carts\/ \[x-tenant: acme\]/);
});

test('plan between two commits: markdown and json goldens', () => {
  const md = portico(join(dir, 'gateway'), 'plan', '--base', 'main~1', '--head', 'main', '--format', 'markdown');
  assert.equal(md.code, 3, md.stderr);
  golden('plan.md', md.stdout);
  assert.match(md.stdout, /^### 📝 Portico plan: routing changes/);
  const js = portico(join(dir, 'gateway'), 'plan', '--base', 'main~1', '--head', 'main', '--format', 'json');
  assert.equal(js.code, 3, js.stderr);
  golden('plan.json', js.stdout);
  const j = JSON.parse(js.stdout) as { exitCode: number; routes: { added: { id: string }[]; removed: { id: string }[] }; verdict: string };
  assert.equal(j.verdict, 'changes');
  assert.deepEqual(j.routes.added.map((x) => x.id).sort(), ['shop/carts-all', 'shop/search']);
  assert.deepEqual(j.routes.removed.map((x) => x.id), ['ops/console']);
});

test('plan of a state against itself reports no change and exits 0', () => {
  const r = portico(join(dir, 'gateway'), 'plan', '--base', 'main', '--head', 'main');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /0 added, 0 removed, 0 changed, 0 newly shadowed/);
  assert.match(r.stdout, /verdict: no change \(exit 0\)/);
});

test('plan reads REF:SUBDIR from --repo; origins are paths in the repository', () => {
  const r = portico(dir, 'plan', '--repo', 'nested', '--base', 'main~1:config', '--head', 'main:config', '--format', 'json');
  assert.equal(r.code, 3, r.stderr);
  const j = JSON.parse(r.stdout) as { base: { label: string }; routes: { added: { at: string }[] } };
  assert.match(j.base.label, /^main~1:config \([0-9a-f]{12}\)$/);
  assert.deepEqual(j.routes.added.map((x) => x.at.replace(/:\d+$/, '')), ['config/orders.yaml', 'config/orders.yaml']);
});

test('plan compares a folder on disk with a commit', () => {
  const r = portico(join(dir, 'gateway'), 'plan', '--base', 'main~1', '--head', join(DATA, 'base'));
  assert.equal(r.code, 0, r.stderr + r.stdout);
});

test('plan with a team source: claims from the central Source, violation with file:line, exit 1', () => {
  const r = portico(dir, 'plan', 'central', '--base', '--source', 'shop=team@main~1', '--head', '--source', 'shop=team@main');
  assert.equal(r.code, 1, r.stderr + r.stdout);
  golden('plan-claims.txt', r.stdout);
  assert.match(r.stdout, /Claim violations \(1\)/);
  assert.match(r.stdout, /shop@[0-9a-f]{12}:orders\.yaml:\d+:\d+: error: prefix '\/admin\/' is outside its claim/);
  assert.match(r.stdout, /timeouts\.requestMs: 3000 → 9000/);
});

test('plan with a team source by URL: a branch and a commit id are fetched like serve fetches', () => {
  const url = `file://${join(dir, 'team')}`;
  const r = portico(dir, 'plan', 'central', '--base', '--source', `shop=${url}@${teamCommits[0]}`, '--head', '--source', `shop=${url}@main`, '--format', 'json');
  assert.equal(r.code, 1, r.stderr);
  const j = JSON.parse(r.stdout) as { head: { label: string }; claimViolations: { at: string }[] };
  assert.equal(j.head.label, `central + shop@main (${teamCommits[1]!.slice(0, 12)})`);
  assert.equal(j.claimViolations.length, 1);
  assert.match(j.claimViolations[0]!.at, new RegExp(`^shop@${teamCommits[1]!.slice(0, 12)}:orders\\.yaml:`));
  const missing = portico(dir, 'plan', 'central', '--head', '--source', `shop=${url}@no-such-branch`);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /has no branch or tag 'no-such-branch'/);
});

test('plan usage errors and unreadable refs exit 2 with a message', () => {
  assert.equal(portico(dir, 'plan').code, 2);
  const bad = portico(join(dir, 'gateway'), 'plan', '--base', 'no-such-branch', '--head', 'main');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /'no-such-branch' does not name a commit/);
  const opt = portico(join(dir, 'gateway'), 'plan', '--base', '--upload-pack=x', '--head', 'main');
  assert.equal(opt.code, 2);
  assert.match(opt.stderr, /unknown option '--upload-pack'/);
  const fmt = portico(join(dir, 'gateway'), 'plan', '--base', 'main', '--head', 'main', '--format', 'yaml');
  assert.equal(fmt.code, 2);
});
