// A git source: fetches one branch into a private bare repository, resolves it to a commit, and reads
// the configuration files of that one pinned commit from git's object store (never a working tree).

import { mkdir, access, readdir, rm, stat } from 'node:fs/promises';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { problem, type Problem } from '../api/problems.js';
import { sha256 } from '../ir/canonical.js';
import { GitCommandError, firstLine, gitText, runGit } from './git-command.js';
import type { GitSourceSpec } from './source-spec.js';

export interface SnapshotLimits {
  /** Configuration files under the path (after filtering by extension). */
  readonly maxFiles: number;
  /** Bytes per file; checked from the tree before the blob is read. */
  readonly maxFileBytes: number;
  /** Bytes over all files. */
  readonly maxTotalBytes: number;
  /** Tree entries listed under the path, whatever their type (bounds the listing itself). */
  readonly maxTreeEntries: number;
  /** Bytes one fetch may download (the whole pack, every file of every commit, YAML or not). */
  readonly maxFetchBytes: number;
  /** Bytes the source's cache repository may hold on disk. */
  readonly maxCacheBytes: number;
}

export const DEFAULT_SNAPSHOT_LIMITS: SnapshotLimits = {
  maxFiles: 10_000,
  maxFileBytes: 1024 * 1024,
  maxTotalBytes: 64 * 1024 * 1024,
  maxTreeEntries: 100_000,
  maxFetchBytes: 64 * 1024 * 1024,
  maxCacheBytes: 512 * 1024 * 1024,
};

export interface CommitInfo {
  readonly author: string;
  readonly authorDate: string;
  readonly committer: string;
  /** Committer date, ISO 8601. */
  readonly date: string;
  readonly message: string;
}

export interface SnapshotFile {
  /** Path from the repository root, '/'-separated. */
  readonly path: string;
  readonly content: Buffer;
  /** The blob id: a content hash git already computed (the parse cache keys on it). */
  readonly oid: string;
}

export interface Snapshot {
  readonly source: string;
  readonly revision: string;
  readonly commit: CommitInfo;
  readonly files: readonly SnapshotFile[];
  /** Hostile or oversized content found in the tree; any error rejects the revision. */
  readonly problems: readonly Problem[];
}

/** Why a fetch failed, for status and history. */
export type FetchFailureReason = 'Timeout' | 'Unreachable' | 'AuthenticationFailed' | 'RepositoryNotFound' | 'RefNotFound' | 'Aborted' | 'TooLarge' | 'GitError';

export class FetchError extends Error {
  readonly code = 'PORTICO_ERR_FETCH';
  constructor(
    readonly reason: FetchFailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'FetchError';
  }
}

export interface GitSourceOptions {
  /** Folder that holds one bare repository per source. */
  readonly cacheDir: string;
  readonly fetchTimeoutMs?: number;
  readonly limits?: Partial<SnapshotLimits>;
}

const FETCHED_REF = 'refs/portico/fetched';
const PINNED_REF = 'refs/portico/pinned';
const CONFIG_EXT = /\.(ya?ml|json)$/i;

export class GitSource {
  readonly repoDir: string;
  private readonly limits: SnapshotLimits;
  private readonly fetchTimeoutMs: number;

  constructor(
    readonly spec: GitSourceSpec,
    opts: GitSourceOptions,
  ) {
    // The URL is part of the folder name so that re-pointing a source never mixes histories.
    this.repoDir = join(opts.cacheDir, `${spec.name}-${sha256(spec.url).slice(0, 12)}.git`);
    this.limits = { ...DEFAULT_SNAPSHOT_LIMITS, ...opts.limits };
    this.fetchTimeoutMs = opts.fetchTimeoutMs ?? 60_000;
  }

  private git(args: readonly string[], opts: Parameters<typeof runGit>[1] = {}): ReturnType<typeof runGit> {
    return runGit(['-C', this.repoDir, ...args], { ...opts, env: { GIT_LITERAL_PATHSPECS: '1', ...opts.env } });
  }

  private async ensureRepo(): Promise<void> {
    try {
      await access(join(this.repoDir, 'HEAD'));
      return;
    } catch {}
    await mkdir(this.repoDir, { recursive: true });
    const r = await runGit(['init', '--bare', '-q', this.repoDir], { timeoutMs: 15_000 });
    if (r.code !== 0) throw new FetchError('GitError', `cannot create cache repository: ${firstLine(r.stderr)}`);
  }

