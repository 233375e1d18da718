// The diagnostics page's data, one JSON document per page (overview, routes, upstreams, history,
// explain, one source object) and Emissary's /ambassador/v0/diag/ JSON, all read from the one serving state.

import type { Controller, SourceStatus } from '../controller/controller.js';
import type { HistoryProblem } from '../controller/history.js';
import type { IR, IRRoute } from '../ir/types.js';
import { formatOrigin } from '../api/origin.js';
import { matchSummary, type RouteRow } from '../ir/route-table.js';
import type { Explainer, ExplainResult } from '../review/explain-engine.js';
import { requestSpec, RequestSpecError } from '../review/request-spec.js';
import { summariseUpstreams, type ClusterHealth } from '../dataplane/upstream-health.js';
import type { AdminView } from './admin-server.js';
import type { RouteTraffic, TrafficRates } from './traffic-rates.js';
import { releaseNote } from '../release/release-gate.js';
import { onDemand } from '../dataplane/on-demand-module.js';

/** The explain engine (it builds the request path's matchers), loaded with the first explained request. */
const explainEngine = onDemand<typeof import('../review/explain-engine.js')>(import.meta.url, '../review/explain-engine.js');

/** A configuration problem as the page lists it, with the object it belongs to. */
export interface DiagProblem {
  readonly severity: string;
  readonly code: string;
  readonly message: string;
  /** source@revision:path:line:col */
  readonly origin: string;
  readonly source?: string;
  /** Kind/namespace/name */
  readonly resource?: string;
  readonly field?: string;
  /** Where it comes from: a refused revision, a resource left out of a served one, or the served set's warnings. */
  readonly where: 'refused' | 'not-served' | 'served';
  /** The page of its source object. */
  readonly link: string;
}

export interface DiagRoute {
  readonly index: number;
  readonly listener: string;
  readonly port: number;
  readonly host: string;
  readonly order: number;
  readonly id: string;
  readonly match: string;
  readonly upstreams: readonly { readonly service: string; readonly cluster: string; readonly weight: number }[];
  readonly shadow?: { readonly service: string; readonly cluster: string; readonly weight: number };
  readonly redirect?: string;
  readonly owner: string;
  readonly mapping: string;
  readonly origin: string;
  readonly link: string;
  readonly traffic?: RouteTraffic;
}

const startedAt = Date.now();

function objectLink(source: string | undefined, resource: string | undefined, origin: string): string {
  const q = new URLSearchParams();
  if (source) q.set('source', source);
  if (resource) q.set('resource', resource);
  else q.set('origin', origin);
  return `/diag/object?${q.toString()}`;
}

/** "source@rev:path:line:col" → the source name, when the origin names one. */
function sourceOf(origin: string): string | undefined {
  const m = /^([^@:\s]+)(?:@[^:]*)?:/.exec(origin);
  return m && !m[1]!.includes('/') ? m[1] : undefined;
}

function fromHistory(p: HistoryProblem, where: DiagProblem['where'], source: string): DiagProblem {
  return {
    severity: p.severity,
    code: p.code,
    message: p.message,
    origin: p.origin,
    source,
    ...(p.resource ? { resource: p.resource } : {}),
    ...(p.field ? { field: p.field } : {}),
    where,
    link: objectLink(source, p.resource, p.origin),
  };
}

/** Rows of the served IR, built once per IR: the table is the same until the next apply. */
const rowsCache = new WeakMap<IR, DiagRoute[]>();
const explainers = new WeakMap<IR, Explainer>();

