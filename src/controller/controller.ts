// The controller, the single writer of configuration: schedules and runs fetches of every source (git
// repositories and folders alike), gathers the git facts the reconcile asks for, applies what the
// reconcile decides, and records it (history, last-known-good, status, metrics).
//
// What can happen in one pass (passes never overlap; triggers during a pass coalesce into one more):
//   fetch the due sources → reconcile (gather facts it asks for, fetch teams it newly declares, and
//   reconcile again) → apply the served set if its configuration changed → record every decision →
//   persist the served set as the last-known-good.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatOrigin } from '../api/origin.js';
import type { Problem } from '../api/problems.js';
import type { Resource } from '../api/resource.js';
import type { CompileResult } from '../compile/index.js';
import { diffIR, type ChangedEntity } from '../ir/diff.js';
import type { IR } from '../ir/types.js';
import { holdsPrivateKey, type SecretStore } from '../ir/secrets.js';
import { sha256 } from '../ir/canonical.js';
import { credentialNames, holdsLiteralCredential } from '../compile/header-credentials.js';
import type { SignatureCheck } from '../sources/commit-signatures.js';
import { FetchError, type SnapshotLimits } from '../sources/git-source.js';
import { AuditHistory, type HistoryEntry, type HistoryProblem } from './history.js';
import type { DecisionEvent } from './notifications.js';
import { LastKnownGoodStore, LkgCorruptError, type LkgSource } from './last-known-good.js';
import { problemKey, reconcile, remedyFor, SECRETS_SOURCE, type CompileInputs, type Decision, type ReconcileOutput, type RevisionFacts, type ServedSource, type Snapshot } from './reconcile.js';
import { SYSTEM_CLOCK, FetchSchedule, type Clock } from './scheduler.js';
import { ParseCache } from '../load/parse-cache.js';
import { CompileMemo } from '../compile/compile-memo.js';
import { createDriver, plainFolderOf, type DriverOptions, type SourceDriver } from './source-drivers.js';
import { sameLocation, type DeclaredSource, type SourceKindName } from './source-kind.js';
import type { SourceMetrics } from './source-metrics.js';
import type { KubernetesCluster } from '../kubernetes/cluster.js';
import { CanaryRelease, type CanarySink } from './canary-release.js';
import type { CanaryRecord } from './history.js';

export const DEFAULT_INTERVAL_MS = 30_000;
/** The shortest time between two reads of a Kubernetes source (its objects are the watch's, in memory). */
const KUBERNETES_MIN_READ_INTERVAL_MS = 100;

/** The part of the serving process the controller needs (the Gateway or ServingState fit). */
export interface ConfigSink {
  apply(
    ir: IR,
    secrets: SecretStore,
    meta: { source: string; revision?: string; hash?: string },
  ): Promise<{ ok: true; generation: number } | { ok: false; error: { code: string; message: string } }>;
  /** Told about refused candidates, for its own reporting (optional). */
  reject?(meta: { source: string; revision?: string }, problems: readonly Problem[]): void;
  /** Runs canaries (a ReleasePolicy releases through it); without it every change goes live at once. */
  readonly canary?: CanarySink;
}

export interface ControllerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const SILENT: ControllerLog = { info() {}, warn() {}, error() {} };

/** Inputs to compile that do not come from sources (the secrets directory); `key` changes whenever they do. */
export type { CompileInputs } from './reconcile.js';

export interface ControllerOptions {
  /** Sources named on the command line: may configure anything and may declare team sources. */
  readonly roots: readonly DeclaredSource[];
  /** State folder (last-known-good set, history, git caches); without one, state lives in memory. */
  readonly stateDir?: string;
  readonly sink: ConfigSink;
  readonly ambassadorId?: string;
  /** The namespace Portico runs in (AMBASSADOR_NAMESPACE; default "default"): see ReconcileOptions. */
  readonly ambassadorNamespace?: string;
  /** Poll interval of sources that do not set one (default 30 s). */
  readonly defaultIntervalMs?: number;
  /** ± fraction of the interval added at random, so that replicas do not poll in step (default 0.1). */
  readonly jitter?: number;
  readonly maxBackoffMs?: number;
  /** The shortest time between two fetches of one source (default 1 s; bursts of triggers coalesce). */
  readonly minFetchIntervalMs?: number;
  readonly fetchTimeoutMs?: number;
  readonly limits?: Partial<SnapshotLimits>;
  readonly metrics?: SourceMetrics;
  readonly log?: ControllerLog;
  readonly historyMaxBytes?: number;
  /** Poll on timers (default true); tests drive passes by hand with false. */
  readonly poll?: boolean;
  /** How often a folder source is checked for missed file events (default 2 s; 0 never). */
  readonly folderPollMs?: number;
  /** Team sources pinned to a ref or commit (`--pin NAME=REF`). */
  readonly pins?: Readonly<Record<string, string>>;
  /** Team sources read from a folder on this machine instead of their repository. */
  readonly localTeams?: Readonly<Record<string, string>>;
  /** A root whose origins carry no source name (paths given to the offline commands). */
  readonly anonymous?: string;
  /** Fetch the git repositories of declared team sources (default true; folders given with --local always). */
  readonly fetchTeams?: boolean;
  readonly compileInputs?: () => CompileInputs;
  readonly clock?: Clock;
  readonly random?: () => number;
  /**
   * Told every decision recorded (applied, refused, not applied), for commit statuses and webhooks.
   * Called inside the pass: it must only queue (see notifications.ts).
   */
  readonly onDecision?: (e: DecisionEvent) => void;
  /** Replaces how sources are fetched (tests). */
  readonly createDriver?: (decl: DeclaredSource, opts: DriverOptions) => SourceDriver;
  /** The cluster Kubernetes sources read (created on first use). */
  readonly kubernetes?: () => KubernetesCluster | undefined;
  /** Told after every pass that served something: what is served and what was decided (status write-back). */
  readonly onPass?: (view: PassView) => void;
  /** Told when a canary here rolls a revision back (the fleet rolls it back on every replica). */
  readonly onCanaryRollback?: (source: string, revision: string, detail: string) => void;
  /** Told when a canary starts, moves or ends (the fleet's heartbeat). */
  readonly onCanaryChange?: () => void;
}

/** What one pass leaves: the served set, its compiled configuration, and the pass's decisions. */
export interface PassView {
  readonly served: ReadonlyMap<string, ServedSource>;
  readonly compiled: CompileResult;
  readonly decisions: readonly Decision[];
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
  readonly remedy?: string;
  readonly problems?: readonly HistoryProblem[];
  /** The commit signature check of this revision, when the source verifies signatures. */
  readonly signature?: { readonly ok: boolean; readonly status: string; readonly signer?: string };
}

interface SourceRuntime {
  decl: DeclaredSource;
  driver: SourceDriver;
  desired?: string;
  fetchedAt?: string;
  lastSuccessfulFetch?: string;
  fetchError?: { reason: string; message: string; at: string };
  staleSince?: string;
  /** The fetch in flight, if any: a slow remote is never fetched twice at once. */
  fetching?: Promise<void>;
  lastAttempt?: AttemptSummary;
  /** The newest decision on the desired revision (refused or pending), if not accepted. */
  verdict?: Decision;
  /** When each revision was first seen here (commit→live is measured from it). */
  firstSeen: Map<string, number>;
  /** A webhook's push time for the next revision, when the delivery carried one. */
  pushedAt?: number;
}

