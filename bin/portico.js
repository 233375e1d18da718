#!/usr/bin/env node
// Entry point for `npx portico`: runs the compiled CLI (built by `npm install` via the prepare script).
import { statSync } from 'node:fs';
import { getSystemErrorMap } from 'node:util';

// The bundle (scripts/bundle-cli.js) starts faster; it is used only when built after tsc's last build.
const modified = (path) => statSync(new URL(path, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
const bundleBuilt = modified('../dist/bundle/cli/main.js');
const bundled = bundleBuilt > 0 && bundleBuilt >= modified('../dist/.tsbuildinfo');
const { main } = await import(bundled ? '../dist/bundle/cli/main.js' : '../dist/src/cli/main.js');

// A closed pipe (`portico routes … | head`) ends output quietly instead of crashing; any other
// failed write (a full disk) is one line and exit 1, as every other failure.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  const words = err.errno === undefined ? undefined : getSystemErrorMap().get(err.errno)?.[1];
  process.stderr.write(`portico: PORTICO_ERR_IO: cannot write to standard output: ${err.code ?? err.message}${words ? ` (${words})` : ''}\n`);
  process.exit(1);
});

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  // Known failures were printed as one coded line by the command; what reaches here is a program fault.
  (err) => { console.error(`portico: internal error (a fault in portico; please report it with what follows)\n${err?.stack ?? String(err)}`); process.exitCode = 70; },
);
