// The two states `plan` compares, decided by the same reconcile as `serve`: the base as served, then
// the head as serve would receive it on top of the base (history and signature checks included).
// Team sources come from --source, --pin or --local, or are fetched where the central state declares them.

import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { problem, type Problem } from '../api/problems.js';
import type { CompileResult } from '../compile/index.js';
import { compile } from '../compile/index.js';
import { sha256 } from '../ir/canonical.js';
import { readTree } from '../load/file-tree.js';
import { reconcile, type CompileInputs, type Decision, type ReconcileOptions, type RevisionFacts, type ServedSource, type Snapshot } from '../controller/reconcile.js';
import { gatherFacts } from '../controller/signature-policy.js';
import { plainFolderOf } from '../controller/source-drivers.js';
import { folderFiles } from '../controller/folder-files.js';
import { DEFAULT_INTERVAL_MS } from '../controller/controller.js';
import type { DeclaredSource } from '../controller/source-kind.js';
import { GitSource } from '../sources/git-source.js';
import { firstLine, runGit } from '../sources/git-command.js';
import { makeSourceSpec, SourceSpecError, validateSourceName, type GitSourceSpec } from '../sources/source-spec.js';
import type { PlanInput } from './plan-engine.js';

/** A configuration item that cannot be read (bad ref, unreachable URL): a usage-level failure of plan. */
export class PlanStateError extends Error {
  readonly code = 'PORTICO_ERR_PLAN_STATE';
}

export interface SideSpec {
  /** Folders/files on disk, or REF[:PATH] of the repository: together, the central source. */
  readonly items: readonly string[];
  /** Team sources by name: PATH_OR_URL@REF[:PATH]. */
  readonly sources: ReadonlyMap<string, string>;
  /** Declared team sources read at a ref or commit instead of their branch. */
  readonly pins?: ReadonlyMap<string, string>;
}

export interface StateOptions {
  /** Repository for REF items (default: the current directory). */
  readonly repo: string;
  readonly ambassadorId: string;
  /** The namespace serve runs in (AMBASSADOR_NAMESPACE); default "default". */
  readonly ambassadorNamespace?: string;
  /** Scratch folder for fetched sources; removed by the caller. */
  readonly cacheDir: string;
  /** Team sources read from folders (both sides). */
  readonly localTeams?: Readonly<Record<string, string>>;
  /** The secrets directory as serve reads it (both sides): references to it resolve, nothing of it is printed. */
  readonly compileInputs?: CompileInputs;
}

/** The name of the central state's root (its origins carry no source name). */
const CENTRAL = 'central';
const REF_RE = /^[A-Za-z0-9._/~^@{}+-]{1,200}$/;

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
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
  const names = ref.startsWith('refs/') ? [ref, `${ref}^{}`] : [`refs/heads/${ref}`, `refs/tags/${ref}`, `refs/tags/${ref}^{}`];
  const r = await runGit(['ls-remote', '--', url, ...names], { timeoutMs: 60_000, maxOutputBytes: 1024 * 1024 });
  if (r.code !== 0) throw new PlanStateError(`cannot list refs of ${url}: ${firstLine(r.stderr)}`);
  const lines = r.stdout.toString('utf8').split('\n').map((l) => l.split('\t'));
  const pick = (name: string): string | undefined => lines.find((l) => l[1] === name)?.[0];
  const sha = names.map((n) => pick(n)).reverse().find((x) => x !== undefined);
  if (sha === undefined) throw new PlanStateError(`${url} has no branch or tag '${ref}' (give a branch, a tag, a ref or a full commit id)`);
  return sha;
}

/** Splits NAME=PATH_OR_URL@REF[:PATH]; '@' is taken from the right so scp-like URLs (git@host:repo) work. */
export function parseSourceOption(arg: string): { name: string; value: string } {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new PlanStateError(`--source '${arg}': expected NAME=PATH_OR_URL@REF`);
  const name = arg.slice(0, eq);
  const err = validateSourceName(name);
  if (err) throw new PlanStateError(`--source '${arg}': ${err}`);
  const value = arg.slice(eq + 1);
  // serve's NAME=URL#BRANCH:PATH: here the branch (or any ref) follows an '@'.
  const hash = value.indexOf('#');
  if (hash > 0) throw new PlanStateError(`--source '${arg}': plan takes NAME=PATH_OR_URL@REF[:SUBDIR] (serve's #BRANCH is @REF here: '${name}=${value.slice(0, hash)}@${value.slice(hash + 1)}')`);
  return { name, value };
}