export interface SourceStatus {
  readonly name: string;
  readonly kind: SourceKindName;
  readonly url: string;
  readonly branch: string;
  readonly path: string;
  readonly pin?: string;
  readonly role: 'root' | 'team';
  readonly declaredBy?: string;
  readonly claims?: DeclaredSource['claim'];
  readonly verify?: { mode: string; method: string };
  readonly anchor?: string;
  readonly state: 'Ready' | 'Pending' | 'Refused' | 'FetchFailed';
  readonly message: string;
  /** The git action that clears a refusal. */
  readonly remedy?: string;
  /** The revision in a running canary, and the share of requests it serves. */
  readonly canary?: { readonly revision: string; readonly share: number; readonly step: number; readonly steps: number };
  readonly desiredRevision?: string;
  readonly appliedRevision?: string;
  readonly appliedAt?: string;
  readonly lastAttempt?: AttemptSummary;
  /** Resources of the served revision that are not served, with why (a claim narrowed since, a conflict). */
  readonly notServed?: readonly HistoryProblem[];
  readonly lastSuccessfulFetch?: string;
  readonly staleSince?: string;
  readonly fetchError?: { reason: string; message: string; at: string };
  /** Consecutive failed fetches, and when the next fetch is due (backoff included). */
  readonly consecutiveFailures: number;
  readonly nextFetchAt?: string;
}

/**
 * How long a pass waits for its fetches once something is served. A slower fetch (a blackholed
 * remote) finishes on its own and starts another pass, so one dead remote never holds back others.
 */
const STRAGGLER_WAIT_MS = 3000;
const FETCH_CONCURRENCY = 4;
/** Reconcile rounds in one pass: facts, then newly declared teams, then their facts. */
const MAX_ROUNDS = 6;
const MAX_FACTS_CACHED = 1000;

function short(rev: string | undefined): string {
  return rev ? (rev.startsWith('sha256:') ? rev.slice(0, 19) : rev.slice(0, 12)) : 'nothing';
}

function historyProblems(ps: readonly Problem[]): HistoryProblem[] {
  return ps.slice(0, 50).map((p) => ({
    code: p.code,
    severity: p.severity,
    message: p.message,
    origin: formatOrigin(p.origin),
    ...(p.resource ? { resource: `${p.resource.kind}/${p.resource.namespace}/${p.resource.name}` } : {}),
    ...(p.field ? { field: p.field } : {}),
  }));
}

function attemptSignature(s: SignatureCheck | undefined): Pick<AttemptSummary, 'signature'> {
  return s ? { signature: { ok: s.ok, status: s.status, ...(s.signer ? { signer: s.signer } : {}) } } : {};
}

export class Controller {
  private readonly runtimes = new Map<string, SourceRuntime>();
  private served: ReadonlyMap<string, ServedSource> = new Map();
  private declared: ReadonlyMap<string, DeclaredSource> = new Map();
  private notServed: ReadonlyMap<string, readonly Problem[]> = new Map();
  private memo: ReadonlyMap<string, Decision> = new Map();
  private previous: { key: string; compiled: CompileResult } | undefined;
  /** The compile inputs (secrets directory) of the served configuration, and the newest decision on newer ones. */
  private acceptedInputs: CompileInputs | undefined;
  private inputsVerdict: Decision | undefined;
  private appliedHash: string | undefined;
  /** The key of a served set whose apply failed: not tried again until something changes. */
  private failedKey: string | undefined;
  private readonly appliedAt = new Map<string, string>();
  private readonly factsCache = new Map<string, RevisionFacts>();
  private readonly parseCache = new ParseCache();
  /** Why the state folder's last-known-good set could not be served at start, when it could not. */
  private lkgUnusable: string | undefined;
  /** Sources a pass accepted before the first apply while a root served nothing (start names the others). */
  private servedAtStart: ReadonlySet<string> | undefined;
  private readonly compileMemo = new CompileMemo();
  private readonly lkg: LastKnownGoodStore | undefined;
  readonly history: AuditHistory;
  readonly metrics: SourceMetrics | undefined;
  private readonly log: ControllerLog;
  private readonly clock: Clock;
  private readonly schedule: FetchSchedule;
  private readonly driverOptions: DriverOptions;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: unknown;
  private stopped = false;
  private readonly aborter = new AbortController();
  private fetchSlotsInUse = 0;
  private readonly fetchQueue: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  /** Counters for tests and the bench: passes run, fetches made, reconciles computed. */
  readonly stats = { passes: 0, fetches: 0, reconciles: 0 };
  /** Canaries of new revisions that a ReleasePolicy governs (when the sink can run them). */
  readonly release: CanaryRelease | undefined;
  /** Every source is polled at least this often (the fleet bus is down). */
  private pollCapMs: number | undefined;

  constructor(private readonly opts: ControllerOptions) {
    const names = new Set<string>();
    for (const r of opts.roots) {
      if (names.has(r.spec.name)) throw new NoValidConfigurationError(`source '${r.spec.name}' is named twice`);
      names.add(r.spec.name);
    }
    if (opts.stateDir !== undefined) {
      mkdirSync(opts.stateDir, { recursive: true });
      this.lkg = new LastKnownGoodStore(opts.stateDir);
    }
    this.clock = opts.clock ?? SYSTEM_CLOCK;
    this.history = new AuditHistory(opts.stateDir, opts.historyMaxBytes, () => new Date(this.clock.now()));
    this.metrics = opts.metrics;
    this.log = opts.log ?? SILENT;
    this.schedule = new FetchSchedule(this.clock, {
      ...(opts.jitter !== undefined ? { jitter: opts.jitter } : {}),
      ...(opts.maxBackoffMs !== undefined ? { maxBackoffMs: opts.maxBackoffMs } : {}),
      ...(opts.minFetchIntervalMs !== undefined ? { minFetchIntervalMs: opts.minFetchIntervalMs } : {}),
      ...(opts.random ? { random: opts.random } : {}),
    });
    const stateDir = opts.stateDir ?? join(process.cwd(), '.portico');
    this.driverOptions = {
      cacheDir: join(stateDir, 'cache'),
      verifyDir: join(stateDir, 'verify'),
      ...(opts.fetchTimeoutMs ? { fetchTimeoutMs: opts.fetchTimeoutMs } : {}),
      ...(opts.limits ? { limits: opts.limits } : {}),
      ...(opts.folderPollMs !== undefined ? { folderPollMs: opts.folderPollMs } : {}),
      ...(opts.kubernetes ? { kubernetes: opts.kubernetes } : {}),
    };
    for (const r of opts.roots) this.ensureRuntime(r);
    this.release = opts.sink.canary
      ? new CanaryRelease({
          sink: opts.sink.canary,
          clock: this.clock,
          history: this.history,
          log: this.log,
          ...(opts.metrics ? { metrics: opts.metrics.releaseMetrics() } : {}),
          ...(opts.onCanaryRollback ? { onRollback: opts.onCanaryRollback } : {}),
          ...(opts.onCanaryChange ? { onChange: opts.onCanaryChange } : {}),
          host: {
            promoted: (out, generation, canary) => this.canaryPromoted(out, generation, canary),
            promoteFailed: (out, error) => this.applyFailed(out, error, this.now()),
            refused: (source, revision, decision, message, canary) => this.refusedByCanary(source, revision, decision, message, canary),
            kick: () => this.kick(),
          },
        })
      : undefined;
  }

