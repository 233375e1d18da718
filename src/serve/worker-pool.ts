// The primary's side of `--workers N`: forks workers (cluster; the primary owns the listening
// sockets and serves nothing), applies each configuration to all of them in two phases, and restarts
// a worker that dies on the *current* configuration, with crash-loop backoff.

import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { IR } from '../ir/types.js';
import type { SecretStore } from '../ir/secrets.js';
import { hashIR } from '../ir/canonical.js';
import { optionGiven } from '../cli/node-flags.js';
import type { ApplyMeta, ApplyResult, CanaryApplier, ConfigApplier } from './gateway.js';
import { addFigures, type CanaryFigures } from '../release/revision-tally.js';
import type { ConfigMetrics, MetricsJSON } from '../admin/metrics.js';
import type { TrafficTallies } from '../admin/request-tallies.js';
import { mergeClusterHealth, type ClusterHealth } from '../dataplane/upstream-health.js';
import type { ProcessLog } from './process-log.js';
import type { TicketKeyRing } from './session-tickets.js';
import { isFromWorker, type ConfigPayload, type FromWorker, type ToWorker, type WorkerSettings } from './worker-messages.js';
import { grantDuplicateHandles } from './listen-acceptors.js';

/** The program each worker runs (worker-main.ts, beside this file once compiled). */
const WORKER_MAIN = fileURLToPath(new URL('./worker-main.js', import.meta.url));
/**
 * The most V8's young generation of a worker may grow to, in MiB per semi-space (V8's default: 16).
 * A request must die before its second scavenge or it is copied into the old generation: with
 * 2 MiB a worker scavenged every 5–8 ms, shorter than a request lives at 200 connections, and
 * promoted nearly every request; with 8 MiB it served 200 connections with a quarter less CPU a
 * request and peaked smaller than with 2 (its old generation no longer fills with promoted
 * requests). 16 gained nothing over 8 for HTTP/1.1 (docs/reference/overload.md, "Memory").
 */
export const WORKER_SEMI_SPACE_MIB = 8;

/** A worker's node options `execArgv`, plus the semi-space cap unless one was given there or in NODE_OPTIONS. */
export function withSemiSpaceCap(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = optionGiven(execArgv, nodeOptions, /^--max[-_]semi[-_]space[-_]size(=|$)/);
  return given ? [...execArgv] : [...execArgv, `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`];
}

/**
 * A worker's node options: the semi-space cap (above), V8's memory reducer off and V8's
 * allocation-site pretenuring off, each unless an option for it was given. The reducer shrinks the
 * heap of a process that goes quiet, and V8 then grows it back only slowly: a worker loaded again
 * after a quiet spell collected its old generation about three times as often (25 major collections in 8 s against 7)
 * and took 5–8 % more CPU a request, for as long as the load lasted. Without it a worker keeps the
 * heap its busiest moments needed (its peak RSS is the same; it does not fall back while idle).
 * Measured in `bench/results/2026-12-07-memory-reducer.md`.
 *
 * Pretenuring lets V8 allocate straight into the old generation from an allocation site whose
 * objects were seen to survive scavenges. A worker's sites allocate per request; should one be
 * switched over, its objects, and the young objects they point to, wait for a full collection, and
 * the worker stays that way for as long as it lives. With tracing at 100 %, 3 workers in 8 entered
 * that state within a few seconds, running at 0.5–0.6× (scavenges of 8 ms instead of 0.5, the old
 * generation full every 0.7 s); with pretenuring off, none of 16 did, and CPU a request was
 * unchanged in the normal state, with tracing on or off
 * (`bench/results/2026-12-07-tracing-encoder-session.md`).
 */
export function workerNodeOptions(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const out = withSemiSpaceCap(execArgv, nodeOptions);
  if (!optionGiven(execArgv, nodeOptions, /^--(no-)?memory[-_]reducer(=|$)/)) out.push('--no-memory-reducer');
  if (!optionGiven(execArgv, nodeOptions, /^--(no-)?allocation[-_]site[-_]pretenuring(=|$)/)) out.push('--no-allocation-site-pretenuring');
  return out;
}

/** A worker that lived shorter than this counts as crash-looping. */
const STABLE_AFTER_MS = 10_000;
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 30_000;
/** A worker that does not answer an apply within this is treated as failed for that apply. */
const APPLY_REPLY_MS = 30_000;
const METRICS_REPLY_MS = 2000;
/** Exits of one worker before the pool ever became ready that make startup give up. */
const STARTUP_ATTEMPTS = 3;

