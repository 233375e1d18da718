// The effective change between two compiled states: routes added, removed and changed field by
// field, newly shadowed routes, sample requests whose answer changes, conflicts, claims and problems.

import type { Problem } from '../api/problems.js';
import { formatOrigin } from '../api/origin.js';
import type { CompileResult } from '../compile/index.js';
import { diffIR, isEmptyDiff, routeKey, type EntityDiff, type FieldChange } from '../ir/diff.js';
import { matchSummary, type RouteRow } from '../ir/route-table.js';
import type { IR, IRHeaderMatch, IRListener, IRRoute, IRVirtualHost } from '../ir/types.js';
import { Explainer, type ExplainResult } from './explain-engine.js';
import type { RequestSpec } from './request-spec.js';

export interface PlanRoute {
  readonly key: string;
  readonly listener: string;
  readonly port: number;
  readonly hostname: string;
  readonly id: string;
  readonly match: string;
  /** What the route does: upstreams with weights, or a redirect. */
  readonly action: string;
  readonly mapping: string;
  /** file:line of the route's first Mapping (source@revision: when from a source). */
  readonly at: string;
}

export interface PlanProblem {
  readonly code: string;
  readonly severity: 'error' | 'warning';
  readonly message: string;
  /** source@revision:path:line:col */
  readonly at: string;
  readonly resource?: string;
  /** Not present in the base state. */
  readonly new: boolean;
}

export interface SampleRequest {
  readonly request: string;
  readonly listener: string;
  readonly route: string;
  readonly before: string;
  readonly after: string;
}

export interface PlanSide {
  readonly label: string;
  readonly routes: number;
  readonly errors: number;
  readonly warnings: number;
  readonly hash: string;
}

export interface PlanResult {
  readonly base: PlanSide;
  readonly head: PlanSide;
  readonly routes: {
    readonly added: readonly PlanRoute[];
    readonly removed: readonly PlanRoute[];
    readonly changed: readonly (PlanRoute & { readonly changes: readonly FieldChange[] })[];
  };
  /** Routes that can never match in head (and could in base): an earlier route matches a superset. */
  readonly shadowed: readonly { readonly route: PlanRoute; readonly by: PlanRoute }[];
  readonly requests: readonly SampleRequest[];
  /** Changes outside routes: global policy, listeners, virtual hosts, clusters, TLS, TCP, resolvers. */
  readonly other: {
    readonly global: readonly FieldChange[];
    readonly listeners: EntityDiff;
    readonly virtualHosts: EntityDiff;
    readonly clusters: EntityDiff;
    readonly tlsContexts: EntityDiff;
    readonly tcpRoutes: EntityDiff;
    readonly resolvers: EntityDiff;
  };
  readonly conflicts: readonly PlanProblem[];
  readonly claimViolations: readonly PlanProblem[];
  /** Every problem of head (conflicts and claim violations included). */
  readonly problems: readonly PlanProblem[];
  readonly notes: readonly string[];
  /** Head revisions that serve would refuse (and keep serving the base's), with why and the way out. */
  readonly refusals: readonly PlanRefusal[];
  /** 'problems' when serve would refuse a head revision; else 'changes' or 'no-change'. */
  readonly verdict: 'no-change' | 'changes' | 'problems';
}

export interface PlanRefusal {
  readonly source: string;
  readonly revision: string;
  readonly reason: string;
  readonly message: string;
  readonly remedy?: string;
}

export interface PlanInput {
  readonly label: string;
  readonly result: CompileResult;
}

const CONFLICT_CODES = new Set(['RouteConflict', 'ListenerConflict', 'HostnameConflict', 'DuplicateResource']);

function problemKey(p: Problem): string {
  // Revision left out: the same problem at the same place in an older revision is not a new one.
  return `${p.code}|${p.origin.source ?? ''}|${p.origin.path}|${p.origin.line}|${p.origin.col}|${p.message}`;
}

function actionText(ir: IR, r: IRRoute): string {
  if (r.redirect) {
    const x = r.redirect;
    return `redirect ${x.responseCode} → ${x.httpsRedirect ? 'https://' : ''}${x.hostRedirect ?? '(same host)'}${x.pathRedirect ?? x.prefixRedirect ?? (x.regexRedirect ? `~${x.regexRedirect.substitution}` : '')}`;
  }
  const svc = (c: string): string => ir.clusters.find((x) => x.name === c)?.service ?? c;
  const ups = r.backends.map((b) => (r.backends.length > 1 ? `${svc(b.cluster)} (${b.weight}%)` : svc(b.cluster))).join(', ');
  return r.shadow ? `${ups} + shadow ${svc(r.shadow.cluster)} (${r.shadow.weight}%)` : ups;
}

