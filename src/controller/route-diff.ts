// Route-level difference between two IRs, for the audit history: which routes were added, removed or
// changed. Provenance (revisions, lines) is left out so a commit that only moves text changes nothing.

import { canonicalJSON } from '../ir/canonical.js';
import type { IR } from '../ir/types.js';

export interface RouteDiffSummary {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
}

/** Route keys listed per category, at most this many (the counts stay exact). */
const MAX_LISTED = 50;

function routeTable(ir: IR | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!ir) return out;
  for (const l of ir.listeners) {
    for (const vh of l.virtualHosts) {
      for (const r of vh.routes) {
        const { mappings, ...rest } = r;
        const owners = mappings.map((m) => `${m.kind}/${m.namespace}/${m.name}@${m.origin.source ?? ''}`);
        out.set(`${l.port} ${vh.hostname} ${r.id}`, canonicalJSON({ ...rest, owners }));
      }
    }
    for (const t of l.tcpRoutes) {
      const { mapping, ...rest } = t;
      out.set(`${l.port} tcp ${t.id}`, canonicalJSON({ ...rest, owner: `${mapping.kind}/${mapping.namespace}/${mapping.name}@${mapping.origin.source ?? ''}` }));
    }
  }
  // Clusters change what a route does (endpoints, timeouts) without changing the route itself.
  const clusters = new Map(ir.clusters.map((c) => [c.name, canonicalJSON({ ...c, source: undefined })]));
  for (const [k, v] of out) {
    const names = [...v.matchAll(/"cluster":"([^"]+)"/g)].map((m) => m[1]!);
    out.set(k, v + names.map((n) => clusters.get(n) ?? '').join(''));
  }
  return out;
}

export function diffRoutes(before: IR | undefined, after: IR | undefined): RouteDiffSummary & { counts: { added: number; removed: number; changed: number } } {
  const a = routeTable(before);
  const b = routeTable(after);
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  for (const [k, v] of b) {
    const old = a.get(k);
    if (old === undefined) added.push(k);
    else if (old !== v) changed.push(k);
  }
  for (const k of a.keys()) if (!b.has(k)) removed.push(k);
  const sort = (x: string[]) => x.sort();
  return {
    added: sort(added).slice(0, MAX_LISTED),
    removed: sort(removed).slice(0, MAX_LISTED),
    changed: sort(changed).slice(0, MAX_LISTED),
    counts: { added: added.length, removed: removed.length, changed: changed.length },
  };
}
