// The controller's release gate: a new served set that a ReleasePolicy governs goes live through a
// canary instead of at once. Drives the pure state machine (src/release/canary-machine.ts) on the
// controller's clock, reads the figures from the serving processes, and hands the outcome back to
// the controller: promoted (recorded like any applied revision, with the figures), or rolled back
// (the revision refused until a new commit arrives, like any refusal). Nothing here touches git.
//
// What can happen while a canary runs: its step changes (the share moves) · it is promoted · it is
// rolled back (its figures, or another replica's rollback of the same revision) · a newer revision
// of a source in it supersedes it (the candidate drains, the newer one is offered afresh). Other
// sources' new revisions wait until it ends.

import type { ReleaseMetrics } from './source-metrics.js';
import type { IRReleasePolicy } from '../ir/types.js';
import type { SecretStore } from '../ir/secrets.js';
import type { IR } from '../ir/types.js';
import type { CompileResult } from '../compile/index.js';
import type { Resource } from '../api/resource.js';
import { judgeCanary, nextCheckAt, startCanary, summarise, type CanaryState, type StepRecord } from '../release/canary-machine.js';
import { releaseGate } from '../release/release-gate.js';
import { emptyFigures, subtractTallies, type CanaryFigures } from '../release/revision-tally.js';
import type { CanaryReport } from '../fleet/fleet-messages.js';
import type { AuditHistory, CanaryRecord } from './history.js';
import { SECRETS_SOURCE, type Decision, type ReconcileOutput } from './reconcile.js';
import type { Clock } from './scheduler.js';

type Outcome = { readonly ok: true; readonly generation: number } | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } };

/** The serving side of a canary (the serving state, over the gateway or the worker pool). */
export interface CanarySink {
  start(ir: IR, secrets: SecretStore, meta: { source: string; revision?: string; hash?: string }, share: number): Promise<Outcome>;
  share(percent: number): Promise<void>;
  promote(): Promise<Outcome>;
  abort(): Promise<void>;
  figures(): Promise<CanaryFigures | undefined>;
}

interface ReleaseLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What the controller does with an outcome. */
export interface ReleaseHost {
  /** The candidate serves every request now: record and persist it as a normal apply would. */
  promoted(out: ReconcileOutput, generation: number, canary: CanaryRecord): void;
  /** The candidate could not be made the served configuration. */
  promoteFailed(out: ReconcileOutput, error: { code: string; message: string }): void;
  /** A revision is refused by a canary: status, history and metrics as for any refusal. */
  refused(source: string, revision: string, decision: Decision | undefined, message: string, canary: CanaryRecord): void;
  /** Run a pass (the sources that waited can move now). */
  kick(): void;
}

export interface CanaryReleaseOptions {
  readonly sink: CanarySink;
  readonly clock: Clock;
  readonly history: AuditHistory;
  readonly log: ReleaseLog;
  readonly host: ReleaseHost;
  readonly metrics?: ReleaseMetrics;
  /** Told when this replica rolls a revision back (the fleet rolls it back everywhere). */
  readonly onRollback?: (source: string, revision: string, detail: string) => void;
  /** Told when a canary starts, changes step or ends. */
  readonly onChange?: () => void;
}

interface Running {
  readonly out: ReconcileOutput;
  readonly policy: IRReleasePolicy;
  /** Source → the revision the canary carries. */
  readonly changed: ReadonlyMap<string, string>;
  readonly decisions: readonly Decision[];
  readonly generation: number;
  state: CanaryState;
  figures: CanaryFigures;
  timer?: unknown;
  busy: boolean;
}

/** Revisions remembered as refused by a canary, per source (the newest few). */
const MAX_REFUSED_PER_SOURCE = 20;

function short(rev: string): string {
  return rev.startsWith('sha256:') ? rev.slice(0, 19) : rev.slice(0, 12);
}

export class CanaryRelease {
  private running: Running | undefined;
  private readonly refused = new Map<string, Map<string, string>>();
  private last: { readonly record: CanaryRecord; readonly message: string } | undefined;
  private stopped = false;
  private readonly shareGauge: ReleaseMetrics['share'] | undefined;
  private readonly verdicts: ReleaseMetrics['verdicts'] | undefined;

