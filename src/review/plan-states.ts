// The two states `plan` compares, read offline: folders on disk, revisions of the repository
// (REF[:PATH]) and team sources (NAME=PATH_OR_URL@REF[:PATH]) read at a pinned commit, then compiled with claims.

import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { problem, type Problem } from '../api/problems.js';
import type { Claim } from '../compile/options.js';
import { compile } from '../compile/index.js';
import { loadFiles } from '../load/index.js';
import { readTree } from '../load/file-tree.js';
import { extractSources, type DeclaredSource } from '../controller/source-kind.js';
import { GitSource } from '../sources/git-source.js';
import { firstLine, runGit } from '../sources/git-command.js';
import { makeSourceSpec, SourceSpecError, validateSourceName } from '../sources/source-spec.js';
import type { PlanInput } from './plan-engine.js';

/** A configuration item that cannot be read (bad ref, unreachable URL): a usage-level failure of plan. */
export class PlanStateError extends Error {
  readonly code = 'PORTICO_ERR_PLAN_STATE';
}

export interface SideSpec {
  /** Folders/files on disk, or REF[:PATH] of the repository. */
  readonly items: readonly string[];
  /** Team sources by name: PATH_OR_URL@REF[:PATH]. */
  readonly sources: ReadonlyMap<string, string>;
}

export interface StateOptions {
  /** Repository for REF items (default: the current directory). */
  readonly repo: string;
  readonly ambassadorId: string;
  /** Scratch folder for fetched sources; removed by the caller. */
  readonly cacheDir: string;
}

interface Group {
  readonly label: string;
  /** undefined for the central configuration (not held to a claim). */
  readonly source?: string;
  readonly revision?: string;
  readonly files: { path: string; content: string | Buffer }[];
  readonly problems: Problem[];
  readonly declaringUrl: string;
}

const REF_RE = /^[A-Za-z0-9._/~^@{}+-]{1,200}$/;

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function resolveCommit(location: string, url: string, ref: string): Promise<string> {
  if (!REF_RE.test(ref) || ref.startsWith('-')) throw new PlanStateError(`'${ref}' is not a valid git revision`);
  if (await isDir(location)) {
    const r = await runGit(['-C', location, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], { timeoutMs: 15_000 });
    const sha = r.stdout.toString('utf8').trim();
    if (r.code !== 0 || !/^[0-9a-f]{40,64}$/.test(sha)) throw new PlanStateError(`'${ref}' does not name a commit in ${location}${location === '.' ? ' (and is no file or folder here)' : ''}`);
    return sha;
  }
  if (/^[0-9a-f]{40,64}$/.test(ref)) return ref;
  const r = await runGit(['ls-remote', '--', url, `refs/heads/${ref}`, `refs/tags/${ref}`, `refs/tags/${ref}^{}`], { timeoutMs: 60_000, maxOutputBytes: 1024 * 1024 });
  if (r.code !== 0) throw new PlanStateError(`cannot list refs of ${url}: ${firstLine(r.stderr)}`);
  const lines = r.stdout.toString('utf8').split('\n').map((l) => l.split('\t'));
  const pick = (name: string): string | undefined => lines.find((l) => l[1] === name)?.[0];
  const sha = pick(`refs/tags/${ref}^{}`) ?? pick(`refs/heads/${ref}`) ?? pick(`refs/tags/${ref}`);
  if (sha === undefined) throw new PlanStateError(`${url} has no branch or tag '${ref}' (give a branch, a tag or a full commit id)`);
  return sha;
}

/** Reads one pinned commit through the git source (same limits and hostile-content checks as serve). */
async function snapshotGroup(name: string, location: string, refAndPath: string, opts: StateOptions, central: boolean): Promise<Group> {
  const colon = refAndPath.indexOf(':');
  const ref = colon >= 0 ? refAndPath.slice(0, colon) : refAndPath;
  const path = colon >= 0 ? refAndPath.slice(colon + 1) : '';
  let spec;
  try {
    spec = makeSourceSpec({ name, url: location, branch: 'HEAD', path }, process.cwd(), central ? `'${refAndPath}'` : `--source ${name}`);
  } catch (err) {
    if (err instanceof SourceSpecError) throw new PlanStateError(err.message);
    throw err;
  }
  const sha = await resolveCommit(location, spec.url, ref || 'HEAD');
  const src = new GitSource(spec, { cacheDir: opts.cacheDir });
  await mkdir(src.repoDir, { recursive: true });
  const init = await runGit(['init', '--bare', '-q', src.repoDir], { timeoutMs: 15_000 });
  if (init.code !== 0) throw new PlanStateError(`cannot create a scratch repository: ${firstLine(init.stderr)}`);
  const f = await runGit(['-C', src.repoDir, 'fetch', '--no-tags', '--no-recurse-submodules', '--no-write-fetch-head', '--quiet', '--', spec.url, `+${sha}:refs/portico/pinned`], {
    timeoutMs: 120_000,
    maxOutputBytes: 1024 * 1024,
  });
  if (f.code !== 0) throw new PlanStateError(`cannot fetch ${sha.slice(0, 12)} from ${spec.url}: ${firstLine(f.stderr)}`);
  const snap = await src.readSnapshot(sha);
  const label = central ? `${ref || 'HEAD'}${path ? `:${path}` : ''} (${sha.slice(0, 12)})` : `${name}@${ref || 'HEAD'}${path ? `:${path}` : ''} (${sha.slice(0, 12)})`;
  return {
    label,
    ...(central ? {} : { source: name }),
    revision: sha,
    files: snap.files.map((x) => ({ path: x.path, content: x.content })),
    problems: [...snap.problems],
    declaringUrl: spec.url,
  };
}

