// Edge policies: the kinds and fields that may stop a routed request, compiled into IRGlobal.policies
// (gateway-wide definitions) and IRRoute.policies (what one Mapping adds). docs/reference/policies.md.
//
// One processor per concern. Each reads only its own resources and fields, so their order only
// decides the order of problems; it follows the order the data plane runs them in:
//  1. IP filters     — Module ip_allow / ip_deny (ip-filters.ts)
//  2. request buffer — Module buffer.max_request_bytes (request-buffer.ts)
//  3. AuthService    — its settings and the cluster its checks go to (auth-services.ts); after TLS,
//                      since it may originate TLS with a TLSContext
// Route fields are read per Mapping by routePolicies (route-policies.ts).
//
// Adding a concern: its IR shape in src/ir/types.ts (IRPolicies, IRRoutePolicies), a processor file
// here, a step in src/dataplane/policies/, and its row out of src/load/unenforced-protections.ts.

import type { Resource } from '../../api/resource.js';
import type { IRCluster, IRGlobal, IRPolicies, IRTLSContext } from '../../ir/types.js';
import type { CompileContext } from '../context.js';
import { compileIPFilter } from './ip-filters.js';
import { compileRequestBuffer } from './request-buffer.js';
import { compileAuthServices } from './auth-services.js';

export { routePolicies } from './route-policies.js';

/** What the policy processors read: resources that are still valid after the earlier passes. */
export interface PolicyInputs {
  /** The `ambassador` Module, if any. */
  readonly module: Resource | undefined;
  readonly authServices: readonly Resource[];
  /** The Module's settings (defaults for the clusters policies call). */
  readonly global: IRGlobal;
  readonly tlsContexts: ReadonlyMap<string, IRTLSContext>;
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
  return { policies: Object.keys(out).length > 0 ? out : undefined, clusters };
}