function diagRow(clusters: Map<string, string>, l: IR['listeners'][number], v: IR['listeners'][number]['virtualHosts'][number], r: IRRoute, order: number, index: number): DiagRoute {
  // The route's id names the first Mapping of its group; canary members are listed on its object page.
  const m = r.mappings.find((x) => r.id === `${x.namespace}/${x.name}` || r.id.startsWith(`${x.namespace}/${x.name}#`)) ?? r.mappings[0]!;
  const resource = `${m.kind}/${m.namespace}/${m.name}`;
  const origin = `${m.origin.path}:${m.origin.line}`;
  const service = (cluster: string): string => clusters.get(cluster) ?? cluster;
  return {
    index,
    listener: l.name,
    port: l.port,
    host: v.hostname,
    order,
    id: r.id,
    match: matchSummary(r.match as RouteRow['match']),
    upstreams: r.redirect ? [] : r.backends.map((b) => ({ service: service(b.cluster), cluster: b.cluster, weight: b.weight })),
    ...(r.shadow && !r.redirect ? { shadow: { service: service(r.shadow.cluster), cluster: r.shadow.cluster, weight: r.shadow.weight } } : {}),
    ...(r.redirect ? { redirect: `${r.redirect.responseCode}` } : {}),
    owner: m.origin.source ?? '',
    mapping: resource,
    origin,
    link: objectLink(m.origin.source, resource, origin),
  };
}

/**
 * Rows [from, to) in evaluation order. Without the whole table cached only those rows are built,
 * so the first page of 10,000 routes costs a hundred rows, not ten thousand.
 */
function diagRows(ir: IR, from = 0, to = Infinity): DiagRoute[] {
  const cached = rowsCache.get(ir);
  if (cached) return cached.slice(from, to);
  const clusters = new Map(ir.clusters.map((c) => [c.name, c.service]));
  const out: DiagRoute[] = [];
  let index = 0;
  for (const l of ir.listeners) {
    for (const v of l.virtualHosts) {
      if (index + v.routes.length <= from) {
        index += v.routes.length;
        continue;
      }
      for (let order = 0; order < v.routes.length && index < to; order++, index++) if (index >= from) out.push(diagRow(clusters, l, v, v.routes[order]!, order, index));
      if (index >= to) return out;
    }
  }
  if (from === 0 && to === Infinity) rowsCache.set(ir, out);
  return out;
}

function diagRoutes(ir: IR): DiagRoute[] {
  return diagRows(ir);
}

function routeCount(ir: IR): number {
  let n = 0;
  for (const l of ir.listeners) for (const v of l.virtualHosts) n += v.routes.length;
  return n;
}

export interface DiagContext {
  readonly controller: Controller;
  readonly view: AdminView;
  readonly rates: TrafficRates;
  readonly version: string;
  /** Every replica of the fleet (docs/fleet.md); absent when this process is in none. */
  readonly fleet?: () => Promise<unknown>;
  readonly fleetStatus?: () => unknown;
}

function servedIR(ctx: DiagContext): IR | undefined {
  return ctx.controller.servedCompile()?.ir;
}

/** Every problem the page shows: refused revisions, resources left out, the served set's warnings. */
export function diagProblems(ctx: DiagContext, sources: readonly SourceStatus[] = ctx.controller.status()): DiagProblem[] {
  const out: DiagProblem[] = [];
  for (const s of sources) {
    if (s.state === 'Refused') for (const p of s.lastAttempt?.problems ?? []) out.push(fromHistory(p, 'refused', s.name));
    for (const p of s.notServed ?? []) out.push(fromHistory(p, 'not-served', s.name));
  }
  const report = ctx.controller.servedCompile()?.report;
  for (const p of report?.problems ?? []) {
    const origin = formatOrigin(p.origin);
    const resource = p.resource ? `${p.resource.kind}/${p.resource.namespace}/${p.resource.name}` : undefined;
    const source = p.origin.source;
    out.push({
      severity: p.severity,
      code: p.code,
      message: p.message,
      origin,
      ...(source ? { source } : {}),
      ...(resource ? { resource } : {}),
      ...(p.field ? { field: p.field } : {}),
      where: 'served',
      link: objectLink(source, resource, origin),
    });
  }
  const rank = (p: DiagProblem): number => (p.severity === 'error' ? 0 : 1);
  return out.sort((a, b) => rank(a) - rank(b));
}

