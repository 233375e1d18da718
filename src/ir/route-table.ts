// The route table in evaluation order, derived from the IR: one row per route per listener/vhost,
// with what happens to secure and insecure requests. Used by `portico routes`, the admin API and explain.

import type { IR, IRHeaderMatch, IRQueryMatch, IRRedirect, IRRoute } from './types.js';

/**
 * A route whose prefix is exactly this is routed whatever the Host's insecure action, as Emissary
 * does (its "ACME hole-puncher"): a certificate issuer's HTTP-01 challenge arrives over cleartext,
 * before the Host has the certificate it is for.
 */
export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

/** Whether insecure requests that `route` matches are routed whatever the Host's insecure action. */
export function routesInsecureAlways(route: IRRoute): boolean {
  return route.match.prefix === ACME_CHALLENGE_PREFIX;
}

export interface RouteRow {
  readonly listener: { readonly name: string; readonly port: number };
  readonly virtualHost: { readonly name: string; readonly hostname: string };
  /** Position within the vhost (0 = evaluated first). */
  readonly order: number;
  readonly id: string;
  readonly match: {
    readonly prefix?: string;
    readonly path?: string;
    readonly regex?: string;
    readonly caseSensitive: boolean;
    readonly method?: string;
    readonly headers: readonly IRHeaderMatch[];
    readonly query: readonly IRQueryMatch[];
  };
  readonly precedence: number;
  readonly action:
    | { readonly type: 'route'; readonly upstreams: readonly { readonly service: string; readonly cluster: string; readonly weight: number }[]; readonly shadow?: { readonly service: string; readonly cluster: string; readonly weight: number } }
    | { readonly type: 'redirect'; readonly redirect: IRRedirect };
  /** What each scheme gets: "route" (the action above), "redirect" (to https), "reject", or absent when the listener never sees that scheme. */
  readonly schemes: { readonly https?: 'route'; readonly http?: 'route' | 'redirect' | 'reject' };
  readonly mapping: { readonly name: string; readonly namespace: string };
  readonly origin: { readonly source?: string; readonly revision?: string; readonly file: string; readonly line: number };
}

export function routeTable(ir: IR): RouteRow[] {
  const clusters = new Map(ir.clusters.map((c) => [c.name, c]));
  const rows: RouteRow[] = [];
  for (const l of ir.listeners) {
    for (const v of l.virtualHosts) {
      const hostInsecure: 'route' | 'redirect' | 'reject' = v.insecureAction === 'Route' ? 'route' : v.insecureAction === 'Redirect' ? 'redirect' : 'reject';
      v.routes.forEach((r, order) => {
        const insecure = routesInsecureAlways(r) ? 'route' : hostInsecure;
        const schemes =
          l.securityModel === 'SECURE' ? { https: 'route' as const } : l.securityModel === 'INSECURE' ? { http: insecure } : { https: 'route' as const, http: insecure };
        const m = r.mappings.find((x) => `${x.namespace}/${x.name}` === r.id.replace(/#\d+$/, '')) ?? r.mappings[0]!;
        rows.push({
          listener: { name: l.name, port: l.port },
          virtualHost: { name: v.name, hostname: v.hostname },
          order,
          id: r.id,
          match: {
            ...(r.match.prefix !== undefined ? { prefix: r.match.prefix } : {}),
            ...(r.match.path !== undefined ? { path: r.match.path } : {}),
            ...(r.match.regex !== undefined ? { regex: r.match.regex } : {}),
            caseSensitive: r.match.caseSensitive,
            ...(r.match.method ? { method: r.match.method } : {}),
            headers: r.match.headers,
            query: r.match.query,
          },
          precedence: r.precedence,
          action: r.redirect
            ? { type: 'redirect', redirect: r.redirect }
            : {
                type: 'route',
                upstreams: r.backends.map((b) => ({ service: clusters.get(b.cluster)?.service ?? b.cluster, cluster: b.cluster, weight: b.weight })),
                ...(r.shadow ? { shadow: { service: clusters.get(r.shadow.cluster)?.service ?? r.shadow.cluster, cluster: r.shadow.cluster, weight: r.shadow.weight } } : {}),
              },
          schemes,
          mapping: { name: m.name, namespace: m.namespace },
          origin: { ...(m.origin.source ? { source: m.origin.source } : {}), ...(m.origin.revision ? { revision: m.origin.revision } : {}), file: m.origin.path, line: m.origin.line },
        });
      });
    }
  }
  return rows;
}

export function matchSummary(m: RouteRow['match']): string {
  const parts: string[] = [];
  if (m.method) parts.push(m.method);
  parts.push(m.prefix !== undefined ? `${m.prefix}*` : m.path !== undefined ? `=${m.path}` : `~${m.regex}`);
  if (!m.caseSensitive) parts.push('(case-insensitive)');
  for (const h of m.headers) parts.push(`${h.name}${h.exact !== undefined ? `=${h.exact}` : h.regex !== undefined ? `~${h.regex}` : h.invert ? ' absent' : ' present'}`);
  for (const q of m.query) parts.push(`?${q.name}${q.exact !== undefined ? `=${q.exact}` : q.regex !== undefined ? `~${q.regex}` : ''}`);
  return parts.join(' ');
}
