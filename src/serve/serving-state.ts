// The single entry point for configuration providers (directory watcher, git controller): apply a
// candidate or record its rejection; remembers what is served and every source's last attempt.

import type { IR } from '../ir/types.js';
import type { SecretStore } from '../ir/secrets.js';
import type { Problem } from '../api/problems.js';
import { formatOrigin } from '../api/origin.js';
import type { ApplyFailure, ApplyMeta, ApplyResult, CanaryApplier, ConfigApplier } from './gateway.js';
import type { ConfigMetrics } from '../admin/metrics.js';
import type { ProcessLog } from './process-log.js';
import { withFallbackCertificate } from './fallback-certificate.js';

export interface ServedConfig {
  readonly generation: number;
  readonly hash: string;
  readonly ir: IR;
  readonly source: string;
  readonly revision?: string;
  readonly appliedAt: string;
}

/** A problem as the admin API shows it: origin formatted as source@rev:path:line:col. */
export interface ReportedProblem {
  readonly code: string;
  readonly severity: string;
  readonly message: string;
  readonly origin: string;
  readonly resource?: string;
  readonly field?: string;
}

export interface SourceAttempt {
  readonly source: string;
  readonly revision?: string;
  readonly at: string;
  readonly result: 'applied' | 'unchanged' | 'rejected' | 'failed';
  readonly generation?: number;
  readonly hash?: string;
  /** Why the attempt changed nothing: a bind failure, TLS material, ... */
  readonly error?: ApplyFailure;
  /** Load/compile problems of a rejected candidate (errors first). */
  readonly problems?: readonly ReportedProblem[];
}

/** What a provider is given when it starts. */
export interface ProviderContext {
  readonly state: ServingState;
  readonly log: ProcessLog;
}

/** A source of whole configurations (a watched directory, git repositories). */
export interface ConfigProvider {
  readonly name: string;
  /** Deliver the first configuration (or its rejection), then keep watching. */
  start(ctx: ProviderContext): Promise<void>;
  /** Re-read now (SIGHUP). */
  trigger(): void;
  stop(): Promise<void>;
}

/** Problems shown per rejected attempt; a broken tree can produce thousands. */
const MAX_REPORTED_PROBLEMS = 100;

export function reportProblem(p: Problem): ReportedProblem {
  const out: { -readonly [K in keyof ReportedProblem]: ReportedProblem[K] } = {
    code: p.code,
    severity: p.severity,
    message: p.message,
    origin: formatOrigin(p.origin),
  };
  if (p.resource) out.resource = `${p.resource.kind}/${p.resource.namespace}/${p.resource.name}`;
  if (p.field) out.field = p.field;
  return out;
}

/** The candidate of a running canary, beside the served configuration. */
export interface CanaryConfig extends ServedConfig {
  /** Percent of requests it serves now. */
  readonly share: number;
}

export class ServingState {
  private servedValue: ServedConfig | undefined;
  private canaryValue: CanaryConfig | undefined;
  private readonly attempts = new Map<string, SourceAttempt>();
  private drainingValue = false;

  constructor(
    private readonly applier: ConfigApplier,
    private readonly metrics: ConfigMetrics,
    private readonly log: ProcessLog,
  ) {}

  get served(): ServedConfig | undefined {
    return this.servedValue;
  }

  /** The running canary's candidate, if any. */
  get canaryServed(): CanaryConfig | undefined {
    return this.canaryValue;
  }

  /** Canaries through the applier, when it can run them (the controller's release gate uses it). */
  get canary(): CanaryApplier | undefined {
    return this.applier.canary ? this.canaryOps : undefined;
  }