  private now(): string {
    return new Date(this.clock.now()).toISOString();
  }

  private ensureRuntime(decl: DeclaredSource): SourceRuntime {
    const name = decl.spec.name;
    const existing = this.runtimes.get(name);
    if (existing && sameLocation(existing.decl, decl)) {
      existing.decl = decl;
      this.schedule.ensure(name, this.intervalOf(decl), this.minIntervalOf(decl));
      return existing;
    }
    existing?.driver.close();
    const driver = (this.opts.createDriver ?? createDriver)(decl, this.driverOptions);
    const rt: SourceRuntime = { decl, driver, firstSeen: new Map() };
    this.runtimes.set(name, rt);
    this.schedule.remove(name);
    this.schedule.ensure(name, this.intervalOf(decl), this.minIntervalOf(decl));
    if (driver.watch && this.opts.poll !== false) driver.watch(() => this.trigger(name));
    return rt;
  }

  private intervalOf(decl: DeclaredSource): number {
    // A folder is read when it changes (file events, a slow poll, SIGHUP), not on a timer.
    if (decl.kind === 'directory') return Infinity;
    return this.pollCapMs !== undefined ? Math.min(decl.intervalMs, this.pollCapMs) : decl.intervalMs;
  }

  /**
   * A Kubernetes source is read from the watch's objects in memory, so successive changes need not
   * wait the minimum meant for remote fetches: a burst of watch events still becomes one read now and
   * one more 100 ms later.
   */
  private minIntervalOf(decl: DeclaredSource): number | undefined {
    if (decl.kind !== 'kubernetes') return undefined;
    return Math.min(KUBERNETES_MIN_READ_INTERVAL_MS, this.opts.minFetchIntervalMs ?? KUBERNETES_MIN_READ_INTERVAL_MS);
  }

  /**
   * Polls every source at least every `ms` (undefined: each at its own interval). The fleet sets it
   * while its bus is down: a webhook then reaches one replica only, and the others must find the
   * change by polling.
   */
  setPollCap(ms: number | undefined): void {
    if (ms === this.pollCapMs) return;
    this.pollCapMs = ms;
    for (const [name, rt] of this.runtimes) this.schedule.ensure(name, this.intervalOf(rt.decl), this.minIntervalOf(rt.decl));
    this.arm();
  }

  /** The poll cap in force, if any. */
  get pollCap(): number | undefined {
    return this.pollCapMs;
  }

  private isRoot(name: string): boolean {
    return this.opts.roots.some((r) => r.spec.name === name);
  }

  private options() {
    const inputs = this.acceptedInputs;
    return {
      ...(this.opts.ambassadorId ? { ambassadorId: this.opts.ambassadorId } : {}),
      ...(this.opts.ambassadorNamespace ? { ambassadorNamespace: this.opts.ambassadorNamespace } : {}),
      defaultIntervalMs: this.opts.defaultIntervalMs ?? DEFAULT_INTERVAL_MS,
      ...(inputs ? { compile: inputs.compile, compileKey: inputs.key } : {}),
      ...(this.opts.pins ? { pins: this.opts.pins } : {}),
      ...(this.opts.localTeams ? { localTeams: this.opts.localTeams } : {}),
      ...(this.opts.anonymous !== undefined ? { anonymous: this.opts.anonymous } : {}),
    };
  }

  // ───────────────────────── start, stop, triggers ─────────────────────────

  /**
   * Serves the persisted last-known-good set (if any), then runs the first pass. Throws
   * NoValidConfigurationError when neither gives anything to serve.
   */
  async start(): Promise<void> {
    await this.restoreLkg();
    // Through kick(), like every other pass, so that a webhook or a late fetch during start cannot
    // run a second pass beside it.
    this.kick();
    await this.idle();
    // Stopped while starting (serve told to stop): the pass was cut short, which is no failure to report.
    if (this.stopped) return;
    // Every source named on the command line must serve something: a gateway started without its
    // central policy (git unreachable, a folder beside it valid) would serve a part of it.
    const missing = [...this.runtimes.values()].filter((rt) => this.isRoot(rt.decl.spec.name) && !this.served.has(rt.decl.spec.name) && !this.servedAtStart?.has(rt.decl.spec.name));
    if (this.appliedHash === undefined || missing.length > 0) {
      const why = missing
        .map((rt) => `${rt.decl.spec.name}: ${rt.fetchError ? `${rt.fetchError.reason}: ${rt.fetchError.message}` : (rt.verdict?.message ?? rt.lastAttempt?.message ?? 'no valid revision')}`)
        .join('; ');
      const where = this.opts.stateDir === undefined ? '' : this.lkgUnusable !== undefined ? `; the last-known-good state in ${this.opts.stateDir} cannot be served either (${this.lkgUnusable})` : ` and no last-known-good state in ${this.opts.stateDir}`;
      throw new NoValidConfigurationError(`no valid configuration to serve for ${missing.map((m) => `'${m.decl.spec.name}'`).join(', ')}${where} (${why})`);
    }
    this.arm();
  }

  private async restoreLkg(): Promise<void> {
    if (!this.lkg) return;
    this.lkg.removeStaleTemp();
    let set;
    try {
      set = this.lkg.load();
    } catch (err) {
      if (!(err instanceof LkgCorruptError)) throw err;
      const moved = this.lkg.quarantine();
      this.log.error({ file: err.file, movedTo: moved }, `${err.message}; ignoring it and starting from the sources`);
      this.history.append({ source: '*', result: 'Rejected', reason: 'LastKnownGoodCorrupt', detail: `${err.message}; moved to ${moved ?? '?'}` });
      return;
    }
    if (!set) return;
    const tolerated = new Set(Object.values(set.sources).flatMap((e) => e.notServed ?? []));
    const snapshots = new Map<string, Snapshot>();
    for (const root of this.opts.roots) {
      const e = set.sources[root.spec.name];
      if (e && e.declaredBy === undefined && (e.kind ?? 'git') === root.kind && e.spec.url === root.spec.url && e.spec.branch === root.spec.branch && e.spec.path === root.spec.path) {
        const snap = await this.restoredSnapshot(root, e);
        if (snap) snapshots.set(root.spec.name, snap);
      }
    }
    const inputs = this.opts.compileInputs?.();
    const run = () => reconcile({ roots: this.opts.roots, served: new Map(), snapshots, facts: new Map(), trusted: true, tolerated, ...(inputs ? { inputs } : {}), options: this.options() });
    let out = run();
    // Teams only where the restored roots still declare them at the same place.
    let added = false;
    for (const [name, decl] of out.declared) {
      const e = set.sources[name];
      if (e && e.declaredBy === decl.declaredBy && e.spec.url === decl.spec.url && e.spec.branch === decl.spec.branch && e.spec.path === decl.spec.path && (e.kind ?? 'git') === decl.kind) {
        const snap = await this.restoredSnapshot(decl, e);
        if (snap) {
          snapshots.set(name, snap);
          added = true;
        }
      }
    }
    if (added) out = run();
    // Why a saved root is not served from the state folder (a secret it names is gone, say): start names it.
    const refusedRoot = out.decisions.find((d) => d.verdict === 'refused' && this.isRoot(d.source));
    if (refusedRoot) this.lkgUnusable = `${refusedRoot.source}: ${refusedRoot.message ?? refusedRoot.reason ?? 'refused'}`;
    if (out.served.size === 0) return;
    const res = await this.opts.sink.apply(out.compiled.ir, out.compiled.secrets, { source: 'sources', revision: summary(out.served), hash: out.compiled.hash });
    if (!res.ok) {
      this.lkgUnusable = `${res.error.code}: ${res.error.message}`;
      this.log.error({ error: res.error }, 'the last-known-good set could not be applied');
      return;
    }
    this.served = out.served;
    this.declared = out.declared;
    this.notServed = out.notServed;
    this.previous = { key: out.key, compiled: out.compiled };
    this.acceptedInputs = out.inputs;
    this.appliedHash = out.compiled.hash;
    for (const [name, s] of out.served) {
      const e = set.sources[name]!;
      this.appliedAt.set(name, e.appliedAt);
      if (s.decl.declaredBy !== undefined) this.ensureRuntime(s.decl);
      this.metrics?.setRevision(name, s.snapshot.revision);
      this.history.append({ source: name, revision: s.snapshot.revision, result: 'Restored', reason: 'LastKnownGood', liveAt: this.now(), generation: res.generation, ...commitFields(s.snapshot.commit) });
    }
    this.log.info({ sources: summary(out.served) }, 'serving the last-known-good set from the state folder');
    this.opts.onPass?.({ served: out.served, compiled: out.compiled, decisions: [] });
    // A state file written before keys were kept out of it is rewritten without them at once.
    if (Object.values(set.sources).some((e) => e.files.some((f) => f.redacted === undefined && holdsPrivateKey(f.content)))) this.persist();
  }

