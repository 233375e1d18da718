// The rate_limit stage of the policy chain: the route's label groups become descriptors, then
// either the RateLimitService is asked (gRPC) or the built-in limiter counts them (Redis or this
// process). Over the limit → 429; the limiter unreachable → its failure mode, within its timeout.

import type { IR, IRBuiltInRateLimiter, IRRateLimitGroup, IRRateLimitRule, IRRateLimitService, IRRoute } from '../../ir/types.js';
import type { ChainBuildContext, StageSteps } from './chain-builder.js';
import { ALLOW, ERROR_ALLOW, type ExplainedStep, type OfflineRequest, type PolicyDecision, type PolicyReply, type PolicyRequest, type PolicyStep } from './chain.js';
import { describeDescriptor, descriptorsFor, sourceClusterName, type Descriptor, type DescriptorInputs } from './rate-limit-descriptors.js';
import { askRateLimitService, type HeaderValueMessage } from './rate-limit-service-client.js';
import type { UpstreamCluster } from '../upstream-pool.js';
import { BuiltInRateLimiter, UNIT_MS, type LimiterVerdict } from './built-in-rate-limiter.js';
import { CounterStoreError } from './rate-limit-counters.js';
import { acquireCounterStore, redisUrlFor } from './rate-limit-stores.js';
import { GRPC_STATUS } from '../grpc.js';

/** The groups a route sends, if any. */
export function routeGroups(route: IRRoute): readonly IRRateLimitGroup[] | undefined {
  return route.policies?.rateLimitGroups;
}

/** The descriptor inputs of a live request. */
class LiveInputs implements DescriptorInputs {
  constructor(
    private readonly r: PolicyRequest,
    readonly sourceCluster: string,
  ) {}

  get remoteAddress(): string {
    return this.r.clientAddress;
  }

  get destinationCluster(): string {
    return this.r.destinationCluster ?? this.r.route.backends[0]?.cluster ?? '';
  }

  header(name: string): string | undefined {
    switch (name) {
      case ':authority':
        return this.r.authority;
      case ':method':
        return this.r.method;
      case ':path':
        return this.r.path + this.r.query;
      case ':scheme':
        return this.r.scheme;
      default: {
        // Envoy reads a repeated header's first value.
        const v = this.r.req.headers[name];
        return Array.isArray(v) ? v[0] : v;
      }
    }
  }
}

/** The descriptor inputs of an offline request (explain): unknown values are shown as placeholders. */
function offlineInputs(r: OfflineRequest, ir: IR): DescriptorInputs {
  const backends = r.route.backends.map((b) => b.cluster);
  return {
    sourceCluster: sourceClusterName(ir.ambassadorId),
    remoteAddress: r.clientAddress ?? '<client address>',
    destinationCluster: backends.length <= 1 ? (backends[0] ?? '') : `<one of ${backends.join(' | ')}>`,
    header: (name) => {
      switch (name) {
        case ':authority':
          return r.host;
        case ':method':
          return r.method;
        case ':path':
          return r.path + r.query;
        case ':scheme':
          return 'https';
        default:
          return r.headers.find((h) => h[0].toLowerCase() === name)?.[1];
      }
    },
  };
}

function describeAll(ds: readonly Descriptor[]): string {
  return ds.map((d) => `[${describeDescriptor(d)}]`).join(' ');
}

const toHeaders = (hs: readonly HeaderValueMessage[], out: string[]): void => {
  for (const h of hs) out.push(h.key, h.value);
};

// ───────────────────────── RateLimitService ─────────────────────────

class ServiceStep implements PolicyStep {
  readonly stage = 'rate_limit' as const;
  readonly label: string;
  readonly source;
  /** The service's cluster in a serving runtime; undefined offline (explain asks nothing). */
  private readonly cluster: UpstreamCluster | undefined;
  private readonly sourceCluster: string;
  private readonly errorDecision: PolicyDecision;

  constructor(
    private readonly ir: IR,
    private readonly svc: IRRateLimitService,
    b: ChainBuildContext,
  ) {
    this.label = `rate_limit RateLimitService ${svc.source.namespace}/${svc.source.name}`;
    this.source = svc.source;
    this.cluster = b.clusters.get(svc.cluster);
    this.sourceCluster = sourceClusterName(ir.ambassadorId);
    this.errorDecision = Object.freeze({ outcome: 'error', reply: Object.freeze({ status: 500, code: 'rate_limit_error' as const }) });
  }

