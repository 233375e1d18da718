// Mappings: each valid Mapping becomes a MappingPlan — its match, its backend policy and the
// cluster it needs. Errors are reported on the Mapping (field and line); the rest still compiles.

import type { Resource } from '../api/resource.js';
import type { IRBackend, IRCors, IRGlobal, IRHeaderMatch, IRHeaderRules, IRQueryMatch, IRRedirect, IRRetryPolicy, IRLoadBalancer, IRCircuitBreakers, IRHealthCheck, IRRoutePolicies, IRSourceRef } from '../ir/types.js';
import { healthChecksFrom } from './health-checks.js';
import type { CompileContext } from './context.js';
import { checkRegex, checkSubstitution } from './regex-safety.js';
import type { RegexProblem } from '../ir/re2-regex.js';
import type { ParsedService } from './service.js';
import { corsFrom, headerRulesFrom, withMappingDefaults, retryPolicyFrom, loadBalancerFrom, circuitBreakersFrom, type HeaderRuleFields } from './mapping-policy.js';
import { routePolicies } from './policies/route-policies.js';

type Obj = Record<string, unknown>;

export interface ClusterNeeds {
  readonly service: string;
  readonly parsed: ParsedService;
  readonly namespace: string;
  readonly resolver?: string;
  readonly tlsContext?: string;
  readonly sni?: string;
  readonly http2: boolean;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly loadBalancer: IRLoadBalancer;
  readonly circuitBreakers: IRCircuitBreakers;
  /** Active health checks, and their canonical text (part of the cluster's identity). */
  readonly healthChecks?: readonly IRHealthCheck[];
  readonly healthKey?: string;
}

export interface MappingPlan {
  readonly resource: Resource;
  /** resourceKey(resource). */
  readonly key: string;
  readonly ref: IRSourceRef;
  /**
   * Hostname glob used for Host attachment: `hostname`, else `host`, else an exact `:authority`
   * header (undefined: attaches only by selector).
   */
  readonly hostname?: string;
  /** An exact or regex authority match from the deprecated `host` field. */
  readonly authority?: IRHeaderMatch;
  readonly prefix?: string;
  readonly path?: string;
  readonly regex?: string;
  readonly caseSensitive: boolean;
  readonly method?: string;
  readonly methodRegex: boolean;
  readonly headers: IRHeaderMatch[];
  readonly query: IRQueryMatch[];
  readonly precedence: number;
  /**
   * The group key of this match as written (see matchKey): Mappings with equal keys in one vhost
   * form a canary group or conflict. A vhost that adds an :authority match builds its own.
   */
  readonly matchKey: string;
  /**
   * The group key in a vhost that adds no :authority match of its own: matchKey plus the Mapping's
   * hostname (Emissary's group id includes it). Built once per plan, so a memoised plan's key keeps
   * its hash from one compile to the next.
   */
  readonly hostGroupKey: string;
  /** Explicit weight, if given. */
  readonly weight?: number;
  readonly shadow: boolean;
  /**
   * The route backend this Mapping contributes, cluster and weight still unset. The first route
   * that uses it takes this object (compile() keeps the set of taken ones) and any further route a
   * copy, so that a Mapping served in one vhost costs one backend object, not two.
   */
  readonly backend?: IRBackend;
  readonly cluster?: ClusterNeeds;
  readonly redirect?: IRRedirect;
  readonly cors?: IRCors;
  readonly allowUpgrade: string[];
  readonly grpc: boolean;
  readonly bypassAuth: boolean;
  /** What the Mapping adds to the edge policies (compile/policies/route-policies.ts); usually undefined. */
  readonly policies: IRRoutePolicies | undefined;
}

const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);

/**
 * A Mapping's header rules, with the Module's defaults already filled in (`fields`). Only rules that
 * carry credentials need the resource for their problems (rare: no allocation otherwise).
 */
function mappingHeaderRules(fields: HeaderRuleFields, r: Resource, ctx: CompileContext): IRHeaderRules | undefined {
  const creds = ctx.credentials;
  return creds.concerns(fields.add_request_headers) || creds.concerns(fields.add_response_headers)
    ? headerRulesFrom(fields, ctx.headerRules, ctx.credentialRules(r, 'spec.'))
    : headerRulesFrom(fields, ctx.headerRules);
}

