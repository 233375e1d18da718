// The git controller, the single writer of configuration from git: fetches sources, checks each new
// revision (content, signatures, history, claims, composition), applies, and keeps per-source LKG.
//
// What can happen in one pass (passes never overlap; triggers during a pass coalesce into one more):
//   fetch due sources → for roots, then teams, in name order: new revision → check against the set
//   accepted so far → accept (set moves on) or refuse (that source stays on its LKG) → if the set
//   moved, compile and apply it once → persist the set as the new LKG and append history.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatOrigin } from '../api/origin.js';
import { problem, type Problem } from '../api/problems.js';
import type { CompileResult } from '../compile/index.js';
import type { IR } from '../ir/types.js';
import type { SecretStore } from '../ir/secrets.js';
import { loadFiles } from '../load/index.js';
import { verifyCommits, type SignatureCheck, type VerifyPolicy } from '../sources/commit-signatures.js';
import { FetchError, GitSource, type CommitInfo, type SnapshotLimits } from '../sources/git-source.js';
import { compileWorking, introducedErrors, type SourceRevision, type Working } from './composition.js';
import { AuditHistory, type HistoryEntry, type HistoryProblem } from './history.js';
import { LastKnownGoodStore, LkgCorruptError, type LkgSet, type LkgSource } from './last-known-good.js';
import { diffRoutes } from './route-diff.js';
import { extractSources, type DeclaredSource } from './source-kind.js';
import { SourceMetrics } from './source-metrics.js';

export const DEFAULT_INTERVAL_MS = 30_000;

/** The part of the serving process the controller needs (the Gateway or ServingState fit). */
export interface ConfigSink {
  apply(
    ir: IR,
    secrets: SecretStore,
    meta: { source: string; revision?: string; hash?: string },
  ): Promise<{ ok: true; generation: number } | { ok: false; error: { code: string; message: string } }>;
  /** Told about refused candidates, for its own reporting (optional). */
  reject?(meta: { source: string; revision?: string }, problems: readonly Problem[]): void;
}

export interface ControllerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const SILENT: ControllerLog = { info() {}, warn() {}, error() {} };

export interface ControllerOptions {
  /** Sources named on the command line: may configure anything and may declare team sources. */
  readonly roots: readonly DeclaredSource[];
  readonly stateDir: string;
  readonly sink: ConfigSink;
  readonly ambassadorId?: string;
  /** Poll interval of sources that do not set one (default 30 s). */
  readonly defaultIntervalMs?: number;
  /** ± fraction of the interval added at random, so that replicas do not poll in step (default 0.1). */
  readonly jitter?: number;
  readonly maxBackoffMs?: number;
  readonly fetchTimeoutMs?: number;
  readonly limits?: Partial<SnapshotLimits>;
  readonly metrics?: SourceMetrics;
  readonly log?: ControllerLog;
  readonly historyMaxBytes?: number;
  /** Poll on timers (default true); tests drive passes by hand with false. */
  readonly poll?: boolean;
}

export class NoValidConfigurationError extends Error {
  readonly code = 'PORTICO_ERR_NO_VALID_CONFIGURATION';
  constructor(message: string) {
    super(message);
    this.name = 'NoValidConfigurationError';
  }
}

interface AttemptSummary {
  readonly revision: string;
  readonly at: string;
  readonly result: HistoryEntry['result'];
  readonly reason?: string;
  readonly message?: string;
  readonly problems?: readonly HistoryProblem[];
  /** Refusals that depend on other sources (composition) are retried when those move on. */
  readonly retryable?: boolean;
}

interface SourceRuntime {
  decl: DeclaredSource;
  git: GitSource;
  desired?: string;
  fetchedAt?: string;
  lastSuccessfulFetch?: string;
  fetchError?: { reason: string; message: string; at: string };
  staleSince?: string;
  failures: number;
  nextDueAt: number;
  forced: boolean;
  /** The fetch in flight, if any: a slow remote is never fetched twice at once. */
  fetching?: Promise<void>;
  lastAttempt?: AttemptSummary;
  refused: Map<string, AttemptSummary>;
}

