// The configuration arguments every offline command shares: PATH... on disk, and the sources `serve`
// takes (--source, --config NAME=DIR, --local, --pin), read through the same controller and reconcile.

import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { systemReason } from '../api/system-error.js';
import { offlineState, type OfflineOptions, type OfflineState } from '../controller/offline.js';
import type { DeclaredSource } from '../controller/source-kind.js';
import { readSecretsDirectory, secretsInputs } from '../controller/secrets-directory.js';
import { parseSourceArg, SourceSpecError, validateSourceName } from '../sources/source-spec.js';
import { UsageError } from './args.js';
import { CommandError } from './command-errors.js';

export const SOURCE_OPTIONS = {
  source: { type: 'string', multiple: true },
  local: { type: 'string', multiple: true },
  pin: { type: 'string', multiple: true },
  'ambassador-id': { type: 'string' },
  'ambassador-namespace': { type: 'string' },
  secrets: { type: 'string' },
} as const;

export const SOURCE_USAGE = `  PATH...                  files and folders of configuration (together, one central source)
  --source NAME=URL[#BRANCH][:PATH]
                           a git source, as serve takes it; teams its Source objects declare are fetched
  --local TEAM=DIR         read team source TEAM from a folder, under the claims the central source gives it
  --pin TEAM=REF           read team source TEAM at a ref or commit (e.g. refs/pull/12/head)
  --ambassador-id ID       the instance's ambassador_id (default "default")
  --ambassador-namespace NS
                           the namespace serve runs in (default $AMBASSADOR_NAMESPACE, else "default"):
                           bare service names of Mappings in other namespaces are qualified with theirs
  --secrets DIR            the secrets directory serve is given, so that references to it resolve
                           (TLS material and header values; nothing read from it is printed)`;

/** NAME=VALUE for --local and --pin (serve, plan and the offline commands take them alike). */
export function namedSourceValue(flag: string, arg: string, what: string): [string, string] {
  const eq = arg.indexOf('=');
  if (eq <= 0 || eq === arg.length - 1) throw new UsageError(`${flag} '${arg}': expected NAME=${what}`);
  const name = arg.slice(0, eq);
  const err = validateSourceName(name);
  if (err) throw new UsageError(`${flag} '${arg}': ${err}`);
  return [name, arg.slice(eq + 1)];
}

const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The namespace Portico runs in: --ambassador-namespace, else $AMBASSADOR_NAMESPACE (Emissary's
 * variable), else undefined for "default". serve, plan and the offline commands read it alike, so that
 * they qualify bare service names alike.
 */
export function ambassadorNamespaceArg(value: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const ns = value ?? (env.AMBASSADOR_NAMESPACE?.trim() || undefined);
  if (ns === undefined) return undefined;
  if (ns.length > 63 || !NAMESPACE_RE.test(ns)) throw new UsageError(`${value !== undefined ? '--ambassador-namespace' : 'AMBASSADOR_NAMESPACE'} needs a namespace name (lower-case letters, digits and '-'), got '${ns}'`);
  return ns;
}

/** A --pin ref: a branch, tag, ref or commit id, never something git would read as an option. */
export function checkPinRef(arg: string, ref: string): void {
  if (!/^[A-Za-z0-9._/~^@{}+-]{1,200}$/.test(ref) || ref.startsWith('-')) throw new UsageError(`--pin '${arg}': '${ref}' is not a valid ref or commit`);
}

export interface SourceValues {
  readonly source?: string[];
  readonly local?: string[];
  readonly pin?: string[];
  readonly 'ambassador-id'?: string;
  readonly 'ambassador-namespace'?: string;
  readonly secrets?: string;
}