  /** A canary runs now. */
  get active(): boolean {
    return this.running !== undefined;
  }

  constructor(private readonly opts: CanaryReleaseOptions) {
    // A rollback is remembered across restarts: the history holds it.
    for (const e of opts.history.read()) if (e.result === 'RolledBack' && e.revision) this.remember(e.source, e.revision, e.detail ?? 'rolled back by a canary');
    this.shareGauge = opts.metrics?.share;
    this.verdicts = opts.metrics?.verdicts;
  }

  private remember(source: string, revision: string, why: string): void {
    let m = this.refused.get(source);
    if (!m) this.refused.set(source, (m = new Map()));
    m.delete(revision);
    m.set(revision, why);
    while (m.size > MAX_REFUSED_PER_SOURCE) m.delete(m.keys().next().value!);
  }

  /** Why a canary refused this revision, if one did. */
  refusal(source: string, revision: string | undefined): string | undefined {
    return revision === undefined ? undefined : this.refused.get(source)?.get(revision);
  }

  /**
   * Whether the source's newest revision must not be considered now: a canary refused it, or a canary
   * of other sources runs (the served set stays as it is until that one ends).
   */
  holds(source: string, revision: string | undefined): boolean {
    if (this.refusal(source, revision) !== undefined) return true;
    return this.running !== undefined && !this.running.changed.has(source);
  }

  /** The revision of `source` in the running canary. */
  inCanary(source: string): string | undefined {
    return this.running?.changed.get(source);
  }

  /** The running canary's candidate (explain on both revisions). */
  candidate(): { compiled: CompileResult; resources: readonly Resource[]; share: number; generation: number; revisions: Record<string, string> } | undefined {
    const r = this.running;
    if (!r) return undefined;
    return { compiled: r.out.compiled, resources: [...r.out.served.values()].flatMap((s) => s.loaded.resources), share: r.state.share, generation: r.generation, revisions: Object.fromEntries(r.changed) };
  }

  /** For the fleet heartbeat. */
  report(): CanaryReport | undefined {
    const r = this.running;
    return r ? { revisions: Object.fromEntries(r.changed), share: r.state.share, step: r.state.step + 1, steps: r.policy.steps.length } : undefined;
  }

  /** The running canary and the last one's outcome, for /api/v1/status and the page. */
  view(): unknown {
    const r = this.running;
    const now = this.opts.clock.now();
    const running = r
      ? (() => {
          const step = { stable: subtractTallies(r.figures.stable, r.state.baseline.stable), canary: subtractTallies(r.figures.canary, r.state.baseline.canary) };
          return {
            revisions: Object.fromEntries(r.changed),
            policy: `${r.policy.namespace}/${r.policy.name}`,
            generation: r.generation,
            share: r.state.share,
            step: r.state.step + 1,
            steps: [...r.policy.steps, 100],
            windowSeconds: r.policy.windowMs / 1000,
            startedAt: new Date(r.state.startedAt).toISOString(),
            stepStartedAt: new Date(r.state.stepStartedAt).toISOString(),
            stepSeconds: Math.round((now - r.state.stepStartedAt) / 100) / 10,
            current: summarise(step.stable),
            candidate: summarise(step.canary),
            thresholds: { minRequests: r.policy.minRequests, maxErrorRateIncrease: r.policy.maxErrorRateIncrease, maxLatencyIncrease: r.policy.maxLatencyIncrease, latencyToleranceMs: r.policy.latencyToleranceMs },
            finishedSteps: r.state.steps,
          };
        })()
      : null;
    return { running, last: this.last ? { ...this.last.record, message: this.last.message } : null };
  }