/**
 * Whether the source's branch went back to the revision it serves after its last attempt was about
 * another one (a refused commit undone by a reset and force-push). That attempt then says nothing
 * about the source any more: it serves what its branch holds, as applied before.
 */
function backOnServed(s: SourceStatus): boolean {
  return s.lastAttempt !== undefined && s.appliedRevision !== undefined && s.desiredRevision === s.appliedRevision && s.lastAttempt.revision !== s.appliedRevision;
}

/** One row of the overview's sources table. */
function overviewSource(s: SourceStatus, now: number): unknown {
  // The verdict, signer and signature are about the revision the source is at.
  const attempt = backOnServed(s) ? undefined : s.lastAttempt;
  return {
    name: s.name,
    kind: s.kind,
    role: s.role,
    url: s.url,
    branch: s.branch,
    state: s.state,
    message: s.message,
    revision: s.appliedRevision ? s.appliedRevision.slice(0, s.appliedRevision.startsWith('sha256:') ? 19 : 12) : null,
    appliedRevision: s.appliedRevision ?? null,
    desiredRevision: s.desiredRevision ?? null,
    signer: attempt?.signature?.signer ?? null,
    signature: attempt?.signature ? (attempt.signature.ok ? 'verified' : attempt.signature.status) : s.verify ? 'unchecked' : 'not required',
    verdict: attempt ? attempt.result : backOnServed(s) ? 'Applied' : null,
    lastFetchAgeSeconds: s.lastSuccessfulFetch ? Math.max(0, Math.round((now - Date.parse(s.lastSuccessfulFetch)) / 1000)) : null,
    refusal:
      s.state === 'Refused'
        ? {
            reason: s.lastAttempt?.reason ?? null,
            message: s.lastAttempt?.message ?? s.message,
            at: s.lastAttempt?.problems?.[0]?.origin ?? null,
            link: s.lastAttempt?.problems?.[0] ? objectLink(s.name, s.lastAttempt.problems[0].resource, s.lastAttempt.problems[0].origin) : null,
          }
        : null,
    remedy: s.remedy ?? null,
    notServed: s.notServed ?? [],
    fetchError: s.fetchError ?? null,
  };
}

export async function overview(ctx: DiagContext): Promise<unknown> {
  const served = ctx.view.served?.();
  const sources = ctx.controller.status();
  const now = Date.now();
  const clusters = await (ctx.view.upstreams?.() ?? Promise.resolve([]));
  return {
    version: ctx.version,
    startedAt: new Date(startedAt).toISOString(),
    uptimeSeconds: Math.round((now - startedAt) / 1000),
    ready: ctx.view.ready(),
    generation: served?.generation ?? 0,
    hash: served?.hash ?? null,
    appliedAt: served?.appliedAt ?? null,
    sources: sources.map((s) => overviewSource(s, now)),
    secrets: ctx.controller.secretsStatus() ?? null,
    release: ctx.controller.release?.view() ?? null,
    fleet: ctx.fleetStatus?.() ?? null,
    upstreams: summariseUpstreams(clusters),
    problems: diagProblems(ctx, sources),
  };
}

export interface RoutesQuery {
  readonly offset: number;
  readonly limit: number;
  /** Words that must all appear in the row (host, match, upstream, owner, id). */
  readonly q: string;
}

export async function routesPage(ctx: DiagContext, query: RoutesQuery): Promise<unknown> {
  const ir = servedIR(ctx);
  const words = query.q.toLowerCase().split(/\s+/).filter((w) => w !== '');
  const total = ir ? routeCount(ir) : 0;
  let matching = total;
  let page: DiagRoute[] = [];
  if (ir && words.length === 0) {
    page = diagRows(ir, query.offset, query.offset + query.limit);
    // The whole table, for filters and later pages, is built after this answer has gone out.
    if (!rowsCache.has(ir)) setImmediate(() => diagRoutes(ir));
  } else if (ir) {
    const hits = diagRoutes(ir).filter((r) => {
      const text = `${r.host} ${r.match} ${r.id} ${r.owner} ${r.mapping} ${r.origin} ${r.upstreams.map((u) => `${u.service} ${u.cluster}`).join(' ')}`.toLowerCase();
      return words.every((w) => text.includes(w));
    });
    matching = hits.length;
    page = hits.slice(query.offset, query.offset + query.limit);
  }
  const traffic = await ctx.rates.forRoutes(page.map((r) => r.id));
  return {
    generation: ctx.view.served?.()?.generation ?? 0,
    total,
    matching,
    offset: query.offset,
    limit: query.limit,
    routes: page.map((r) => {
      const t = traffic.get(r.id);
      return t ? { ...r, traffic: t } : r;
    }),
  };
}

