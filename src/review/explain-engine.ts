// Offline answer to "what does the gateway do with this request": the request path's own parsing,
// host normalisation, route index and rewrite functions run on one request, plus where each setting came from.

import type { Resource } from '../api/resource.js';
import { fieldOrigin } from '../api/resource.js';
import { formatOrigin } from '../api/origin.js';
import { compile } from '../compile/index.js';
import type { SecretStore } from '../ir/secrets.js';
import type { IR, IRBackend, IRCluster, IRGlobal, IRListener, IRRoute, IRSourceRef, IRVirtualHost } from '../ir/types.js';
import { parseRequestTarget } from '../dataplane/path-normalize.js';
import { buildRuntimeIndex, matchInVhost, matchRoute, normalizeHost, selectVhost, type RouteRequest, type RuntimeIndex, type TraceEntry } from '../dataplane/route-index.js';
import { compileRouteAction, rewritePath, type RouteAction } from '../dataplane/route-action.js';
import { forwardedFor, REQUEST_ID_RE, scanRequestHeaders, upstreamRequestHeaders } from '../dataplane/header-policy.js';
import { canonicalPathLocation, routeRedirectLocation } from '../dataplane/redirect.js';
import { answersPreflight, insecureOutcome, requestSecurity } from '../dataplane/edge-decision.js';
import { ACME_CHALLENGE_PREFIX, matchSummary, routesInsecureAlways, type RouteRow } from '../ir/route-table.js';
import { PolicyChains } from '../dataplane/policies/chain-builder.js';
import type { ExplainedStep, OfflineRequest, PolicyStage } from '../dataplane/policies/chain.js';
import type { RequestSpec } from './request-spec.js';

/** What the gateway would do, in the words of its local reply codes. */
export type Outcome = 'forward' | 'redirect' | 'https_redirect' | 'insecure_rejected' | 'no_route' | 'bad_request' | 'invalid_path' | 'cors_preflight' | 'upstream_unavailable' | 'policy_denied';

/** One step of the route's policy chain, in the order the gateway runs them, and what it would decide. */
export interface ExplainedPolicy extends ExplainedStep {
  /** 1-based position in the chain. */
  readonly order: number;
  readonly stage: PolicyStage;
  /** As metrics and the access log name it: "auth AuthService default/ext-auth". */
  readonly policy: string;
  /** The resource that configured it, with its origin. */
  readonly source?: MappingRef;
}

export interface SettingSource {
  readonly setting: string;
  readonly value: string;
  /** 'mapping' = set on the Mapping, 'module' = the ambassador Module's default, 'built-in' = Portico's default. */
  readonly from: 'mapping' | 'module' | 'built-in';
  readonly origin?: string;
}

export interface ExplainedBackend {
  readonly cluster: string;
  readonly service: string;
  readonly weight: number;
  readonly endpoints: readonly string[];
  /** Path and query sent upstream. */
  readonly path: string;
  readonly hostHeader: string;
  /**
   * Request headers sent upstream, in order (the request id is a placeholder). A value with Envoy's
   * dynamic values (%PROTOCOL%, %REQ(x)%, ...) is shown as written: the gateway fills it in per request.
   */
  readonly headers: readonly (readonly [string, string])[];
  /** Lower-case names of the headers above whose values the gateway fills in per request. */
  readonly filledPerRequest: readonly string[];
  readonly mapping: MappingRef;
  readonly settings: readonly SettingSource[];
}

export interface MappingRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly source?: string;
  readonly revision?: string;
  readonly file: string;
  readonly line: number;
  /** source@revision:file:line:col */
  readonly at: string;
}

export interface Candidate {
  readonly route: string;
  readonly where: string;
  readonly match: string;
  readonly reason: string;
}