  /**
   * Offered a new served set before it is applied. taken: the release took it (a canary runs, or this
   * very candidate already does); otherwise apply it at once (`why`: why a governed change needs no canary).
   */
  async offer(out: ReconcileOutput, served: CompileResult | undefined): Promise<{ readonly taken: boolean; readonly why?: string }> {
    const accepted = out.decisions.filter((d) => d.verdict === 'accepted' && d.source !== SECRETS_SOURCE);
    const running = this.running;
    if (running) {
      if (running.out.key === out.key) return { taken: true };
      await this.end(running, 'superseded', `superseded by ${accepted.map((d) => `${d.source}@${short(d.revision)}`).join(', ') || 'a newer configuration'}`);
    }
    const gate = releaseGate(served ? { ir: served.ir, secrets: served.secrets } : undefined, { ir: out.compiled.ir, secrets: out.compiled.secrets }, accepted.map((d) => d.source));
    if (gate.release === 'now') {
      const governed = served !== undefined && accepted.length > 0 && gate.why !== 'no ReleasePolicy governs the change';
      if (governed) this.opts.log.info({ sources: accepted.map((d) => d.source), why: gate.why }, `released without a canary: ${gate.why}`);
      return governed ? { taken: false, why: `released without a canary: ${gate.why}` } : { taken: false };
    }
    const policy = gate.policy;
    const share = policy.steps[0]!;
    const revision = accepted.map((d) => `${d.source}@${short(d.revision)}`).join(',');
    const r = await this.opts.sink.start(out.compiled.ir, out.compiled.secrets, { source: 'sources', revision, hash: out.compiled.hash }, share);
    if (!r.ok) {
      this.opts.log.error({ error: r.error }, 'the canary could not start; the change is applied at once instead');
      return { taken: false, why: `released without a canary: it could not start (${r.error.message})` };
    }
    const now = this.opts.clock.now();
    // The serving processes count from zero for each canary.
    const figures = emptyFigures();
    const run: Running = {
      out,
      policy,
      changed: new Map(accepted.map((d) => [d.source, d.revision])),
      decisions: accepted,
      generation: r.generation,
      state: startCanary(policy, now, figures),
      figures,
      busy: false,
    };
    this.running = run;
    this.shareGauge?.set(share);
    const record = this.record(run);
    for (const d of accepted) {
      this.opts.history.append({ source: d.source, revision: d.revision, previousRevision: d.previous, result: 'CanaryStarted', detail: `${share} % of requests first (ReleasePolicy ${record.policy}: ${record.steps.join(' → ')} %, ${record.windowSeconds} s per step)`, generation: r.generation, canary: record });
    }
    this.opts.onChange?.();
    this.opts.log.info({ revisions: revision, policy: record.policy, generation: r.generation, share }, `canary of ${revision}: ${share} % of requests, then ${record.steps.slice(1).join(' → ')} % (ReleasePolicy ${record.policy})`);
    this.arm(run);
    return { taken: true };
  }

  private record(run: Running, extra: Partial<CanaryRecord> = {}): CanaryRecord {
    return {
      policy: `${run.policy.namespace}/${run.policy.name}`,
      steps: [...run.policy.steps, 100],
      windowSeconds: run.policy.windowMs / 1000,
      startedAt: new Date(run.state.startedAt).toISOString(),
      revisions: Object.fromEntries(run.changed),
      ...extra,
    };
  }

  private arm(run: Running): void {
    if (this.stopped || this.running !== run) return;
    const now = this.opts.clock.now();
    const at = nextCheckAt(run.state, now);
    if (at === undefined) return;
    run.timer = this.opts.clock.setTimeout(() => void this.tick(run), Math.max(0, at - now));
  }

  private async tick(run: Running): Promise<void> {
    if (this.stopped || this.running !== run || run.busy) return;
    run.busy = true;
    try {
      const figures = (await this.opts.sink.figures()) ?? run.figures;
      if (this.running !== run) return;
      run.figures = figures;
      const before = run.state;
      run.state = judgeCanary(before, figures, this.opts.clock.now());
      if (run.state.phase === 'running') {
        if (run.state.share !== before.share) {
          await this.opts.sink.share(run.state.share);
          this.shareGauge?.set(run.state.share);
          this.opts.onChange?.();
          const done = run.state.steps[run.state.steps.length - 1];
          this.opts.log.info({ step: run.state.step + 1, share: run.state.share, figures: done }, `canary step ${run.state.step} passed; the new revision now serves ${run.state.share} % of requests`);
        }
      } else if (run.state.phase === 'promoted') {
        await this.promote(run);
      } else {
        await this.rollBack(run, run.state.verdict!.message, run.state.verdict!.reason);
      }
    } finally {
      run.busy = false;
      this.arm(run);
    }
  }