export interface SourceStatus {
  readonly name: string;
  readonly url: string;
  readonly branch: string;
  readonly path: string;
  readonly role: 'root' | 'team';
  readonly declaredBy?: string;
  readonly claims?: DeclaredSource['claim'];
  readonly verify?: { mode: string; method: string };
  readonly state: 'Ready' | 'Pending' | 'Refused' | 'FetchFailed';
  readonly message: string;
  readonly desiredRevision?: string;
  readonly appliedRevision?: string;
  readonly appliedAt?: string;
  readonly lastAttempt?: AttemptSummary;
  readonly lastSuccessfulFetch?: string;
  readonly staleSince?: string;
  readonly fetchError?: { reason: string; message: string; at: string };
  /** Consecutive failed fetches, and when the next fetch is due (backoff included). */
  readonly consecutiveFailures: number;
  readonly nextFetchAt?: string;
}

/** Remembered refusals per source (older ones are forgotten and would be retried once). */
const MAX_REFUSED = 50;
/**
 * How long a pass waits for its fetches once something is served. A slower fetch (a blackholed
 * remote) finishes on its own and starts another pass, so one dead remote never holds back others.
 */
const STRAGGLER_WAIT_MS = 3000;
const FETCH_CONCURRENCY = 4;

function short(rev: string | undefined): string {
  return rev ? rev.slice(0, 12) : 'nothing';
}

function historyProblems(ps: readonly Problem[]): HistoryProblem[] {
  return ps.slice(0, 50).map((p) => ({ code: p.code, severity: p.severity, message: p.message, origin: formatOrigin(p.origin) }));
}

function sameSpec(a: DeclaredSource['spec'], b: DeclaredSource['spec']): boolean {
  return a.url === b.url && a.branch === b.branch && a.path === b.path;
}

export class GitController {
  private readonly runtimes = new Map<string, SourceRuntime>();
  /** The set that is being served (each source at its LKG revision). */
  private applied: Map<string, SourceRevision> = new Map();
  private appliedAt = new Map<string, string>();
  private appliedResult: CompileResult | undefined;
  private readonly lkg: LastKnownGoodStore;
  readonly history: AuditHistory;
  readonly metrics: SourceMetrics;
  private readonly log: ControllerLog;
  private readonly cacheDir: string;
  private readonly verifyDir: string;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private served = false;
  private readonly aborter = new AbortController();
  private fetchSlotsInUse = 0;
  private readonly fetchQueue: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  /** Counters for tests and the bench: passes run and fetches made. */
  readonly stats = { passes: 0, fetches: 0 };

  constructor(private readonly opts: ControllerOptions) {
    const names = new Set<string>();
    for (const r of opts.roots) {
      if (names.has(r.spec.name)) throw new NoValidConfigurationError(`source '${r.spec.name}' is named twice`);
      names.add(r.spec.name);
    }
    mkdirSync(opts.stateDir, { recursive: true });
    this.lkg = new LastKnownGoodStore(opts.stateDir);
    this.history = new AuditHistory(opts.stateDir, opts.historyMaxBytes);
    this.metrics = opts.metrics ?? new SourceMetrics();
    this.log = opts.log ?? SILENT;
    this.cacheDir = join(opts.stateDir, 'cache');
    this.verifyDir = join(opts.stateDir, 'verify');
    for (const r of opts.roots) this.ensureRuntime(r);
  }

  private ensureRuntime(decl: DeclaredSource): SourceRuntime {
    const existing = this.runtimes.get(decl.spec.name);
    if (existing && sameSpec(existing.decl.spec, decl.spec)) {
      existing.decl = decl;
      return existing;
    }
    const rt: SourceRuntime = {
      decl,
      git: new GitSource(decl.spec, { cacheDir: this.cacheDir, ...(this.opts.fetchTimeoutMs ? { fetchTimeoutMs: this.opts.fetchTimeoutMs } : {}), ...(this.opts.limits ? { limits: this.opts.limits } : {}) }),
      failures: 0,
      nextDueAt: 0,
      forced: true,
      refused: new Map(),
    };
    this.runtimes.set(decl.spec.name, rt);
    return rt;
  }

  /** Declared sources of the roots in `working`, by name (the first root in name order wins a clash). */
  private teamsOf(working: Working): Map<string, DeclaredSource> {
    const out = new Map<string, DeclaredSource>();
    for (const name of [...working.keys()].sort()) {
      const r = working.get(name)!;
      if (r.declaredBy !== undefined) continue;
      for (const d of r.declarations) if (!out.has(d.spec.name)) out.set(d.spec.name, d);
    }
    return out;
  }

  private isRoot(name: string): boolean {
    return this.opts.roots.some((r) => r.spec.name === name);
  }