export async function upstreamsPage(ctx: DiagContext): Promise<unknown> {
  const clusters: ClusterHealth[] = await (ctx.view.upstreams?.() ?? Promise.resolve([]));
  return { summary: summariseUpstreams(clusters), clusters };
}

export function historyPage(ctx: DiagContext, opts: { source?: string; limit: number }): unknown {
  const entries = ctx.controller.history.read({ ...(opts.source ? { source: opts.source } : {}), limit: opts.limit });
  return { entries: entries.reverse() };
}

export function explainRequest(ctx: DiagContext, method: string, url: string, headers: readonly (readonly [string, string])[]): { status: number; body: unknown } {
  const ir = servedIR(ctx);
  if (!ir) return { status: 503, body: { error: 'nothing is served yet' } };
  let spec;
  try {
    spec = requestSpec(method || 'GET', url, headers);
  } catch (err) {
    if (err instanceof RequestSpecError) return { status: 400, body: { error: err.message } };
    throw err;
  }
  let explainer = explainers.get(ir);
  if (!explainer) {
    explainer = new (explainEngine().Explainer)(ir, ctx.controller.servedResources());
    explainers.set(ir, explainer);
  }
  const result: ExplainResult = explainer.explain(spec);
  const generation = ctx.view.served?.()?.generation ?? 0;
  const candidate = ctx.controller.release?.candidate();
  if (!candidate) {
    const note = releaseNote(ir.fleet, (result.route?.mappings ?? []).flatMap((m) => (m.source ? [m.source] : [])));
    return { status: 200, body: { generation, result, release: note ? { canary: null, note } : null } };
  }
  // A canary runs: each request gets one revision when it starts, by turn, at the canary's share.
  let other = explainers.get(candidate.compiled.ir);
  if (!other) {
    other = new (explainEngine().Explainer)(candidate.compiled.ir, candidate.resources);
    explainers.set(candidate.compiled.ir, other);
  }
  const canaryResult = other.explain(spec);
  const served = ctx.controller.appliedRevisions();
  const same = JSON.stringify({ ...result, notes: [] }) === JSON.stringify({ ...canaryResult, notes: [] });
  return {
    status: 200,
    body: {
      generation,
      result,
      release: {
        canary: {
          current: { generation, share: 100 - candidate.share, revisions: served },
          candidate: { generation: candidate.generation, share: candidate.share, revisions: { ...served, ...candidate.revisions }, result: canaryResult },
          same,
        },
        note: `a canary runs: ${100 - candidate.share} % of requests like this one get generation ${generation} (above) and ${candidate.share} % get generation ${candidate.generation} (${Object.entries(candidate.revisions).map(([s, r]) => `${s}@${r.slice(0, 12)}`).join(', ')})${same ? ', which treats this request the same way' : ', which treats it as shown under the canary'}; each request keeps the revision it starts on`,
      },
    },
  };
}

/** Every replica of the fleet: what each serves, whether it agrees, its last heartbeat. */
export async function fleetPage(ctx: DiagContext): Promise<{ status: number; body: unknown }> {
  if (!ctx.fleet) return { status: 404, body: { error: 'this process is in no fleet' } };
  return { status: 200, body: await ctx.fleet() };
}