  private readonly canaryOps: CanaryApplier = {
    start: async (ir, secrets, meta, share) => {
      const at = new Date().toISOString();
      const r = await this.applier.canary!.start(ir, await withFallbackCertificate(ir, secrets), meta, share);
      if (r.ok) {
        this.canaryValue = { generation: r.generation, hash: r.hash, ir, source: meta.source, revision: meta.revision, appliedAt: at, share };
        this.log.info({ source: meta.source, revision: meta.revision, generation: r.generation, share }, `canary started: generation ${r.generation} serves ${share} % of requests`);
      } else {
        this.metrics.applyFailures.inc({ source: meta.source, reason: r.error.code });
        this.log.error({ source: meta.source, revision: meta.revision, error: r.error }, `canary not started: ${r.error.message}`);
      }
      return r;
    },
    share: async (percent) => {
      if (this.canaryValue) this.canaryValue = { ...this.canaryValue, share: percent };
      await this.applier.canary!.share(percent);
      this.log.info({ generation: this.canaryValue?.generation, share: percent }, `canary now serves ${percent} % of requests`);
    },
    promote: async () => {
      const c = this.canaryValue;
      const r = await this.applier.canary!.promote();
      this.canaryValue = undefined;
      if (r.ok && c) {
        const at = new Date().toISOString();
        this.servedValue = { generation: r.generation, hash: r.hash, ir: c.ir, source: c.source, revision: c.revision, appliedAt: at };
        this.metrics.generation.set(r.generation);
        this.metrics.applies.inc();
        this.record({ source: c.source, revision: c.revision, at, result: 'applied', generation: r.generation, hash: r.hash });
        this.log.info({ source: c.source, revision: c.revision, generation: r.generation }, 'canary promoted: its configuration serves every request');
      }
      return r;
    },
    abort: async () => {
      const c = this.canaryValue;
      this.canaryValue = undefined;
      await this.applier.canary!.abort();
      if (c) this.log.warn({ source: c.source, revision: c.revision, generation: c.generation }, 'canary ended: its configuration drains; the served one takes every request');
    },
    figures: () => this.applier.canary!.figures(),
  };

  /** Ready once a configuration is served, and no longer once draining began. */
  get ready(): boolean {
    return this.servedValue !== undefined && !this.drainingValue;
  }

  get draining(): boolean {
    return this.drainingValue;
  }

  startDraining(): void {
    this.drainingValue = true;
  }

  lastAttempts(): SourceAttempt[] {
    return [...this.attempts.values()].sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  }

  async apply(ir: IR, secrets: SecretStore, meta: ApplyMeta): Promise<ApplyResult> {
    const at = new Date().toISOString();
    if (this.servedValue && meta.hash && meta.hash === this.servedValue.hash) {
      this.record({ source: meta.source, revision: meta.revision, at, result: 'unchanged', generation: this.servedValue.generation, hash: meta.hash });
      return { ok: true, generation: this.servedValue.generation, hash: meta.hash, listeners: { added: [], removed: [], kept: [] } };
    }
    // Generated here, in the serving process, so that every worker terminates with the same certificate.
    const result = await this.applier.apply(ir, await withFallbackCertificate(ir, secrets), meta);
    if (result.ok) {
      this.servedValue = { generation: result.generation, hash: result.hash, ir, source: meta.source, revision: meta.revision, appliedAt: at };
      this.canaryValue = undefined;
      this.metrics.generation.set(result.generation);
      this.metrics.applies.inc();
      this.record({ source: meta.source, revision: meta.revision, at, result: 'applied', generation: result.generation, hash: result.hash });
      this.log.info({ source: meta.source, revision: meta.revision, generation: result.generation, hash: result.hash, listeners: result.listeners }, 'configuration applied');
    } else {
      this.metrics.applyFailures.inc({ source: meta.source, reason: result.error.code });
      this.record({ source: meta.source, revision: meta.revision, at, result: 'failed', error: result.error });
      this.log.error({ source: meta.source, revision: meta.revision, error: result.error, serving: this.servedValue?.generation ?? null }, `configuration not applied: ${result.error.message}`);
    }
    return result;
  }

  /** A candidate that failed to load or compile: nothing served changes; the problems are kept for the admin API. */
  reject(meta: ApplyMeta, problems: readonly Problem[]): void {
    const errors = problems.filter((p) => p.severity === 'error');
    const shown = [...errors, ...problems.filter((p) => p.severity !== 'error')].slice(0, MAX_REPORTED_PROBLEMS).map(reportProblem);
    this.metrics.applyFailures.inc({ source: meta.source, reason: 'InvalidConfiguration' });
    this.record({ source: meta.source, revision: meta.revision, at: new Date().toISOString(), result: 'rejected', problems: shown });
    for (const p of shown.slice(0, 20)) {
      this.log.error({ source: meta.source, code: p.code, origin: p.origin, resource: p.resource, field: p.field }, `${p.origin}: ${p.message}`);
    }
    this.log.error(
      { source: meta.source, revision: meta.revision, errors: errors.length, serving: this.servedValue?.generation ?? null },
      'configuration rejected; still serving the last good one',
    );
  }

  private record(a: SourceAttempt): void {
    const clean = Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as unknown as SourceAttempt;
    this.attempts.set(a.source, clean);
  }
}