  // ───────────────────────── start, stop, triggers ─────────────────────────

  /**
   * Serves the persisted LKG set (if any), then runs the first pass against git. Throws
   * NoValidConfigurationError when neither gives anything to serve.
   */
  async start(): Promise<void> {
    this.restoreLkg();
    if (this.applied.size > 0) {
      const result = compileWorking(this.applied, this.opts.ambassadorId);
      const out = await this.opts.sink.apply(result.ir, result.secrets, { source: 'git', revision: this.revisionSummary(this.applied), hash: result.hash });
      if (out.ok) {
        this.appliedResult = result;
        this.served = true;
        for (const r of this.applied.values()) {
          this.metrics.setRevision(r.name, r.revision);
          this.history.append({ source: r.name, revision: r.revision, result: 'Restored', reason: 'LastKnownGood', liveAt: new Date().toISOString(), generation: out.generation, ...commitFields(r.commit) });
        }
        this.log.info({ sources: this.revisionSummary(this.applied) }, 'serving the last-known-good set from the state folder');
      } else {
        this.log.error({ error: out.error }, 'the last-known-good set could not be applied');
        this.applied = new Map();
      }
    }
    // Through kick(), like every other pass, so that a webhook or a late fetch during start cannot
    // run a second pass beside it.
    this.kick();
    await this.idle();
    if (!this.served) {
      const why = [...this.runtimes.values()]
        .filter((rt) => this.isRoot(rt.decl.spec.name))
        .map((rt) => `${rt.decl.spec.name}: ${rt.fetchError ? `${rt.fetchError.reason}: ${rt.fetchError.message}` : rt.lastAttempt?.message ?? 'no valid revision'}`)
        .join('; ');
      throw new NoValidConfigurationError(`no valid configuration to serve and no last-known-good state in ${this.opts.stateDir} (${why})`);
    }
    this.schedule();
  }

  private restoreLkg(): void {
    this.lkg.removeStaleTemp();
    let set: LkgSet | undefined;
    try {
      set = this.lkg.load();
    } catch (err) {
      if (!(err instanceof LkgCorruptError)) throw err;
      const moved = this.lkg.quarantine();
      this.log.error({ file: err.file, movedTo: moved }, `${err.message}; ignoring it and starting from git`);
      this.history.append({ source: '*', result: 'Rejected', reason: 'LastKnownGoodCorrupt', message: `${err.message}; moved to ${moved ?? '?'}` });
      return;
    }
    if (!set) return;
    const working = new Map<string, SourceRevision>();
    // Roots first: their declarations decide which team entries are still meaningful.
    for (const root of this.opts.roots) {
      const e = set.sources[root.spec.name];
      if (e && e.declaredBy === undefined && sameSpec(e.spec, root.spec)) working.set(root.spec.name, this.revisionFromLkg(root, e));
    }
    for (const [name, decl] of this.teamsOf(working)) {
      const e = set.sources[name];
      if (e && e.declaredBy === decl.declaredBy && sameSpec(e.spec, decl.spec)) working.set(name, this.revisionFromLkg(decl, e));
    }
    for (const [name, r] of working) {
      this.appliedAt.set(name, set.sources[name]!.appliedAt);
      if (r.declaredBy !== undefined) this.ensureRuntime(this.teamsOf(working).get(name)!);
    }
    this.applied = working;
  }

  private revisionFromLkg(decl: DeclaredSource, e: LkgSource): SourceRevision {
    return this.prepareRevision(decl, e.revision, e.commit, e.files);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // Fetches in flight are killed, not awaited: a blackholed remote would hold shutdown for its timeout.
    this.aborter.abort();
    await this.running;
    await Promise.all([...this.runtimes.values()].map((rt) => rt.fetching));
  }

  /** Asks for a fetch now (webhook, SIGHUP): of one source, or of all. Bursts coalesce. */
  trigger(source?: string): void {
    for (const rt of this.runtimes.values()) if (!source || rt.decl.spec.name === source) rt.forced = true;
    this.kick();
  }