async function splitLocation(value: string): Promise<{ location: string; ref: string; path: string }> {
  const at = value.lastIndexOf('@');
  let location = value;
  let refAndPath = 'HEAD';
  if (at > 0) {
    const before = value.slice(0, at);
    // "git@host:org/repo" without a ref: the only '@' belongs to the URL.
    if ((await exists(before)) || /[/:]/.test(before)) {
      location = before;
      refAndPath = value.slice(at + 1);
    }
  }
  const colon = refAndPath.indexOf(':');
  return { location, ref: colon >= 0 ? refAndPath.slice(0, colon) : refAndPath, path: colon >= 0 ? refAndPath.slice(colon + 1) : '' };
}

/** Scratch repositories, one per source, shared by both sides so that ancestry between them is known. */
class PlanReader {
  private readonly sources = new Map<string, GitSource>();
  constructor(private readonly opts: StateOptions) {}

  get cacheDir(): string {
    return this.opts.cacheDir;
  }

  gitFor(spec: GitSourceSpec): GitSource {
    const key = `${spec.name}\0${spec.url}\0${spec.path}`;
    let g = this.sources.get(key);
    if (!g) {
      g = new GitSource(spec, { cacheDir: join(this.opts.cacheDir, 'git') });
      this.sources.set(key, g);
    }
    return g;
  }

  /**
   * Reads one pinned commit through the git source (the same limits and hostile-content checks as serve).
   * `named`: the REF:PATH was given on the command line, so a PATH missing at that commit is an error
   * rather than an empty configuration (a typo must not read as "remove every route").
   */
  async snapshot(spec: GitSourceSpec, ref: string, location: string, named = false): Promise<Snapshot> {
    const sha = await resolveCommit(location, spec.url, ref || 'HEAD');
    const git = this.gitFor(spec);
    await mkdir(git.repoDir, { recursive: true });
    const init = await runGit(['init', '--bare', '-q', git.repoDir], { timeoutMs: 15_000 });
    if (init.code !== 0) throw new PlanStateError(`cannot create a scratch repository: ${firstLine(init.stderr)}`);
    const f = await runGit(['-C', git.repoDir, 'fetch', '--no-tags', '--no-recurse-submodules', '--no-write-fetch-head', '--quiet', '--', spec.url, `+${sha}:refs/portico/plan-${sha}`], {
      timeoutMs: 120_000,
      maxOutputBytes: 1024 * 1024,
    });
    if (f.code !== 0) throw new PlanStateError(`cannot fetch ${sha.slice(0, 12)} from ${spec.url}: ${firstLine(f.stderr)}`);
    if (named && spec.path !== '') {
      const probe = await runGit(['-C', git.repoDir, 'cat-file', '-e', `${sha}:${spec.path}`], { timeoutMs: 15_000 });
      if (probe.code !== 0) throw new PlanStateError(`'${spec.path}' does not exist at ${ref || 'HEAD'} (${sha.slice(0, 12)}) in ${spec.url}`);
    }
    const snap = await git.readSnapshot(sha);
    return {
      source: spec.name,
      revision: sha,
      files: snap.files.map((x) => ({ path: x.path, content: isUtf8(x.content) ? x.content.toString('utf8') : x.content })),
      problems: snap.problems,
      commit: snap.commit,
    };
  }
}

interface Side {
  readonly central: Snapshot;
  readonly centralDecl: DeclaredSource;
  readonly label: string[];
  /** Explicit team snapshots (--source). */
  readonly teams: Map<string, { snapshot: Snapshot; spec: GitSourceSpec; label: string }>;
}