  /**
   * A persisted source as a snapshot. Files that held a private key were persisted without their
   * content (see persist); they are read again from the source at the same revision (the git cache
   * beside the state file, or the folder if it still holds exactly that revision) and checked against
   * their digest. When that is impossible the source is not restored: it waits for its first fetch
   * rather than serve a Host without its key.
   */
  private async restoredSnapshot(decl: DeclaredSource, e: LkgSource): Promise<Snapshot | undefined> {
    const name = decl.spec.name;
    const base = { source: name, revision: e.revision, problems: [], ...(e.commit ? { commit: e.commit } : {}) };
    if (!e.files.some((f) => f.redacted !== undefined)) return { ...base, files: e.files };
    let full: Snapshot | undefined;
    try {
      full = await this.ensureRuntime(decl).driver.snapshot(e.revision);
    } catch {
      full = undefined;
    }
    const files: { path: string; content: string | Buffer }[] = [];
    for (const f of e.files) {
      if (f.redacted === undefined) {
        files.push(f);
        continue;
      }
      const found = full?.files.find((x) => x.path === f.path);
      const content = found === undefined ? undefined : typeof found.content === 'string' ? found.content : found.content.toString('utf8');
      if (content === undefined || sha256(content) !== f.redacted.sha256) {
        if (this.isRoot(name)) this.lkgUnusable = `${name}: ${f.path} held key material, kept out of the state folder, and ${short(e.revision)} cannot be read again from the source`;
        this.log.warn({ source: name, revision: e.revision, file: f.path }, `${name}: the last-known-good copy of ${f.path} holds no key material and ${short(e.revision)} cannot be read again from the source; this source waits for its first fetch`);
        return undefined;
      }
      files.push({ path: f.path, content });
    }
    return { ...base, files };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.release?.stop();
    // Fetches in flight are killed, not awaited: a blackholed remote would hold shutdown for its timeout.
    this.aborter.abort();
    await this.running;
    await Promise.all([...this.runtimes.values()].map((rt) => rt.fetching));
    for (const rt of this.runtimes.values()) rt.driver.close();
  }

  /** Asks for a fetch now (webhook, SIGHUP, a folder changed): of one source, or of all. Bursts coalesce. */
  /** Whether a source of this name is configured (a root, or a team a root declares). */
  knows(source: string): boolean {
    return this.runtimes.has(source);
  }

  trigger(source?: string, hint: { pushedAt?: number } = {}): void {
    if (hint.pushedAt !== undefined) for (const rt of this.runtimes.values()) if (!source || rt.decl.spec.name === source) rt.pushedAt = hint.pushedAt;
    this.schedule.force(source);
    this.kick();
  }

  /** Recompiles what is served now (TLS material outside git changed), without fetching. */
  recompile(): void {
    this.kick();
  }

  /**
   * Resolves once no pass is running or queued and no fetch is in flight. A pass waits a few seconds
   * for slow fetches and lets them finish on their own; this waits for those too (tests, the demo).
   */
  async settled(): Promise<void> {
    for (;;) {
      await this.idle();
      const fetching = [...this.runtimes.values()].map((rt) => rt.fetching).filter((p): p is Promise<void> => p !== undefined);
      if (fetching.length === 0 && !this.running && !this.again) return;
      await Promise.all(fetching);
    }
  }

