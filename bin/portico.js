#!/usr/bin/env node
// Entry point for `npx portico`: runs the compiled CLI (built by `npm install` via the prepare script).
import { statSync } from 'node:fs';

// The bundle (scripts/bundle-cli.js) starts faster; it is used only when built after tsc's last build.
const modified = (path) => statSync(new URL(path, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
const bundleBuilt = modified('../dist/bundle/cli/main.js');
const bundled = bundleBuilt > 0 && bundleBuilt >= modified('../dist/.tsbuildinfo');
const { main } = await import(bundled ? '../dist/bundle/cli/main.js' : '../dist/src/cli/main.js');

// A closed pipe (`portico routes … | head`) ends output quietly instead of crashing.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  // Known failures were printed as one coded line by the command; what reaches here is a program fault.
  (err) => { console.error(`portico: internal error (a fault in portico; please report it with what follows)\n${err?.stack ?? String(err)}`); process.exitCode = 70; },
);
