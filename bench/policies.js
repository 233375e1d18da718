#!/usr/bin/env node
// Edge policies only: runs the policies section of bench/run.js (the same route unprotected and
// behind an allow-all HTTP AuthService, against nginx without and with auth_request, same run) and
// prints each protected variant as a ratio of its own unprotected route.
//
//   node bench/policies.js [--quick] [--seconds S] [--portico worktree] [...any bench/run.js option]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = 'policies';
const args = [join(here, 'run.js'), '--only', 'policies', '--out', out, ...process.argv.slice(2)];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);

const s = JSON.parse(readFileSync(join(here, 'results', `${out}.json`), 'utf8')).sections?.policies ?? {};
const fmt = (x, d = 0) => (typeof x === 'number' ? x.toFixed(d) : '—');
console.log(`\nEdge policies (wrk, ${s.connections} connections)`);
for (const [name, v] of Object.entries(s.variants ?? {})) {
  console.log(`  ${name.padEnd(20)} ${fmt(v.rps?.median).padStart(7)} req/s  p99 ${fmt(v.p99Ms?.median, 2)} ms  cpu ${fmt(v.cpuUsPerReq?.median, 1)} µs/req  ratio ${fmt(s.ratiosToUnprotected?.[name], 2)}`);
}
for (const [what, why] of Object.entries(s.skipped ?? {})) console.log(`  skipped ${what}: ${why}`);
