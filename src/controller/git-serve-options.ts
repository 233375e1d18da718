// The git options of `portico serve` (--source, --state, --webhook-secret, ...): taken out of the
// argument list before the serve command parses the rest, and turned into GitProviderOptions.

import { readFileSync } from 'node:fs';
import { parseSourceArg, SourceSpecError } from '../sources/source-spec.js';
import type { VerifyMode } from '../sources/commit-signatures.js';
import { parseDuration, type DeclaredSource } from './source-kind.js';
import { DEFAULT_INTERVAL_MS } from './git-controller.js';
import type { GitProviderOptions } from './git-provider.js';

export const GIT_SERVE_USAGE = `git sources:
  --source NAME=URL[#BRANCH][:PATH]
                         a root git source (repeatable): file://, git://, http(s)://, ssh:// or a
                         local path; it may declare team sources with kind Source
  --state DIR            state folder: last-known-good set, history, git cache (default .portico)
  --poll-interval DUR    default poll interval of sources, e.g. 30s (default 30s; jittered)
  --fetch-timeout DUR    abort a fetch after this long (default 60s)
  --verify NAME=MODE:FILE
                         require signed commits on root source NAME (MODE head|strict; FILE an SSH
                         allowed-signers file)
  --webhook-secret S     enable /hooks/{github,gitlab,gitea,generic} with this secret (give twice
                         while rotating); also --webhook-secret-file FILE or PORTICO_WEBHOOK_SECRETS
  --on-force-push P      refuse (default) or accept-with-strict, for root sources
  --ambassador-id ID     serve only git resources whose ambassador_id includes ID (default "default";
                         lets several instances with different Listeners share repositories)`;

export class GitServeUsageError extends Error {
  readonly code = 'PORTICO_ERR_USAGE';
}

export const DEFAULT_STATE_DIR = '.portico';

const FLAGS = new Set(['--source', '--state', '--poll-interval', '--fetch-timeout', '--verify', '--webhook-secret', '--webhook-secret-file', '--on-force-push', '--ambassador-id']);

/** Splits the argument list: git options become GitProviderOptions (undefined without --source). */
export function extractGitServeArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): { rest: string[]; git?: GitProviderOptions } {
  const rest: string[] = [];
  const sources: string[] = [];
  const verifies: string[] = [];
  const secrets: string[] = [];
  let stateDir = DEFAULT_STATE_DIR;
  let intervalMs = DEFAULT_INTERVAL_MS;
  let fetchTimeoutMs: number | undefined;
  let onForcePush: DeclaredSource['onForcePush'] = 'refuse';
  let sawGitFlag = false;
  let ambassadorId: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.indexOf('=');
    const flag = raw.startsWith('--') && eq > 0 ? raw.slice(0, eq) : raw;
    if (!FLAGS.has(flag)) {
      rest.push(raw);
      continue;
    }
    sawGitFlag = true;
    const v = raw.startsWith('--') && eq > 0 ? raw.slice(eq + 1) : argv[++i];
    if (v === undefined || v === '') throw new GitServeUsageError(`${flag} needs a value`);
    switch (flag) {
      case '--source':
        sources.push(v);
        break;
      case '--state':
        stateDir = v;
        break;
      case '--poll-interval':
      case '--fetch-timeout': {
        const ms = parseDuration(/^[0-9]+$/.test(v) ? `${v}s` : v);
        if (!(ms >= 1000)) throw new GitServeUsageError(`${flag} needs a duration of at least 1s (e.g. 30s), got '${v}'`);
        if (flag === '--poll-interval') intervalMs = ms;
        else fetchTimeoutMs = ms;
        break;
      }
      case '--verify':
        verifies.push(v);
        break;
      case '--webhook-secret':
        secrets.push(v);
        break;
      case '--webhook-secret-file': {
        let text: string;
        try {
          text = readFileSync(v, 'utf8');
        } catch (err) {
          throw new GitServeUsageError(`--webhook-secret-file: cannot read ${v}: ${(err as Error).message}`);
        }
        secrets.push(...text.split('\n').map((l) => l.trim()).filter((l) => l !== ''));
        break;
      }
      case '--ambassador-id':
        if (!/^[A-Za-z0-9_.-]{1,63}$/.test(v)) throw new GitServeUsageError(`--ambassador-id '${v}' is not a valid id`);
        ambassadorId = v;
        break;
      case '--on-force-push':
        if (v !== 'refuse' && v !== 'accept-with-strict') throw new GitServeUsageError(`--on-force-push is refuse or accept-with-strict, got '${v}'`);
        onForcePush = v;
        break;
    }
  }
  if (env.PORTICO_WEBHOOK_SECRETS) secrets.push(...env.PORTICO_WEBHOOK_SECRETS.split(',').map((s) => s.trim()).filter((s) => s !== ''));
  if (sources.length === 0) {
    if (sawGitFlag) throw new GitServeUsageError('git options need at least one --source NAME=URL#BRANCH:PATH');
    return { rest };
  }
  if (secrets.length > 2) throw new GitServeUsageError('at most two webhook secrets (the current one and the next, while rotating)');
  if (secrets.some((s) => s.length < 8)) throw new GitServeUsageError('webhook secrets must be at least 8 characters');
  const roots: DeclaredSource[] = [];
  for (const s of sources) {
    try {
      roots.push({ spec: parseSourceArg(s), intervalMs, onForcePush });
    } catch (err) {
      if (err instanceof SourceSpecError) throw new GitServeUsageError(err.message);
      throw err;
    }
  }
  const names = roots.map((r) => r.spec.name);
  if (new Set(names).size !== names.length) throw new GitServeUsageError('each --source needs its own NAME');
  for (const v of verifies) {
    const m = /^([a-z0-9-]+)=(head|strict):(.+)$/.exec(v);
    if (!m) throw new GitServeUsageError(`--verify '${v}': expected NAME=head|strict:ALLOWED_SIGNERS_FILE`);
    const idx = roots.findIndex((r) => r.spec.name === m[1]);
    if (idx < 0) throw new GitServeUsageError(`--verify '${v}': no --source named '${m[1]}'`);
    let allowedSigners: string;
    try {
      allowedSigners = readFileSync(m[3]!, 'utf8');
    } catch (err) {
      throw new GitServeUsageError(`--verify: cannot read ${m[3]}: ${(err as Error).message}`);
    }
    roots[idx] = { ...roots[idx]!, verify: { mode: m[2] as VerifyMode, allowedSigners } };
  }
  return {
    rest,
    git: {
      roots,
      stateDir,
      webhookSecrets: secrets,
      defaultIntervalMs: intervalMs,
      ...(fetchTimeoutMs !== undefined ? { fetchTimeoutMs } : {}),
      ...(ambassadorId ? { ambassadorId } : {}),
    },
  };
}