  /** Resolves once no pass is running or queued (tests and the demo use it). */
  idle(): Promise<void> {
    if (!this.running && !this.again) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.runPass()
      .catch((err: unknown) => this.log.error({ err: (err as Error).message }, 'controller pass failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        } else {
          this.again = false;
          for (const w of this.idleWaiters.splice(0)) w();
          this.schedule();
        }
      });
  }

  private schedule(): void {
    if (this.stopped || this.opts.poll === false) return;
    if (this.timer) clearTimeout(this.timer);
    let next = Infinity;
    for (const rt of this.runtimes.values()) next = Math.min(next, rt.nextDueAt);
    if (!Number.isFinite(next)) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, Math.max(0, next - Date.now()));
    this.timer.unref();
  }

  private jittered(ms: number): number {
    const j = this.opts.jitter ?? 0.1;
    return Math.round(ms * (1 + j * (Math.random() * 2 - 1)));
  }

  // ───────────────────────── one pass ─────────────────────────

  /** One pass; only kick() calls it, which keeps passes from overlapping. */
  private async runPass(): Promise<void> {
    this.stats.passes++;
    const now = Date.now();
    const due = [...this.runtimes.values()].filter((rt) => !rt.fetching && (rt.forced || rt.nextDueAt <= now));
    // Until something is served, roots are waited for in full: there is nothing to fall back on.
    await this.fetchAll(due, this.served ? STRAGGLER_WAIT_MS : Infinity);

    const working = new Map(this.applied);
    let baseline = this.appliedResult;
    let latest: CompileResult | undefined;
    const accepted: { rt: SourceRuntime; rev: SourceRevision; previous?: string; signature?: SignatureCheck; rewritten?: boolean; routes: ReturnType<typeof diffRoutes> }[] = [];
    const fetched = new Set(due.map((rt) => rt.decl.spec.name));

    const consider = async (rt: SourceRuntime): Promise<void> => {
      const name = rt.decl.spec.name;
      const desired = rt.desired;
      if (!desired || working.get(name)?.revision === desired) return;
      const prior = rt.refused.get(desired);
      if (prior) return;
      const outcome = await this.evaluate(rt, desired, working, baseline);
      if ('refused' in outcome) {
        this.refuse(rt, outcome.refused, outcome.problems);
        return;
      }
      const routes = diffRoutes(baseline?.ir, outcome.result.ir);
      accepted.push({ rt, rev: outcome.rev, previous: working.get(name)?.revision, signature: outcome.signature, rewritten: outcome.rewritten, routes });
      // The candidate set already dropped teams a moved root no longer declares.
      working.clear();
      for (const [n, r] of outcome.candidate) working.set(n, r);
      baseline = outcome.result;
      latest = outcome.result;
    };

    for (const root of [...this.opts.roots].sort((a, b) => (a.spec.name < b.spec.name ? -1 : 1))) await consider(this.runtimes.get(root.spec.name)!);
    // Teams as declared by the roots now accepted; new ones are fetched at once.
    const teams = this.teamsOf(working);
    for (const name of [...this.runtimes.keys()]) if (!this.isRoot(name) && !teams.has(name)) this.runtimes.delete(name);
    const fresh: SourceRuntime[] = [];
    for (const decl of teams.values()) {
      const rt = this.ensureRuntime(decl);
      if (!fetched.has(decl.spec.name) && !rt.fetching && (rt.forced || rt.desired === undefined)) fresh.push(rt);
    }
    // The first configuration waits for every team (bounded by the fetch timeout), so that a gateway
    // starting without state serves everything at once; later passes do not wait for slow remotes.
    await this.fetchAll(fresh, this.served ? STRAGGLER_WAIT_MS : Infinity);
    for (const name of [...teams.keys()].sort()) await consider(this.runtimes.get(name)!);

    const removed = [...this.applied.keys()].filter((n) => !working.has(n));
    if (accepted.length === 0 && removed.length === 0) return;
    const result = latest ?? compileWorking(working, this.opts.ambassadorId);
    const out = await this.opts.sink.apply(result.ir, result.secrets, { source: 'git', revision: this.revisionSummary(working), hash: result.hash });
    const liveAt = new Date().toISOString();
    if (!out.ok) {
      for (const a of accepted) {
        const summary: AttemptSummary = { revision: a.rev.revision, at: liveAt, result: 'ApplyFailed', reason: out.error.code, message: out.error.message, retryable: true };
        this.recordAttempt(a.rt, summary);
        // Not retried on every poll (one history entry per revision); retried when anything else applies.
        a.rt.refused.set(a.rev.revision, summary);
        this.metrics.applyFailures.inc({ source: a.rt.decl.spec.name, reason: out.error.code });
        this.history.append({ source: a.rt.decl.spec.name, revision: a.rev.revision, previousRevision: a.previous, result: 'ApplyFailed', reason: out.error.code, message: out.error.message, fetchedAt: a.rt.fetchedAt, ...commitFields(a.rev.commit) });
      }
      this.log.error({ error: out.error }, 'composed configuration was not applied; every source stays on its last-known-good revision');
      return;
    }
    const wasServing = this.served;
    const previous = this.applied;
    this.applied = working;
    this.appliedResult = result;
    this.served = true;
    for (const n of removed) {
      this.appliedAt.delete(n);
      this.metrics.setRevision(n, undefined);
      this.history.append({ source: n, previousRevision: previous.get(n)?.revision, result: 'Removed', reason: 'NoLongerDeclared', liveAt, generation: out.generation });
      this.log.info({ source: n }, 'source is no longer declared by a root source; its resources were removed');
    }
    for (const a of accepted) {
      const name = a.rt.decl.spec.name;
      this.appliedAt.set(name, liveAt);
      this.metrics.setRevision(name, a.rev.revision);
      const commitMs = Date.parse(a.rev.commit.date);
      // The first sync after a start applies old commits; only changes that land while serving count.
      if (wasServing && Number.isFinite(commitMs)) this.metrics.commitToLive.observe({ source: name }, Math.max(0, (Date.parse(liveAt) - commitMs) / 1000));
      this.recordAttempt(a.rt, { revision: a.rev.revision, at: liveAt, result: 'Applied', message: `serving ${short(a.rev.revision)}` });
      this.history.append({
        source: name,
        revision: a.rev.revision,
        previousRevision: a.previous,
        ...commitFields(a.rev.commit),
        ...(a.signature ? { signature: pickSignature(a.signature) } : {}),
        result: 'Applied',
        ...(a.rewritten ? { historyRewritten: true } : {}),
        routes: a.routes,
        fetchedAt: a.rt.fetchedAt,
        liveAt,
        generation: out.generation,
      });
      this.log.info({ source: name, revision: a.rev.revision, generation: out.generation, routes: a.routes.counts }, 'source revision is live');
    }
    // Refusals that depended on the old composition get another chance against the new one.
    let retry = false;
    for (const rt of this.runtimes.values()) {
      for (const [rev, s] of rt.refused) {
        if (s.retryable) {
          rt.refused.delete(rev);
          retry = true;
        }
      }
    }
    this.persist();
    if (retry) this.again = true;
  }

  private persist(): void {
    const sources: Record<string, LkgSource> = {};
    for (const [name, r] of this.applied) {
      sources[name] = {
        spec: r.spec,
        revision: r.revision,
        commit: r.commit,
        files: r.files,
        appliedAt: this.appliedAt.get(name) ?? new Date().toISOString(),
        ...(r.declaredBy !== undefined ? { declaredBy: r.declaredBy } : {}),
      };
    }
    try {
      this.lkg.save({ version: 1, sources });
    } catch (err) {
      this.log.error({ err: (err as Error).message, file: this.lkg.file }, 'cannot persist the last-known-good set');
    }
  }

  /** Starts the fetches and waits for them, at most `waitMs`; later ones start a pass when they finish. */
  private async fetchAll(list: SourceRuntime[], waitMs: number): Promise<void> {
    if (list.length === 0) return;
    const pending = new Set<Promise<void>>();
    for (const rt of list) {
      const p: Promise<void> = this.fetchOne(rt).finally(() => {
        rt.fetching = undefined;
        pending.delete(p);
      });
      rt.fetching = p;
      pending.add(p);
    }
    const all = Promise.all([...pending]).then(() => undefined);
    if (!Number.isFinite(waitMs)) return all;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
    for (const p of pending) void p.then(() => this.kick());
  }

  /** At most FETCH_CONCURRENCY git fetches at once; a freed slot is handed straight to the next waiter. */
  private async withFetchSlot(fn: () => Promise<void>): Promise<void> {
    if (this.fetchSlotsInUse >= FETCH_CONCURRENCY) await new Promise<void>((r) => this.fetchQueue.push(r));
    else this.fetchSlotsInUse++;
    try {
      await fn();
    } finally {
      const next = this.fetchQueue.shift();
      if (next) next();
      else this.fetchSlotsInUse--;
    }
  }

  private fetchOne(rt: SourceRuntime): Promise<void> {
    rt.forced = false;
    return this.withFetchSlot(() => this.fetchNow(rt));
  }

  private async fetchNow(rt: SourceRuntime): Promise<void> {
    this.stats.fetches++;
    const name = rt.decl.spec.name;
    const at = new Date().toISOString();
    try {
      const rev = await rt.git.fetch(this.aborter.signal);
      rt.desired = rev;
      rt.fetchedAt = at;
      rt.lastSuccessfulFetch = at;
      rt.fetchError = undefined;
      rt.staleSince = undefined;
      rt.failures = 0;
      rt.nextDueAt = Date.now() + this.jittered(rt.decl.intervalMs);
      this.metrics.lastFetch.set({ source: name }, Date.parse(at) / 1000);
      this.metrics.staleSince.set({ source: name }, 0);
    } catch (err) {
      if (this.stopped) return;
      const reason = err instanceof FetchError ? err.reason : 'GitError';
      const message = (err as Error).message;
      const changed = rt.fetchError?.reason !== reason;
      rt.fetchError = { reason, message, at };
      rt.staleSince ??= at;
      rt.failures++;
      const max = this.opts.maxBackoffMs ?? Math.max(300_000, rt.decl.intervalMs);
      rt.nextDueAt = Date.now() + this.jittered(Math.min(max, rt.decl.intervalMs * 2 ** Math.min(rt.failures, 20)));
      this.metrics.fetchFailures.inc({ source: name, reason });
      this.metrics.staleSince.set({ source: name }, Date.parse(rt.staleSince) / 1000);
      // A long outage is one history entry per change of reason, not one per poll.
      if (changed) this.history.append({ source: name, result: 'FetchFailed', reason, message, previousRevision: this.applied.get(name)?.revision });
      this.log.warn({ source: name, reason, failures: rt.failures, retryInMs: rt.nextDueAt - Date.now() }, message);
      // With the remote down, a restart can still use what an earlier run fetched into the cache.
      if (rt.desired === undefined && !this.applied.has(name)) rt.desired = await rt.git.cachedRevision();
    }
  }

  private revisionSummary(working: Working): string {
    return [...working.keys()]
      .sort()
      .map((n) => `${n}@${short(working.get(n)!.revision)}`)
      .join(',');
  }

  // ───────────────────────── checking one candidate ─────────────────────────

  private prepareRevision(decl: DeclaredSource, revision: string, commit: CommitInfo, files: readonly { path: string; content: string }[]): SourceRevision {
    const name = decl.spec.name;
    const isRoot = decl.declaredBy === undefined;
    const ext = extractSources(files, { source: name, revision, declaringUrl: decl.spec.url, defaultIntervalMs: this.opts.defaultIntervalMs ?? DEFAULT_INTERVAL_MS });
    const problems: Problem[] = [...ext.problems];
    const declarations: DeclaredSource[] = [];
    if (!isRoot) {
      for (const d of ext.sources) {
        problems.push(problem('ClaimViolation', `Source ${d.spec.name}: only a root source (named on the command line) may declare sources; '${name}' is a team source`, d.origin ?? { source: name, revision, path: '', line: 0, col: 0 }, { resource: { kind: 'Source', name: d.spec.name, namespace: 'default' } }));
      }
    } else {
      const seen = new Set<string>();
      for (const d of ext.sources) {
        const o = d.origin ?? { source: name, revision, path: '', line: 0, col: 0 };
        const ref = { resource: { kind: 'Source', name: d.spec.name, namespace: 'default' }, field: 'metadata.name' };
        if (this.isRoot(d.spec.name)) problems.push(problem('DuplicateResource', `Source ${d.spec.name}: a source with this name is already named on the command line`, o, ref));
        else if (seen.has(d.spec.name)) problems.push(problem('DuplicateResource', `Source ${d.spec.name} is declared more than once`, o, ref));
        else {
          seen.add(d.spec.name);
          declarations.push(d);
        }
      }
    }
    const loaded = loadFiles(ext.files, { source: name, revision, ...(this.opts.ambassadorId ? { ambassadorId: this.opts.ambassadorId } : {}) });
    problems.push(...loaded.problems);
    return {
      name,
      spec: decl.spec,
      revision,
      commit,
      files: files.map((f) => ({ path: f.path, content: f.content })),
      ...(isRoot ? {} : { declaredBy: decl.declaredBy }),
      declarations,
      resources: loaded.resources,
      problems,
    };
  }

  private async evaluate(
    rt: SourceRuntime,
    revision: string,
    working: Map<string, SourceRevision>,
    baseline: CompileResult | undefined,
  ): Promise<{ rev: SourceRevision; candidate: Map<string, SourceRevision>; result: CompileResult; signature?: SignatureCheck; rewritten: boolean } | { refused: Omit<AttemptSummary, 'at'> & { signature?: SignatureCheck; rewritten?: boolean; commit?: CommitInfo }; problems: Problem[] }> {
    const name = rt.decl.spec.name;
    const previous = working.get(name)?.revision;
    let snapshot;
    try {
      snapshot = await rt.git.readSnapshot(revision);
    } catch (err) {
      return { refused: { revision, result: 'Rejected', reason: 'GitError', message: (err as Error).message, retryable: true }, problems: [] };
    }
    const commit = snapshot.commit;
    let rewritten = false;
    let verify: VerifyPolicy | undefined = rt.decl.verify;
    if (previous && previous !== revision) {
      const anc = await rt.git.isAncestor(previous, revision);
      if (anc === false) {
        rewritten = true;
        if (rt.decl.onForcePush === 'refuse') {
          return {
            refused: { revision, result: 'Rejected', reason: 'HistoryRewritten', message: `${short(revision)} does not descend from the applied ${short(previous)} (force-push); refused by policy onForcePush: refuse`, rewritten, commit },
            problems: [],
          };
        }
        if (verify) verify = { ...verify, mode: 'strict' };
      }
    }
    let signature: SignatureCheck | undefined;
    if (verify) {
      let commits: string[];
      try {
        commits = verify.mode === 'head' ? [revision] : await rt.git.commitsSince(previous && (await rt.git.hasCommit(previous)) ? previous : undefined, revision, 1000);
      } catch (err) {
        return { refused: { revision, result: 'Rejected', reason: 'VerificationError', message: (err as Error).message, retryable: true, commit }, problems: [] };
      }
      signature = await verifyCommits(rt.git, commits, verify, this.verifyDir);
      if (!signature.ok) {
        return { refused: { revision, result: 'Rejected', reason: signature.reason ?? 'SignatureUntrusted', message: signature.detail, signature, rewritten, commit }, problems: [] };
      }
    }
    if (snapshot.problems.some((p) => p.severity === 'error')) {
      return { refused: { revision, result: 'Rejected', reason: 'InvalidContent', message: problemLine(snapshot.problems[0]!), signature, rewritten, commit }, problems: [...snapshot.problems] };
    }
    const files = snapshot.files.map((f) => ({ path: f.path, content: f.content.toString('utf8') }));
    const rev = this.prepareRevision(rt.decl, revision, commit, files);
    const candidate = new Map(working);
    candidate.set(name, rev);
    if (rev.declaredBy === undefined) {
      const teams = this.teamsOf(candidate);
      for (const [n, r] of [...candidate]) if (r.declaredBy !== undefined && (!teams.has(n) || !sameSpec(teams.get(n)!.spec, r.spec))) candidate.delete(n);
    }
    const result = compileWorking(candidate, this.opts.ambassadorId);
    const errors = introducedErrors(baseline, result, name);
    if (errors.length > 0) {
      // Errors on another source mean this revision collided with what is served (a conflict):
      // it may pass later, once the other side changes.
      const retryable = errors.some((p) => p.origin.source !== name);
      return { refused: { revision, result: 'Rejected', reason: 'InvalidConfiguration', message: problemLine(errors[0]!), problems: historyProblems(errors), retryable, signature, rewritten, commit }, problems: errors };
    }
    return { rev, candidate, result, ...(signature ? { signature } : {}), rewritten };
  }

  private refuse(rt: SourceRuntime, s: Omit<AttemptSummary, 'at'> & { signature?: SignatureCheck; rewritten?: boolean; commit?: CommitInfo }, problems: Problem[]): void {
    const name = rt.decl.spec.name;
    const at = new Date().toISOString();
    const summary: AttemptSummary = {
      revision: s.revision,
      at,
      result: s.result,
      ...(s.reason ? { reason: s.reason } : {}),
      ...(s.message ? { message: s.message } : {}),
      problems: s.problems ?? historyProblems(problems),
      ...(s.retryable ? { retryable: true } : {}),
    };
    this.recordAttempt(rt, summary);
    rt.refused.set(s.revision, summary);
    while (rt.refused.size > MAX_REFUSED) rt.refused.delete(rt.refused.keys().next().value!);
    this.metrics.applyFailures.inc({ source: name, reason: s.reason ?? 'Rejected' });
    this.history.append({
      source: name,
      revision: s.revision,
      previousRevision: this.applied.get(name)?.revision,
      ...(s.commit ? commitFields(s.commit) : {}),
      ...(s.signature ? { signature: pickSignature(s.signature) } : {}),
      result: 'Rejected',
      ...(s.reason ? { reason: s.reason } : {}),
      problems: summary.problems ?? [],
      ...(s.rewritten ? { historyRewritten: true } : {}),
      fetchedAt: rt.fetchedAt,
    });
    this.opts.sink.reject?.({ source: name, revision: s.revision }, problems);
    this.log.error({ source: name, revision: s.revision, reason: s.reason, serving: this.applied.get(name)?.revision ?? null }, `${name}: refused ${short(s.revision)}: ${s.message ?? s.reason ?? ''}`);
  }

  private recordAttempt(rt: SourceRuntime, s: AttemptSummary): void {
    rt.lastAttempt = s;
  }

  // ───────────────────────── status ─────────────────────────

  status(): SourceStatus[] {
    const out: SourceStatus[] = [];
    for (const name of [...this.runtimes.keys()].sort()) {
      const rt = this.runtimes.get(name)!;
      const applied = this.applied.get(name);
      const d = rt.decl;
      const refused = rt.desired ? rt.refused.get(rt.desired) : undefined;
      let state: SourceStatus['state'];
      let message: string;
      if (refused) {
        state = 'Refused';
        message = `serving ${short(applied?.revision)} because ${short(refused.revision)} failed: ${refused.message ?? refused.reason ?? 'refused'}`;
      } else if (rt.fetchError) {
        state = 'FetchFailed';
        message = `${applied ? `serving ${short(applied.revision)}; ` : ''}fetch failing since ${rt.staleSince}: ${rt.fetchError.reason}: ${rt.fetchError.message}`;
      } else if (applied && applied.revision === rt.desired) {
        state = 'Ready';
        message = `serving ${short(applied.revision)}`;
      } else {
        state = 'Pending';
        message = applied ? `serving ${short(applied.revision)}; ${short(rt.desired)} pending` : 'waiting for a first valid revision';
      }
      out.push({
        name,
        url: redactUrl(d.spec.url),
        branch: d.spec.branch,
        path: d.spec.path,
        role: d.declaredBy === undefined ? 'root' : 'team',
        ...(d.declaredBy !== undefined ? { declaredBy: d.declaredBy } : {}),
        ...(d.claim ? { claims: d.claim } : {}),
        ...(d.verify ? { verify: { mode: d.verify.mode, method: d.verify.gpgKeys ? 'gpg' : 'ssh' } } : {}),
        state,
        message,
        ...(rt.desired ? { desiredRevision: rt.desired } : {}),
        ...(applied ? { appliedRevision: applied.revision, appliedAt: this.appliedAt.get(name) } : {}),
        ...(rt.lastAttempt ? { lastAttempt: rt.lastAttempt } : {}),
        ...(rt.lastSuccessfulFetch ? { lastSuccessfulFetch: rt.lastSuccessfulFetch } : {}),
        ...(rt.staleSince ? { staleSince: rt.staleSince } : {}),
        ...(rt.fetchError ? { fetchError: rt.fetchError } : {}),
        consecutiveFailures: rt.failures,
        ...(rt.nextDueAt > 0 ? { nextFetchAt: new Date(rt.nextDueAt).toISOString() } : {}),
      });
    }
    return out;
  }

  /** Revision served per source. */
  appliedRevisions(): Record<string, string> {
    return Object.fromEntries([...this.applied].map(([n, r]) => [n, r.revision]));
  }
}

function commitFields(c: CommitInfo): Pick<HistoryEntry, 'author' | 'committer' | 'date' | 'message'> {
  return { author: c.author, committer: c.committer, date: c.date, message: c.message.slice(0, 2000) };
}

function pickSignature(s: SignatureCheck): NonNullable<HistoryEntry['signature']> {
  return { ok: s.ok, status: s.status, mode: s.mode, ...(s.signer ? { signer: s.signer } : {}), ...(s.reason ? { reason: s.reason } : {}), detail: s.detail };
}

function problemLine(p: Problem): string {
  return `${formatOrigin(p.origin)}: ${p.message}`;
}

/** Credentials in an https URL never reach the admin API. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]+@/i, '$1***@');
}