  /** Resolves once no pass is running or queued. */
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
      .catch((err: unknown) => this.log.error({ err: (err as Error).stack ?? String(err) }, 'controller pass failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        } else {
          this.again = false;
          for (const w of this.idleWaiters.splice(0)) w();
          this.arm();
        }
      });
  }

  private arm(): void {
    if (this.stopped || this.opts.poll === false) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const next = this.schedule.next();
    if (next === undefined) return;
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.kick();
      },
      Math.max(0, next - this.clock.now()),
    );
  }

  // ───────────────────────── one pass ─────────────────────────

  /**
   * One pass without applying or recording anything: what the offline commands (validate, explain,
   * test, plan) ask. Every source is fetched, teams the roots declare included.
   */
  async evaluate(): Promise<ReconcileOutput | undefined> {
    const out = await this.decide();
    for (const rt of this.runtimes.values()) rt.driver.close();
    return out;
  }

  private async runPass(): Promise<void> {
    const out = await this.decide();
    // A stop that came during the pass (serve drains) ends it: nothing is bound or recorded after it.
    if (out && !this.stopped) await this.commit(out);
  }

  private async decide(): Promise<ReconcileOutput | undefined> {
    this.stats.passes++;
    const due = this.schedule.takeDue().filter((n) => this.runtimes.has(n) && !this.runtimes.get(n)!.fetching);
    // Until something is served, sources are waited for in full: there is nothing to fall back on.
    await this.fetchAll(due.map((n) => this.runtimes.get(n)!));
    const tried = new Set(due);
    let out: ReconcileOutput | undefined;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      out = await this.reconcileOnce();
      const fresh: SourceRuntime[] = [];
      for (const decl of out.declared.values()) {
        // Offline commands on disk read team folders (--local) but do not reach for team repositories.
        if (this.opts.fetchTeams === false && decl.kind !== 'directory' && plainFolderOf(decl) === undefined) continue;
        const rt = this.ensureRuntime(decl);
        if (!tried.has(decl.spec.name) && !rt.fetching && rt.desired === undefined) {
          tried.add(decl.spec.name);
          fresh.push(rt);
        }
      }
      if (out.needs.length === 0 && fresh.length === 0) break;
      await Promise.all([this.gatherFacts(out), this.fetchAll(fresh)]);
    }
    return out;
  }

  private async reconcileOnce(): Promise<ReconcileOutput> {
    const snapshots = new Map<string, Snapshot>();
    for (const [name, rt] of this.runtimes) {
      if (rt.desired === undefined) continue;
      const served = this.served.get(name);
      // A revision a canary refused, or any source but those of a running canary: the served one stands.
      const held = this.release?.holds(name, rt.desired) === true;
      if (held && !served) continue;
      if (served && (served.snapshot.revision === rt.desired || held)) {
        snapshots.set(name, served.snapshot);
        continue;
      }
      try {
        snapshots.set(name, await rt.driver.snapshot(rt.desired));
      } catch (err) {
        this.noteFetchFailure(rt, err);
      }
    }
    this.stats.reconciles++;
    // New secrets-directory material waits for a running canary to end, like every other change.
    const inputs = this.release?.active ? undefined : this.opts.compileInputs?.();
    return reconcile({
      roots: this.opts.roots,
      served: this.served,
      snapshots,
      facts: this.factsCache,
      memo: this.memo,
      parseCache: this.parseCache,
      compileMemo: this.compileMemo,
      ...(this.previous ? { previous: this.previous } : {}),
      ...(inputs ? { inputs } : {}),
      options: this.options(),
    });
  }

  private async gatherFacts(out: ReconcileOutput): Promise<void> {
    await Promise.all(
      out.needs.map(async (req) => {
        const rt = this.runtimes.get(req.source);
        if (!rt || this.factsCache.has(req.key)) return;
        const facts = await rt.driver.facts(req);
        // An answer that says git failed is asked again next pass, not kept.
        if (facts.error === undefined) {
          this.factsCache.set(req.key, facts);
          while (this.factsCache.size > MAX_FACTS_CACHED) this.factsCache.delete(this.factsCache.keys().next().value!);
        } else {
          this.factsCache.set(req.key, facts);
          queueMicrotask(() => this.factsCache.delete(req.key));
        }
      }),
    );
  }

  private async commit(out: ReconcileOutput): Promise<void> {
    const liveAt = this.now();
    let generation: number | undefined;
    // Nothing accepted yet: there is no configuration to serve (start reports why), not an empty one.
    // Nor, before the first apply, while a root serves nothing: a gateway must not bind a part of its
    // configuration (a folder's, with the central repository unreachable) and then refuse to start.
    if (out.served.size > 0 && this.appliedHash === undefined && this.opts.roots.some((r) => !out.served.has(r.spec.name))) {
      this.servedAtStart = new Set(out.served.keys());
      for (const d of out.decisions) if (d.verdict !== 'accepted') this.record(d, liveAt, undefined);
      this.memo = out.memo;
      return;
    }
    if (out.served.size === 0) {
      for (const d of out.decisions) this.record(d, liveAt, undefined);
      this.memo = out.memo;
      return;
    }
    // A ReleasePolicy may take the change into a canary (or a running canary keeps it): the served set
    // stays until the canary ends; this pass's refusals are recorded now.
    let released: string | undefined;
    if (this.release && out.key !== this.failedKey && (out.compiled.hash !== this.appliedHash || this.release.active)) {
      const offered = await this.release.offer(out, this.previous?.compiled);
      if (offered.taken) {
        for (const d of out.decisions) if (d.verdict !== 'accepted') this.record(d, liveAt, undefined);
        this.memo = out.memo;
        return;
      }
      released = offered.why;
    }
    if (out.compiled.hash !== this.appliedHash) {
      if (out.key === this.failedKey) return;
      const res = await this.opts.sink.apply(out.compiled.ir, out.compiled.secrets, { source: 'sources', revision: summary(out.served), hash: out.compiled.hash });
      if (!res.ok) {
        this.applyFailed(out, res.error, liveAt);
        return;
      }
      generation = res.generation;
      this.appliedHash = out.compiled.hash;
      this.compileMemo.settle(out.compiled.ir);
    }
    this.adopt(out, out.decisions, liveAt, generation, undefined, released);
  }

  /** The served set could not be applied: every source stays on its last-known-good revision. */
  private applyFailed(out: ReconcileOutput, error: { code: string; message: string }, liveAt: string): void {
    this.failedKey = out.key;
    for (const d of out.decisions.filter((x) => x.verdict === 'accepted')) {
      const rt = this.runtimes.get(d.source);
      const s: AttemptSummary = { revision: d.revision, at: liveAt, result: 'ApplyFailed', reason: error.code, message: error.message };
      if (rt) rt.lastAttempt = s;
      this.metrics?.applyFailures.inc({ source: d.source, reason: error.code });
      this.history.append({ source: d.source, revision: d.revision, previousRevision: d.previous, result: 'ApplyFailed', reason: error.code, detail: error.message, fetchedAt: rt?.fetchedAt, ...commitFields(d.commit) });
      this.tell('apply-failed', d, liveAt, { reason: error.code, message: error.message, ...(d.previous !== undefined ? { serving: d.previous } : {}) });
    }
    this.log.error({ error }, 'the configuration was not applied; every source stays on its last-known-good revision');
  }

  /** A canary promoted its candidate: it is served now, recorded with the figures that decided it. */
  private canaryPromoted(out: ReconcileOutput, generation: number, canary: CanaryRecord): void {
    this.appliedHash = out.compiled.hash;
    // Refusals in the pass that started the canary were recorded then.
    this.adopt(out, out.decisions.filter((d) => d.verdict === 'accepted'), this.now(), generation, canary);
  }

  /** A canary refused `source@revision`: reported like any refusal, and held until a new commit arrives. */
  private refusedByCanary(source: string, revision: string, decision: Decision | undefined, message: string, canary: CanaryRecord): void {
    const rt = this.runtimes.get(source);
    const decl = rt?.decl ?? this.served.get(source)?.decl;
    const remedy = decl ? remedyFor('CanaryFailed', decl) : 'fix the change and push a new commit (or revert it); the refused revision is not tried again';
    const previous = this.served.get(source)?.snapshot.revision;
    const d: Decision = { source, revision, ...(previous ? { previous } : {}), verdict: 'refused', reason: 'CanaryFailed', message, remedy, problems: [], ...(decision?.commit ? { commit: decision.commit } : {}) };
    const at = this.now();
    if (rt) {
      rt.verdict = d;
      rt.lastAttempt = { revision, at, result: 'RolledBack', reason: 'CanaryFailed', message, remedy };
    }
    this.metrics?.applyFailures.inc({ source, reason: 'CanaryFailed' });
    this.history.append({ source, revision, previousRevision: previous, ...commitFields(decision?.commit), result: 'RolledBack', reason: 'CanaryFailed', detail: message, remedy, canary, fetchedAt: rt?.fetchedAt });
    // The team hears of it as of any refusal: a failed commit status and a message.
    this.tell('refused', d, at, { reason: 'CanaryFailed', message, remedy, ...(previous !== undefined ? { serving: previous } : {}) });
    this.log.error({ source, revision, serving: previous ?? null, remedy }, `${source}: ${short(revision)} ${message}`);
  }

  /** Makes a configuration that is live the served set: history, status, last-known-good. */
  private adopt(out: ReconcileOutput, decisions: readonly Decision[], liveAt: string, generation: number | undefined, canary?: CanaryRecord, released?: string): void {
    this.failedKey = undefined;
    const before = this.served;
    this.served = out.served;
    this.declared = out.declared;
    this.notServed = out.notServed;
    this.memo = out.memo;
    this.previous = { key: out.key, compiled: out.compiled };
    this.acceptedInputs = out.inputs;

    for (const name of out.removed) {
      this.appliedAt.delete(name);
      this.metrics?.setRevision(name, undefined);
      this.history.append({ source: name, previousRevision: before.get(name)?.snapshot.revision, result: 'Removed', reason: 'NoLongerDeclared', liveAt, ...(generation !== undefined ? { generation } : {}) });
      this.log.info({ source: name }, 'source is no longer declared by a root source; its resources were removed');
    }
    // Runtimes of sources nobody declares any more stop being polled.
    for (const [name, rt] of [...this.runtimes]) {
      if (this.isRoot(name) || out.declared.has(name)) continue;
      rt.driver.close();
      this.runtimes.delete(name);
      this.schedule.remove(name);
    }
    for (const d of decisions) this.record(d, liveAt, generation, canary, released);
    for (const decl of out.declared.values()) this.ensureRuntime(decl);
    this.opts.onPass?.({ served: out.served, compiled: out.compiled, decisions: out.decisions });
    if ([...out.served].some(([n, s]) => before.get(n)?.snapshot.revision !== s.snapshot.revision) || before.size !== out.served.size) this.persist();
  }

  private record(d: Decision, liveAt: string, generation: number | undefined, canary?: CanaryRecord, released?: string): void {
    if (d.source === SECRETS_SOURCE) {
      this.recordInputs(d, liveAt, generation);
      return;
    }
    const rt = this.runtimes.get(d.source);
    if (d.verdict === 'pending') {
      if (rt && d.reason) rt.verdict = d;
      return;
    }
    if (d.verdict === 'accepted') {
      const recovered = rt?.verdict?.verdict === 'refused';
      if (rt) {
        rt.verdict = undefined;
        rt.lastAttempt = { revision: d.revision, at: liveAt, result: 'Applied', message: `serving ${short(d.revision)}`, ...attemptSignature(d.signature) };
      }
      this.appliedAt.set(d.source, liveAt);
      this.metrics?.setRevision(d.source, d.revision);
      const seen = rt ? Math.min(rt.firstSeen.get(d.revision) ?? Infinity, rt.pushedAt ?? Infinity) : Infinity;
      // Measured from when the change reached Portico (first fetch, or the webhook's push time), so a
      // commit made long before its push does not inflate it; the first sync after a start is not a change.
      if (d.previous !== undefined && Number.isFinite(seen)) this.metrics?.commitToLive.observe({ source: d.source }, Math.max(0, (Date.parse(liveAt) - seen) / 1000));
      if (rt) rt.pushedAt = undefined;
      const routes = routeChanges(d.before, d.candidate);
      this.history.append({
        source: d.source,
        revision: d.revision,
        previousRevision: d.previous,
        ...commitFields(d.commit),
        ...(d.signature ? { signature: pickSignature(d.signature) } : {}),
        result: 'Applied',
        ...(d.rewritten ? { historyRewritten: true } : {}),
        routes,
        fetchedAt: rt?.fetchedAt,
        liveAt,
        ...(generation !== undefined ? { generation } : {}),
        ...(canary ? { canary } : {}),
        ...(released !== undefined ? { detail: released } : {}),
      });
      this.log.info({ source: d.source, revision: d.revision, generation, routes: routes.counts }, 'source revision is live');
      this.tell('applied', d, liveAt, { recovered, routes: routes.counts, ...(generation !== undefined ? { generation } : {}) });
      return;
    }
    // Refused.
    if (rt) rt.verdict = d;
    if (d.remembered) return;
    const summaryProblems = historyProblems(d.problems);
    if (rt) rt.lastAttempt = { revision: d.revision, at: liveAt, result: 'Rejected', ...(d.reason ? { reason: d.reason } : {}), ...(d.message ? { message: d.message } : {}), ...(d.remedy ? { remedy: d.remedy } : {}), problems: summaryProblems, ...attemptSignature(d.signature) };
    this.metrics?.applyFailures.inc({ source: d.source, reason: d.reason ?? 'Rejected' });
    this.history.append({
      source: d.source,
      revision: d.revision,
      previousRevision: this.served.get(d.source)?.snapshot.revision,
      ...commitFields(d.commit),
      ...(d.signature ? { signature: pickSignature(d.signature) } : {}),
      result: 'Rejected',
      ...(d.reason ? { reason: d.reason } : {}),
      ...(d.message ? { detail: d.message } : {}),
      ...(d.remedy ? { remedy: d.remedy } : {}),
      problems: summaryProblems,
      ...(d.rewritten ? { historyRewritten: true } : {}),
      fetchedAt: rt?.fetchedAt,
    });
    this.opts.sink.reject?.({ source: d.source, revision: d.revision }, d.problems);
    const firstError = d.problems.find((p) => p.severity === 'error');
    const serving = this.served.get(d.source)?.snapshot.revision;
    this.tell('refused', d, liveAt, {
      ...(d.reason ? { reason: d.reason } : {}),
      ...(d.message ? { message: d.message } : {}),
      ...(d.remedy ? { remedy: d.remedy } : {}),
      ...(serving !== undefined ? { serving } : {}),
      ...(firstError ? { problem: { code: firstError.code, message: firstError.message, file: `${firstError.origin.path}:${firstError.origin.line}`, origin: formatOrigin(firstError.origin) } } : {}),
    });
    this.log.error({ source: d.source, revision: d.revision, reason: d.reason, serving: this.served.get(d.source)?.snapshot.revision ?? null, remedy: d.remedy }, `${d.source}: refused ${short(d.revision)}: ${d.message ?? d.reason ?? ''}`);
  }

  /** Hands a recorded decision to onDecision; a notifier's fault never reaches the pass. */
  private tell(type: DecisionEvent['type'], d: Decision, at: string, extra: Partial<DecisionEvent>): void {
    const onDecision = this.opts.onDecision;
    if (onDecision === undefined) return;
    const decl = this.runtimes.get(d.source)?.decl ?? this.declared.get(d.source);
    try {
      onDecision({
        type,
        source: d.source,
        sourceKind: decl?.kind === 'git' && this.opts.localTeams?.[d.source] === undefined ? 'git' : 'directory',
        url: redactUrl(decl?.spec.url ?? ''),
        revision: d.revision,
        ...(d.previous !== undefined ? { previousRevision: d.previous } : {}),
        ...(d.commit ? { author: d.commit.author, subject: d.commit.message.split('\n')[0]!.slice(0, 200) } : {}),
        at,
        ...extra,
      });
    } catch (err) {
      this.log.warn({ source: d.source, err: (err as Error).message }, 'a decision could not be passed to the notifier');
    }
  }

  /** A decision on the secrets directory: history and log name the files' problems, never their content. */
  private recordInputs(d: Decision, liveAt: string, generation: number | undefined): void {
    if (d.verdict === 'accepted') {
      this.inputsVerdict = undefined;
      this.history.append({ source: SECRETS_SOURCE, revision: d.revision, previousRevision: d.previous, result: 'Applied', liveAt, ...(generation !== undefined ? { generation } : {}) });
      this.log.info({ source: SECRETS_SOURCE, revision: short(d.revision), generation }, 'secrets directory changed; new material is used for new connections');
      return;
    }
    if (d.verdict !== 'refused') return;
    this.inputsVerdict = d;
    if (d.remembered) return;
    this.metrics?.applyFailures.inc({ source: SECRETS_SOURCE, reason: d.reason ?? 'Rejected' });
    this.history.append({
      source: SECRETS_SOURCE,
      revision: d.revision,
      previousRevision: d.previous,
      result: 'Rejected',
      ...(d.reason ? { reason: d.reason } : {}),
      ...(d.message ? { detail: d.message } : {}),
      ...(d.remedy ? { remedy: d.remedy } : {}),
      problems: historyProblems(d.problems),
    });
    this.log.error({ source: SECRETS_SOURCE, revision: short(d.revision), remedy: d.remedy }, `secrets directory: change not used, the previous material stays: ${d.message ?? d.reason ?? ''}`);
  }

  /** The secrets directory's state for /api/v1/status (undefined when none is configured). */
  secretsStatus(): { state: 'Ready' | 'Refused'; revision?: string; message: string; remedy?: string } | undefined {
    if (!this.opts.compileInputs) return undefined;
    const served = this.acceptedInputs?.key;
    const newest = this.opts.compileInputs().key;
    const refused = this.inputsVerdict && this.inputsVerdict.revision === newest ? this.inputsVerdict : undefined;
    if (refused) return { state: 'Refused', ...(served ? { revision: served } : {}), message: `using ${short(served)} because ${short(refused.revision)} failed: ${refused.message ?? ''}`, ...(refused.remedy ? { remedy: refused.remedy } : {}) };
    return { state: 'Ready', ...(served ? { revision: served } : {}), message: served === newest ? `using ${short(served)}` : `${short(newest)} pending` };
  }

  private persist(): void {
    if (!this.lkg) return;
    const sources: Record<string, LkgSource> = {};
    const credentials = credentialNames([...this.served.values()].flatMap((s) => s.loaded.resources.filter((r) => r.kind === 'Module')));
    for (const [name, s] of this.served) {
      sources[name] = {
        spec: s.decl.spec,
        kind: s.decl.kind,
        revision: s.snapshot.revision,
        ...(s.snapshot.commit ? { commit: s.snapshot.commit } : {}),
        files: persistedFiles(s, credentials),
        appliedAt: this.appliedAt.get(name) ?? this.now(),
        ...(s.decl.declaredBy !== undefined ? { declaredBy: s.decl.declaredBy } : {}),
        ...(this.notServed.has(name) ? { notServed: this.notServed.get(name)!.map(problemKey) } : {}),
      };
    }
    try {
      this.lkg.save({ version: 1, sources });
    } catch (err) {
      this.log.error({ err: (err as Error).message, file: this.lkg.file }, 'cannot persist the last-known-good set');
    }
  }

  /** Starts the fetches and waits for them, at most a few seconds once something is served. */
  private async fetchAll(list: SourceRuntime[]): Promise<void> {
    if (list.length === 0) return;
    const pending = new Set<Promise<void>>();
    for (const rt of list) {
      const p: Promise<void> = this.withFetchSlot(() => this.fetchNow(rt)).finally(() => {
        rt.fetching = undefined;
        pending.delete(p);
      });
      rt.fetching = p;
      pending.add(p);
    }
    const all = Promise.all([...pending]).then(() => undefined);
    if (this.appliedHash === undefined) return all;
    let timer: unknown;
    await Promise.race([all, new Promise<void>((r) => (timer = this.clock.setTimeout(r, STRAGGLER_WAIT_MS)))]);
    this.clock.clearTimeout(timer);
    for (const p of pending) void p.then(() => this.kick());
  }

  /** At most FETCH_CONCURRENCY fetches at once; a freed slot is handed straight to the next waiter. */
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

  private async fetchNow(rt: SourceRuntime): Promise<void> {
    this.stats.fetches++;
    const name = rt.decl.spec.name;
    this.metrics?.fetches.inc({ source: name });
    const at = this.now();
    try {
      const rev = await rt.driver.fetch(this.aborter.signal);
      if (!rt.firstSeen.has(rev)) {
        rt.firstSeen.set(rev, this.clock.now());
        while (rt.firstSeen.size > 20) rt.firstSeen.delete(rt.firstSeen.keys().next().value!);
      }
      rt.desired = rev;
      rt.fetchedAt = at;
      rt.lastSuccessfulFetch = at;
      rt.fetchError = undefined;
      rt.staleSince = undefined;
      this.schedule.succeeded(name);
      this.metrics?.lastFetch.set({ source: name }, Date.parse(at) / 1000);
      this.metrics?.staleSince.set({ source: name }, 0);
    } catch (err) {
      if (this.stopped) return;
      this.noteFetchFailure(rt, err);
      // With the remote down, a restart can still use what an earlier run fetched into the cache.
      if (rt.desired === undefined && !this.served.has(name)) rt.desired = await rt.driver.cachedRevision().catch(() => undefined);
    }
  }

  private noteFetchFailure(rt: SourceRuntime, err: unknown): void {
    const name = rt.decl.spec.name;
    const at = this.now();
    const reason = err instanceof FetchError ? err.reason : 'GitError';
    const message = (err as Error).message;
    const changed = rt.fetchError?.reason !== reason;
    rt.fetchError = { reason, message, at };
    rt.staleSince ??= at;
    const wait = this.schedule.failed(name);
    this.metrics?.fetchFailures.inc({ source: name, reason });
    this.metrics?.staleSince.set({ source: name }, Date.parse(rt.staleSince) / 1000);
    // A long outage is one history entry per change of reason, not one per poll.
    if (changed) this.history.append({ source: name, result: 'FetchFailed', reason, detail: message, previousRevision: this.served.get(name)?.snapshot.revision });
    this.log.warn({ source: name, reason, failures: this.schedule.failures(name), retryInMs: wait }, message);
  }

  // ───────────────────────── status ─────────────────────────

  status(): SourceStatus[] {
    const out: SourceStatus[] = [];
    for (const name of [...this.runtimes.keys()].sort()) {
      const rt = this.runtimes.get(name)!;
      const served = this.served.get(name);
      const applied = served?.snapshot.revision;
      const d = rt.decl;
      // A canary's refusal outlives a restart (the history holds it); the verdict object does not.
      const canaryWhy = rt.verdict?.revision !== rt.desired ? this.release?.refusal(name, rt.desired) : undefined;
      const refused =
        rt.verdict && rt.verdict.verdict === 'refused' && rt.verdict.revision === rt.desired
          ? rt.verdict
          : canaryWhy !== undefined
            ? ({ source: name, revision: rt.desired!, verdict: 'refused', reason: 'CanaryFailed', message: canaryWhy, remedy: remedyFor('CanaryFailed', d), problems: [] } satisfies Decision)
            : undefined;
      const notServed = this.notServed.get(name) ?? [];
      const inCanary = this.release?.inCanary(name);
      const canary = this.release?.report();
      let state: SourceStatus['state'];
      let message: string;
      if (refused) {
        state = 'Refused';
        message = `serving ${short(applied)} because ${short(refused.revision)} ${refused.reason === 'CanaryFailed' ? 'failed its canary' : 'failed'}: ${refused.message ?? refused.reason ?? 'refused'}`;
      } else if (inCanary !== undefined && canary) {
        state = 'Pending';
        message = `serving ${short(applied)} to ${100 - canary.share} % of requests; ${short(inCanary)} in a canary on ${canary.share} % (step ${canary.step} of ${canary.steps})`;
      } else if (rt.fetchError) {
        state = 'FetchFailed';
        message = `${applied ? `serving ${short(applied)}; ` : ''}fetch failing since ${rt.staleSince}: ${rt.fetchError.reason}: ${rt.fetchError.message}`;
      } else if (applied !== undefined && applied === rt.desired) {
        state = 'Ready';
        message = notServed.length > 0 ? `serving ${short(applied)}; ${notServed.length} problem(s) keep some of its resources out: ${formatOrigin(notServed[0]!.origin)}: ${notServed[0]!.message}` : `serving ${short(applied)}`;
      } else {
        state = 'Pending';
        const waiting = canary && rt.desired !== applied ? `: waits for the canary of ${Object.entries(canary.revisions).map(([n, r]) => `${n}@${short(r)}`).join(', ')} to end` : '';
        message = applied ? `serving ${short(applied)}; ${short(rt.desired)} pending${waiting || (rt.verdict?.message ? `: ${rt.verdict.message}` : '')}` : `waiting for a first valid revision${waiting}`;
      }
      const due = this.schedule.dueAt(name);
      out.push({
        name,
        kind: d.kind,
        url: redactUrl(d.spec.url),
        branch: d.spec.branch,
        path: d.spec.path,
        ...(d.pin !== undefined ? { pin: d.pin } : {}),
        role: d.declaredBy === undefined ? 'root' : 'team',
        ...(d.declaredBy !== undefined ? { declaredBy: d.declaredBy } : {}),
        ...(d.claim ? { claims: d.claim } : {}),
        ...(d.verify ? { verify: { mode: d.verify.mode, method: d.verify.gpgKeys ? 'gpg' : 'ssh' } } : {}),
        ...(d.anchor ? { anchor: d.anchor } : {}),
        state,
        message,
        ...(refused?.remedy ? { remedy: refused.remedy } : {}),
        ...(inCanary !== undefined && canary ? { canary: { revision: inCanary, share: canary.share, step: canary.step, steps: canary.steps } } : {}),
        ...(rt.desired ? { desiredRevision: rt.desired } : {}),
        ...(applied ? { appliedRevision: applied, appliedAt: this.appliedAt.get(name) } : {}),
        ...(rt.lastAttempt ? { lastAttempt: rt.lastAttempt } : {}),
        ...(notServed.length > 0 ? { notServed: historyProblems(notServed) } : {}),
        ...(rt.lastSuccessfulFetch ? { lastSuccessfulFetch: rt.lastSuccessfulFetch } : {}),
        ...(rt.staleSince ? { staleSince: rt.staleSince } : {}),
        ...(rt.fetchError ? { fetchError: rt.fetchError } : {}),
        consecutiveFailures: this.schedule.failures(name),
        ...(due !== undefined && Number.isFinite(due) && due > 0 ? { nextFetchAt: new Date(due).toISOString() } : {}),
      });
    }
    return out;
  }

  /** Revision served per source. */
  appliedRevisions(): Record<string, string> {
    return Object.fromEntries([...this.served].map(([n, s]) => [n, s.snapshot.revision]));
  }

  /** The compile of the served set (its report holds the served resources' conditions and warnings). */
  servedCompile(): CompileResult | undefined {
    return this.previous?.compiled;
  }

  /** The served sources' resources as loaded (for explain's setting origins). */
  servedResources(): Resource[] {
    return [...this.served.values()].flatMap((s) => s.loaded.resources);
  }
}