  /** Fetches the branch and returns the commit it points to. Throws FetchError. */
  async fetch(signal?: AbortSignal): Promise<string> {
    const src = this.spec.branch === 'HEAD' ? 'HEAD' : `refs/heads/${this.spec.branch}`;
    return this.fetchInto(src, FETCHED_REF, signal);
  }

  /**
   * One bounded fetch of `src` into `ref`: what it downloads is watched while it runs and the fetch
   * is killed past maxFetchBytes; afterwards the cache must stay under maxCacheBytes. Either way the
   * packs it brought are removed and the ref is put back, so an oversized commit costs one capped
   * download, never disk space, and the source keeps its last-known-good.
   */
  private async fetchInto(src: string, ref: string, signal: AbortSignal | undefined, fallback?: string): Promise<string> {
    await this.ensureRepo();
    const packDir = join(this.repoDir, 'objects', 'pack');
    const before = new Set(await readdir(packDir).catch(() => [] as string[]));
    const previous = await this.resolve(ref).catch(() => undefined);
    const grown = (): number => {
      let n = 0;
      try {
        for (const f of readdirSync(packDir)) if (!before.has(f)) n += statSync(join(packDir, f)).size;
      } catch {}
      return n;
    };
    const undo = async (): Promise<void> => {
      for (const f of await readdir(packDir).catch(() => [] as string[])) if (!before.has(f)) await rm(join(packDir, f), { force: true });
      if (previous) await this.git(['update-ref', ref, previous], { timeoutMs: 15_000 });
      else await this.git(['update-ref', '-d', ref], { timeoutMs: 15_000 });
    };
    const max = this.limits.maxFetchBytes;
    const run = (source: string) =>
      this.git(['-c', 'fetch.unpackLimit=1', '-c', 'transfer.unpackLimit=1', 'fetch', '--no-tags', '--no-recurse-submodules', '--no-write-fetch-head', '--quiet', '--', this.spec.url, `+${source}:${ref}`], {
        timeoutMs: this.fetchTimeoutMs,
        maxOutputBytes: 1024 * 1024,
        ...(signal ? { signal } : {}),
        // Incoming objects are kept as one pack (unpackLimit=1), which grows on disk as it arrives.
        watch: { everyMs: 100, check: () => (grown() > max ? `fetch of ${this.spec.url} downloads more than ${max} bytes` : undefined) },
      });
    let r;
    try {
      r = await run(src);
      if (r.code !== 0 && fallback !== undefined) {
        const t = await run(fallback);
        if (t.code === 0) r = t;
      }
    } catch (err) {
      if (err instanceof GitCommandError && err.code === 'PORTICO_ERR_GIT_SIZE_CAP') {
        await undo();
        throw new FetchError('TooLarge', `${err.message} (the limit of one fetch; a large file committed beside the configuration?)`);
      }
      if (err instanceof GitCommandError && err.code === 'PORTICO_ERR_GIT_TIMEOUT') throw new FetchError('Timeout', `fetch of ${this.spec.url} timed out after ${this.fetchTimeoutMs} ms`);
      if (err instanceof GitCommandError && err.code === 'PORTICO_ERR_GIT_ABORTED') throw new FetchError('Aborted', `fetch of ${this.spec.url} aborted`);
      throw new FetchError('GitError', (err as Error).message);
    }
    if (r.code !== 0) throw new FetchError(classifyFetchFailure(r.stderr), `fetch of ${ref === PINNED_REF ? `${src} from ` : ''}${this.spec.url} failed: ${firstLine(r.stderr)}`);
    if (grown() > max) {
      await undo();
      throw new FetchError('TooLarge', `fetch of ${this.spec.url} downloaded more than ${max} bytes (the limit of one fetch; a large file committed beside the configuration?)`);
    }
    const size = await dirSize(this.repoDir);
    if (size > this.limits.maxCacheBytes) {
      await undo();
      throw new FetchError('TooLarge', `the cache of ${this.spec.url} would hold ${size} bytes, over its limit of ${this.limits.maxCacheBytes}`);
    }
    return this.resolve(ref);
  }

  /** The last fetched commit without contacting the remote, if any fetch ever succeeded. */
  async cachedRevision(): Promise<string | undefined> {
    try {
      await access(join(this.repoDir, 'HEAD'));
      return await this.resolve(FETCHED_REF);
    } catch {
      return undefined;
    }
  }

