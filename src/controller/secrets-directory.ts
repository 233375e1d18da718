// The secrets directory (`--secrets DIR`), laid out as mounted Kubernetes Secrets (DIR/NAME/tls.crt,
// tls.key, ca.crt, or any key): read whole and bounded, each file kept only when its real path is
// inside the directory; watched (file events plus a slow poll) so that a rotation recompiles at once.

import { watch, type FSWatcher } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { join, resolve, sep } from 'node:path';
import type { SecretFiles } from '../compile/options.js';
import type { CompileInputs } from './reconcile.js';
import { systemReason } from '../api/system-error.js';

export interface SecretsDirectoryLimits {
  /** Bytes per file (a certificate chain is a few KiB). */
  readonly maxFileBytes: number;
  /** Bytes of all files together. */
  readonly maxTotalBytes: number;
  readonly maxFiles: number;
  /** Folder levels below the directory: NAME/KEY is 2. */
  readonly maxDepth: number;
}

export const DEFAULT_SECRETS_LIMITS: SecretsDirectoryLimits = { maxFileBytes: 1024 * 1024, maxTotalBytes: 16 * 1024 * 1024, maxFiles: 1000, maxDepth: 4 };

export class SecretsDirectoryError extends Error {
  readonly code = 'PORTICO_ERR_SECRETS_DIR';
  constructor(message: string) {
    super(message);
    this.name = 'SecretsDirectoryError';
  }
}

export interface SecretsRead {
  readonly files: SecretFiles;
  /** "sha256:…" of every path and content: changes whenever the material does. */
  readonly key: string;
}

/** The directory as compile inputs. */
export function secretsInputs(read: SecretsRead): CompileInputs {
  return { compile: { secretFiles: read.files }, key: read.key };
}

/** Reads at most `max` bytes; undefined when the file holds more (it may grow between stat and read). */
async function readBounded(path: string, max: number): Promise<Buffer | undefined> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return n > max ? undefined : buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}

interface Visit {
  readonly rel: string;
  readonly full: string;
  readonly size: number;
  readonly stamp: string;
}

/**
 * Every regular file under the directory whose real path stays inside it, as `visit` sees them; the
 * rest is recorded in `skipped`. Names starting with '.' are not entered: a mounted Secret keeps its
 * files in "..data" and timestamped folders, reached through the links beside them.
 */
async function walkDirectory(root: string, real: string, limits: SecretsDirectoryLimits, skipped: Record<string, { reason: string; outside?: boolean }>, visit: (v: Visit) => Promise<void>): Promise<void> {
  let count = 0;
  const walk = async (relDir: string, depth: number): Promise<void> => {
    const names = (await readdir(join(root, relDir))).filter((n) => !n.startsWith('.')).sort();
    for (const name of names) {
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      const full = join(root, rel);
      let st;
      let rp;
      try {
        st = await stat(full);
        rp = await realpath(full);
      } catch {
        skipped[rel] = { reason: 'it cannot be read (a broken link?)' };
        continue;
      }
      if (rp !== real && !rp.startsWith(real + sep)) {
        skipped[rel] = { reason: 'it leads outside the secrets directory', outside: true };
        continue;
      }
      if (st.isDirectory()) {
        if (depth < limits.maxDepth) await walk(rel, depth + 1);
        continue;
      }
      if (!st.isFile()) continue;
      if (++count > limits.maxFiles) {
        skipped[rel] = { reason: `the directory holds more than ${limits.maxFiles} files` };
        continue;
      }
      await visit({ rel, full, size: st.size, stamp: `${st.size}:${st.mtimeMs}:${st.ino}:${rp}` });
    }
  };
  await walk('', 1);
}

