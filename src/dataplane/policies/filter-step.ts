// The `filter` stage: Edge Stack FilterPolicies and their Filters as one policy step, built once per
// IR around a FilterChain (src/dataplane/filter-chain.ts), for every route but bypass_auth ones.
//
// A request no rule matches, or whose rule applies no filter, is allowed without a decision being
// recorded (the step is quiet, and records its own allows when a filter ran): metrics count what
// filters decided, not the traffic they were not asked about.

import type { IRAuthService, IRFilters, IRRoute } from '../../ir/types.js';
import type { SecretStore } from '../../ir/secrets.js';
import type { LocalReplyCode } from '../local-reply.js';
import type { UpstreamCluster } from '../upstream-pool.js';
import { FilterChain, type ExternalCheck, type ExternalVerdict, type FilterOutcome, type FilterRequest } from '../filter-chain.js';
import { ALLOW, type ExplainedStep, type OfflineRequest, type PolicyDecision, type PolicyRequest, type PolicyStep } from './chain.js';
import { authServiceCheck } from './auth-service.js';

export interface FilterStepOptions {
  /** The serving runtime's clusters (an External filter's service among them); empty offline. */
  readonly clusters: ReadonlyMap<string, UpstreamCluster>;
  /** Fetch JWT keys now (a serving runtime), not at the first request. */
  readonly prefetch: boolean;
}

/**
 * An External filter's check: the AuthService implementation with the filter's compiled spec, on
 * the policy request itself (its allowed headers land on the upstream request as an AuthService's
 * do). A failed service with failure_mode_allow is an allow.
 */
function externalCheck(ir: IRAuthService, clusters: ReadonlyMap<string, UpstreamCluster>, secrets: SecretStore | undefined): ExternalCheck {
  const check = authServiceCheck(ir, clusters, secrets);
  return async (req): Promise<ExternalVerdict> => {
    if (req.policy === undefined) return { allow: false, status: 500, code: 'internal_error', headers: [], body: undefined, reason: 'no request to check' };
    const d = await check(req.policy);
    if (d.outcome === 'allow' || d.outcome === 'error_allow') return { allow: true };
    const reply = d.reply ?? { status: 500, code: 'internal_error' as const };
    return {
      allow: false, status: reply.status, code: reply.code, headers: reply.headers ?? [], body: reply.body?.toString('latin1'),
      reason: d.detail !== undefined ? `the auth service failed: ${d.detail}` : 'the auth service denied',
    };
  };
}

class FilterStep implements PolicyStep {
  readonly stage = 'filter' as const;
  readonly label = 'filter FilterPolicy';
  readonly quiet = true;

  constructor(readonly chain: FilterChain) {}

  run(r: PolicyRequest): PolicyDecision | Promise<PolicyDecision> {
    const req: FilterRequest = { host: r.host, path: r.path, method: r.method, requestId: r.requestId, header: (n) => r.header(n), policy: r };
    const out = this.chain.run(req);
    if (out instanceof Promise) return out.then((o) => decide(r, o));
    return decide(r, out);
  }

  explain(o: OfflineRequest): ExplainedStep {
    const headers = new Map<string, string>();
    for (const [k, v] of o.headers) {
      const name = k.toLowerCase();
      const prev = headers.get(name);
      headers.set(name, prev === undefined ? v : `${prev}, ${v}`);
    }
    const e = this.chain.explain({ host: o.host, path: o.path, method: o.method, requestId: '', header: (n) => headers.get(n) });
    const steps = e.steps.map((s) => `${s.type} ${s.filter}: ${s.decision === 'at_serve_time' ? 'decided at serve time' : s.decision}${s.status !== undefined && s.decision !== 'allow' ? ` (${s.status})` : ''} — ${s.reason}`);
    const where = e.rule === undefined ? 'no FilterPolicy rule matches' : `FilterPolicy rule ${e.rule}`;
    const reason = steps.length > 0 ? `${where}: ${steps.join('; ')}` : `${where}: ${e.reason}`;
    return { decision: e.decision, ...(e.status !== undefined ? { status: e.status } : {}), reason };
  }
}

/** The step's decision from the chain's outcome; allowed headers go to the upstream request. */
function decide(r: PolicyRequest, o: FilterOutcome): PolicyDecision {
  if (o.allow && o.filters.length === 0) return ALLOW;
  const policy = o.rule === undefined ? 'FilterPolicy' : `FilterPolicy ${o.rule.slice(0, o.rule.indexOf('#'))}`;
  if (o.allow) {
    r.record(`filter ${policy}`, 'allow');
    if (o.setHeaders.length > 0) {
      const edits = r.upstreamHeaders();
      for (const [name, value] of o.setHeaders) edits.set(name, value);
    }
    return { outcome: 'allow', label: `filter ${policy}` };
  }
  const code: LocalReplyCode = o.code ?? (o.status === 401 || o.status === 403 ? 'auth_denied' : /keys|JWKS/.test(o.reason) ? 'auth_error' : o.status >= 500 ? 'internal_error' : 'auth_denied');
  return {
    outcome: o.status >= 500 || code === 'auth_error' ? 'error' : 'deny',
    reply: { status: o.status, code, headers: o.headers, ...(o.body !== undefined ? { body: Buffer.from(o.body, 'latin1') } : {}) },
    ...(o.status >= 500 || code === 'auth_error' ? { detail: `filter ${o.filter}: ${o.reason}` } : {}),
    label: `filter Filter ${o.filter}`,
  };
}

/** The filter stage of an IR's chains: one step, for every route that does not bypass auth. */
export function filterStage(ir: IRFilters, secrets: SecretStore | undefined, options: FilterStepOptions): { forRoute(route: IRRoute): PolicyStep | undefined } | undefined {
  if (ir.rules.length === 0 || ir.rules.every((r) => r.filters.length === 0)) return undefined;
  const chain = new FilterChain(ir, secrets ?? {}, {
    keysKnown: secrets !== undefined,
    // offline (no clusters) an External filter is decided at serve time, and never asked
    ...(options.clusters.size > 0 ? { external: (auth: IRAuthService) => externalCheck(auth, options.clusters, secrets) } : {}),
  });
  if (options.prefetch) chain.prefetch();
  const step = new FilterStep(chain);
  // Edge Stack runs its filters inside its external-auth service, which bypass_auth skips.
  return { forRoute: (route) => (route.bypassAuth ? undefined : step) };
}