/**
 * The files of a served source as the last-known-good keeps them: a file that holds a private key
 * (a Secret with tls.key, or PEM or base64 key text anywhere in it) or a literal credential in a
 * header rule is kept as its digest only, so that the state file never holds key material or
 * credentials; restoredSnapshot reads it again from the source.
 */
function persistedFiles(s: ServedSource, credentials: ReadonlySet<string>): LkgSource['files'] {
  const keyFiles = new Set<string>();
  for (const r of s.loaded.resources) {
    if (r.kind === 'Secret') {
      const spec = r.spec as { data?: Record<string, unknown>; stringData?: Record<string, unknown> };
      if (spec.data?.['tls.key'] !== undefined || spec.stringData?.['tls.key'] !== undefined) keyFiles.add(r.origin.path);
    } else if (holdsLiteralCredential(r.kind, r.spec, credentials)) keyFiles.add(r.origin.path);
  }
  return s.snapshot.files.map((f) => {
    const content = typeof f.content === 'string' ? f.content : f.content.toString('utf8');
    if (keyFiles.has(f.path) || holdsPrivateKey(content)) return { path: f.path, content: '', redacted: { sha256: sha256(content) } };
    return { path: f.path, content };
  });
}

function summary(served: ReadonlyMap<string, ServedSource>): string {
  return [...served.keys()]
    .sort()
    .map((n) => `${n}@${short(served.get(n)!.snapshot.revision)}`)
    .join(',');
}