async function diskGroup(item: string): Promise<Group> {
  const tree = await readTree([item]);
  return {
    label: item,
    files: tree.files.map((x) => ({ path: x.path, content: x.content })),
    problems: tree.problems.map((p) => problem(p.code, p.message, { path: p.path, line: 0, col: 0 })),
    declaringUrl: resolve(item),
  };
}

/** Splits NAME=PATH_OR_URL@REF[:PATH]; '@' is taken from the right so scp-like URLs (git@host:repo) work. */
export function parseSourceOption(arg: string): { name: string; value: string } {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new PlanStateError(`--source '${arg}': expected NAME=PATH_OR_URL@REF`);
  const name = arg.slice(0, eq);
  const err = validateSourceName(name);
  if (err) throw new PlanStateError(`--source '${arg}': ${err}`);
  return { name, value: arg.slice(eq + 1) };
}

async function splitLocation(value: string): Promise<{ location: string; ref: string }> {
  const at = value.lastIndexOf('@');
  if (at <= 0) return { location: value, ref: 'HEAD' };
  const before = value.slice(0, at);
  // "git@host:org/repo" without a ref: the only '@' belongs to the URL.
  if (!(await exists(before)) && !/[/:]/.test(before)) return { location: value, ref: 'HEAD' };
  return { location: before, ref: value.slice(at + 1) };
}

export interface LoadedState {
  readonly input: PlanInput;
  readonly notes: string[];
  readonly declared: readonly DeclaredSource[];
}

export async function loadState(side: 'base' | 'head', spec: SideSpec, opts: StateOptions): Promise<LoadedState> {
  const groups: Group[] = [];
  for (const item of spec.items) {
    if (await exists(item)) groups.push(await diskGroup(item));
    else groups.push(await snapshotGroup('central', opts.repo, item, { ...opts, cacheDir: join(opts.cacheDir, side) }, true));
  }
  for (const [name, value] of [...spec.sources].sort(([x], [y]) => (x < y ? -1 : 1))) {
    const { location, ref } = await splitLocation(value);
    groups.push(await snapshotGroup(name, location, ref, { ...opts, cacheDir: join(opts.cacheDir, `${side}-${name}`) }, false));
  }
  const notes: string[] = [];
  const claims: Record<string, Claim> = {};
  const declared: DeclaredSource[] = [];
  const resources = [];
  const problems: Problem[] = [];
  for (const g of groups) {
    let files = g.files;
    if (g.source === undefined) {
      // Only the central configuration may declare team sources and their claims.
      const ex = extractSources(files, { source: 'central', revision: g.revision ?? '', declaringUrl: g.declaringUrl, defaultIntervalMs: 60_000 });
      files = ex.files;
      problems.push(...ex.problems);
      for (const d of ex.sources) {
        declared.push(d);
        if (d.claim && claims[d.spec.name] === undefined) claims[d.spec.name] = d.claim;
      }
    }
    const loaded = loadFiles(files, { ambassadorId: opts.ambassadorId, ...(g.source ? { source: g.source } : {}), ...(g.revision ? { revision: g.revision } : {}) });
    resources.push(...loaded.resources);
    problems.push(...g.problems, ...loaded.problems);
  }
  for (const name of spec.sources.keys()) {
    if (claims[name] !== undefined) continue;
    notes.push(
      declared.length === 0
        ? `${side}: the central configuration declares no Source; team source '${name}' is compiled without a claim`
        : `${side}: source '${name}' is not declared by the central configuration; it is compiled without a claim`,
    );
  }
  for (const d of declared) {
    if (!spec.sources.has(d.spec.name)) notes.push(`${side}: declared source '${d.spec.name}' (${d.spec.url}) is not part of this plan; give it with --source to include its routes`);
  }
  const result = compile(resources, { ambassadorId: opts.ambassadorId, claims }, problems);
  const label = groups.map((g) => g.label).join(' + ') || '(empty)';
  return { input: { label, result }, notes, declared };
}

export async function withScratch<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'portico-plan-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
