// Fetching, one driver per kind of source: a git repository (a branch, or a pinned ref), a folder on
// this machine, or a Kubernetes cluster (kubernetes-driver.ts). Each turns "what is there now" into a revision id and a whole, pinned Snapshot.

import { existsSync, statSync, watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { problem } from '../api/problems.js';
import { readTree } from '../load/file-tree.js';
import { FetchError, GitSource, type SnapshotLimits } from '../sources/git-source.js';
import type { FactRequest, RevisionFacts, Snapshot } from './reconcile.js';
import { gatherFacts } from './signature-policy.js';
import type { DeclaredSource } from './source-kind.js';
import type { KubernetesCluster } from '../kubernetes/cluster.js';
import { KubernetesDriver } from './kubernetes-driver.js';
import { newestStateSnapshot } from './newest-state.js';
import { folderFiles } from './folder-files.js';

export interface SourceDriver {
  readonly decl: DeclaredSource;
  /** Looks at the source and returns its newest revision. Throws FetchError. */
  fetch(signal: AbortSignal): Promise<string>;
  /** The files of one revision, read whole (the last few are kept). */
  snapshot(revision: string): Promise<Snapshot>;
  /** A revision an earlier run fetched, usable while the source cannot be reached. */
  cachedRevision(): Promise<string | undefined>;
  facts(req: FactRequest): Promise<RevisionFacts>;
  /** Calls `onChange` when the source may have changed by itself (a folder being edited). */
  watch?(onChange: () => void): void;
  close(): void;
}

export interface DriverOptions {
  /** Folder of the git caches (bare repositories). */
  readonly cacheDir: string;
  readonly verifyDir: string;
  readonly fetchTimeoutMs?: number;
  readonly limits?: Partial<SnapshotLimits>;
  /** How often a folder is checked for changes that file events missed (0: never). */
  readonly folderPollMs?: number;
  /** The cluster Kubernetes sources read (created on first use; undefined when none is configured). */
  readonly kubernetes?: () => KubernetesCluster | undefined;
}

export function createDriver(decl: DeclaredSource, opts: DriverOptions): SourceDriver {
  if (decl.kind === 'kubernetes') return new KubernetesDriver(decl, opts);
  if (decl.kind === 'directory') return new DirectoryDriver(decl, opts);
  const folder = plainFolderOf(decl);
  // A Source whose url is a folder on this machine that is no git repository is read as a folder.
  return folder !== undefined ? new DirectoryDriver({ ...decl, spec: { ...decl.spec, url: folder } }, opts) : new GitDriver(decl, opts);
}

/**
 * The folder a git-kind declaration names when its url is a local path to a folder that is not a git
 * repository (the examples, a checkout's subfolder): `url/path`. Undefined for anything git can fetch.
 */
export function plainFolderOf(decl: DeclaredSource): string | undefined {
  const url = decl.spec.url;
  if (!url.startsWith('/')) return undefined;
  try {
    if (!statSync(url).isDirectory()) return undefined;
  } catch {
    return undefined;
  }
  // A work tree (.git) or a bare repository (HEAD beside objects/) is git's.
  if (existsSync(join(url, '.git')) || (existsSync(join(url, 'HEAD')) && existsSync(join(url, 'objects')))) return undefined;
  return decl.spec.path === '' ? url : join(url, decl.spec.path);
}

/** Snapshots kept per source: the served one and the newest candidate, with room for one more. */
const KEPT_SNAPSHOTS = 3;

class SnapshotCache {
  private readonly m = new Map<string, Snapshot>();
  get(rev: string): Snapshot | undefined {
    return this.m.get(rev);
  }
  set(rev: string, s: Snapshot): Snapshot {
    this.m.delete(rev);
    this.m.set(rev, s);
    while (this.m.size > KEPT_SNAPSHOTS) this.m.delete(this.m.keys().next().value!);
    return s;
  }
}

export class GitDriver implements SourceDriver {
  readonly git: GitSource;
  private readonly snapshots = new SnapshotCache();

  constructor(
    readonly decl: DeclaredSource,
    private readonly opts: DriverOptions,
  ) {
    this.git = new GitSource(decl.spec, { cacheDir: opts.cacheDir, ...(opts.fetchTimeoutMs ? { fetchTimeoutMs: opts.fetchTimeoutMs } : {}), ...(opts.limits ? { limits: opts.limits } : {}) });
  }

  fetch(signal: AbortSignal): Promise<string> {
    return this.decl.pin !== undefined ? this.git.fetchRef(this.decl.pin, signal) : this.git.fetch(signal);
  }

  async snapshot(revision: string): Promise<Snapshot> {
    const hit = this.snapshots.get(revision);
    if (hit) return hit;
    const s = await this.git.readSnapshot(revision);
    return this.snapshots.set(revision, {
      source: this.decl.spec.name,
      revision,
      // Files that are not UTF-8 are kept as bytes: the loader refuses them with their name.
      files: s.files.map((f) => ({ path: f.path, content: isUtf8(f.content) ? f.content.toString('utf8') : f.content, hash: `git:${f.oid}` })),
      problems: s.problems,
      commit: s.commit,
    });
  }

  cachedRevision(): Promise<string | undefined> {
    return this.git.cachedRevision();
  }

  facts(req: FactRequest): Promise<RevisionFacts> {
    return gatherFacts(this.git, req, this.opts.verifyDir);
  }

  close(): void {}
}

/** A file of a folder source as problems name it: relative to the working directory when inside it. */
function shownPath(p: string): string {
  const r = relative(process.cwd(), p);
  return r === '' || r.startsWith('..') || isAbsolute(r) ? p : r;
}

/**
 * A folder: its revision is the hash of its files' paths and contents, so the same files give the
 * same revision on every replica and after a restart. Edits are noticed by file events, with a slow
 * poll of names, sizes and times as a safety net for events the platform drops.
 */
export class DirectoryDriver implements SourceDriver {
  private readonly snapshots = new SnapshotCache();
  private watcher: FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  private fingerprint = '';
  private closed = false;

  constructor(
    readonly decl: DeclaredSource,
    private readonly opts: DriverOptions,
  ) {}

  private get dir(): string {
    return this.decl.spec.url;
  }

  async fetch(): Promise<string> {
    const tree = await readTree([this.dir]);
    const unreadable = tree.problems.find((p) => p.code === 'FileUnreadable' && p.path === this.dir);
    if (unreadable) throw new FetchError('RepositoryNotFound', `cannot read ${this.dir}: ${unreadable.message}`);
    const { files, revision } = folderFiles(tree.files, shownPath, tree.problems.map((p) => `problem\0${p.code}\0${p.path}\0${p.message}`));
    if (!this.snapshots.get(revision)) {
      this.snapshots.set(revision, {
        source: this.decl.spec.name,
        revision,
        files,
        problems: tree.problems.map((p) => problem(p.code, p.message, { source: this.decl.spec.name, path: shownPath(p.path), line: 0, col: 0 })),
      });
    }
    this.fingerprint = await this.computeFingerprint();
    return revision;
  }

  async snapshot(revision: string): Promise<Snapshot> {
    // Only the newest state of a folder can be read; an older revision is gone once the files changed.
    return newestStateSnapshot(this.snapshots, revision, () => this.fetch(), `${this.dir} changed while it was being read`);
  }

  async cachedRevision(): Promise<string | undefined> {
    return undefined;
  }

  async facts(): Promise<RevisionFacts> {
    return { rewritten: false, anchored: false };
  }

  watch(onChange: () => void): void {
    try {
      this.watcher = watch(this.dir, { recursive: true, persistent: false }, () => onChange());
      this.watcher.on('error', () => {
        // The folder vanished or cannot be watched: the poll carries on alone.
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      this.watcher = undefined;
    }
    const pollMs = this.opts.folderPollMs ?? 2000;
    if (pollMs > 0) {
      let busy = false;
      this.poller = setInterval(() => {
        if (busy || this.closed) return;
        busy = true;
        void this.computeFingerprint()
          .then((fp) => {
            if (fp !== this.fingerprint) onChange();
          })
          .finally(() => (busy = false));
      }, pollMs);
      this.poller.unref();
    }
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.poller) clearInterval(this.poller);
  }

  /** Names, sizes and times of every file: cheap change detection when events are lost. */
  private async computeFingerprint(): Promise<string> {
    const h = createHash('sha256');
    let count = 0;
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : 1));
      for (const e of entries) {
        if (count++ > 100_000 || e.name.startsWith('.')) continue;
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else {
          try {
            const st = await stat(p);
            h.update(`${p}\0${st.size}\0${st.mtimeMs}\n`);
          } catch {}
        }
      }
    };
    await walk(this.dir);
    return h.digest('hex');
  }
}