/** Route keys added, removed and changed between two compiles (the same diff `plan` prints). */
export function routeChanges(before: CompileResult | undefined, after: CompileResult | undefined): NonNullable<HistoryEntry['routes']> {
  const MAX_LISTED = 50;
  if (!after) return { added: [], removed: [], changed: [], counts: { added: 0, removed: 0, changed: 0 } };
  const d = diffIR(before?.ir, after.ir);
  const added = [...d.routes.added, ...d.tcpRoutes.added];
  const removed = [...d.routes.removed, ...d.tcpRoutes.removed];
  const changed = [...d.routes.changed.map((c) => c.key), ...d.tcpRoutes.changed.map((c) => c.key)];
  const fields = fieldChanges([...d.routes.changed, ...d.tcpRoutes.changed].slice(0, MAX_LISTED));
  return {
    added: added.slice(0, MAX_LISTED),
    removed: removed.slice(0, MAX_LISTED),
    changed: changed.slice(0, MAX_LISTED),
    counts: { added: added.length, removed: removed.length, changed: changed.length },
    ...(fields.length > 0 ? { fields } : {}),
  };
}

/**
 * The changed routes' fields as the history keeps them: a bounded number per route, each value cut
 * to a short JSON text, so that one large change cannot swell the audit file.
 */