  private async resolve(ref: string): Promise<string> {
    const r = await this.git(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], { timeoutMs: 15_000 });
    const rev = r.stdout.toString('utf8').trim();
    if (r.code !== 0 || !/^[0-9a-f]{40,64}$/.test(rev)) throw new FetchError('RefNotFound', `${ref} does not name a commit`);
    return rev;
  }

  /** Whether the cache holds this commit (a restart may have lost it). */
  async hasCommit(revision: string): Promise<boolean> {
    const r = await this.git(['cat-file', '-e', `${revision}^{commit}`], { timeoutMs: 15_000 });
    return r.code === 0;
  }

  /** True if `older` is an ancestor of `newer`; undefined when the cache lacks `older`. */
  async isAncestor(older: string, newer: string): Promise<boolean | undefined> {
    if (!(await this.hasCommit(older))) return undefined;
    const r = await this.git(['merge-base', '--is-ancestor', older, newer], { timeoutMs: 30_000 });
    if (r.code === 0) return true;
    if (r.code === 1) return false;
    return undefined;
  }

  /** Commits reachable from `newer` but from none of `excluded`, newest first (at most cap + 1). */
  async commitsSince(excluded: readonly string[], newer: string, cap: number): Promise<string[]> {
    const range = [...excluded.map((e) => `^${e}`), newer];
    const out = await gitText(['-C', this.repoDir, 'rev-list', `--max-count=${cap + 1}`, ...range], { timeoutMs: 30_000 });
    return out.split('\n').filter((l) => l !== '');
  }

  /** Resolves a ref or commit of the remote (a pin: `refs/pull/12/head`, a tag, a commit id) and fetches it. */
  async fetchRef(ref: string, signal?: AbortSignal): Promise<string> {
    const exact = /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(ref) || ref.startsWith('refs/');
    // A short name that is no branch may be a tag.
    return this.fetchInto(exact ? ref : `refs/heads/${ref}`, PINNED_REF, signal, exact ? undefined : `refs/tags/${ref}`);
  }

  async commitInfo(revision: string): Promise<CommitInfo> {
    const out = await gitText(['-C', this.repoDir, 'log', '-1', '--no-show-signature', '--format=%an <%ae>%x00%aI%x00%cn <%ce>%x00%cI%x00%B', revision], {
      timeoutMs: 15_000,
      maxOutputBytes: 1024 * 1024,
    });
    const [author = '', authorDate = '', committer = '', date = '', ...msg] = out.split('\0');
    return { author, authorDate, committer, date, message: msg.join('\0').trim() };
  }

  /** Reads the configuration files of one commit. Hostile content becomes problems, not exceptions. */
  async readSnapshot(revision: string): Promise<Snapshot> {
    const commit = await this.commitInfo(revision);
    const origin = (path: string) => ({ source: this.spec.name, revision, path, line: 0, col: 0 });
    const problems: Problem[] = [];
    const args = ['ls-tree', '-r', '-l', '-z', '--full-tree', revision];
    if (this.spec.path !== '') args.push('--', this.spec.path);
    const ls = await this.git(args, { timeoutMs: 30_000, maxOutputBytes: 64 * 1024 * 1024 });
    if (ls.code !== 0) throw new GitCommandError('PORTICO_ERR_GIT_FAILED', `git ls-tree failed: ${firstLine(ls.stderr)}`, ls.stderr);
    const wanted: { oid: string; path: string; size: number }[] = [];
    let entries = 0;
    let total = 0;
    for (const rec of ls.stdout.toString('utf8').split('\0')) {
      if (rec === '') continue;
      const tab = rec.indexOf('\t');
      const [mode = '', type = '', oid = '', sizeText = ''] = rec.slice(0, tab).split(/ +/);
      const path = rec.slice(tab + 1);
      // A tree entry named '..' or '.' (which git fsck refuses, but a push without fsck stores) would
      // make 'deploy/../evil.yaml': such a tree refuses the revision, whichever folder it is in.
      if (path.split('/').some((seg) => seg === '..' || seg === '.' || seg === '')) {
        problems.push(problem('PathOutsideRoot', `'${path}' has a path segment '.', '..' or an empty name (an invalid tree, which git fsck refuses); revision refused`, origin(path)));
        continue;
      }
      if (this.spec.path !== '' && path !== this.spec.path && !path.startsWith(this.spec.path + '/')) continue;
      if (++entries > this.limits.maxTreeEntries) {
        problems.push(problem('TooManyFiles', `more than ${this.limits.maxTreeEntries} entries under '${this.spec.path || '/'}'; revision refused`, origin(this.spec.path || '.')));
        return { source: this.spec.name, revision, commit, files: [], problems };
      }
      // A symlink could point outside the tree and a submodule at another repository; neither is followed.
      if (mode === '120000') {
        problems.push(problem('PathOutsideRoot', `'${path}' is a symbolic link; links are never followed in git sources`, origin(path)));
        continue;
      }
      if (type === 'commit') {
        problems.push(problem('PathOutsideRoot', `'${path}' is a submodule; submodules are never followed in git sources`, origin(path)));
        continue;
      }
      if (type !== 'blob' || !CONFIG_EXT.test(path)) continue;
      const size = Number(sizeText);
      if (size > this.limits.maxFileBytes) {
        problems.push(problem('FileTooLarge', `'${path}' is ${size} bytes, over the ${this.limits.maxFileBytes}-byte limit`, origin(path)));
        continue;
      }
      total += size;
      wanted.push({ oid, path, size });
    }
    if (wanted.length > this.limits.maxFiles) {
      problems.push(problem('TooManyFiles', `${wanted.length} configuration files under '${this.spec.path || '/'}', over the limit of ${this.limits.maxFiles}`, origin(this.spec.path || '.')));
      return { source: this.spec.name, revision, commit, files: [], problems };
    }
    if (total > this.limits.maxTotalBytes) {
      problems.push(problem('FileTooLarge', `configuration files total ${total} bytes, over the ${this.limits.maxTotalBytes}-byte limit`, origin(this.spec.path || '.')));
      return { source: this.spec.name, revision, commit, files: [], problems };
    }
    if (problems.length > 0 || wanted.length === 0) return { source: this.spec.name, revision, commit, files: [], problems };
    const files = await this.readBlobs(wanted);
    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return { source: this.spec.name, revision, commit, files, problems };
  }

  private async readBlobs(wanted: { oid: string; path: string; size: number }[]): Promise<SnapshotFile[]> {
    const input = wanted.map((w) => w.oid).join('\n') + '\n';
    const expected = wanted.reduce((n, w) => n + w.size + 100, 0);
    const r = await this.git(['cat-file', '--batch'], { input, timeoutMs: 60_000, maxOutputBytes: expected + 1024 });
    if (r.code !== 0) throw new GitCommandError('PORTICO_ERR_GIT_FAILED', `git cat-file failed: ${firstLine(r.stderr)}`, r.stderr);
    const out = r.stdout;
    const files: SnapshotFile[] = [];
    let pos = 0;
    for (const w of wanted) {
      const nl = out.indexOf(0x0a, pos);
      if (nl < 0) throw new GitCommandError('PORTICO_ERR_GIT_FAILED', 'git cat-file output ended early');
      const header = out.subarray(pos, nl).toString('utf8').split(' ');
      if (header[0] !== w.oid || header[1] !== 'blob') throw new GitCommandError('PORTICO_ERR_GIT_FAILED', `git cat-file: unexpected object header '${header.join(' ')}'`);
      const size = Number(header[2]);
      files.push({ path: w.path, content: Buffer.from(out.subarray(nl + 1, nl + 1 + size)), oid: w.oid });
      pos = nl + 1 + size + 1;
    }
    return files;
  }
}

/** Bytes of every file under `dir` (the cache repository is a few folders deep). */
async function dirSize(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) total += (await stat(p).catch(() => ({ size: 0 }))).size;
    }
  };
  await walk(dir);
  return total;
}

export function classifyFetchFailure(stderr: string): FetchFailureReason {
  const s = stderr.toLowerCase();
  if (/authentication failed|permission denied|host key verification failed|could not read username|could not read password|terminal prompts disabled|403/.test(s)) {
    return 'AuthenticationFailed';
  }
  if (/couldn't find remote ref|could not find remote ref|invalid refspec/.test(s)) return 'RefNotFound';
  if (/does not appear to be a git repository|access denied or repository not exported|repository not found|not found|no such file|does not exist|'.*' does not/.test(s)) return 'RepositoryNotFound';
  if (/unable to connect|connection refused|could not resolve|unable to access|connection timed out|network is unreachable|could not read from remote|the remote end hung up|early eof/.test(s)) {
    return 'Unreachable';
  }
  return 'GitError';
}
