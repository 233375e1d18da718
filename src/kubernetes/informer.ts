// Keeps a local copy of one kind of object (in one namespace, or all) in step with the API server:
// list, then watch from the list's resourceVersion, applying ADDED / MODIFIED / DELETED and moving
// on at each BOOKMARK.
//
// What can happen, and what it does:
// - the watch ends (the server's timeout, a proxy, a dropped connection): watch again from the last
//   resourceVersion seen, at once; the server replays what happened in between, so nothing is missed;
// - 410 Gone (that resourceVersion was compacted away): list again, and tell the difference;
// - any other failure (unreachable, 5xx, 401/403, 404 when the CRD is missing): wait, doubling from
//   0.5 s up to 30 s with ±20 % jitter (so replicas do not come back in step), then list again;
// - every resync interval (jittered), list again even if nothing failed: a safety net that corrects
//   the copy if an event was ever lost.
// Clock and randomness are injected, so tests drive time with mock timers.

import { KubeApiError, type KubeClient, type WatchEvent } from './kube-client.js';

type Obj = Record<string, unknown>;

export interface InformerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock, its timers unref'd (they never hold the process open). */
export const SYSTEM_CLOCK: InformerClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface InformerOptions {
  /** The collection path, e.g. /apis/getambassador.io/v3alpha1/namespaces/shop/mappings. */
  readonly path: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Full relist interval (default 10 min, jittered ±20 %). */
  readonly resyncMs?: number;
  /** The server ends each watch after this long (default 5 min, randomised up to twice that). */
  readonly watchTimeoutSeconds?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly clock?: InformerClock;
  readonly random?: () => number;
}

export interface InformerStats {
  lists: number;
  watches: number;
  events: number;
  relistsAfterGone: number;
  failures: number;
}

export function objectKey(o: Obj): string {
  const m = (o.metadata ?? {}) as Obj;
  return `${String(m.namespace ?? '')}/${String(m.name ?? '')}`;
}

