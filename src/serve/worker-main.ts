// The program a `--workers N` worker process runs (the pool forks it instead of the CLI): the request
// path and the worker's message loop only, never the command line, the controller or the compiler.

import { buildRuntime } from '../dataplane/runtime.js';
import { runWorker } from './worker-process.js';

runWorker(buildRuntime).then(
  // Drained and flushed: exit without waiting for the IPC channel to the primary.
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`portico worker: internal error (a fault in portico; please report it with what follows)\n${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(70);
  },
);