// Written without `...(cond ? { x } : {})` object spreads: V8 copies each one through the
// runtime, and with twenty of them per Mapping they were most of compile's time at 10,000 Mappings.
/** key is resourceKey(r). */
export function compileMapping(r: Resource, key: string, global: IRGlobal, ctx: CompileContext, clusters: ClusterNeedsTable): MappingPlan | undefined {
  const s = readMappingFields(r.spec);
  // Every problem reported here is an error that drops the Mapping; a closure setting a flag would
  // be allocated for each of thousands of Mappings, so the problem count tells instead.
  const problemsBefore = ctx.problems.length;

  // ── match ──
  const rawPrefix = stringOf(s.prefix);
  let prefix: string | undefined;
  let path: string | undefined;
  let regex: string | undefined;
  if (rawPrefix === undefined) ctx.report(r, 'SchemaViolation', 'prefix is required', 'spec.prefix');
  else if (s.prefix_regex === true) {
    const e = checkRegex(rawPrefix, ctx.regexMaxSize);
    if (e) reportRegex(ctx, r, e, 'prefix', 'spec.prefix');
    regex = rawPrefix;
  } else if (!rawPrefix.startsWith('/')) ctx.report(r, 'SchemaViolation', `prefix '${rawPrefix}' must start with '/'`, 'spec.prefix');
  else if (s.prefix_exact === true) path = rawPrefix;
  else prefix = rawPrefix;

  const caseSensitive = s.case_sensitive !== false;
  const methodRegex = s.method_regex === true;
  // A method regex is kept as written (upper-casing would turn (?i) or \d into other regexes).
  const method = methodRegex ? stringOf(s.method) : stringOf(s.method)?.toUpperCase();
  if (method && methodRegex) {
    const e = checkRegex(method, ctx.regexMaxSize);
    if (e) reportRegex(ctx, r, e, 'method', 'spec.method');
  }

  const headers: IRHeaderMatch[] = [];
  // An exact :authority match is Emissary's older spelling of `host` (irhttpmapping.py): it is the
  // Mapping's host, for Host attachment and as the authority match, unless host or hostname is set
  // (load drops it then, with a warning). It is not a header match of its own.
  let authorityHost: string | undefined;
  const headerSpec = s.headers as Obj | undefined;
  if (headerSpec) {
    const boolHeaders = Array.isArray(s.v2BoolHeaders) ? (s.v2BoolHeaders as string[]) : undefined;
    for (const name of Object.keys(headerSpec)) {
      const v = headerSpec[name];
      const n = name.toLowerCase();
      if (boolHeaders?.includes(name) || v === true) headers.push({ name: n, present: true });
      else if (v === false) headers.push({ name: n, present: true, invert: true });
      else if (n === ':authority') {
        const value = String(v);
        // Emissary refuses the Mapping: an exact match with "*" is no DNS name and matches nothing.
        if (value.includes('*')) ctx.report(r, 'SchemaViolation', `:authority exact match '${value}' contains *, which cannot match anything; a DNS glob is written as hostname: "${value}"`, `spec.headers.${name}`);
        else authorityHost = value;
      } else headers.push({ name: n, exact: String(v) });
    }
  }
  const regexHeaders = s.regex_headers as Obj | undefined;
  if (regexHeaders) {
    for (const name of Object.keys(regexHeaders)) {
      const v = String(regexHeaders[name]);
      const e = checkRegex(v, ctx.regexMaxSize);
      if (e) reportRegex(ctx, r, e, `regex_headers.${name}`, `spec.regex_headers.${name}`);
      headers.push({ name: name.toLowerCase(), regex: v });
    }
  }
  const query: IRQueryMatch[] = [];
  const querySpec = s.query_parameters as Obj | undefined;
  if (querySpec) {
    const boolQuery = Array.isArray(s.v2BoolQueryParameters) ? (s.v2BoolQueryParameters as string[]) : undefined;
    for (const name of Object.keys(querySpec)) {
      const v = querySpec[name];
      if (boolQuery?.includes(name) || v === true) query.push({ name, present: true });
      else query.push({ name, exact: String(v) });
    }
  }
  const regexQuery = s.regex_query_parameters as Obj | undefined;
  if (regexQuery) {
    for (const name of Object.keys(regexQuery)) {
      const v = String(regexQuery[name]);
      const e = checkRegex(v, ctx.regexMaxSize);
      if (e) reportRegex(ctx, r, e, `regex_query_parameters.${name}`, `spec.regex_query_parameters.${name}`);
      query.push({ name, regex: v });
    }
  }
  if (headers.length > 1) headers.sort(cmpHeader);
  if (query.length > 1) query.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // The IR keeps these arrays: a copy has exactly their length, where a pushed-to array keeps room for 16.
  const headerList = headers.length > 0 ? headers.slice() : headers;
  const queryList = query.length > 0 ? query.slice() : query;

  // hostname (glob, for attachment) and the deprecated host (exact, or regex with host_regex)
  const rawHostname = stringOf(s.hostname);
  let hostname = rawHostname !== undefined ? ctx.hostname(rawHostname) : undefined;
  let authority: IRHeaderMatch | undefined;
  const host = stringOf(s.host);
  if (host !== undefined) {
    if (s.host_regex === true) {
      const e = checkRegex(host, ctx.regexMaxSize);
      if (e) reportRegex(ctx, r, e, 'host', 'spec.host');
      authority = { name: ':authority', regex: host };
      hostname ??= '*';
    } else if (hostname === undefined) hostname = ctx.hostname(host);
    else authority = { name: ':authority', exact: ctx.hostname(host) };
  } else if (authorityHost !== undefined && hostname === undefined) hostname = ctx.hostname(authorityHost);

  const precedence = numberOf(s.precedence) ?? 0;
  const weight = numberOf(s.weight);
  if (weight !== undefined && (weight < 0 || weight > 100 || !Number.isInteger(weight))) ctx.report(r, 'SchemaViolation', 'weight must be an integer from 0 to 100', 'spec.weight');

  // ── CORS, upgrades ──
  let cors: IRCors | undefined;
  if (s.cors !== undefined) {
    const c = corsFrom(s.cors as Obj);
    if (typeof c === 'string') ctx.report(r, 'InvalidCORS', c, 'spec.cors');
    else cors = c;
  }
  const allowUpgrade = Array.isArray(s.allow_upgrade) ? (s.allow_upgrade as string[]).map((u) => u.toLowerCase()) : [];
  if (s.use_websocket === true && !allowUpgrade.includes('websocket')) allowUpgrade.push('websocket');
  if (allowUpgrade.length > 1) allowUpgrade.sort();
  const grpc = s.grpc === true;

  // ── redirect or route ──
  const resolver = stringOf(s.resolver);
  const written = stringOf(s.service);
  // As in Emissary, the service is qualified before anything reads it: a host_redirect's too.
  const service = written ? ctx.upstreamService(written, r.namespace, resolver) : written;
  const pathRedirect = stringOf(s.path_redirect);
  const prefixRedirect = stringOf(s.prefix_redirect);
  let redirect: IRRedirect | undefined;
  const code = numberOf(s.redirect_response_code) ?? 301;
  if (!REDIRECT_CODES.has(code)) ctx.report(r, 'SchemaViolation', 'redirect_response_code must be one of 301, 302, 303, 307, 308', 'spec.redirect_response_code');
  if (s.host_redirect === true) {
    const rr: Mutable<IRRedirect> = { responseCode: code as IRRedirect['responseCode'] };
    if (service) rr.hostRedirect = service.replace(/^https?:\/\//, '');
    if (pathRedirect !== undefined) rr.pathRedirect = pathRedirect;
    if (prefixRedirect !== undefined) rr.prefixRedirect = prefixRedirect;
    const rx = s.regex_redirect as Obj | undefined;
    if (rx && typeof rx['pattern'] === 'string') {
      const e = checkRegex(rx['pattern'], ctx.regexMaxSize);
      if (e) reportRegex(ctx, r, e, 'regex_redirect.pattern', 'spec.regex_redirect.pattern');
      rr.regexRedirect = { pattern: rx['pattern'], substitution: String(rx['substitution'] ?? '') };
      const se = checkSubstitution(rr.regexRedirect.pattern, rr.regexRedirect.substitution);
      if (se) reportRegex(ctx, r, se, 'regex_redirect.substitution', 'spec.regex_redirect.substitution');
    }
    if (service?.startsWith('https://')) rr.httpsRedirect = true;
    redirect = rr;
  } else if (pathRedirect !== undefined || prefixRedirect !== undefined || s.regex_redirect !== undefined) {
    ctx.report(r, 'SchemaViolation', 'path_redirect, prefix_redirect and regex_redirect only take effect with host_redirect: true', 'spec.host_redirect');
  }

  const ref: IRSourceRef = { kind: r.kind, name: r.name, namespace: r.namespace, origin: r.origin };
  let backend: MappingPlan['backend'];
  let cluster: ClusterNeeds | undefined;
  if (!redirect) {
    if (!service) ctx.report(r, 'SchemaViolation', 'service is required', 'spec.service');
    else {
      const tlsName = stringOf(s.tls);
      const parsed = ctx.parsedService(service, s.tls === true || tlsName !== undefined);
      if (typeof parsed === 'string') ctx.report(r, 'InvalidService', parsed, 'spec.service');
      else {
        let lb = global.loadBalancer;
        if (s.load_balancer !== undefined) {
          const l = loadBalancerFrom(s.load_balancer as Obj);
          if (typeof l === 'string') ctx.report(r, 'SchemaViolation', l, 'spec.load_balancer');
          else lb = l;
        }
        const needs: Mutable<ClusterNeeds> = { service, parsed, namespace: r.namespace } as Mutable<ClusterNeeds>;
        if (resolver) needs.resolver = resolver;
        if (tlsName) needs.tlsContext = tlsName;
        const sni = stringOf(s.sni);
        if (sni) needs.sni = sni;
        needs.http2 = grpc;
        needs.connectTimeoutMs = numberOf(s.connect_timeout_ms) ?? global.connectTimeoutMs;
        needs.idleTimeoutMs = numberOf(s.cluster_idle_timeout_ms) ?? global.clusterIdleTimeoutMs;
        needs.loadBalancer = lb;
        needs.circuitBreakers = s.circuit_breakers !== undefined ? circuitBreakersFrom(s.circuit_breakers, global.circuitBreakers) : global.circuitBreakers;
        if (s.health_checks !== undefined) {
          const checks = healthChecksFrom(s.health_checks, r, ctx);
          if (checks) {
            needs.healthChecks = checks;
            needs.healthKey = JSON.stringify(checks);
          }
        }
        cluster = clusters.intern(needs);
      }
    }
    let rewritePrefix: string | null = '/';
    if (s.rewrite !== undefined) rewritePrefix = s.rewrite === '' || s.rewrite === null ? null : String(s.rewrite);
    let regexRewrite: { pattern: string; substitution: string } | undefined;
    const rx = s.regex_rewrite as Obj | undefined;
    if (rx && typeof rx['pattern'] === 'string') {
      const e = checkRegex(rx['pattern'], ctx.regexMaxSize);
      if (e) reportRegex(ctx, r, e, 'regex_rewrite.pattern', 'spec.regex_rewrite.pattern');
      regexRewrite = { pattern: rx['pattern'], substitution: String(rx['substitution'] ?? '') };
      const se = checkSubstitution(regexRewrite.pattern, regexRewrite.substitution);
      if (se) reportRegex(ctx, r, se, 'regex_rewrite.substitution', 'spec.regex_rewrite.substitution');
      rewritePrefix = null; // regex_rewrite replaces the prefix rewrite, as in Emissary
    }
    let retryPolicy: IRRetryPolicy | undefined = global.retryPolicy;
    if (s.retry_policy !== undefined) {
      const rp = retryPolicyFrom(s.retry_policy as Obj);
      if (typeof rp === 'string') ctx.report(r, 'SchemaViolation', rp, 'spec.retry_policy');
      else retryPolicy = rp;
    }
    // Members in the IR's order; cluster and weight are placeholders that keep their place first.
    const b: Mutable<IRBackend> = { cluster: '', weight: 0, rewrite: regexRewrite ? { prefix: rewritePrefix, regex: regexRewrite } : { prefix: rewritePrefix } } as Mutable<IRBackend>;
    const hostRewrite = stringOf(s.host_rewrite);
    if (hostRewrite) b.hostRewrite = hostRewrite;
    b.autoHostRewrite = s.auto_host_rewrite === true;
    const headers = mappingHeaderRules(withMappingDefaults(s, ctx.mappingDefaults), r, ctx);
    if (headers) b.headers = headers;
    b.timeouts = { requestMs: numberOf(s.timeout_ms) ?? global.requestTimeoutMs, idleMs: numberOf(s.idle_timeout_ms) ?? 0 };
    if (retryPolicy) b.retryPolicy = retryPolicy;
    // The same source reference as the route's `mappings` entry: equal in the IR's JSON, built once.
    b.mapping = ref;
    backend = b;
  } else {
    // Envoy sends a route's response headers with its direct response (the redirect), as Emissary writes
    // them; a redirect sends nothing upstream, so its request rules are not read.
    const fields = withMappingDefaults(s, ctx.mappingDefaults);
    const headers = mappingHeaderRules({ ...fields, add_request_headers: undefined, remove_request_headers: undefined }, r, ctx);
    if (headers && (headers.responseAdd.length > 0 || headers.responseRemove.length > 0)) {
      redirect = { ...redirect, headers: { responseAdd: headers.responseAdd, responseRemove: headers.responseRemove } };
    }
  }
  if (ctx.problems.length !== problemsBefore) return undefined;
  const mk = matchKey(prefix, path, regex, caseSensitive, method, methodRegex, headerList, queryList, precedence);
  // Every member is present, undefined when unset: all plans share one shape, so the passes that
  // read thousands of them stay monomorphic.
  return {
    resource: r,
    key,
    ref,
    hostname,
    authority,
    prefix,
    path,
    regex,
    caseSensitive,
    method: method || undefined,
    methodRegex,
    headers: headerList,
    query: queryList,
    precedence,
    matchKey: mk,
    hostGroupKey: hostname !== undefined ? mk + hostname : mk,
    weight,
    shadow: s.shadow === true,
    backend,
    cluster,
    redirect,
    cors,
    allowUpgrade,
    grpc,
    bypassAuth: s.bypass_auth === true,
    policies: routePolicies(s, r, ctx),
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function reportRegex(ctx: CompileContext, r: Resource, e: RegexProblem, what: string, field: string): void {
  ctx.report(r, e.code, `${what}: ${e.message}`, field);
}

/** Identity of a cluster: every setting that makes two upstreams different connection pools. */
function needsKey(n: ClusterNeeds): string {
  const lb = n.loadBalancer;
  const cb = n.circuitBreakers;
  return JSON.stringify([n.service.trim(), n.namespace, n.parsed.scheme, n.parsed.host, n.parsed.port, n.resolver ?? null, n.tlsContext ?? null, n.sni ?? null, n.http2, n.connectTimeoutMs, n.idleTimeoutMs, lb.policy, lb.hash ?? null, cb.maxConnections, cb.maxPendingRequests, cb.maxRequests, cb.maxRetries, n.healthKey ?? null]);
}

/** Every input of needsKey equal (policies by identity), so the keys are equal too. */
function sameNeeds(a: ClusterNeeds, b: ClusterNeeds): boolean {
  return (
    a.service === b.service &&
    a.namespace === b.namespace &&
    a.parsed.scheme === b.parsed.scheme &&
    a.parsed.host === b.parsed.host &&
    a.parsed.port === b.parsed.port &&
    a.resolver === b.resolver &&
    a.tlsContext === b.tlsContext &&
    a.sni === b.sni &&
    a.http2 === b.http2 &&
    a.connectTimeoutMs === b.connectTimeoutMs &&
    a.idleTimeoutMs === b.idleTimeoutMs &&
    a.loadBalancer === b.loadBalancer &&
    a.circuitBreakers === b.circuitBreakers &&
    a.healthKey === b.healthKey
  );
}

/** How many distinct requirements per service string are kept for sharing. */
const SHARED_PER_SERVICE = 16;

/**
 * The cluster requirements of one compile run. Thousands of Mappings usually share a few upstreams
 * with the same settings: they share one requirement object (intern), whose key is built once.
 */
export class ClusterNeedsTable {
  /** Distinct requirements by key, in the order routes first used them; nameClusters names them. */
  readonly byKey = new Map<string, ClusterNeeds>();
  private readonly byService = new Map<string, ClusterNeeds[]>();
  private readonly keys = new Map<ClusterNeeds, string>();

  /** A requirement equal to n seen before in this run, or n itself. */
  intern(n: ClusterNeeds): ClusterNeeds {
    const seen = this.byService.get(n.service);
    if (!seen) this.byService.set(n.service, [n]);
    else {
      for (let i = 0; i < seen.length; i++) if (sameNeeds(seen[i]!, n)) return seen[i]!;
      if (seen.length < SHARED_PER_SERVICE) seen.push(n);
    }
    return n;
  }

  /** Records that a route uses n and returns its key. */
  register(n: ClusterNeeds): string {
    let key = this.keys.get(n);
    if (key === undefined) {
      key = needsKey(n);
      this.keys.set(n, key);
    }
    if (!this.byKey.has(key)) this.byKey.set(key, n);
    return key;
  }
}


/**
 * The spec fields compileMapping reads, copied into one object shape by one pass over the fields
 * present. Each loaded spec has a hidden class of its own, so every direct read of a field, present
 * or not, is a slow lookup; forty of them per Mapping cost more than the rest of compileMapping.
 */
const UNSET_FIELDS = {
  prefix: undefined as unknown,
  prefix_regex: undefined as unknown,
  prefix_exact: undefined as unknown,
  case_sensitive: undefined as unknown,
  method: undefined as unknown,
  method_regex: undefined as unknown,
  headers: undefined as unknown,
  v2BoolHeaders: undefined as unknown,
  regex_headers: undefined as unknown,
  query_parameters: undefined as unknown,
  v2BoolQueryParameters: undefined as unknown,
  regex_query_parameters: undefined as unknown,
  hostname: undefined as unknown,
  host: undefined as unknown,
  host_regex: undefined as unknown,
  precedence: undefined as unknown,
  weight: undefined as unknown,
  cors: undefined as unknown,
  allow_upgrade: undefined as unknown,
  use_websocket: undefined as unknown,
  grpc: undefined as unknown,
  service: undefined as unknown,
  path_redirect: undefined as unknown,
  prefix_redirect: undefined as unknown,
  redirect_response_code: undefined as unknown,
  host_redirect: undefined as unknown,
  regex_redirect: undefined as unknown,
  tls: undefined as unknown,
  load_balancer: undefined as unknown,
  resolver: undefined as unknown,
  sni: undefined as unknown,
  connect_timeout_ms: undefined as unknown,
  cluster_idle_timeout_ms: undefined as unknown,
  circuit_breakers: undefined as unknown,
  health_checks: undefined as unknown,
  rewrite: undefined as unknown,
  regex_rewrite: undefined as unknown,
  retry_policy: undefined as unknown,
  host_rewrite: undefined as unknown,
  auto_host_rewrite: undefined as unknown,
  timeout_ms: undefined as unknown,
  idle_timeout_ms: undefined as unknown,
  shadow: undefined as unknown,
  bypass_auth: undefined as unknown,
  auth_context_extensions: undefined as unknown,
  labels: undefined as unknown,
  add_request_headers: undefined as unknown,
  remove_request_headers: undefined as unknown,
  add_response_headers: undefined as unknown,
  remove_response_headers: undefined as unknown,
};

type MappingFields = typeof UNSET_FIELDS;

const MAPPING_FIELDS: ReadonlySet<string> = new Set(Object.keys(UNSET_FIELDS));

function readMappingFields(spec: Obj): MappingFields {
  // A copy of one template object: a single fast clone, where a class constructor would run one
  // store per field in code that is not yet optimised.
  const f = { ...UNSET_FIELDS };
  const into = f as unknown as Obj;
  for (const k in spec) if (MAPPING_FIELDS.has(k)) into[k] = spec[k];
  return f;
}

function stringOf(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function numberOf(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/**
 * The group key of a match: equal keys mean the same requests match. It is also the last tie-break
 * of route order, so its text must stay exactly this.
 */
export function matchKey(
  prefix: string | undefined,
  path: string | undefined,
  regex: string | undefined,
  caseSensitive: boolean,
  method: string | undefined,
  methodRegex: boolean,
  headers: readonly IRHeaderMatch[],
  query: readonly IRQueryMatch[],
  precedence: number,
): string {
  return JSON.stringify([prefix ?? null, path ?? null, regex ?? null, caseSensitive, method ?? '', methodRegex, headers, query, precedence]);
}

export function cmpHeader(a: IRHeaderMatch, b: IRHeaderMatch): number {
  const ka = `${a.name}\u0000${a.exact ?? ''}\u0000${a.regex ?? ''}\u0000${a.present ? 1 : 0}${a.invert ? 1 : 0}`;
  const kb = `${b.name}\u0000${b.exact ?? ''}\u0000${b.regex ?? ''}\u0000${b.present ? 1 : 0}${b.invert ? 1 : 0}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
