// The last-known-good set: per source, the revision and files that were last applied. Written
// atomically (tmp + fsync + rename + dir fsync) with a checksum, so a restart serves it without git.

import { closeSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJSON, sha256 } from '../ir/canonical.js';
import type { CommitInfo } from '../sources/git-source.js';
import type { GitSourceSpec } from '../sources/source-spec.js';
import type { SourceKindName } from './source-kind.js';

export const LKG_FILE = 'last-known-good.json';
const LKG_VERSION = 1;

export interface LkgSource {
  readonly spec: GitSourceSpec;
  /** Absent in files written before folders could be sources: git. */
  readonly kind?: SourceKindName;
  readonly revision: string;
  /** Git sources only. */
  readonly commit?: CommitInfo;
  /**
   * A file that held a private key is kept without its content (empty) and with the digest of the
   * content: the state file never holds key material, and a restart reads the file again from the
   * source at this revision.
   */
  readonly files: readonly { readonly path: string; readonly content: string; readonly redacted?: { readonly sha256: string } }[];
  readonly appliedAt: string;
  /** Root source that declared this one; absent for root sources. */
  readonly declaredBy?: string;
  /** Errors on this source's resources when it was persisted (problem keys): those resources were not served. */
  readonly notServed?: readonly string[];
}

export interface LkgSet {
  readonly version: typeof LKG_VERSION;
  /** By source name. */
  readonly sources: Readonly<Record<string, LkgSource>>;
}

export class LkgCorruptError extends Error {
  readonly code = 'PORTICO_ERR_LKG_CORRUPT';
  constructor(
    readonly file: string,
    why: string,
  ) {
    super(`last-known-good file ${file} is corrupt (${why})`);
    this.name = 'LkgCorruptError';
  }
}

export class LastKnownGoodStore {
  readonly file: string;

  constructor(readonly stateDir: string) {
    this.file = join(stateDir, LKG_FILE);
  }

  /** The persisted set; undefined when there is none. Throws LkgCorruptError on a damaged file. */
  load(): LkgSet | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let doc: { checksum?: unknown; body?: unknown };
    try {
      doc = JSON.parse(text) as typeof doc;
    } catch {
      throw new LkgCorruptError(this.file, 'not valid JSON; truncated?');
    }
    if (typeof doc.checksum !== 'string' || typeof doc.body !== 'object' || doc.body === null) throw new LkgCorruptError(this.file, 'missing checksum or body');
    if (sha256(canonicalJSON(doc.body)) !== doc.checksum) throw new LkgCorruptError(this.file, 'checksum mismatch');
    const body = doc.body as LkgSet;
    if (body.version !== LKG_VERSION || typeof body.sources !== 'object') throw new LkgCorruptError(this.file, `unsupported version ${String(body.version)}`);
    return body;
  }

  /** Replaces the persisted set; a crash at any point leaves either the old or the new file. */
  save(set: LkgSet): void {
    mkdirSync(this.stateDir, { recursive: true });
    const body = JSON.parse(canonicalJSON(set)) as unknown;
    const text = JSON.stringify({ checksum: sha256(canonicalJSON(body)), body });
    const tmp = `${this.file}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    syncDir(this.stateDir);
  }

  /** Removes temp files a crash left mid-write; the real file is untouched by a crash (rename is atomic). */
  removeStaleTemp(): void {
    let names: string[] = [];
    try {
      names = readdirSync(this.stateDir);
    } catch {
      return;
    }
    for (const n of names) if (n.startsWith(`${LKG_FILE}.tmp-`)) rmSync(join(this.stateDir, n), { force: true });
  }

  /** Moves a damaged file aside so that it is kept for inspection but no longer read. */
  quarantine(): string | undefined {
    if (!existsSync(this.file)) return undefined;
    const dest = `${this.file}.corrupt-${Date.now()}`;
    renameSync(this.file, dest);
    return dest;
  }
}

export function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic there.
  }
}