export interface ExplainResult {
  readonly request: { readonly method: string; readonly url: string; readonly path: string; readonly query: string; readonly host: string };
  readonly listener?: { readonly name: string; readonly port: number; readonly tls: boolean; readonly securityModel: string; readonly why: string };
  /** Whether the gateway treats the request as secure, and why. */
  readonly secure?: { readonly value: boolean; readonly why: string };
  readonly virtualHost?: { readonly name: string; readonly hostname: string; readonly insecureAction: string; readonly hosts: readonly MappingRef[] };
  readonly route?: { readonly id: string; readonly order: number; readonly match: string; readonly mappings: readonly MappingRef[] };
  readonly outcome: Outcome;
  /** Status the gateway answers with; for `forward` the upstream's own status (shown as 200 offline). */
  readonly status: number;
  readonly reason: string;
  readonly location?: string;
  readonly backends: readonly ExplainedBackend[];
  readonly candidates: readonly Candidate[];
  readonly notes: readonly string[];
  /** The route's edge policies in order (empty when it has none). */
  readonly policies: readonly ExplainedPolicy[];
  /**
   * Set when a policy that only decides at serve time (an auth service's answer, the client's
   * address) comes before the outcome: `status` is then what the request gets if it lets it through.
   */
  readonly decidedAtServeTime?: { readonly policy: string; readonly reason: string };
}

export interface ExplainOptions {
  readonly listener?: string;
  readonly port?: number;
}

function refOf(s: IRSourceRef): MappingRef {
  const o = s.origin;
  return {
    kind: s.kind,
    namespace: s.namespace,
    name: s.name,
    ...(o.source ? { source: o.source } : {}),
    ...(o.revision ? { revision: o.revision } : {}),
    file: o.path,
    line: o.line,
    at: formatOrigin(o),
  };
}

function rowMatch(r: IRRoute): string {
  return matchSummary(r.match as RouteRow['match']);
}

/**
 * Compiled once per IR and reused for many requests (route tests): the data plane's own index with
 * actions compiled without upstream pools (no sockets are opened offline).
 */
export class Explainer {
  readonly index: RuntimeIndex<RouteAction>;
  private readonly clusters: Map<string, IRCluster>;
  private readonly builtin: IRGlobal;
  private readonly resources: Map<string, Resource>;
  private readonly module: Resource | undefined;

  constructor(
    readonly ir: IR,
    resources: readonly Resource[] = [],
    /** The compile's secret store, when the caller has it: APIKey filters then check keys offline. */
    secrets?: SecretStore,
  ) {
    const empty = new Map();
    // The data plane's own chains, built without clusters: offline no step opens a socket.
    const chains = new PolicyChains({ ir, clusters: empty, secrets, random: () => 0 });
    this.index = buildRuntimeIndex(ir, (route, vh) => compileRouteAction(ir, route, vh, empty, undefined, chains));
    this.clusters = new Map(ir.clusters.map((c) => [c.name, c]));
    this.builtin = compile([], { ambassadorId: ir.ambassadorId }).ir.global;
    this.resources = new Map(resources.map((r) => [`${r.kind}/${r.namespace}/${r.name}/${r.origin.source ?? ''}`, r]));
    this.module = resources.find((r) => r.kind === 'Module' && r.name === 'ambassador');
  }

  private pickListener(spec: RequestSpec, opts: ExplainOptions): { l: IRListener; why: string } | { error: string } {
    const l7 = this.ir.listeners.filter((l) => l.l7);
    if (opts.listener !== undefined) {
      const l = l7.find((x) => x.name === opts.listener);
      return l ? { l, why: 'named with --listener' } : { error: `no HTTP listener named '${opts.listener}' (listeners: ${l7.map((x) => x.name).join(', ') || 'none'})` };
    }
    if (opts.port !== undefined) {
      const l = l7.find((x) => x.port === opts.port);
      return l ? { l, why: `port ${opts.port} given with --port` } : { error: `no HTTP listener on port ${opts.port} (ports: ${l7.map((x) => x.port).join(', ') || 'none'})` };
    }
    if (l7.length === 0) return { error: 'the configuration has no HTTP listener' };
    const wantTls = spec.scheme === 'https';
    const portMatch = /:(\d+)$/.exec(spec.authority);
    if (portMatch) {
      const l = l7.find((x) => x.port === Number(portMatch[1]));
      if (l) return { l, why: `the URL names port ${l.port}` };
    }
    // An HTTPS listener also takes cleartext (the data plane sniffs each connection), so a cleartext
    // request prefers a cleartext-only listener and otherwise goes to the first HTTPS one.
    const sameScheme = l7.find((x) => x.tls === wantTls);
    if (sameScheme) return { l: sameScheme, why: `first listener that ${wantTls ? 'terminates TLS' : 'serves cleartext'} (use --listener or --port to pick another)` };
    const first = l7[0] as IRListener;
    if (!wantTls) return { l: first, why: `first listener: an HTTPS listener serves cleartext too (use --listener or --port to pick another)` };
    return { l: first, why: `no listener terminates TLS; first HTTP listener used` };
  }