/** One source object: its condition, the problems about it, the routes it serves, its source's state. */
export function objectPage(ctx: DiagContext, q: { source?: string; resource?: string; origin?: string }): { status: number; body: unknown } {
  const report = ctx.controller.servedCompile()?.report;
  const ir = servedIR(ctx);
  const problems = diagProblems(ctx).filter((p) =>
    q.resource !== undefined ? p.resource === q.resource && (q.source === undefined || p.source === q.source) : p.origin === q.origin,
  );
  const conditions = (report?.conditions ?? [])
    .filter((c) => q.resource !== undefined && `${c.kind}/${c.namespace}/${c.name}` === q.resource && (q.source === undefined || c.source === q.source || c.origin.source === q.source))
    .map((c) => ({ status: c.status, reason: c.reason, message: c.message, origin: formatOrigin(c.origin), ...(c.attachedTo ? { attachedTo: c.attachedTo } : {}), ...(c.source ? { source: c.source } : {}) }));
  // Canary members own a route too, though the route's id names the first Mapping of the group.
  const owned = ir && q.resource !== undefined ? routesOwnedBy(ir, q.resource) : new Set<string>();
  const served = ir && owned.size > 0 ? diagRoutes(ir).filter((r) => owned.has(`${r.listener}/${r.host}/${r.id}`)) : [];
  const source = q.source ? ctx.controller.status().find((s) => s.name === q.source) : undefined;
  if (conditions.length === 0 && problems.length === 0 && served.length === 0) return { status: 404, body: { error: 'no such object in the served configuration or its refused revisions', ...q } };
  const origin = conditions[0]?.origin ?? problems[0]?.origin ?? served[0]?.origin ?? q.origin ?? null;
  return {
    status: 200,
    body: {
      source: q.source ?? sourceOf(origin ?? '') ?? null,
      resource: q.resource ?? null,
      origin,
      conditions,
      problems,
      routes: served,
      sourceState: source ? { name: source.name, state: source.state, message: source.message, remedy: source.remedy ?? null } : null,
    },
  };
}

function routesOwnedBy(ir: IR, resource: string): Set<string> {
  const [kind, namespace, name] = resource.split('/');
  const out = new Set<string>();
  for (const l of ir.listeners) for (const v of l.virtualHosts) for (const r of v.routes) if (r.mappings.some((m) => m.kind === kind && m.namespace === namespace && m.name === name)) out.add(`${l.name}/${v.hostname}/${r.id}`);
  return out;
}

/**
 * Emissary's diag JSON: `system`, `route_info` in evaluation order, `errors` by resource key and
 * `notices`; with filter=errors only `[[key, message], ...]`.
 */
export async function emissaryDiag(ctx: DiagContext, filter: string | null): Promise<unknown> {
  const problems = diagProblems(ctx);
  const key = (p: DiagProblem): string => (p.resource ? `${p.resource}${p.source ? `@${p.source}` : ''}` : p.origin);
  const errors = problems.filter((p) => p.severity === 'error');
  if (filter === 'errors') return errors.map((p) => [key(p), `${p.origin}: ${p.message}`]);
  const ir = servedIR(ctx);
  const served = ctx.view.served?.();
  const byKey: Record<string, { error: string }[]> = {};
  for (const p of errors) (byKey[key(p)] ??= []).push({ error: `${p.origin}: ${p.message}` });
  return {
    system: {
      version: ctx.version,
      boot_time: new Date(startedAt).toISOString(),
      hr_uptime: `${Math.round((Date.now() - startedAt) / 1000)}s`,
      generation: served?.generation ?? 0,
      hash: served?.hash ?? null,
    },
    route_info: (ir ? diagRoutes(ir) : []).map((r) => ({
      key: r.id,
      prefix: r.match,
      host: r.host,
      clusters: r.upstreams.map((u) => ({ name: u.cluster, service: u.service, weight: u.weight })),
      source: `${r.owner}:${r.origin}`,
    })),
    errors: byKey,
    notices: problems.filter((p) => p.severity !== 'error').map((p) => ({ level: 'WARNING', message: `${p.origin}: ${p.message}` })),
  };
}
