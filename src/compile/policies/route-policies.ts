// What a Mapping adds to the edge policies of its route (IRRoutePolicies), read once per Mapping.
// Most Mappings add nothing: then there is no object at all, and the route has no `policies`.

import type { Resource } from '../../api/resource.js';
import type { IRRateLimitGroup, IRRoutePolicies } from '../../ir/types.js';
import type { CompileContext } from '../context.js';
import { routeRateLimitGroups } from './rate-limits.js';

/** The Mapping fields this reads (mappings.ts copies them out of the spec with the others). */
export interface RoutePolicyFields {
  readonly auth_context_extensions: unknown;
  readonly labels: unknown;
}

export function routePolicies(f: RoutePolicyFields, r: Resource, ctx: CompileContext): IRRoutePolicies | undefined {
  const ext = authContextExtensions(f.auth_context_extensions);
  // Labels become groups only when a limiter runs (compilePolicies set ctx.rateLimitLabels).
  const lc = ctx.rateLimitLabels;
  const groups: IRRateLimitGroup[] | undefined = lc === undefined ? undefined : routeRateLimitGroups(f.labels, lc, r, ctx);
  if (ext === undefined && groups === undefined) return undefined;
  return { ...(ext !== undefined ? { authContextExtensions: ext } : {}), ...(groups !== undefined ? { rateLimitGroups: groups } : {}) };
}

function authContextExtensions(ext: unknown): Record<string, string> | undefined {
  if (ext === undefined || ext === null || typeof ext !== 'object') return undefined;
  const entries = Object.entries(ext as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string');
  if (entries.length === 0) return undefined;
  // Sorted: the IR is deterministic whatever order the keys were written in.
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return Object.fromEntries(entries);
}