  explain(spec: RequestSpec, opts: ExplainOptions = {}): ExplainResult {
    const g = this.ir.global;
    const url = `${spec.scheme}://${spec.authority}${spec.target}`;
    const notes: string[] = [];
    const base = { request: { method: spec.method, url, path: '', query: '', host: '' }, backends: [], candidates: [], notes, policies: [] };
    const picked = this.pickListener(spec, opts);
    if ('error' in picked) return { ...base, outcome: 'no_route', status: 404, reason: picked.error };
    const l = picked.l;
    const listener = { name: l.name, port: l.port, tls: l.tls, securityModel: l.securityModel, why: picked.why };
    // Whether the connection uses TLS is the client's choice on an HTTPS listener (it serves both);
    // a cleartext-only listener never completes a TLS handshake.
    const connTLS = spec.scheme === 'https' && l.tls;
    if (spec.scheme === 'https' && !l.tls) {
      notes.push(`listener ${l.name} accepts only cleartext connections; the request is explained as if it arrived there over cleartext`);
    }
    const raw: string[] = ['Host', spec.authority];
    for (const [n, v] of spec.headers) {
      if (n.toLowerCase() === 'host') notes.push(`the Host header '${v}' is ignored: the URL's authority '${spec.authority}' is the Host`);
      else raw.push(n, v);
    }
    const scan = scanRequestHeaders(raw, 1, g);
    if (scan.error !== undefined) {
      const status = scan.error === 'too_many' ? 431 : 400;
      return { ...base, listener, outcome: 'bad_request', status, reason: `request headers refused: ${scan.error.replace(/_/g, ' ')}` };
    }
    const policy = { normalizePath: g.normalizePath, mergeSlashes: g.mergeSlashes, escapedSlashesAction: g.escapedSlashesAction };
    const target = parseRequestTarget(spec.target, policy);
    if (target.kind === 'reject') return { ...base, listener, outcome: 'invalid_path', status: 400, reason: `the path is refused: ${target.reason}` };
    const host = normalizeHost(spec.authority, l.port, connTLS, g.stripMatchingHostPort);
    const request = { method: spec.method, url, path: target.path, query: target.query, host };
    if (target.path !== spec.target.split('?')[0]) notes.push(`path normalised from '${spec.target.split('?')[0]}' to '${target.path}' before routing`);
    if (host === '') return { ...base, request, listener, outcome: 'bad_request', status: 400, reason: `'${spec.authority}' is not a valid Host` };
    if (target.kind === 'redirect') {
      return { ...base, request, listener, outcome: 'redirect', status: 307, reason: 'escaped slashes were unescaped; the client is sent to the canonical path', location: canonicalPathLocation(target.path, target.query) };
    }
    const sec = requestSecurity(l, g, connTLS, scan.xfp);
    const { trusted, scheme, xfp } = sec;
    const secureValue = sec.secure;
    const secureWhy =
      l.securityModel === 'SECURE'
        ? `listener ${l.name} has securityModel SECURE: every request is secure`
        : l.securityModel === 'INSECURE'
          ? `listener ${l.name} has securityModel INSECURE: every request is insecure`
          : trusted === 0 || scan.xfp === undefined
            ? `listener ${l.name} has securityModel XFP and ${trusted === 0 ? 'trusts no proxy in front (l7Depth 0, xff_num_trusted_hops 0), so the connection decides' : 'no X-Forwarded-Proto was sent, so the connection decides'}: ${scheme}`
            : `listener ${l.name} has securityModel XFP and trusts ${trusted} proxy hop(s): X-Forwarded-Proto is '${xfp}'`;
    const secure = { value: secureValue, why: secureWhy };

    const rreq: RouteRequest = { host, path: target.path, query: target.query, method: spec.method, header: (n) => headerOf(raw, n) };
    const trace: TraceEntry[] = [];
    const m = matchRoute(this.index, l.name, rreq, trace);
    const ctx = { ...base, request, listener, secure };
    if (m.vhost === undefined) {
      return { ...ctx, outcome: 'no_route', status: 404, reason: `no virtual host on listener ${l.name} serves '${host}'`, candidates: this.nearest(l, rreq, undefined, trace) };
    }
    const vh = m.vhost.ir;
    const virtualHost = { name: vh.name, hostname: vh.hostname, insecureAction: vh.insecureAction, hosts: vh.hosts.map(refOf) };
    if (m.route === undefined) {
      return { ...ctx, virtualHost, outcome: 'no_route', status: 404, reason: `no route of virtual host ${vh.hostname} matches ${spec.method} ${target.path}`, candidates: this.nearest(l, rreq, vh, trace) };
    }
    const r = m.route;
    const route = { id: r.ir.id, order: r.order, match: rowMatch(r.ir), mappings: r.ir.mappings.map(refOf) };
    const withRoute = { ...ctx, virtualHost, route };
    const insecure = insecureOutcome(vh, r.ir, sec, host, spec.authority, target.path, target.query);
    if (insecure.kind === 'redirect') {
      return {
        ...withRoute,
        outcome: 'https_redirect',
        status: 301,
        reason: `insecure request; ${vh.hosts.length > 0 ? `Host ${vh.hostname} has` : 'with no Host at all, the default Host * has'} requestPolicy.insecure.action Redirect`,
        location: insecure.location,
      };
    }
    if (!sec.secure && vh.insecureAction !== 'Route' && routesInsecureAlways(r.ir)) {
      notes.push(`insecure request, and Host ${vh.hostname} has requestPolicy.insecure.action ${vh.insecureAction}: routed all the same, as a route with prefix ${ACME_CHALLENGE_PREFIX} always is (as in Emissary), so that a certificate issuer's HTTP-01 challenge reaches its solver`);
    }
    if (insecure.kind === 'reject') {
      return { ...withRoute, outcome: 'insecure_rejected', status: 404, reason: `insecure request; Host ${vh.hostname} has requestPolicy.insecure.action Reject, so no insecure route exists` };
    }
    const action = r.action;
    const fwd = forwardedFor('<client-address>', scan.xff, trusted, g.useRemoteAddress);
    const policies = this.policies(r.ir, action, { method: spec.method, path: target.path, query: target.query, host, headers: spec.headers, clientAddress: fwd.client === '<client-address>' ? undefined : fwd.client, route: r.ir });
    const stop = policies.find((p) => p.decision === 'deny' || p.decision === 'answer');
    const waits = policies.find((p) => p.decision === 'at_serve_time' && (stop === undefined || p.order < stop.order));
    const decidedAtServeTime = waits !== undefined ? { policy: waits.policy, reason: waits.reason } : undefined;
    const withPolicies = { ...withRoute, policies, ...(decidedAtServeTime ? { decidedAtServeTime } : {}) };
    const auths = g.policies?.authServices;
    if (r.ir.bypassAuth && auths !== undefined) notes.push(`the route's Mapping sets bypass_auth: AuthService ${auths.map((a) => a.name).join(', ')} is not asked`);
    if (stop !== undefined && stop.decision === 'answer') {
      return { ...withPolicies, outcome: 'cors_preflight', status: stop.status ?? 200, reason: 'CORS preflight from an allowed origin answered by the gateway; it never reaches the upstream' };
    }
    if (stop !== undefined) {
      return { ...withPolicies, outcome: 'policy_denied', status: stop.status ?? 403, reason: `${stop.policy}: ${stop.reason}` };
    }
    if (action.redirect !== undefined) {
      return {
        ...withPolicies,
        outcome: 'redirect',
        status: action.redirect.ir.responseCode,
        reason: `route ${r.ir.id} redirects`,
        location: routeRedirectLocation(action.redirect, r.ir, secureValue, host, target.path, target.query),
      };
    }
    if (answersPreflight(action.cors, spec.method, scan.origin, headerOf(raw, 'access-control-request-method'))) {
      return { ...withPolicies, outcome: 'cors_preflight', status: 200, reason: 'CORS preflight from an allowed origin answered by the gateway; it never reaches the upstream' };
    }
    if (action.cors !== undefined && spec.method === 'OPTIONS' && scan.origin !== undefined && headerOf(raw, 'access-control-request-method') !== undefined) {
      notes.push(`origin '${scan.origin}' is not allowed by the route's CORS policy: the preflight is forwarded to the upstream, as Envoy does`);
    }
    const requestId = g.preserveExternalRequestId && scan.requestId !== undefined && REQUEST_ID_RE.test(scan.requestId) ? scan.requestId : '<generated>';
    const backends: ExplainedBackend[] = action.backends.map((b) => {
      const headers = upstreamRequestHeaders({
        raw,
        scan,
        dropUnderscore: g.headersWithUnderscoresAction === 'DROP_HEADER',
        remove: b.requestRemove,
        adds: b.requestAdd,
        xff: g.useRemoteAddress || scan.xff !== undefined ? fwd.xff : undefined,
        xfp,
        requestId,
      });
      const cluster = this.clusters.get(b.ir.cluster);
      const hostHeader = b.autoHostRewrite ? '<endpoint hostname>' : (b.hostRewrite ?? spec.authority);
      headers[1] = hostHeader;
      const pairs: [string, string][] = [];
      for (let i = 0; i < headers.length; i += 2) pairs.push([headers[i] as string, headers[i + 1] as string]);
      const filledPerRequest = [...new Set(b.requestAdd.filter((_a, i) => b.requestAddValues?.[i] !== undefined).map((a) => a.name.toLowerCase()))];
      return {
        cluster: b.ir.cluster,
        service: cluster?.service ?? b.ir.cluster,
        weight: b.ir.weight,
        endpoints: cluster ? cluster.endpoints.map((e) => `${cluster.scheme}://${e.host}:${e.port}`) : [],
        path: rewritePath(b, r.ir, target.path) + target.query,
        hostHeader,
        headers: pairs,
        filledPerRequest,
        mapping: refOf(b.ir.mapping),
        settings: this.settings(r.ir, b.ir, cluster),
      };
    });
    if (action.shadow) notes.push(`${action.shadow.weight}% of requests are also mirrored to ${r.ir.shadow?.cluster}; its responses are discarded`);
    const usable = backends.filter((b) => b.weight > 0 || backends.length === 1);
    if (usable.length === 0 || usable.every((b) => b.endpoints.length === 0)) {
      return { ...withPolicies, backends, outcome: 'upstream_unavailable', status: 503, reason: 'the route has no upstream with endpoints' };
    }
    return {
      ...withPolicies,
      backends,
      outcome: 'forward',
      status: 200,
      reason: backends.length > 1 ? `forwarded to one of ${backends.length} weighted upstreams` : `forwarded to ${backends[0]?.service}`,
    };
  }

