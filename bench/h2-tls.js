#!/usr/bin/env node
// HTTP/2 and TLS only: runs the h2load section of bench/run.js (nginx and Portico on HTTPS, same
// run, same upstream) and prints Portico's throughput as a ratio of nginx's for h2 and HTTP/1.1 over TLS.
//
//   node bench/h2-tls.js [--quick] [--seconds S] [--portico worktree] [...any bench/run.js option]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const given = process.argv.indexOf('--out');
const out = given >= 0 ? process.argv[given + 1] : 'h2-tls';
const args = [join(here, 'run.js'), '--only', 'h2', ...(given >= 0 ? [] : ['--out', out]), ...process.argv.slice(2)];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);

const result = JSON.parse(readFileSync(join(here, 'results', `${out}.json`), 'utf8'));
const h2 = result.sections?.h2 ?? {};
const fmt = (x, d = 0) => (typeof x === 'number' ? x.toFixed(d) : '—');
console.log('\nHTTP/2 and TLS (h2load, 50 connections × 10 streams; HTTP/1.1 over TLS with --h1)');
for (const [name, byMode] of Object.entries(h2.variants ?? {})) {
  for (const [mode, v] of Object.entries(byMode)) {
    console.log(`  ${name.padEnd(11)} ${mode.padEnd(16)} ${fmt(v.rps?.median).padStart(7)} req/s  p99 ${fmt(v.p99Ms?.median, 2)} ms  cpu ${fmt(v.cpuUsPerReq?.median, 1)} µs/req  failed ${v.failed}`);
  }
}
for (const [mode, ratio] of Object.entries(h2.porticoVsNginx ?? {})) console.log(`  Portico / nginx ${mode.padEnd(16)} ${ratio === null ? 'not measured' : ratio.toFixed(2)}`);
for (const [what, why] of Object.entries(h2.skipped ?? {})) console.log(`  skipped ${what}: ${why}`);