  private async promote(run: Running): Promise<void> {
    const verdict = run.state.verdict!;
    const r = await this.opts.sink.promote();
    this.running = undefined;
    this.shareGauge?.set(0);
    if (!r.ok) {
      this.opts.host.promoteFailed(run.out, r.error);
      this.opts.host.kick();
      return;
    }
    this.verdicts?.inc({ outcome: 'promoted' });
    const record = this.record(run, { endedAt: verdict.at, outcome: 'promoted', reason: verdict.reason, figures: run.state.steps });
    this.last = { record, message: verdict.message };
    this.opts.log.info({ revisions: Object.fromEntries(run.changed), generation: r.generation }, `canary ${verdict.message}`);
    this.opts.host.promoted(run.out, r.generation, record);
    this.opts.onChange?.();
    this.opts.host.kick();
  }

  private async rollBack(run: Running, message: string, reason: string, decidedBy?: string): Promise<void> {
    if (this.running === run) this.running = undefined;
    if (run.timer !== undefined) this.opts.clock.clearTimeout(run.timer);
    await this.opts.sink.abort();
    this.shareGauge?.set(0);
    this.verdicts?.inc({ outcome: 'rolled_back' });
    const endedAt = new Date(this.opts.clock.now()).toISOString();
    const record = this.record(run, { endedAt, outcome: 'rolled-back', reason, figures: run.state.steps, ...(decidedBy !== undefined ? { decidedBy } : {}) });
    this.last = { record, message };
    for (const d of run.decisions) {
      this.remember(d.source, d.revision, message);
      this.opts.host.refused(d.source, d.revision, d, message, record);
      if (decidedBy === undefined) this.opts.onRollback?.(d.source, d.revision, message);
    }
    this.opts.onChange?.();
    this.opts.host.kick();
  }

  /** A newer revision replaces the candidate: it drains; the history says why, with the figures so far. */
  private async end(run: Running, outcome: 'superseded', message: string): Promise<void> {
    this.running = undefined;
    if (run.timer !== undefined) this.opts.clock.clearTimeout(run.timer);
    await this.opts.sink.abort();
    this.shareGauge?.set(0);
    this.verdicts?.inc({ outcome });
    const endedAt = new Date(this.opts.clock.now()).toISOString();
    const current = { stable: subtractTallies(run.figures.stable, run.state.baseline.stable), canary: subtractTallies(run.figures.canary, run.state.baseline.canary) };
    const partial: StepRecord = {
      step: run.state.step + 1,
      share: run.state.share,
      startedAt: new Date(run.state.stepStartedAt).toISOString(),
      endedAt,
      seconds: Math.round((this.opts.clock.now() - run.state.stepStartedAt) / 100) / 10,
      current: summarise(current.stable),
      candidate: summarise(current.canary),
      result: 'unjudged',
    };
    const record = this.record(run, { endedAt, outcome, reason: outcome, figures: [...run.state.steps, partial] });
    this.last = { record, message };
    for (const d of run.decisions) this.opts.history.append({ source: d.source, revision: d.revision, previousRevision: d.previous, result: 'Superseded', detail: message, canary: record });
    this.opts.log.info({ revisions: Object.fromEntries(run.changed) }, `canary ended: ${message}`);
    this.opts.onChange?.();
  }

  /** Another replica rolled back `source@revision`: roll it back here too, or refuse it before it starts. */
  async fleetRollback(source: string, revision: string, detail: string, from: string): Promise<void> {
    if (this.refusal(source, revision) !== undefined) return;
    const message = `rolled back by replica '${from}': ${detail}`;
    const run = this.running;
    if (run && run.changed.get(source) === revision) {
      await this.rollBack(run, message, 'fleet', from);
      return;
    }
    this.remember(source, revision, message);
    const record: CanaryRecord = { policy: '', steps: [], windowSeconds: 0, startedAt: new Date(this.opts.clock.now()).toISOString(), outcome: 'rolled-back', reason: 'fleet', revisions: { [source]: revision }, decidedBy: from };
    this.opts.host.refused(source, revision, undefined, message, record);
    this.opts.host.kick();
  }

  /** The state machine as it is now (tests, the page). */
  state(): CanaryState | undefined {
    return this.running?.state;
  }

  stop(): void {
    this.stopped = true;
    const t = this.running?.timer;
    if (t !== undefined) this.opts.clock.clearTimeout(t);
  }
}