/**
 * The V8 flags a worker starts with. When the workers have a CPU each at most (the default, one per
 * CPU; or the process confined to fewer CPUs than workers), V8's parallel and concurrent collector
 * threads only contend with the worker itself and its siblings for the same CPUs: the main thread
 * waits for helpers that wait for a CPU, and each young-generation collection, which stops every
 * request in flight, takes several times longer (measured: 6–14 ms against 3–4 ms per scavenge
 * with one CPU for the worker). There, a worker collects on its own thread. A flag given to the
 * primary for the collector's threads is left as it is. Undefined: the primary's own flags.
 */
export function workerExecArgv(primaryArgv: readonly string[], workers: number, cpus: number): string[] | undefined {
  if (workers < cpus) return undefined;
  if (primaryArgv.some((a) => /^--(no-)?single[-_]threaded([-_]gc)?(=|$)/.test(a))) return undefined;
  return [...primaryArgv, '--single-threaded-gc'];
}

export class WorkerStartError extends Error {
  readonly code = 'PORTICO_ERR_WORKER_START';
}

interface Slot {
  readonly index: number;
  worker?: Worker;
  pid?: number;
  /** The worker answered `ready` and was given its settings. */
  ready: boolean;
  generation: number;
  startedAt: number;
  quickDeaths: number;
  restarts: number;
  restartTimer?: NodeJS.Timeout;
  /** Last metrics the worker reported: used when it is too busy to answer a scrape in time. */
  lastMetrics?: MetricsJSON;
  /** Last route tallies the worker reported, for the same reason. */
  lastTraffic?: TrafficTallies;
}

export interface WorkerInfo {
  readonly index: number;
  readonly pid?: number;
  readonly generation: number;
  readonly state: 'serving' | 'starting' | 'restarting';
  readonly restarts: number;
}

type Reply = FromWorker | { t: 'portico:gone' };

export class WorkerPool implements ConfigApplier {
  private readonly slots: Slot[] = [];
  private current: ConfigPayload | undefined;
  /** A running canary: every worker serves its candidate to `share` % of its requests. */
  private candidate: { config: ConfigPayload; share: number } | undefined;
  /** The highest generation handed out: an aborted canary's number is never reused. */
  private highestGeneration = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private readonly pending = new Map<string, (r: Reply) => void>();
  private shuttingDown = false;
  private readonly readyWaiters: (() => void)[] = [];
  private started = false;
  private startFailed: ((err: Error) => void) | undefined;

  constructor(
    private readonly count: number,
    private readonly settings: WorkerSettings,
    private readonly log: ProcessLog,
    private readonly metrics: ConfigMetrics,
    /** The primary's ticket keys: every worker seals and opens TLS session tickets with them. */
    private readonly ticketKeys: TicketKeyRing,
  ) {}

  /** Fork every worker and wait until each can take configurations. */
  async start(): Promise<void> {
    // Workers accept from the primary's shared socket themselves. With round-robin the primary
    // hands each connection to a worker over IPC, and one handed to a worker that was just killed
    // hangs until the client gives up; shared accept loses nothing when a worker dies.
    if (!process.env.NODE_CLUSTER_SCHED_POLICY) cluster.schedulingPolicy = cluster.SCHED_NONE;
    // Workers run their own small program: the CLI, the controller and the compiler stay in the primary.
    const execArgv = workerExecArgv(process.execArgv, this.count, os.availableParallelism()) ?? [...process.execArgv];
    cluster.setupPrimary({ exec: WORKER_MAIN, execArgv: workerNodeOptions(execArgv, process.env.NODE_OPTIONS) });
    for (let i = 0; i < this.count; i++) {
      const slot: Slot = { index: i, ready: false, generation: 0, startedAt: 0, quickDeaths: 0, restarts: 0 };
      this.slots.push(slot);
      this.fork(slot);
    }
    await new Promise<void>((resolve, reject) => {
      this.startFailed = reject;
      const check = () => (this.slots.every((s) => s.ready) ? resolve() : this.readyWaiters.push(check));
      check();
    });
    this.started = true;
  }

  get generation(): number {
    return this.current?.generation ?? 0;
  }

  workers(): WorkerInfo[] {
    return this.slots.map((s) => ({
      index: s.index,
      ...(s.pid !== undefined ? { pid: s.pid } : {}),
      generation: s.generation,
      state: !s.worker ? 'restarting' : s.generation > 0 && s.generation === this.generation ? 'serving' : 'starting',
      restarts: s.restarts,
    }));
  }

