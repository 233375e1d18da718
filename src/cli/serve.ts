// `portico serve`: parses the command line (serve-options.ts), then runs the serving process with the
// sources controller as its one configuration provider.

import { accessSync, constants, mkdirSync } from 'node:fs';
import type { BuildRuntime } from '../dataplane/runtime-types.js';
import { serve } from '../serve/serve-process.js';
import { SourcesProvider, type SourcesOptions } from '../controller/provider.js';
import { defaultKubeconfigPath, inClusterConnection, kubeconfigConnection } from '../kubernetes/kube-client.js';
import { withUsage } from './args.js';
import { CommandError } from './command-errors.js';
import { parseServeArgs, SERVE_USAGE } from './serve-options.js';
import { mustExist } from './offline-args.js';
import { systemReason } from '../api/system-error.js';
import type { CommandContext } from './main.js';

export const USAGE = SERVE_USAGE;

/** Loaded on demand: the primary of a worker pool compiles but never builds a runtime. */
async function loadBuildRuntime(): Promise<BuildRuntime> {
  return (await import('../dataplane/runtime.js')).buildRuntime;
}

/** The state folder must be writable before anything starts: its failure is one line, not a provider fault. */
function checkStateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new CommandError('PORTICO_ERR_STATE_DIR', `state folder '${dir}' cannot be created or written: ${systemReason(err)}`);
  }
}

/** A kubeconfig given but unusable, or a cluster root with no way to reach a cluster: one line before anything starts. */
function checkKubernetes(sources: SourcesOptions): void {
  const k = sources.kubernetes;
  if (k?.kubeconfig !== undefined) kubeconfigConnection(k.kubeconfig, k.context);
  if (sources.roots.some((r) => r.kind === 'kubernetes') && k?.kubeconfig === undefined && !inClusterConnection() && defaultKubeconfigPath() === undefined) {
    throw new CommandError('PORTICO_ERR_KUBECONFIG', 'a --kubernetes source needs a cluster: give --kubeconfig FILE, set KUBECONFIG, or run in a cluster');
  }
}

export async function run(argv: string[], context: CommandContext = {}): Promise<number> {
  const code = await withUsage('serve', USAGE, async () => {
    const parsed = parseServeArgs(argv);
    if (parsed.sources.stateDir !== undefined) checkStateDir(parsed.sources.stateDir);
    checkKubernetes(parsed.sources);
    // A --local folder that cannot be read would leave its team unserved without a word: refuse to start.
    for (const [team, dir] of Object.entries(parsed.sources.localTeams ?? {})) await mustExist(dir, `--local ${team}=${dir}`);
    return serve(parsed.serve, {
      loadBuildRuntime,
      providers: (ctx) => [new SourcesProvider(parsed.sources, ctx.admin, ctx.registry)],
      ...(context.signals ? { signals: context.signals } : {}),
    });
  });
  // Everything is drained and flushed; do not wait for stray handles (an IPC channel in a worker).
  process.exit(code);
}
