// What a Mapping adds to the edge policies of its route (IRRoutePolicies), read once per Mapping.
// Most Mappings add nothing: then there is no object at all, and the route has no `policies`.

import type { IRRoutePolicies } from '../../ir/types.js';

/** The Mapping fields this reads (mappings.ts copies them out of the spec with the others). */
export interface RoutePolicyFields {
  readonly auth_context_extensions: unknown;
}

export function routePolicies(f: RoutePolicyFields): IRRoutePolicies | undefined {
  const ext = f.auth_context_extensions;
  if (ext === undefined || ext === null || typeof ext !== 'object') return undefined;
  const entries = Object.entries(ext as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string');
  if (entries.length === 0) return undefined;
  // Sorted: the IR is deterministic whatever order the keys were written in.
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { authContextExtensions: Object.fromEntries(entries) };
}