  private fork(slot: Slot): void {
    slot.restartTimer = undefined;
    const worker = cluster.fork();
    slot.worker = worker;
    slot.pid = worker.process.pid;
    slot.ready = false;
    slot.generation = 0;
    slot.startedAt = Date.now();
    slot.lastMetrics = undefined;
    slot.lastTraffic = undefined;
    worker.on('message', (m: unknown, handle: unknown) => {
      if (grantDuplicateHandles(worker, m, handle)) return;
      if (!isFromWorker(m)) return;
      if (m.t === 'portico:ready') {
        this.send(worker, { t: 'portico:init', settings: this.settings });
        this.send(worker, { t: 'portico:ticket-keys', keys: this.ticketKeys.wire() });
        slot.ready = true;
        for (const w of this.readyWaiters.splice(0)) w();
        if (this.current) void this.catchUp(slot, worker);
        return;
      }
      const id = 'id' in m ? m.id : undefined;
      if (id === undefined) return;
      const key = `${worker.id}:${id}`;
      const done = this.pending.get(key);
      if (done) {
        this.pending.delete(key);
        done(m);
      }
    });
    worker.on('exit', (code, signal) => this.onExit(slot, worker, code, signal));
    this.metrics.workers.set(this.slots.filter((s) => s.worker).length);
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.ready = false;
    for (const [key, done] of this.pending) {
      if (key.startsWith(`${worker.id}:`)) {
        this.pending.delete(key);
        done({ t: 'portico:gone' });
      }
    }
    this.metrics.workers.set(this.slots.filter((s) => s.worker).length);
    if (this.shuttingDown) return;
    const lived = Date.now() - slot.startedAt;
    slot.quickDeaths = lived < STABLE_AFTER_MS ? slot.quickDeaths + 1 : 0;
    const delay = slot.quickDeaths === 0 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (slot.quickDeaths - 1));
    if (!this.started && slot.quickDeaths >= STARTUP_ATTEMPTS) {
      // A worker that cannot even start (a broken install, a fault at boot) will not heal by retrying.
      this.shuttingDown = true;
      this.startFailed?.(new WorkerStartError(`worker ${slot.index} exited ${slot.quickDeaths} times while starting (last: code ${code}, signal ${signal})`));
      return;
    }
    slot.restarts++;
    this.metrics.workerRestarts.inc();
    this.log.error({ worker: slot.index, pid: slot.pid, code, signal, restartInMs: delay }, 'worker exited; restarting it on the current configuration');
    slot.restartTimer = setTimeout(() => {
      if (!this.shuttingDown) this.fork(slot);
    }, delay);
  }

  private send(worker: Worker, m: ToWorker): void {
    if (worker.isConnected()) worker.send(m);
  }

  private request(worker: Worker, m: ToWorker & { id: number }, timeoutMs: number): Promise<Reply> {
    return new Promise((resolve) => {
      const key = `${worker.id}:${m.id}`;
      const timer = setTimeout(() => {
        if (this.pending.delete(key)) resolve({ t: 'portico:gone' });
      }, timeoutMs);
      timer.unref();
      this.pending.set(key, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      if (!worker.isConnected()) {
        this.pending.delete(key);
        clearTimeout(timer);
        resolve({ t: 'portico:gone' });
        return;
      }
      worker.send(m);
    });
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** The ticket keys rotated: every running worker takes the new set (a worker started later gets it at init). */
  ticketKeysRotated(): void {
    const keys = this.ticketKeys.wire();
    for (const s of this.slots) if (s.worker && s.ready) this.send(s.worker, { t: 'portico:ticket-keys', keys });
  }

  /** A (re)started worker loads whatever is current once no apply is running. */
  private catchUp(slot: Slot, worker: Worker): Promise<void> {
    return this.serialize(async () => {
      const config = this.current;
      if (!config || slot.worker !== worker) return;
      const reply = await this.request(worker, { t: 'portico:load', id: this.nextId++, config }, APPLY_REPLY_MS);
      if (reply.t !== 'portico:loaded') return;
      if (reply.result.ok) {
        slot.generation = reply.result.generation;
        this.log.info({ worker: slot.index, pid: slot.pid, generation: slot.generation }, 'worker serving');
        const canary = this.candidate;
        if (canary) await this.request(worker, { t: 'portico:canary-start', id: this.nextId++, config: canary.config, share: canary.share }, APPLY_REPLY_MS);
      } else {
        // Its sockets are the primary's, so this is rare (a TLS or build fault specific to the process).
        this.log.error({ worker: slot.index, error: reply.result.error }, 'worker could not load the current configuration; restarting it');
        worker.kill();
      }
    });
  }

  apply(ir: IR, secrets: SecretStore, meta: ApplyMeta): Promise<ApplyResult> {
    return this.serialize(async () => {
      if (this.shuttingDown) return { ok: false, generation: this.generation, error: { code: 'ShuttingDown', message: 'the gateway is draining' } };
      const config: ConfigPayload = { generation: this.highestGeneration + 1, ir, secrets, meta: { ...meta, hash: meta.hash ?? hashIR(ir) } };
      this.highestGeneration = config.generation;
      const targets = this.slots.filter((s) => s.worker && s.ready).map((s) => ({ slot: s, worker: s.worker! }));
      if (targets.length === 0) {
        return { ok: false, generation: this.generation, error: { code: 'WorkerFailed', message: 'no worker process is running' } };
      }
      // Phase 1: every worker builds and binds; nothing serves the candidate yet.
      const id = this.nextId++;
      const prepared = await Promise.all(targets.map((t) => this.request(t.worker, { t: 'portico:prepare', id, config }, APPLY_REPLY_MS)));
      const failure = prepared.find((r): r is Extract<Reply, { t: 'portico:prepared' }> => r.t === 'portico:prepared' && !r.result.ok);
      const answered = prepared.filter((r) => r.t === 'portico:prepared').length;
      if (failure || answered === 0) {
        for (const t of targets) this.send(t.worker, { t: 'portico:abort', id });
        if (failure && !failure.result.ok) return { ok: false, generation: this.generation, error: failure.result.error };
        return { ok: false, generation: this.generation, error: { code: 'WorkerFailed', message: 'no worker answered the apply' } };
      }
      // Phase 2: swap everywhere. A worker that died meanwhile is restarted on this configuration.
      this.current = config;
      this.candidate = undefined;
      const committed = await Promise.all(targets.map((t) => this.request(t.worker, { t: 'portico:commit', id }, APPLY_REPLY_MS)));
      let result: ApplyResult | undefined;
      committed.forEach((r, i) => {
        if (r.t === 'portico:committed' && r.result.ok) {
          targets[i]!.slot.generation = r.result.generation;
          result ??= r.result;
        }
      });
      return result ?? { ok: true, generation: config.generation, hash: config.meta.hash!, listeners: { added: [], removed: [], kept: [] } };
    });
  }

  readonly canary: CanaryApplier = {
    start: (ir, secrets, meta, share) =>
      this.serialize(async (): Promise<ApplyResult> => {
        if (this.shuttingDown || !this.current) return { ok: false, generation: this.generation, error: { code: 'ShuttingDown', message: 'no served configuration to canary beside' } };
        const config: ConfigPayload = { generation: this.highestGeneration + 1, ir, secrets, meta: { ...meta, hash: meta.hash ?? hashIR(ir) } };
        this.highestGeneration = config.generation;
        const targets = this.slots.filter((s) => s.worker && s.ready).map((s) => s.worker!);
        const replies = await Promise.all(targets.map((w) => this.request(w, { t: 'portico:canary-start', id: this.nextId++, config, share }, APPLY_REPLY_MS)));
        const failed = replies.find((r): r is Extract<Reply, { t: 'portico:canary-started' }> => r.t === 'portico:canary-started' && !r.result.ok);
        if (failed || replies.every((r) => r.t !== 'portico:canary-started')) {
          for (const w of targets) this.send(w, { t: 'portico:canary-end', id: this.nextId++, promote: false });
          return failed && !failed.result.ok ? { ok: false, generation: this.generation, error: failed.result.error } : { ok: false, generation: this.generation, error: { code: 'WorkerFailed', message: 'no worker answered the canary' } };
        }
        this.candidate = { config, share };
        return { ok: true, generation: config.generation, hash: config.meta.hash!, listeners: { added: [], removed: [], kept: [] } };
      }),
    share: async (percent) => {
      if (!this.candidate) return;
      this.candidate.share = percent;
      for (const s of this.slots) if (s.worker && s.ready) this.send(s.worker, { t: 'portico:canary-share', share: percent });
    },
    promote: () =>
      this.serialize(async (): Promise<ApplyResult> => {
        const c = this.candidate;
        if (!c) return { ok: false, generation: this.generation, error: { code: 'WorkerFailed', message: 'no canary to promote' } };
        this.candidate = undefined;
        // From here a restarted worker loads the candidate as the served configuration.
        this.current = c.config;
        const live = this.slots.filter((s) => s.worker && s.ready);
        const replies = await Promise.all(live.map((s) => this.request(s.worker!, { t: 'portico:canary-end', id: this.nextId++, promote: true }, APPLY_REPLY_MS)));
        replies.forEach((r, i) => {
          if (r.t === 'portico:canary-ended' && r.result.ok) live[i]!.generation = r.result.generation;
        });
        return { ok: true, generation: c.config.generation, hash: c.config.meta.hash!, listeners: { added: [], removed: [], kept: [] } };
      }),
    abort: () =>
      this.serialize(async () => {
        if (!this.candidate) return;
        this.candidate = undefined;
        const live = this.slots.filter((s) => s.worker && s.ready);
        await Promise.all(live.map((s) => this.request(s.worker!, { t: 'portico:canary-end', id: this.nextId++, promote: false }, APPLY_REPLY_MS)));
      }),
    figures: async () => {
      if (!this.candidate) return undefined;
      const live = this.slots.filter((s) => s.worker && s.ready);
      const replies = await Promise.all(live.map((s) => this.request(s.worker!, { t: 'portico:canary-figures', id: this.nextId++ }, METRICS_REPLY_MS)));
      let sum: CanaryFigures | undefined;
      for (const r of replies) if (r.t === 'portico:canary-figures' && r.figures) sum = sum ? addFigures(sum, r.figures) : r.figures;
      return sum;
    },
  };

  /**
   * Every worker's traffic registry, for the primary's /metrics. A worker too busy to answer in
   * time contributes its previous answer, so summed counters do not dip (a dip reads as a reset).
   */
  metricsJSON(): Promise<MetricsJSON[]> {
    return this.gather('portico:metrics', 'lastMetrics', (r) => (r.t === 'portico:metrics' ? r.metrics : undefined));
  }

  /** Every worker's requests by route, for the diagnostics page (a busy worker's previous answer, as for metricsJSON). */
  routeTallies(): Promise<TrafficTallies[]> {
    return this.gather('portico:traffic', 'lastTraffic', (r) => (r.t === 'portico:traffic' ? r.tallies : undefined));
  }

  /** Asks every ready worker for its counts; one that does not answer in time gives the last it gave (kept in `key`). */
  private async gather<K extends 'lastMetrics' | 'lastTraffic'>(ask: 'portico:metrics' | 'portico:traffic', key: K, read: (r: Reply) => Slot[K] | undefined): Promise<NonNullable<Slot[K]>[]> {
    const live = this.slots.filter((s) => s.worker && s.ready);
    const replies = await Promise.all(live.map((s) => this.request(s.worker!, { t: ask, id: this.nextId++ }, METRICS_REPLY_MS)));
    const out: NonNullable<Slot[K]>[] = [];
    replies.forEach((r, i) => {
      const slot = live[i]!;
      const answer = read(r);
      if (answer !== undefined) slot[key] = answer;
      const kept = slot[key];
      if (kept !== undefined) out.push(kept);
    });
    return out;
  }

  /** Every answering worker's view of its upstreams, merged (a busy worker is left out this time). */
  async upstreamHealth(): Promise<ClusterHealth[]> {
    const live = this.slots.filter((s) => s.worker && s.ready);
    const replies = await Promise.all(live.map((s) => this.request(s.worker!, { t: 'portico:upstreams', id: this.nextId++ }, METRICS_REPLY_MS)));
    const views = replies.flatMap((r) => (r.t === 'portico:upstreams' ? [r.clusters] : []));
    return views.length === 0 ? [] : mergeClusterHealth(views);
  }

  /** Ask every worker to drain and wait for it to exit; kill what is left after the deadline. */
  async shutdown(deadlineMs: number): Promise<void> {
    this.shuttingDown = true;
    for (const s of this.slots) if (s.restartTimer) clearTimeout(s.restartTimer);
    const live = this.slots.map((s) => s.worker).filter((w): w is Worker => w !== undefined);
    const exited = live.map((w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once('exit', () => resolve()))));
    for (const w of live) this.send(w, { t: 'portico:drain', deadlineMs });
    const killer = setTimeout(() => {
      for (const w of live) if (!w.isDead()) w.process.kill('SIGKILL');
    }, deadlineMs + 2000);
    await Promise.all(exited);
    clearTimeout(killer);
  }

  /** Second SIGTERM: close every connection now. */
  force(): void {
    this.shuttingDown = true;
    // Workers still starting are not restarted now: the start ends here, for the stop to go on.
    if (!this.started) this.startFailed?.(new WorkerStartError('stopped while the workers started'));
    for (const s of this.slots) {
      const w = s.worker;
      if (!w) continue;
      this.send(w, { t: 'portico:force' });
      setTimeout(() => {
        if (!w.isDead()) w.process.kill('SIGKILL');
      }, 1000).unref();
    }
  }
}