function planRoute(ir: IR, l: IRListener, v: IRVirtualHost, r: IRRoute): PlanRoute {
  const m = r.mappings.find((x) => `${x.namespace}/${x.name}` === r.id.replace(/#\d+$/, '')) ?? r.mappings[0];
  const o = m?.origin;
  return {
    key: routeKey(l.name, v.hostname, r.id),
    listener: l.name,
    port: l.port,
    hostname: v.hostname,
    id: r.id,
    match: matchSummary(r.match as RouteRow['match']),
    action: actionText(ir, r),
    mapping: m ? `${m.kind} ${m.namespace}/${m.name}` : r.id,
    at: o ? `${o.source ? `${o.source}${o.revision ? '@' + o.revision.slice(0, 12) : ''}:` : ''}${o.path}:${o.line}` : '',
  };
}

interface Located {
  readonly l: IRListener;
  readonly v: IRVirtualHost;
  readonly r: IRRoute;
}

function locate(ir: IR): Map<string, Located> {
  const out = new Map<string, Located>();
  for (const l of ir.listeners) for (const v of l.virtualHosts) for (const r of v.routes) out.set(routeKey(l.name, v.hostname, r.id), { l, v, r });
  return out;
}

function sameHeader(a: IRHeaderMatch, b: IRHeaderMatch): boolean {
  return a.name === b.name && a.exact === b.exact && a.regex === b.regex && a.present === b.present && a.invert === b.invert;
}

/**
 * Whether `earlier` matches every request `later` matches: a prefix (or equal exact path) that
 * contains later's path, and no constraint that later does not also have.
 */
export function covers(earlier: IRRoute, later: IRRoute): boolean {
  const e = earlier.match;
  const l = later.match;
  if (e.regex !== undefined || l.regex !== undefined) return false;
  const lpath = l.prefix ?? l.path;
  if (lpath === undefined) return false;
  const norm = (s: string, cs: boolean): string => (cs ? s : s.toLowerCase());
  if (e.prefix !== undefined) {
    // A case-insensitive earlier route covers both; a case-sensitive one only covers a case-sensitive later route.
    if (e.caseSensitive && !l.caseSensitive) return false;
    if (!norm(lpath, e.caseSensitive).startsWith(norm(e.prefix, e.caseSensitive))) return false;
  } else if (e.path !== undefined) {
    if (l.path === undefined || norm(l.path, e.caseSensitive) !== norm(e.path, e.caseSensitive) || (e.caseSensitive && !l.caseSensitive)) return false;
  } else return false;
  if (e.method !== undefined && (e.methodRegex || l.methodRegex || e.method !== l.method)) return false;
  for (const h of e.headers) if (!l.headers.some((x) => sameHeader(h, x))) return false;
  for (const q of e.query) if (!l.query.some((x) => x.name === q.name && x.exact === q.exact && x.regex === q.regex && x.present === q.present)) return false;
  return true;
}

/** Shadowed routes by key, with the key of the first earlier route that covers each. */
export function shadowedRoutes(ir: IR): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of ir.listeners) {
    for (const v of l.virtualHosts) {
      v.routes.forEach((r, i) => {
        for (let j = 0; j < i; j++) {
          const e = v.routes[j] as IRRoute;
          if (covers(e, r)) {
            out.set(routeKey(l.name, v.hostname, r.id), routeKey(l.name, v.hostname, e.id));
            break;
          }
        }
      });
    }
  }
  return out;
}

/** A request the route matches: its method, host (a glob made concrete), path and exact headers. */
export function sampleRequest(l: IRListener, v: IRVirtualHost, r: IRRoute): RequestSpec | undefined {
  const m = r.match;
  let path = m.prefix ?? m.path;
  if (path === undefined) return undefined;
  if (!path.startsWith('/')) path = `/${path}`;
  const authorityMatch = m.headers.find((h) => h.name === ':authority' && h.exact !== undefined);
  const host = authorityMatch?.exact ?? (v.hostname === '*' ? 'example.com' : v.hostname.replace(/^\*/, 'sample').replace(/\*$/, 'sample'));
  const headers: [string, string][] = [];
  for (const h of m.headers) {
    if (h.name === ':authority' || h.invert) continue;
    if (h.exact !== undefined) headers.push([h.name, h.exact]);
    else if (h.regex === undefined) headers.push([h.name, 'present']);
    else return undefined;
  }
  const query: string[] = [];
  for (const q of m.query) {
    if (q.exact !== undefined) query.push(`${encodeURIComponent(q.name)}=${encodeURIComponent(q.exact)}`);
    else if (q.regex === undefined) query.push(`${encodeURIComponent(q.name)}=1`);
    else return undefined;
  }
  const method = m.method !== undefined && !m.methodRegex ? m.method : 'GET';
  return {
    method,
    scheme: l.tls ? 'https' : 'http',
    authority: host,
    target: path + (query.length ? `?${query.join('&')}` : ''),
    headers,
  };
}