  /** The route's chain, each step with what it would decide offline. */
  private policies(route: IRRoute, action: RouteAction, req: OfflineRequest): ExplainedPolicy[] {
    const chain = action.policies;
    if (chain === undefined) return [];
    return chain.steps.map((step, i) => ({
      order: i + 1,
      stage: step.stage,
      policy: step.label,
      ...(step.source ? { source: refOf(step.source) } : {}),
      ...step.explain({ ...req, route }),
    }));
  }

  /** Why nearby routes did not match: the index's own trace first, then routes with the longest shared path. */
  private nearest(l: IRListener, req: RouteRequest, vh: IRVirtualHost | undefined, trace: readonly TraceEntry[]): Candidate[] {
    const out: Candidate[] = [];
    const seen = new Set<string>();
    const add = (c: Candidate): void => {
      const k = `${c.where} ${c.route}`;
      if (seen.has(k) || out.length >= 8) return;
      seen.add(k);
      out.push(c);
    };
    if (vh !== undefined) {
      for (const t of trace) {
        const r = vh.routes.find((x) => x.id === t.route);
        add({ route: t.route, where: vh.hostname, match: r ? rowMatch(r) : '', reason: `path matches, but ${describeMismatch(t.reason, r, req)}` });
      }
    }
    const li = this.index.listeners.get(l.name);
    if (vh !== undefined) {
      const scored = vh.routes
        .map((r) => ({ r, score: sharedPrefix(r.match.prefix ?? r.match.path ?? '', req.path) }))
        .filter((x) => x.score > 1 || x.r.match.regex !== undefined)
        .sort((a, b) => b.score - a.score);
      for (const { r } of scored.slice(0, 5)) {
        const p = r.match.prefix !== undefined ? `prefix ${r.match.prefix}` : r.match.path !== undefined ? `exact path ${r.match.path}` : `regex ${r.match.regex}`;
        add({ route: r.id, where: vh.hostname, match: rowMatch(r), reason: `path: ${p} does not match ${req.path}${r.match.caseSensitive ? '' : ' (case-insensitive)'}` });
      }
    }
    // The same request on other virtual hosts of this listener, then on other listeners.
    if (li !== undefined) {
      const others = [...li.exact.values(), ...li.wildcards.map((w) => w.vhost), ...(li.star ? [li.star] : [])];
      for (const v of others) {
        if (vh !== undefined && v.ir.name === vh.name) continue;
        const hit = matchInVhost(v, req);
        if (hit) add({ route: hit.ir.id, where: v.ir.hostname, match: rowMatch(hit.ir), reason: `would match, but it is on virtual host ${v.ir.hostname}, not the one Host '${req.host}' selects` });
      }
    }
    for (const other of this.index.listeners.values()) {
      if (other.name === l.name) continue;
      const v = selectVhost(other, req.host);
      const hit = v ? matchInVhost(v, req) : undefined;
      if (v && hit) add({ route: hit.ir.id, where: `${other.name} :${other.port} ${v.ir.hostname}`, match: rowMatch(hit.ir), reason: `would match on listener ${other.name} (port ${other.port})` });
    }
    if (vh === undefined && li !== undefined) {
      const names = [...li.exact.keys(), ...li.wildcards.map((w) => w.vhost.ir.hostname)];
      for (const n of names.sort((a, b) => sharedSuffix(b, req.host) - sharedSuffix(a, req.host)).slice(0, 3)) {
        add({ route: '-', where: n, match: '', reason: `virtual host ${n} does not serve Host '${req.host}'` });
      }
    }
    return out;
  }

