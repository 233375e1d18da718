// `portico serve --config DIR [--admin HOST:PORT] [--admin-host NAME]... [--workers N] [--drain-timeout MS] [--access-log PATH|-|off]`:
// parses the command line into ServeOptions and the providers, then runs the serving process.

import os from 'node:os';
import { parseAdminAddress, AdminAddressError, isAdminHostName } from '../admin/admin-server.js';
import type { BuildRuntime } from '../dataplane/runtime-types.js';
import { directoryCompiler } from '../serve/config-pipeline.js';
import { serve, type ServeOptions } from '../serve/serve-process.js';
import { extractGitServeArgs, GitServeUsageError, GIT_SERVE_USAGE } from '../controller/git-serve-options.js';
import { GitProvider, type GitProviderOptions } from '../controller/git-provider.js';

export const SERVE_USAGE = `usage: portico serve --config DIR [options]

  --config DIR           directory of policy files; watched, every valid change is applied
  --admin HOST:PORT      read-only admin API address (default 127.0.0.1:8877; port 0 = any free port)
  --admin-host NAME      a further Host name the admin API answers for (repeatable); it always
                         answers for localhost, IP addresses and the --admin name, others get 421
  --workers N            worker processes (default: one per core; 0 or 1 serves in this process)
  --drain-timeout MS     how long in-flight requests may take at shutdown or listener removal
                         (default: the configuration's drain timeout)
  --access-log PATH|-    JSON access log to a file or stdout (default -); 'off' disables it
  --generation-header    send x-portico-generation on responses (for tests; off by default)`;

export class UsageError extends Error {
  readonly code = 'PORTICO_ERR_USAGE';
}

function intArg(flag: string, value: string | undefined, min: number): number {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`${flag} needs an integer >= ${min}, got '${value ?? ''}'`);
  return Number(value);
}

export function parseServeArgs(argv: readonly string[], opts: { configRequired?: boolean } = {}): ServeOptions {
  let configDir: string | undefined;
  let admin = { host: '127.0.0.1', port: 8877 };
  let workers = os.availableParallelism();
  let drainTimeoutMs: number | undefined;
  let accessLog: string | undefined = '-';
  let exposeGeneration = false;
  const adminHosts: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.indexOf('=');
    const flag = raw.startsWith('--') && eq > 0 ? raw.slice(0, eq) : raw;
    const value = () => (raw.startsWith('--') && eq > 0 ? raw.slice(eq + 1) : argv[++i]);
    switch (flag) {
      case '--config': {
        const v = value();
        if (!v) throw new UsageError('--config needs a directory');
        if (configDir) throw new UsageError('--config may be given once');
        configDir = v;
        break;
      }
      case '--admin':
        try {
          admin = parseAdminAddress(value() ?? '');
        } catch (err) {
          if (err instanceof AdminAddressError) throw new UsageError(err.message);
          throw err;
        }
        break;
      case '--admin-host': {
        const v = value() ?? '';
        if (!isAdminHostName(v)) throw new UsageError(`--admin-host needs a host name or IP address without a port, got '${v}'`);
        adminHosts.push(v);
        break;
      }
      case '--workers':
        workers = intArg('--workers', value(), 0);
        break;
      case '--drain-timeout':
        drainTimeoutMs = intArg('--drain-timeout', value(), 0);
        break;
      case '--access-log': {
        const v = value();
        if (!v) throw new UsageError('--access-log needs a path, - or off');
        accessLog = v === 'off' ? undefined : v;
        break;
      }
      case '--generation-header':
        exposeGeneration = true;
        break;
      case '--help':
      case '-h':
        throw new UsageError('');
      default:
        throw new UsageError(`unknown option '${raw}'`);
    }
  }
  if (!configDir && opts.configRequired !== false) throw new UsageError('--config DIR or --source NAME=URL#BRANCH:PATH is required');
  return { configDir, admin, ...(adminHosts.length > 0 ? { adminHosts } : {}), workers, ...(drainTimeoutMs !== undefined ? { drainTimeoutMs } : {}), ...(accessLog ? { accessLog } : {}), exposeGeneration };
}

/** Loaded on demand: the primary of a worker pool compiles but never builds a runtime. */
async function loadBuildRuntime(): Promise<BuildRuntime> {
  return (await import('../dataplane/runtime.js')).buildRuntime;
}

export async function run(argv: string[]): Promise<number> {
  let options: ServeOptions;
  let git: GitProviderOptions | undefined;
  try {
    const split = extractGitServeArgs(argv);
    git = split.git;
    options = parseServeArgs(split.rest, { configRequired: !git });
  } catch (err) {
    if (!(err instanceof UsageError) && !(err instanceof GitServeUsageError)) throw err;
    if (err.message) console.error(`portico serve: ${err.message}\n`);
    console.error(`${SERVE_USAGE}\n\n${GIT_SERVE_USAGE}`);
    return err.message ? 2 : 0;
  }
  const gitOptions = git;
  const code = await serve(options, {
    loadBuildRuntime,
    compileDirectory: directoryCompiler({ source: 'dir' }),
    ...(gitOptions ? { extraProviders: (ctx) => [new GitProvider(gitOptions, ctx.admin, ctx.registry)] } : {}),
  });
  // Everything is drained and flushed; do not wait for stray handles (an IPC channel in a worker).
  process.exit(code);
}
