// `portico serve`: parses the command line (serve-options.ts), then runs the serving process with the
// sources controller as its one configuration provider.

import type { BuildRuntime } from '../dataplane/runtime-types.js';
import { serve } from '../serve/serve-process.js';
import { SourcesProvider } from '../controller/provider.js';
import { HelpRequested, UsageError } from './args.js';
import { parseServeArgs, SERVE_USAGE, type ParsedServe } from './serve-options.js';

export const USAGE = SERVE_USAGE;

/** Loaded on demand: the primary of a worker pool compiles but never builds a runtime. */
async function loadBuildRuntime(): Promise<BuildRuntime> {
  return (await import('../dataplane/runtime.js')).buildRuntime;
}

export async function run(argv: string[]): Promise<number> {
  let parsed: ParsedServe;
  try {
    parsed = parseServeArgs(argv);
  } catch (err) {
    if (err instanceof HelpRequested) {
      console.log(err.usage);
      return 0;
    }
    if (!(err instanceof UsageError)) throw err;
    console.error(`portico serve: ${err.message}`);
    if (!err.message.includes('usage: portico serve')) console.error(`\n${SERVE_USAGE}`);
    return 2;
  }
  const code = await serve(parsed.serve, {
    loadBuildRuntime,
    providers: (ctx) => [new SourcesProvider(parsed.sources, ctx.admin, ctx.registry)],
  });
  // Everything is drained and flushed; do not wait for stray handles (an IPC channel in a worker).
  process.exit(code);
}