  /** Where each effective setting of a backend came from. */
  private settings(route: IRRoute, b: IRBackend, cluster: IRCluster | undefined): SettingSource[] {
    const g = this.ir.global;
    const res = this.resources.get(`${b.mapping.kind}/${b.mapping.namespace}/${b.mapping.name}/${b.mapping.origin.source ?? ''}`);
    const spec = (res?.spec ?? {}) as Record<string, unknown>;
    const moduleAt = this.module ? formatOrigin(this.module.origin) : undefined;
    const out: SettingSource[] = [];
    const push = (setting: string, value: unknown, field: string | undefined, globalKey: keyof IRGlobal | undefined, globalValue?: unknown): void => {
      const shown = value === undefined ? 'none' : typeof value === 'string' ? value : JSON.stringify(value);
      if (field !== undefined && res !== undefined && spec[field] !== undefined) {
        out.push({ setting, value: shown, from: 'mapping', origin: formatOrigin(fieldOrigin(res, `spec.${field}`)) });
        return;
      }
      if (globalKey !== undefined && moduleAt !== undefined) {
        const gv = globalValue ?? g[globalKey];
        if (JSON.stringify(gv) !== JSON.stringify(this.builtin[globalKey])) {
          out.push({ setting, value: shown, from: 'module', origin: moduleAt });
          return;
        }
      }
      out.push({ setting, value: shown, from: 'built-in' });
    };
    push('request timeout (ms)', b.timeouts.requestMs, 'timeout_ms', 'requestTimeoutMs');
    push('idle timeout (ms)', b.timeouts.idleMs, 'idle_timeout_ms', undefined);
    if (b.rewrite.regex) push('regex rewrite', `${b.rewrite.regex.pattern} → ${b.rewrite.regex.substitution}`, 'regex_rewrite', undefined);
    else push('prefix rewrite', b.rewrite.prefix === null ? 'none' : b.rewrite.prefix, 'rewrite', undefined);
    if (b.hostRewrite !== undefined || b.autoHostRewrite) push('host rewrite', b.autoHostRewrite ? 'auto (endpoint hostname)' : b.hostRewrite, b.autoHostRewrite ? 'auto_host_rewrite' : 'host_rewrite', undefined);
    push('retry policy', b.retryPolicy, 'retry_policy', 'retryPolicy');
    push('CORS', route.cors ?? g.cors, 'cors', 'cors');
    const headerRules = (x: IRBackend['headers']): string[] => [...x.requestAdd.map((h) => `+${h.name}: ${h.value}`), ...x.requestRemove.map((n) => `-${n}`)];
    if (b.headers.requestAdd.length + b.headers.requestRemove.length > 0) {
      push('request headers', headerRules(b.headers).join(', '), spec['add_request_headers'] !== undefined ? 'add_request_headers' : 'remove_request_headers', undefined);
    }
    if (g.headers.requestAdd.length + g.headers.requestRemove.length > 0) push('request headers (every route)', headerRules(g.headers).join(', '), undefined, 'headers');
    if (cluster) {
      push('connect timeout (ms)', cluster.connectTimeoutMs, 'connect_timeout_ms', 'connectTimeoutMs');
      push('load balancer', cluster.loadBalancer, 'load_balancer', 'loadBalancer');
      push('circuit breakers', cluster.circuitBreakers, 'circuit_breakers', 'circuitBreakers');
    }
    return out;
  }
}