function fieldChanges(changed: readonly ChangedEntity[]): NonNullable<NonNullable<HistoryEntry['routes']>['fields']> {
  const MAX_FIELDS = 20;
  const MAX_VALUE = 200;
  const text = (v: unknown): string | undefined => {
    if (v === undefined) return undefined;
    const t = JSON.stringify(v);
    return t.length > MAX_VALUE ? `${t.slice(0, MAX_VALUE)}…` : t;
  };
  return changed.map((c) => ({
    key: c.key,
    changes: c.changes.slice(0, MAX_FIELDS).map((f) => {
      const before = text(f.before);
      const after = text(f.after);
      return { path: f.path, ...(before !== undefined ? { before } : {}), ...(after !== undefined ? { after } : {}) };
    }),
    ...(c.changes.length > MAX_FIELDS ? { more: c.changes.length - MAX_FIELDS } : {}),
  }));
}

function commitFields(c: Snapshot['commit'] | undefined): Pick<HistoryEntry, 'author' | 'committer' | 'date' | 'message'> {
  if (!c) return {};
  return { author: c.author, committer: c.committer, date: c.date, message: c.message.slice(0, 2000) };
}

function pickSignature(s: SignatureCheck): NonNullable<HistoryEntry['signature']> {
  return { ok: s.ok, status: s.status, mode: s.mode, ...(s.signer ? { signer: s.signer } : {}), ...(s.reason ? { reason: s.reason } : {}), detail: s.detail };
}

/** Credentials in an https URL never reach the admin API. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]+@/i, '$1***@');
}
