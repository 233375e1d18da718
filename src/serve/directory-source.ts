// `serve --config DIR`: a config provider that loads and compiles a directory, applies it, and
// re-applies on every change (fs.watch plus a slow poll as a safety net; debounced; one at a time).

import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { CompileDirectory } from './config-pipeline.js';
import type { ConfigProvider, ProviderContext } from './serving-state.js';

export interface DirectorySourceOptions {
  readonly dir: string;
  readonly compileDirectory: CompileDirectory;
  /** Quiet period after the last file event before re-reading. */
  readonly debounceMs?: number;
  /** Poll interval for changes fs.watch missed (0 = no polling). */
  readonly pollMs?: number;
  readonly source?: string;
}

/** Bound on files fingerprinted per poll; load has its own caps and reports a larger tree. */
const MAX_FINGERPRINT_FILES = 100_000;

export class DirectorySource implements ConfigProvider {
  readonly name: string;
  private ctx: ProviderContext | undefined;
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private fingerprint = '';

  constructor(private readonly options: DirectorySourceOptions) {
    this.name = options.source ?? 'dir';
  }

  /** Applies the directory once; resolves false when it did not compile (nothing applied). */
  async start(ctx: ProviderContext): Promise<void> {
    this.ctx = ctx;
    this.fingerprint = await this.computeFingerprint();
    await this.reload('start');
    this.watchDir();
    const pollMs = this.options.pollMs ?? 2000;
    if (pollMs > 0) {
      this.pollTimer = setInterval(() => void this.poll(), pollMs);
      this.pollTimer.unref();
    }
  }

  trigger(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    await this.running;
  }

  private watchDir(): void {
    try {
      this.watcher = watch(this.options.dir, { recursive: true, persistent: false }, () => this.schedule(this.options.debounceMs ?? 200));
      this.watcher.on('error', (err) => {
        // The directory vanished or the platform cannot watch it: polling carries on alone.
        this.ctx?.log.warn({ dir: this.options.dir, err: err.message }, 'directory watch stopped; polling for changes');
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.ctx?.log.warn({ dir: this.options.dir, err: (err as Error).message }, 'cannot watch the directory; polling for changes');
    }
  }

  private async poll(): Promise<void> {
    if (this.stopped || this.running) return;
    const fp = await this.computeFingerprint();
    if (fp !== this.fingerprint) this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      void this.runCoalesced();
    }, delayMs);
  }

  /** One reload at a time; changes during a reload cause exactly one more. */
  private async runCoalesced(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    do {
      this.again = false;
      this.running = this.reload('change');
      await this.running;
      this.running = undefined;
    } while (this.again && !this.stopped);
  }

  private async reload(reason: 'start' | 'change'): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return;
    this.fingerprint = await this.computeFingerprint();
    let candidate;
    try {
      candidate = await this.options.compileDirectory(this.options.dir);
    } catch (err) {
      // A fault in loading must not take the gateway down; it is reported like a rejected configuration.
      ctx.log.error({ source: this.name, err: (err as Error).stack ?? String(err) }, 'loading the configuration failed');
      ctx.state.reject({ source: this.name }, [
        { code: 'FileUnreadable', severity: 'error', message: `cannot load ${this.options.dir}: ${(err as Error).message}`, origin: { path: this.options.dir, line: 0, col: 0 } },
      ]);
      return;
    }
    if (!candidate.ok) {
      ctx.state.reject({ source: this.name }, candidate.problems);
      return;
    }
    for (const w of candidate.warnings.slice(0, 20)) ctx.log.warn({ source: this.name, code: w.code }, w.message);
    await ctx.state.apply(candidate.ir, candidate.secrets, { source: this.name, hash: candidate.hash });
    ctx.log.debug({ source: this.name, reason }, 'directory read');
  }

  /** Names, sizes and mtimes of every file: cheap change detection when events are lost. */
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
        if (count++ > MAX_FINGERPRINT_FILES) return;
        if (e.name.startsWith('.')) continue;
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) {
          try {
            const st = await stat(p);
            h.update(`${p}\0${st.size}\0${st.mtimeMs}\n`);
          } catch {}
        }
      }
    };
    await walk(this.options.dir);
    return h.digest('hex');
  }
}