  run(r: PolicyRequest): PolicyDecision | Promise<PolicyDecision> {
    const groups = routeGroups(r.route);
    if (groups === undefined || this.cluster === undefined) return ALLOW;
    const descriptors = descriptorsFor(groups, new LiveInputs(r, this.sourceCluster));
    // Envoy asks nothing when every group was dropped.
    if (descriptors.length === 0) return ALLOW;
    return askRateLimitService(this.cluster, this.svc.domain, descriptors, this.svc.timeoutMs, r.signal).then((a): PolicyDecision => {
      if (a.kind === 'error') {
        if (this.svc.failureModeDeny) return { ...this.errorDecision, detail: a.detail };
        return a.detail === undefined ? ERROR_ALLOW : { outcome: 'error_allow', detail: a.detail };
      }
      if (a.kind === 'ok') {
        for (const h of a.requestHeaders) r.upstreamHeaders().append(h.key, h.value);
        for (const h of a.responseHeaders) r.addResponseHeader(h.key, h.value);
        return ALLOW;
      }
      const headers: string[] = [];
      toHeaders(a.responseHeaders, headers);
      headers.push('x-envoy-ratelimited', 'true');
      const reply: PolicyReply = {
        status: 429, code: 'rate_limited', headers,
        ...(a.body !== undefined ? { body: a.body } : {}),
        ...(this.svc.useResourceExhaustedCode ? { grpcStatus: GRPC_STATUS.RESOURCE_EXHAUSTED } : {}),
      };
      return { outcome: 'deny', reply };
    });
  }

  explain(r: OfflineRequest): ExplainedStep {
    const groups = routeGroups(r.route);
    const who = `RateLimitService ${this.svc.source.namespace}/${this.svc.source.name}`;
    if (groups === undefined) return { decision: 'allow', reason: `${who}: the route has no labels for domain '${this.svc.domain}'` };
    const ds = descriptorsFor(groups, offlineInputs(r, this.ir));
    if (ds.length === 0) return { decision: 'allow', reason: `${who} is not asked: every label group lacks a request header (${groupsText(groups)})` };
    const failure = this.svc.failureModeDeny ? '500 if it cannot be asked' : 'let through if it cannot be asked';
    return {
      decision: 'at_serve_time',
      status: 429,
      reason: `asks ${who} (domain '${this.svc.domain}', timeout ${this.svc.timeoutMs} ms) with descriptors ${describeAll(ds)}; 429 if it says over limit, ${failure}`,
    };
  }
}

function groupsText(groups: readonly IRRateLimitGroup[]): string {
  return groups.map((g) => `${g.name}: ${g.actions.map((a) => (a.kind === 'request_headers' ? `${a.key}←${a.header}` : a.kind === 'generic_key' ? `${a.key}=${a.value}` : a.kind)).join(', ')}`).join('; ');
}

// ───────────────────────── the built-in limiter ─────────────────────────

class BuiltInStep implements PolicyStep {
  readonly stage = 'rate_limit' as const;
  readonly label: string;
  private readonly limiter: BuiltInRateLimiter | undefined;
  private readonly sourceCluster: string;
  private readonly release: (() => void) | undefined;

  constructor(
    private readonly ir: IR,
    private readonly cfg: IRBuiltInRateLimiter,
    b: ChainBuildContext,
  ) {
    const sources = [...new Set(cfg.rules.map((r) => `${r.source.namespace}/${r.source.name}`))];
    this.label = sources.length === 1 ? `rate_limit RateLimit ${sources[0]}` : `rate_limit RateLimits ${sources.length} for domain ${cfg.domain}`;
    this.sourceCluster = sourceClusterName(ir.ambassadorId);
    // Offline (explain) there is no SecretStore and nothing is counted: no store is taken.
    if (b.secrets !== undefined) {
      const held = acquireCounterStore(redisUrlFor(cfg.redis?.url), cfg.timeoutMs, b.warn ?? (() => {}));
      this.limiter = new BuiltInRateLimiter(cfg, held.store);
      this.release = held.release;
    }
  }

  close(): void {
    this.release?.();
  }

  run(r: PolicyRequest): PolicyDecision | Promise<PolicyDecision> {
    const groups = routeGroups(r.route);
    const limiter = this.limiter;
    if (groups === undefined || limiter === undefined) return ALLOW;
    const descriptors = descriptorsFor(groups, new LiveInputs(r, this.sourceCluster));
    if (descriptors.length === 0) return ALLOW;
    const matched = limiter.matches(descriptors);
    if (matched.length === 0) return ALLOW;
    // Metrics and logs name the RateLimit of the limit that decided (the first one matched when none refused).
    const first = ruleLabel(matched[0]!.rule.ir);
    // The store bounds the call by the timeout (never a stall) and rejects with why.
    return limiter.decide(descriptors, r.requestId, matched).then(
      (v) => this.decision(r, v, first),
      (err: unknown) => {
        const detail = `rate limit counts: ${err instanceof CounterStoreError ? `${err.reason}: ${err.message}` : String(err)}`;
        if (this.cfg.failureModeDeny) return { outcome: 'error', reply: { status: 500, code: 'rate_limit_error' }, detail };
        return { outcome: 'error_allow', detail };
      },
    );
  }