export function outcomeText(x: ExplainResult): string {
  switch (x.outcome) {
    case 'forward':
      return `${x.route?.id} → ${x.backends.map((b) => (x.backends.length > 1 ? `${b.service} (${b.weight}%)` : b.service)).join(', ')}${x.backends.length === 1 && x.backends[0] ? ` ${x.backends[0].path}` : ''}`;
    case 'redirect':
    case 'https_redirect':
      return `${x.status} redirect → ${x.location ?? ''}`;
    default:
      return `${x.status} ${x.outcome.replace(/_/g, ' ')}`;
  }
}

function viewProblem(p: Problem, isNew: boolean): PlanProblem {
  return {
    code: p.code,
    severity: p.severity,
    message: p.message,
    at: formatOrigin(p.origin),
    ...(p.resource ? { resource: `${p.resource.kind} ${p.resource.namespace}/${p.resource.name}${p.field ? ` (${p.field})` : ''}` } : {}),
    new: isNew,
  };
}

function side(x: PlanInput): PlanSide {
  const routes = x.result.ir.listeners.reduce((s, l) => s + l.virtualHosts.reduce((t, v) => t + v.routes.length, 0), 0);
  return { label: x.label, routes, errors: x.result.report.errors, warnings: x.result.report.warnings, hash: x.result.hash };
}

/**
 * The effective change from base to head. `refusals` are the head revisions the reconcile refused:
 * their presence is the verdict 'problems'. Without them (an offline comparison of two compiles),
 * errors new in head decide it, as the reconcile would for a single source.
 */
export function plan(base: PlanInput, head: PlanInput, notes: readonly string[] = [], refusals?: readonly PlanRefusal[]): PlanResult {
  const a = base.result.ir;
  const b = head.result.ir;
  const d = diffIR(a, b);
  const la = locate(a);
  const lb = locate(b);
  const view = (ir: IR, x: Located): PlanRoute => planRoute(ir, x.l, x.v, x.r);
  const added = d.routes.added.map((k) => view(b, lb.get(k) as Located));
  const removed = d.routes.removed.map((k) => view(a, la.get(k) as Located));
  const changed = d.routes.changed.map((c) => ({ ...view(b, lb.get(c.key) as Located), changes: c.changes }));

  const shadowA = shadowedRoutes(a);
  const shadowB = shadowedRoutes(b);
  const shadowed = [...shadowB]
    .filter(([k]) => !shadowA.has(k))
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([k, by]) => ({ route: view(b, lb.get(k) as Located), by: view(b, lb.get(by) as Located) }));

  // A sample request per touched route, answered by both states with the data plane's matching.
  const ea = new Explainer(a);
  const eb = new Explainer(b);
  const requests: SampleRequest[] = [];
  const seen = new Set<string>();
  const touched: [string, Located][] = [
    ...d.routes.added.map((k): [string, Located] => [k, lb.get(k) as Located]),
    ...d.routes.changed.map((c): [string, Located] => [c.key, lb.get(c.key) as Located]),
    ...d.routes.removed.map((k): [string, Located] => [k, la.get(k) as Located]),
    ...shadowed.map((s): [string, Located] => [s.route.key, lb.get(s.route.key) as Located]),
  ];
  for (const [key, x] of touched) {
    const spec = sampleRequest(x.l, x.v, x.r);
    if (spec === undefined) continue;
    const text = `${spec.method} ${spec.scheme}://${spec.authority}${spec.target}${spec.headers.map(([n, v]) => ` [${n}: ${v}]`).join('')}`;
    if (seen.has(`${x.l.name} ${text}`)) continue;
    seen.add(`${x.l.name} ${text}`);
    const before = outcomeText(ea.explain(spec, { listener: x.l.name }));
    const after = outcomeText(eb.explain(spec, { listener: x.l.name }));
    if (before !== after) requests.push({ request: text, listener: x.l.name, route: key, before, after });
  }

  const baseKeys = new Set(base.result.report.problems.map(problemKey));
  const problems = head.result.report.problems.map((p) => viewProblem(p, !baseKeys.has(problemKey(p))));
  const newErrors = head.result.report.problems.some((p) => p.severity === 'error' && !baseKeys.has(problemKey(p)));
  const changedAnything = !isEmptyDiff(d);
  return {
    base: side(base),
    head: side(head),
    routes: { added, removed, changed },
    shadowed,
    requests,
    other: { global: d.global, listeners: d.listeners, virtualHosts: d.virtualHosts, clusters: d.clusters, tlsContexts: d.tlsContexts, tcpRoutes: d.tcpRoutes, resolvers: d.resolvers },
    conflicts: problems.filter((p) => CONFLICT_CODES.has(p.code)),
    claimViolations: problems.filter((p) => p.code === 'ClaimViolation'),
    problems,
    notes,
    refusals: refusals ?? [],
    verdict: (refusals ? refusals.length > 0 : newErrors) ? 'problems' : changedAnything ? 'changes' : 'no-change',
  };
}

export const PLAN_EXIT = { 'no-change': 0, changes: 3, problems: 1 } as const;