/** Builds the offline options; throws UsageError when nothing to read is given. */
export function offlineOptions(paths: readonly string[], v: SourceValues, extra: Partial<OfflineOptions> = {}, env: NodeJS.ProcessEnv = process.env): OfflineOptions {
  const roots: DeclaredSource[] = [];
  for (const s of v.source ?? []) {
    try {
      roots.push({ spec: parseSourceArg(s), kind: 'git', intervalMs: 60_000, onForcePush: 'refuse' });
    } catch (err) {
      if (err instanceof SourceSpecError) throw new UsageError(err.message);
      throw err;
    }
  }
  if (paths.length === 0 && roots.length === 0) throw new UsageError(`missing configuration PATH (or --source NAME=URL)`);
  const ambassadorNamespace = ambassadorNamespaceArg(v['ambassador-namespace'], env);
  const localTeams: Record<string, string> = {};
  for (const a of v.local ?? []) {
    const [n, d] = namedSourceValue('--local', a, 'DIR');
    localTeams[n] = resolve(d);
  }
  const pins: Record<string, string> = {};
  for (const a of v.pin ?? []) {
    const [n, r] = namedSourceValue('--pin', a, 'REF');
    checkPinRef(a, r);
    pins[n] = r;
  }
  return {
    paths,
    roots,
    ...(Object.keys(localTeams).length > 0 ? { localTeams } : {}),
    ...(Object.keys(pins).length > 0 ? { pins } : {}),
    ...(v['ambassador-id'] ? { ambassadorId: v['ambassador-id'] } : {}),
    ...(ambassadorNamespace !== undefined ? { ambassadorNamespace } : {}),
    ...extra,
  };
}

/**
 * Reads the configuration as serve would. A source named on the command line that cannot be fetched
 * fails the command (PORTICO_ERR_FETCH): checking nothing must not pass; a team source that cannot be
 * fetched is a note. With --secrets, references to the secrets directory resolve as in serve.
 */
export async function readOffline(paths: readonly string[], v: SourceValues, extra: Partial<OfflineOptions> = {}): Promise<OfflineState> {
  let options = offlineOptions(paths, v, extra);
  // A path named on the command line that cannot be read fails the command before anything is
  // printed: `portico render typo/ > ir.json` must not write a plausible configuration.
  for (const p of paths) {
    if (p === '') throw new UsageError('an empty PATH');
    await mustExist(p, p);
  }
  for (const [team, dir] of Object.entries(options.localTeams ?? {})) await mustExist(dir, `--local ${team}=${dir}`);
  if (v.secrets !== undefined) {
    if (v.secrets === '') throw new UsageError('--secrets needs a directory');
    const inputs = secretsInputs(await readSecretsDirectory(resolve(v.secrets)));
    options = { ...options, compileInputs: () => inputs };
  }
  const state = await offlineState(options);
  const root = state.unfetched.find((u) => u.root);
  if (root) throw new CommandError('PORTICO_ERR_FETCH', `source '${root.source}' cannot be fetched: ${root.reason}: ${root.message}`);
  // A mistyped team name would leave that team unchecked and the command passing. (A configuration
  // with errors may have lost the Source that declares it: its errors are the answer then.)
  const declared = state.declaredTeams;
  const checked = state.result.report.errors === 0;
  for (const [flag, names] of checked ? ([['--local', Object.keys(options.localTeams ?? {})], ['--pin', Object.keys(options.pins ?? {})]] as const) : []) {
    for (const name of names) {
      if (declared.includes(name)) continue;
      throw new UsageError(`${flag} ${name}: the configuration declares no team source '${name}'${declared.length > 0 ? ` (it declares ${declared.join(', ')})` : ' (it declares no team sources)'}`);
    }
  }
  return state;
}

/**
 * Throws `code` (PORTICO_ERR_IO unless given) when a path named on the command line, `named` as the
 * user wrote it, cannot be read: one line before anything runs, never an empty answer.
 */
export async function mustExist(path: string, named: string, code: `PORTICO_ERR_${string}` = 'PORTICO_ERR_IO', exitCode?: number): Promise<void> {
  try {
    await stat(path);
  } catch (err) {
    throw new CommandError(code, `cannot read ${named}: ${systemReason(err)}`, exitCode);
  }
}

/**
 * For commands that print what a configuration does: paths that hold no resource at all are a
 * failure (PORTICO_ERR_NO_RESOURCES), as for validate, not an empty answer that looks like one.
 */
export function requireResources(state: OfflineState, paths: readonly string[]): void {
  if (state.resources.length + state.declarationCount > 0 || state.result.report.errors > 0) return;
  throw new CommandError('PORTICO_ERR_NO_RESOURCES', `no resources found in ${paths.join(', ') || 'the given sources'} (files ending .yaml, .yml or .json with Emissary or Portico kinds)`);
}

/** Notes of an offline read (team sources not read, refusals), for stderr. */
export function printNotes(state: OfflineState): void {
  for (const n of state.notes) process.stderr.write(`note: ${n}\n`);
  for (const u of state.unfetched) process.stderr.write(`note: team source '${u.source}' cannot be fetched (${u.reason}: ${u.message}); left out here\n`);
}