async function readSide(spec: SideSpec, reader: PlanReader, opts: StateOptions): Promise<Side> {
  const files: Snapshot['files'][number][] = [];
  const problems: Problem[] = [];
  const labels: string[] = [];
  const revisions: string[] = [];
  for (const item of spec.items) {
    if (await exists(item)) {
      const tree = await readTree([item]);
      for (const f of tree.files) files.push({ path: f.path, content: isUtf8(f.content) ? f.content.toString('utf8') : f.content });
      for (const p of tree.problems) problems.push(problem(p.code, p.message, { path: p.path, line: 0, col: 0 }));
      labels.push(item);
      revisions.push(`dir:${resolve(item)}`);
      continue;
    }
    const colon = item.indexOf(':');
    const ref = colon >= 0 ? item.slice(0, colon) : item;
    const path = colon >= 0 ? item.slice(colon + 1) : '';
    let gspec;
    try {
      gspec = makeSourceSpec({ name: CENTRAL, url: opts.repo, branch: 'HEAD', path }, process.cwd(), `'${item}'`);
    } catch (err) {
      if (err instanceof SourceSpecError) throw new PlanStateError(err.message);
      throw err;
    }
    const snap = await reader.snapshot(gspec, ref, opts.repo, true);
    files.push(...snap.files);
    problems.push(...snap.problems.map((p) => ({ ...p, origin: { path: p.origin.path, line: p.origin.line, col: p.origin.col } })));
    labels.push(`${ref || 'HEAD'}${path ? `:${path}` : ''} (${snap.revision.slice(0, 12)})`);
    revisions.push(snap.revision);
  }
  const h = sha256(JSON.stringify([revisions, files.map((f) => [f.path, typeof f.content === 'string' ? sha256(f.content) : sha256(f.content.toString('base64'))])]));
  const central: Snapshot = { source: CENTRAL, revision: `sha256:${h}`, files, problems };
  // The central state is compared by content: its own history rules (serve's --verify, --on-force-push) are not predicted here.
  // Relative Source URLs resolve as serve resolves them: next to the folder given (as --config does),
  // or next to the repository for REF items (as --source does).
  const firstDisk = revisions.find((r) => r.startsWith('dir:'));
  const declaring = firstDisk !== undefined && revisions.every((r) => r.startsWith('dir:')) ? firstDisk.slice(4) : resolve(opts.repo);
  const centralDecl: DeclaredSource = { spec: { name: CENTRAL, url: declaring, branch: '', path: '' }, kind: 'directory', intervalMs: Infinity, onForcePush: 'refuse' };
  const teams = new Map<string, { snapshot: Snapshot; spec: GitSourceSpec; label: string }>();
  for (const [name, value] of [...spec.sources].sort(([x], [y]) => (x < y ? -1 : 1))) {
    const { location, ref, path } = await splitLocation(value);
    let gspec;
    try {
      gspec = makeSourceSpec({ name, url: location, branch: 'HEAD', path }, process.cwd(), `--source ${name}`);
    } catch (err) {
      if (err instanceof SourceSpecError) throw new PlanStateError(err.message);
      throw err;
    }
    const snapshot = await reader.snapshot(gspec, ref, location, true);
    teams.set(name, { snapshot, spec: gspec, label: `${name}@${ref || 'HEAD'}${path ? `:${path}` : ''} (${snapshot.revision.slice(0, 12)})` });
  }
  return { central, centralDecl, label: labels, teams };
}

export interface PlanStates {
  readonly base: PlanInput;
  readonly head: PlanInput;
  readonly notes: string[];
  /** Head revisions serve would refuse, with why and the way out. */
  readonly refusals: readonly Decision[];
  /** Head revisions serve would accept. */
  readonly accepted: readonly Decision[];
  /** What serve would serve after the head (the base's revision for every refused source). */
  readonly headServed: CompileResult;
  /** Team sources serve would stop serving (no longer declared). */
  readonly removed: readonly string[];
}

/**
 * Settles one side: reconciles, reads the team sources the central state declares (or the ones given),
 * gathers the git facts the reconcile asks for, and reconciles again until nothing more is needed.
 */
