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
// A test that hangs fails after two minutes instead of holding CI; a file whose tests are done
// exits even if a handle leaked (the leak tests themselves check handles and fds explicitly).
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=120000', '--test-force-exit', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