function headerOf(raw: readonly string[], name: string): string | undefined {
  const vals: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === name) vals.push(raw[i + 1] as string);
  return vals.length === 0 ? undefined : vals.join(', ');
}

function describeMismatch(reason: string, r: IRRoute | undefined, req: RouteRequest): string {
  if (reason === 'method') return `method ${req.method} is not ${r?.match.method ?? 'the one required'}`;
  if (reason === 'path') return `regex ${r?.match.regex ?? ''} does not match`;
  if (reason.startsWith('header ')) {
    const name = reason.slice(7);
    const h = r?.match.headers.find((x) => x.name.toLowerCase() === name);
    const got = name === ':authority' ? req.host : req.header(name);
    const want = h?.exact !== undefined ? `= ${h.exact}` : h?.regex !== undefined ? `~ ${h.regex}` : h?.invert ? 'absent' : 'present';
    return `header ${name} must be ${want} (request has ${got === undefined ? 'none' : `'${got}'`})`;
  }
  if (reason.startsWith('query ')) {
    const name = reason.slice(6);
    const q = r?.match.query.find((x) => x.name === name);
    const want = q?.exact !== undefined ? `= ${q.exact}` : q?.regex !== undefined ? `~ ${q.regex}` : 'present';
    return `query parameter ${name} must be ${want}`;
  }
  return reason;
}

function sharedPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

function sharedSuffix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[a.length - 1 - i] === b[b.length - 1 - i]) i++;
  return i;
}