export class Informer {
  /** The objects as last seen, by namespace/name. */
  readonly store = new Map<string, Obj>();
  resourceVersion = '';
  /** Set once the first list succeeded. */
  synced = false;
  /** The last failure, cleared by the next successful list or watch event. */
  lastError: Error | undefined;
  readonly stats: InformerStats = { lists: 0, watches: 0, events: 0, relistsAfterGone: 0, failures: 0 };
  private readonly listeners = new Set<(key?: string) => void>();
  private readonly syncWaiters: { resolve: () => void }[] = [];
  private readonly errorWaiters = new Set<(e: Error) => void>();
  private aborter: AbortController | undefined;
  private stopped = false;
  private started = false;
  private relistDue = false;
  private resyncTimer: unknown;
  private readonly clock: InformerClock;
  private readonly random: () => number;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: InformerOptions,
  ) {
    this.clock = opts.clock ?? SYSTEM_CLOCK;
    this.random = opts.random ?? Math.random;
  }

  /** Called with the namespace/name of a changed object, or with nothing after a list (anything may have changed). */
  onChange(fn: (key?: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Called with each failure (the source reports it while it has nothing synced). */
  onError(fn: (e: Error) => void): () => void {
    this.errorWaiters.add(fn);
    return () => this.errorWaiters.delete(fn);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.aborter?.abort();
    if (this.resyncTimer !== undefined) this.clock.clearTimeout(this.resyncTimer);
    for (const w of this.syncWaiters.splice(0)) w.resolve();
  }

  /** Resolves once the first list succeeded (or the informer stopped). */
  whenSynced(): Promise<void> {
    if (this.synced || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push({ resolve }));
  }

  private changed(key?: string): void {
    for (const fn of this.listeners) fn(key);
  }

  private query(extra: Record<string, string>): string {
    const q = new URLSearchParams();
    if (this.opts.labelSelector) q.set('labelSelector', this.opts.labelSelector);
    if (this.opts.fieldSelector) q.set('fieldSelector', this.opts.fieldSelector);
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    return `${this.opts.path}?${q.toString()}`;
  }

  private jitter(ms: number): number {
    return Math.round(ms * (0.8 + 0.4 * this.random()));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const h = this.clock.setTimeout(resolve, ms);
      this.aborter?.signal.addEventListener('abort', () => {
        this.clock.clearTimeout(h);
        resolve();
      });
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      this.aborter = new AbortController();
      try {
        if (this.resourceVersion === '' || this.relistDue) await this.list();
        await this.watchOnce();
        failures = 0;
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof KubeApiError && err.status === 410) {
          this.stats.relistsAfterGone++;
          this.resourceVersion = '';
          continue;
        }
        failures++;
        this.stats.failures++;
        this.lastError = err as Error;
        for (const fn of this.errorWaiters) fn(err as Error);
        const base = this.opts.initialBackoffMs ?? 500;
        const wait = this.jitter(Math.min(this.opts.maxBackoffMs ?? 30_000, base * 2 ** (failures - 1)));
        // After a failure the copy may be behind by any amount: list again, unless only the watch broke.
        if (!(err instanceof WatchBroke)) this.resourceVersion = '';
        await this.sleep(wait);
      }
    }
  }

  private async list(): Promise<void> {
    this.stats.lists++;
    const body = await this.client.request<{ metadata?: { resourceVersion?: string }; items?: Obj[] }>('GET', this.query({}), { signal: this.aborter!.signal });
    const fresh = new Map<string, Obj>();
    for (const item of body.items ?? []) fresh.set(objectKey(item), item);
    let differs = fresh.size !== this.store.size;
    if (!differs) {
      for (const [k, o] of fresh) {
        if (resourceVersionOf(this.store.get(k)) !== resourceVersionOf(o)) {
          differs = true;
          break;
        }
      }
    }
    this.store.clear();
    for (const [k, o] of fresh) this.store.set(k, o);
    this.resourceVersion = body.metadata?.resourceVersion ?? '';
    this.relistDue = false;
    this.lastError = undefined;
    this.armResync();
    const first = !this.synced;
    this.synced = true;
    if (first) for (const w of this.syncWaiters.splice(0)) w.resolve();
    if (differs || first) this.changed();
  }

  private armResync(): void {
    if (this.resyncTimer !== undefined) this.clock.clearTimeout(this.resyncTimer);
    this.resyncTimer = this.clock.setTimeout(() => {
      this.relistDue = true;
      this.aborter?.abort();
    }, this.jitter(this.opts.resyncMs ?? 600_000));
  }

  private async watchOnce(): Promise<void> {
    this.stats.watches++;
    const timeout = Math.round((this.opts.watchTimeoutSeconds ?? 300) * (1 + this.random()));
    const path = this.query({ watch: '1', resourceVersion: this.resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(timeout) });
    let gone: KubeApiError | undefined;
    const signal = this.aborter!.signal;
    try {
      await this.client.watch(
        path,
        (e: WatchEvent) => {
          if (gone || this.stopped) return;
          this.stats.events++;
          const o = e.object;
          if (e.type === 'ERROR') {
            const code = typeof o.code === 'number' ? o.code : 0;
            gone = new KubeApiError(code, String(o.reason ?? 'Error'), `watch ${this.opts.path}: ${String(o.message ?? o.reason ?? code)}`);
            return;
          }
          const rv = resourceVersionOf(o);
          if (e.type === 'BOOKMARK') {
            if (rv) this.resourceVersion = rv;
            return;
          }
          const key = objectKey(o);
          if (e.type === 'DELETED') this.store.delete(key);
          else this.store.set(key, o);
          if (rv) this.resourceVersion = rv;
          this.lastError = undefined;
          this.changed(key);
        },
        signal,
      );
    } catch (err) {
      if (signal.aborted) return; // stopped, or a resync is due: the loop decides
      if (err instanceof KubeApiError) throw err;
      throw new WatchBroke((err as Error).message);
    }
    if (gone) throw gone;
  }
}

/** The watch connection broke after it started: resume from the last resourceVersion, no relist. */
class WatchBroke extends Error {}

function resourceVersionOf(o: Obj | undefined): string {
  const m = (o?.metadata ?? {}) as Obj;
  return typeof m.resourceVersion === 'string' ? m.resourceVersion : '';
}
