#!/usr/bin/env node
// Runs every compiled test file under dist/test with node's own test runner.
// Node 20's `--test` takes no globs, so the files are listed here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
let files = collect('dist/test', []);
if (filter.length > 0) files = files.filter((f) => filter.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files found under dist/test');
  process.exit(1);
}
// A test that hangs fails instead of holding CI. Node 20 applies --test-timeout to each test file as
// a whole too, and a file that starts dozens of processes (cli-contracts: ~50 s with the cores to
// itself) needs far longer when the machine's cores are shared: the bound is a file's, not a test's.
// No --test-force-exit: with it, Node 20 can end a test file's process before its last results reach
// the parent, so tests that ran (or failed) go missing from the report while the run still exits 0. A
// file that leaks a handle would instead keep its process alive: the whole run is bounded, and says so.
const FILE_LIMIT_MS = 10 * 60_000;
const RUN_LIMIT_MS = 40 * 60_000;
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', `--test-timeout=${FILE_LIMIT_MS}`, ...files], { stdio: 'inherit', timeout: RUN_LIMIT_MS, killSignal: 'SIGKILL' });
if (r.error?.code === 'ETIMEDOUT') {
  console.error(`the test run did not end within ${RUN_LIMIT_MS / 60_000} minutes: a test file kept its process alive (a leaked server, socket or timer?)`);
  process.exit(1);
}
process.exit(r.status ?? 1);
