#!/usr/bin/env node
// Entry point for `npx portico`: runs the compiled CLI (built by `npm install` via the prepare script).
import { main } from '../dist/src/cli/main.js';

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
