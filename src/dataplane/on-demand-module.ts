// Loads a module the first time a configuration needs it, synchronously (runtimes are built in one
// call): a gateway without a TracingService, a JWT filter or Redis never loads OpenTelemetry, jose or ioredis.

import { createRequire } from 'node:module';

/**
 * A getter for the module `specifier`, resolved from the file `from` (pass `import.meta.url`). Node.js
 * 20.19+ requires ES modules synchronously; the module is evaluated once, on the first call, and
 * shares the import graph's cache, so a package is never loaded twice in two builds.
 */
export function onDemand<T>(from: string, specifier: string): () => T {
  const load = createRequire(from);
  let loaded: T | undefined;
  return () => (loaded ??= load(specifier) as T);
}
