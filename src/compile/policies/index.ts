// Edge policies: the kinds and fields that may stop a routed request, compiled into IRGlobal.policies
// (gateway-wide definitions) and IRRoute.policies (what one Mapping adds). docs/reference/policies.md.
//
// One processor per concern. Each reads only its own resources and fields, so their order only
// decides the order of problems; it follows the order the data plane runs them in:
//  1. IP filters     — Module ip_allow / ip_deny (ip-filters.ts)
//  2. request buffer — Module buffer.max_request_bytes (request-buffer.ts)
//  3. AuthService    — its settings and the cluster its checks go to (auth-services.ts); after TLS,
//                      since it may originate TLS with a TLSContext
//  4. Edge Stack filters — Filter, FilterPolicy (filters.ts), with the Secrets that hold API keys;
//                      an External filter is an AuthService check with the filter's own spec
//  5. rate limits    — RateLimitService, RateLimit, Module default_labels (rate-limits.ts); the label
//                      domain and defaults they settle go on the context for routePolicies
// Route fields are read per Mapping by routePolicies (route-policies.ts).
//
// Adding a concern: its IR shape in src/ir/types.ts (IRPolicies, IRRoutePolicies), a processor file
// here, a step in src/dataplane/policies/, and its row out of src/load/unenforced-protections.ts.

import type { Resource } from '../../api/resource.js';
import type { IRCluster, IRFilters, IRGlobal, IRPolicies, IRTLSContext } from '../../ir/types.js';
import type { CompileContext } from '../context.js';
import type { SecretFiles } from '../options.js';
import { sha256 } from '../../ir/canonical.js';
import { compileIPFilter } from './ip-filters.js';
import { compileFilters } from './filters.js';
import { compileRateLimits } from './rate-limits.js';
import { compileRequestBuffer } from './request-buffer.js';
import { compileAuthServices } from './auth-services.js';

export { routePolicies } from './route-policies.js';

/** What the policy processors read: resources that are still valid after the earlier passes. */
export interface PolicyInputs {
  /** The `ambassador` Module, if any. */
  readonly module: Resource | undefined;
  readonly authServices: readonly Resource[];
  readonly rateLimitServices: readonly Resource[];
  readonly rateLimits: readonly Resource[];
  /** The Module's settings (defaults for the clusters policies call). */
  readonly global: IRGlobal;
  /** TLSContexts by name (an AuthService's or RateLimitService's `tls`). */
  readonly tlsContexts: ReadonlyMap<string, IRTLSContext>;
  readonly filters: readonly Resource[];
  readonly filterPolicies: readonly Resource[];
  /** Secret resources (API keys of APIKey filters). */
  readonly secrets: readonly Resource[];
  readonly secretFiles: SecretFiles | undefined;
}

export interface CompiledPolicies {
  /** Undefined when no policy is configured: the IR then has no `policies` at all. */
  readonly policies: IRPolicies | undefined;
  /** Clusters the policies call (an AuthService's service), added to the IR's clusters. */
  readonly clusters: readonly IRCluster[];
}

export function compilePolicies(input: PolicyInputs, ctx: CompileContext): CompiledPolicies {
  const out: { -readonly [K in keyof IRPolicies]: IRPolicies[K] } = {};
  const clusters: IRCluster[] = [];
  if (input.module !== undefined) {
    const ipFilter = compileIPFilter(input.module, ctx);
    if (ipFilter !== undefined) out.ipFilter = ipFilter;
    const requestBuffer = compileRequestBuffer(input.module);
    if (requestBuffer !== undefined) out.requestBuffer = requestBuffer;
  }
  if (input.authServices.length > 0) {
    const auth = compileAuthServices(input, ctx);
    if (auth.authServices.length > 0) out.authServices = auth.authServices;
    clusters.push(...auth.clusters);
  }
  const filters = compileFilters(input.filters, input.filterPolicies, input.secrets, input.secretFiles, input, ctx);
  if (filters !== undefined) out.filters = withFilterClusters(filters.filters, filters.clusters, clusters);
  const rl = compileRateLimits({
    module: input.module, services: input.rateLimitServices, limits: input.rateLimits, tlsContexts: input.tlsContexts, connectTimeoutMs: input.global.connectTimeoutMs,
  }, ctx);
  if (rl.service !== undefined) out.rateLimitService = rl.service;
  if (rl.builtIn !== undefined) out.builtInRateLimiter = rl.builtIn;
  if (rl.cluster !== undefined) clusters.push(rl.cluster);
  ctx.rateLimitLabels = rl.labels;
  return { policies: Object.keys(out).length > 0 ? out : undefined, clusters };
}

/**
 * Adds External filters' clusters to the policies' clusters. One that an AuthService (or another
 * filter) already named with the same settings is shared; one with other settings under that name
 * (TLS to the same service, other circuit breakers) is renamed with a hash of its settings, and
 * its filter told so.
 */
function withFilterClusters(filters: IRFilters, extra: readonly IRCluster[], clusters: IRCluster[]): IRFilters {
  const renamed = new Map<string, string>();
  for (const c of extra) {
    const settings = JSON.stringify({ ...c, name: '' });
    const same = clusters.find((x) => x.name === c.name);
    if (same === undefined) clusters.push(c);
    else if (JSON.stringify({ ...same, name: '' }) !== settings) {
      const name = `${c.name}_${sha256(settings).slice(0, 8)}`;
      if (!clusters.some((x) => x.name === name)) clusters.push({ ...c, name });
      renamed.set(c.name, name);
    }
  }
  if (renamed.size === 0) return filters;
  return {
    ...filters,
    filters: filters.filters.map((f) => {
      const to = f.external !== undefined ? renamed.get(f.external.cluster) : undefined;
      return to === undefined ? f : { ...f, external: { ...f.external!, cluster: to } };
    }),
  };
}