async function directoryRoots(dir: string): Promise<{ root: string; real: string }> {
  const root = resolve(dir);
  let real: string;
  try {
    real = await realpath(root);
    if (!(await stat(real)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new SecretsDirectoryError(`secrets directory ${root} cannot be read: ${systemReason(err)}`);
  }
  return { root, real };
}

/** Reads the whole directory. Throws SecretsDirectoryError when the directory itself cannot be read. */
export async function readSecretsDirectory(dir: string, limits: SecretsDirectoryLimits = DEFAULT_SECRETS_LIMITS): Promise<SecretsRead> {
  const { root, real } = await directoryRoots(dir);
  const files: Record<string, string> = {};
  const skipped: Record<string, { reason: string; outside?: boolean }> = {};
  let total = 0;
  try {
    await walkDirectory(root, real, limits, skipped, async ({ rel, full }) => {
      let buf: Buffer | undefined;
      try {
        buf = await readBounded(full, limits.maxFileBytes);
      } catch {
        skipped[rel] = { reason: 'it cannot be read' };
        return;
      }
      if (buf === undefined) skipped[rel] = { reason: `it is larger than ${limits.maxFileBytes} bytes` };
      else if (total + buf.length > limits.maxTotalBytes) skipped[rel] = { reason: `the directory holds more than ${limits.maxTotalBytes} bytes` };
      else if (!isUtf8(buf)) skipped[rel] = { reason: 'it is not UTF-8 text (PEM and header values are)' };
      else {
        total += buf.length;
        files[rel] = buf.toString('utf8');
      }
    });
  } catch (err) {
    throw new SecretsDirectoryError(`secrets directory ${root} cannot be read: ${systemReason(err)}`);
  }
  const h = createHash('sha256');
  for (const rel of Object.keys(files).sort()) h.update(`${rel}\0${files[rel]!.length}\0`).update(files[rel]!).update('\0');
  for (const rel of Object.keys(skipped).sort()) h.update(`skipped\0${rel}\0${skipped[rel]!.reason}\0`);
  return { files: { roots: root === real ? [root] : [root, real], files, skipped }, key: `sha256:${h.digest('hex')}` };
}

export interface SecretsDirectoryOptions {
  readonly limits?: SecretsDirectoryLimits;
  /** How often the directory is checked for changes that file events missed (default 2 s; 0 never). */
  readonly pollMs?: number;
  /** Quiet time after a file event before reading, so that a certificate and its key land together (default 100 ms). */
  readonly settleMs?: number;
  readonly log?: { warn(obj: object, msg: string): void };
}

/** The directory kept read: `inputs()` is what was read last; `watch` calls back when it changed. */
export class SecretsDirectory {
  private current: SecretsRead | undefined;
  private watcher: FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  private settle: NodeJS.Timeout | undefined;
  private fingerprint = '';
  private reading: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private onChange: (() => void) | undefined;

  constructor(
    readonly dir: string,
    private readonly opts: SecretsDirectoryOptions = {},
  ) {}

  /** The first read; throws SecretsDirectoryError. */
  async load(): Promise<void> {
    this.current = await readSecretsDirectory(this.dir, this.opts.limits);
    this.fingerprint = await this.computeFingerprint();
  }

  inputs(): CompileInputs {
    if (!this.current) throw new Error('SecretsDirectory.inputs() before load()');
    return secretsInputs(this.current);
  }

  /** Reads the directory again now (SIGHUP); calls the watch callback if it changed. */
  refresh(): void {
    if (this.onChange && !this.closed) void this.reread(this.onChange);
  }

  watch(onChange: () => void): void {
    this.onChange = onChange;
    const schedule = (): void => {
      if (this.closed) return;
      if (this.settle) clearTimeout(this.settle);
      this.settle = setTimeout(() => {
        this.settle = undefined;
        void this.reread(onChange);
      }, this.opts.settleMs ?? 100);
      this.settle.unref();
    };
    void realpath(resolve(this.dir))
      .then((real) => {
        if (this.closed) return;
        try {
          this.watcher = watch(real, { recursive: true, persistent: false }, schedule);
          this.watcher.on('error', () => {
            // Events stopped (the directory was replaced): the poll carries on alone.
            this.watcher?.close();
            this.watcher = undefined;
          });
        } catch {
          this.watcher = undefined;
        }
      })
      .catch(() => {});
    const pollMs = this.opts.pollMs ?? 2000;
    if (pollMs > 0) {
      this.poller = setInterval(() => {
        void this.computeFingerprint().then((fp) => {
          if (fp !== this.fingerprint) schedule();
        });
      }, pollMs);
      this.poller.unref();
    }
  }

  /** Reads again (reads never overlap; one arriving during a read runs once more after it). */
  private async reread(onChange: () => void): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.again = false;
        try {
          const next = await readSecretsDirectory(this.dir, this.opts.limits);
          this.fingerprint = await this.computeFingerprint();
          if (this.closed) return;
          if (next.key !== this.current?.key) {
            this.current = next;
            onChange();
          }
        } catch (err) {
          // The directory vanished or cannot be read: what was read last stays in use.
          this.opts.log?.warn({ dir: this.dir, err: (err as Error).message }, 'secrets directory cannot be read; the material read before stays in use');
        }
      } while (this.again && !this.closed);
    })().finally(() => (this.reading = undefined));
    return this.reading;
  }

  /** Names, sizes, times and link targets of every file: cheap change detection when events are lost. */
  private async computeFingerprint(): Promise<string> {
    const h = createHash('sha256');
    try {
      const { root, real } = await directoryRoots(this.dir);
      await walkDirectory(root, real, this.opts.limits ?? DEFAULT_SECRETS_LIMITS, {}, async ({ rel, stamp }) => {
        h.update(`${rel}\0${stamp}\n`);
      });
    } catch {
      h.update('unreadable');
    }
    return h.digest('hex');
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.poller) clearInterval(this.poller);
    if (this.settle) clearTimeout(this.settle);
  }
}