async function settle(
  side: Side,
  sideSpec: SideSpec,
  served: ReadonlyMap<string, ServedSource>,
  trusted: boolean,
  reader: PlanReader,
  options: ReconcileOptions,
  notes: string[],
  labels: string[],
): Promise<ReturnType<typeof reconcile>> {
  const snapshots = new Map<string, Snapshot>([[CENTRAL, side.central]]);
  const facts = new Map<string, RevisionFacts>();
  const teamSpecs = new Map<string, GitSourceSpec>();
  for (const [n, t] of side.teams) teamSpecs.set(n, t.spec);
  let out = reconcile({ roots: [side.centralDecl], served, snapshots, facts, trusted, options });
  for (let round = 0; round < 6; round++) {
    let more = false;
    for (const [name, decl] of out.declared) {
      if (snapshots.has(name)) continue;
      more = true;
      const given = side.teams.get(name);
      if (given) {
        snapshots.set(name, { ...given.snapshot });
        labels.push(given.label);
        continue;
      }
      const folder = decl.kind === 'directory' ? decl.spec.url : plainFolderOf(decl);
      if (folder !== undefined) {
        const tree = await readTree([folder]);
        const { files, revision } = folderFiles(tree.files);
        snapshots.set(name, {
          source: name,
          revision,
          files,
          problems: tree.problems.map((p) => problem(p.code, p.message, { source: name, path: p.path, line: 0, col: 0 })),
        });
        labels.push(`${name} (folder ${folder})`);
        continue;
      }
      const pin = sideSpec.pins?.get(name) ?? decl.pin;
      const ref = pin ?? decl.spec.branch;
      const snap = await reader.snapshot(decl.spec, ref, decl.spec.url);
      teamSpecs.set(name, decl.spec);
      snapshots.set(name, snap);
      labels.push(`${name}@${ref} (${snap.revision.slice(0, 12)})`);
    }
    for (const req of out.needs) {
      if (facts.has(req.key)) continue;
      more = true;
      const spec = teamSpecs.get(req.source) ?? req.decl.spec;
      facts.set(req.key, await gatherFacts(reader.gitFor(spec), req, join(reader.cacheDir, 'verify')));
    }
    if (!more) break;
    out = reconcile({ roots: [side.centralDecl], served, snapshots, facts, trusted, options });
  }
  for (const name of side.teams.keys()) {
    if (!out.declared.has(name)) notes.push(`source '${name}' is not declared by the central state; it is not part of what serve would run (give the central state that declares it)`);
  }
  return out;
}

/** What a side serves, or, when its central state is refused, what it attempted (with its errors). */
function shownResult(out: ReturnType<typeof reconcile>): CompileResult {
  const refusedRoot = out.decisions.find((d) => d.source === CENTRAL && d.verdict === 'refused' && d.candidate);
  if (refusedRoot?.candidate) return refusedRoot.candidate;
  const refused = out.decisions.filter((d) => d.verdict === 'refused' && d.candidate);
  // One refused team: show its attempt, so the reviewer sees the routes and errors it would bring.
  if (refused.length === 1 && refused[0]!.candidate) return refused[0]!.candidate;
  return out.compiled;
}

export async function planStates(base: SideSpec, head: SideSpec, opts: StateOptions): Promise<PlanStates> {
  const reader = new PlanReader(opts);
  const options: ReconcileOptions = {
    ambassadorId: opts.ambassadorId,
    ...(opts.ambassadorNamespace !== undefined ? { ambassadorNamespace: opts.ambassadorNamespace } : {}),
    defaultIntervalMs: DEFAULT_INTERVAL_MS,
    anonymous: CENTRAL,
    ...(opts.localTeams ? { localTeams: opts.localTeams } : {}),
    ...(opts.compileInputs ? { compile: opts.compileInputs.compile, compileKey: opts.compileInputs.key } : {}),
  };
  const notes: string[] = [];
  const baseSide = await readSide(base, reader, opts);
  const headSide = await readSide(head, reader, opts);
  const baseLabels: string[] = [];
  const headLabels: string[] = [];
  // The base is what production serves: taken as already verified, as serve's last-known-good is.
  const b = await settle(baseSide, base, new Map(), true, reader, options, notes, baseLabels);
  const h = await settle(headSide, head, b.served, false, reader, options, notes, headLabels);
  for (const d of b.decisions.filter((x) => x.verdict === 'refused')) notes.push(`base: ${d.source} at ${d.revision.slice(0, 12)} is itself refused: ${d.message ?? d.reason}`);
  const label = (side: Side, extra: string[]): string => [...side.label, ...extra].join(' + ') || '(empty)';
  return {
    base: { label: label(baseSide, baseLabels), result: shownResult(b) ?? compile([]) },
    head: { label: label(headSide, headLabels), result: shownResult(h) },
    notes: [...new Set(notes)],
    refusals: h.decisions.filter((d) => d.verdict === 'refused'),
    accepted: h.decisions.filter((d) => d.verdict === 'accepted'),
    headServed: h.compiled,
    removed: h.removed,
  };
}

export async function withScratch<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'portico-plan-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