  private decision(r: PolicyRequest, v: LimiterVerdict, label: string): PolicyDecision {
    for (let i = 0; i < v.responseHeaders.length; i += 2) r.addResponseHeader(v.responseHeaders[i] as string, v.responseHeaders[i + 1] as string);
    if (v.refusedBy === undefined) {
      for (let i = 0; i < v.requestHeaders.length; i += 2) r.upstreamHeaders().append(v.requestHeaders[i] as string, v.requestHeaders[i + 1] as string);
      if (v.loggedOnly.length === 0) return label === this.label ? ALLOW : { outcome: 'allow', label };
      return { outcome: 'allow', label: ruleLabel(v.loggedOnly[0]!.ir), detail: `over LogOnly limit ${v.loggedOnly.map((x) => x.ir.name).join(', ')}` };
    }
    const headers = ['retry-after', String(Math.max(1, Math.ceil(v.retryAfterMs / 1000)))];
    for (const h of v.errorHeaders) headers.push(h);
    const reply: PolicyReply = v.errorBody === undefined
      ? { status: 429, code: 'rate_limited', headers }
      : { status: 429, code: 'rate_limited', headers: hasContentType(headers) ? headers : [...headers, 'content-type', 'text/plain; charset=utf-8'], body: Buffer.from(v.errorBody) };
    return { outcome: 'deny', reply, label: ruleLabel(v.refusedBy.ir), detail: `over limit ${v.refusedBy.ir.name}` };
  }

  explain(r: OfflineRequest): ExplainedStep {
    const groups = routeGroups(r.route);
    if (groups === undefined) return { decision: 'allow', reason: `the route has no labels for domain '${this.cfg.domain}'` };
    const ds = descriptorsFor(groups, offlineInputs(r, this.ir));
    if (ds.length === 0) return { decision: 'allow', reason: `no label group applies: each lacks a request header (${groupsText(groups)})` };
    const parts: string[] = [];
    for (const d of ds) {
      const rule = this.cfg.rules.find((x) => patternMatchesOffline(x.pattern, d));
      parts.push(rule === undefined
        ? `[${describeDescriptor(d)}] matches no limit`
        : `[${describeDescriptor(d)}] → ${rule.name} (RateLimit ${rule.source.namespace}/${rule.source.name}): ${rule.rate} per ${rule.burstFactor === undefined ? rule.unit : `${rule.burstFactor} ${rule.unit}s × ${rule.burstFactor} (sliding)`}${rule.action === 'LogOnly' ? ', LogOnly' : ''}`);
    }
    const counted = this.cfg.redis !== undefined ? `in Redis ${this.cfg.redis.url}` : 'in Redis if REDIS_URL is set where Portico runs, else per serving process';
    const failure = this.cfg.failureModeDeny ? '500' : 'let through';
    return { decision: 'at_serve_time', status: 429, reason: `descriptors ${parts.join('; ')}; counted ${counted}; 429 over an enforced limit, ${failure} if the counts cannot be had within ${this.cfg.timeoutMs} ms` };
  }
}

function patternMatchesOffline(pattern: IRBuiltInRateLimiter['rules'][number]['pattern'], d: Descriptor): boolean {
  if (pattern.length > d.length) return false;
  return pattern.every((alts, i) => alts.some((a) => a.key === d[i]!.key && (a.value === '*' || a.value === '' || a.value === d[i]!.value)));
}

function ruleLabel(rule: IRRateLimitRule): string {
  return `rate_limit RateLimit ${rule.source.namespace}/${rule.source.name}`;
}

function hasContentType(h: readonly string[]): boolean {
  for (let i = 0; i < h.length; i += 2) if ((h[i] as string).toLowerCase() === 'content-type') return true;
  return false;
}

// ───────────────────────── the stage ─────────────────────────

/** The rate_limit stage for one IR: a step for the routes that carry label groups, or undefined. */
export function rateLimitStage(b: ChainBuildContext): StageSteps | undefined {
  const p = b.ir.global.policies;
  let step: PolicyStep | undefined;
  if (p?.rateLimitService !== undefined) step = new ServiceStep(b.ir, p.rateLimitService, b);
  else if (p?.builtInRateLimiter !== undefined) step = new BuiltInStep(b.ir, p.builtInRateLimiter, b);
  if (step === undefined) return undefined;
  const s = step;
  return {
    forRoute: (route) => (routeGroups(route) !== undefined ? s : undefined),
    close: () => {
      if (s instanceof BuiltInStep) s.close();
    },
  };
}

export { UNIT_MS };
