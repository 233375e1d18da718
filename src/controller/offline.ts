// The offline commands' view of a configuration (validate, render, routes, explain, test): the same
// controller and reconcile as `serve`, run once over paths on disk and/or git sources, nothing applied.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, normalize, resolve } from 'node:path';
import { problem, type Problem } from '../api/problems.js';
import type { Resource } from '../api/resource.js';
import type { CompileResult } from '../compile/index.js';
import { compile } from '../compile/index.js';
import { readTree, SYNC_READER } from '../load/file-tree.js';
import { Controller, type CompileInputs } from './controller.js';
import { folderFiles } from './folder-files.js';
import type { Decision, Snapshot } from './reconcile.js';
import { createDriver, type SourceDriver } from './source-drivers.js';
import type { DeclaredSource } from './source-kind.js';

/** The name of the root made of the paths given on the command line; its origins carry no source name. */
export const LOCAL_ROOT = 'local';

export interface OfflineOptions {
  /** Files and folders on disk: together, one root (as `serve --config` would read them). */
  readonly paths?: readonly string[];
  /** Files to leave out of `paths` (route test files kept beside the configuration). */
  readonly exclude?: readonly string[];
  /** Git sources (and named folders) as `serve` takes them. */
  readonly roots?: readonly DeclaredSource[];
  readonly pins?: Readonly<Record<string, string>>;
  readonly localTeams?: Readonly<Record<string, string>>;
  readonly ambassadorId?: string;
  /** The namespace serve runs in (AMBASSADOR_NAMESPACE), so that services are qualified as serve qualifies them. */
  readonly ambassadorNamespace?: string;
  readonly fetchTimeoutMs?: number;
  readonly compileInputs?: () => CompileInputs;
  /** Fetch declared team sources' repositories (default: only when git sources are given). */
  readonly fetchTeams?: boolean;
}

export interface OfflineState {
  /** What is compiled: the served set, or, when a root is refused, that root's attempt (with its errors). */
  readonly result: CompileResult;
  /** Every resource of the compiled sources (explain reads the Mappings' own fields). */
  readonly resources: readonly Resource[];
  /** Decisions on every source; a refused one is what `serve` would refuse. */
  readonly decisions: readonly Decision[];
  /** Team sources declared by the roots that were not fetched (none when git sources were given). */
  readonly notes: readonly string[];
  /** Source objects declared by the roots read. */
  readonly declarationCount: number;
  /** Names of the team sources the roots declare, sorted. */
  readonly declaredTeams: readonly string[];
  /** Sources that could not be fetched (bad URL, unreachable, unknown branch): roots and teams alike. */
  readonly unfetched: readonly { readonly source: string; readonly root: boolean; readonly reason: string; readonly message: string }[];
}

/** A root of files and folders named on the command line: one snapshot of all of them. */
class PathsDriver implements SourceDriver {
  private last: Snapshot | undefined;
  constructor(
    readonly decl: DeclaredSource,
    private readonly paths: readonly string[],
    private readonly exclude: ReadonlySet<string>,
  ) {}

  async fetch(): Promise<string> {
    const tree = await readTree(this.paths, SYNC_READER);
    const files = tree.files.filter((f) => !this.exclude.has(resolve(f.path)));
    const problems: Problem[] = tree.problems.map((p) => problem(p.code, p.message, { path: p.path, line: 0, col: 0 }));
    const { files: loaded, revision } = folderFiles(files);
    this.last = { source: this.decl.spec.name, revision, files: loaded, problems };
    return revision;
  }

  async snapshot(): Promise<Snapshot> {
    return this.last!;
  }

  async cachedRevision(): Promise<undefined> {
    return undefined;
  }

  async facts() {
    return { rewritten: false, anchored: false };
  }

  close(): void {}
}

export async function offlineState(opts: OfflineOptions): Promise<OfflineState> {
  const paths = opts.paths ?? [];
  const roots: DeclaredSource[] = [...(opts.roots ?? [])];
  const local: DeclaredSource | undefined =
    paths.length > 0 ? { spec: { name: LOCAL_ROOT, url: resolve(paths[0]!), branch: '', path: '' }, kind: 'directory', intervalMs: Infinity, onForcePush: 'refuse', ...(paths.length > 1 ? { folders: paths.map((p) => ({ shown: normalize(p).replace(/(.)\/+$/, '$1'), url: resolve(p) })) } : {}) } : undefined;
  if (local) roots.push(local);
  const exclude = new Set((opts.exclude ?? []).map((f) => resolve(f)));
  // Git caches live in a scratch folder removed afterwards: nothing of an offline run is kept.
  const scratch = await mkdtemp(join(tmpdir(), 'portico-offline-'));
  try {
    const controller = new Controller({
      roots,
      stateDir: scratch,
      sink: { apply: async () => ({ ok: true, generation: 0 }) },
      poll: false,
      ...(opts.ambassadorId ? { ambassadorId: opts.ambassadorId } : {}),
      ...(opts.ambassadorNamespace ? { ambassadorNamespace: opts.ambassadorNamespace } : {}),
      ...(opts.fetchTimeoutMs ? { fetchTimeoutMs: opts.fetchTimeoutMs } : {}),
      ...(opts.pins ? { pins: opts.pins } : {}),
      ...(opts.localTeams ? { localTeams: opts.localTeams } : {}),
      ...(opts.compileInputs ? { compileInputs: opts.compileInputs } : {}),
      ...(local ? { anonymous: LOCAL_ROOT } : {}),
      fetchTeams: opts.fetchTeams ?? roots.some((r) => r.kind === 'git'),
      createDriver: (decl, dopts) => (local && decl === local ? new PathsDriver(decl, paths, exclude) : createDriver(decl, dopts)),
    });
    const out = await controller.evaluate();
    const unfetched = controller
      .status()
      .filter((st) => st.fetchError !== undefined)
      .map((st) => ({ source: st.name, root: st.role === 'root', reason: st.fetchError!.reason, message: st.fetchError!.message }));
    const decisions = out?.decisions ?? [];
    // A refused root is shown as it was attempted: its errors are the point of validate.
    const refusedRoot = decisions.find((d) => d.verdict === 'refused' && roots.some((r) => r.spec.name === d.source) && d.candidate);
    const result = refusedRoot?.candidate ?? out?.compiled ?? compile([]);
    const resources = refusedRoot?.loaded ? [...refusedRoot.loaded.resources, ...[...(out?.served.values() ?? [])].filter((s) => s.decl.spec.name !== refusedRoot.source).flatMap((s) => s.loaded.resources)] : [...(out?.served.values() ?? [])].flatMap((s) => s.loaded.resources);
    const notes: string[] = [];
    for (const d of decisions) {
      if (d.verdict === 'refused' && !roots.some((r) => r.spec.name === d.source)) notes.push(`team source '${d.source}' at ${d.revision.slice(0, 12)} would be refused: ${d.message ?? d.reason}`);
    }
    const unread = [...(out?.declared.values() ?? [])].filter((d) => !out?.served.has(d.spec.name) && !decisions.some((x) => x.source === d.spec.name));
    if (unread.length > 0) {
      notes.push(`declares team source(s) ${unread.map((d) => d.spec.name).join(', ')}, not read here (give a folder with --local NAME=DIR, or git sources with --source)`);
    }
    const declarations = refusedRoot?.loaded ? refusedRoot.loaded.declarations : [...(out?.declared.values() ?? [])];
    const declaredTeams = [...new Set(declarations.map((d) => d.spec.name))].sort();
    return { result, resources, decisions, notes, declarationCount: declarations.length, declaredTeams, unfetched };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
