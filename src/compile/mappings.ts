// Mappings: each valid Mapping becomes a MappingPlan — its match, its backend policy and the
// cluster it needs. Errors are reported on the Mapping (field and line); the rest still compiles.

import type { Resource } from '../api/resource.js';
import type { IRBackend, IRCors, IRGlobal, IRHeaderMatch, IRQueryMatch, IRRedirect, IRRetryPolicy, IRLoadBalancer, IRCircuitBreakers, IRSourceRef } from '../ir/types.js';
import type { CompileContext } from './context.js';
import { checkRegex } from './regex-safety.js';
import { parseService, type ParsedService } from './service.js';
import { canonicalHostname } from './hostname-globs.js';
import { corsFrom, headerRulesFrom, retryPolicyFrom, loadBalancerFrom, circuitBreakersFrom } from './mapping-policy.js';

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
}

export interface MappingPlan {
  readonly resource: Resource;
  readonly ref: IRSourceRef;
  /** Hostname glob used for Host attachment (undefined: attaches only by selector). */
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
  /** Explicit weight, if given. */
  readonly weight?: number;
  readonly shadow: boolean;
  /** The route backend this Mapping contributes; each route copies it and sets cluster and weight. */
  readonly backend?: IRBackend;
  readonly cluster?: ClusterNeeds;
  readonly redirect?: IRRedirect;
  readonly cors?: IRCors;
  readonly allowUpgrade: string[];
  readonly grpc: boolean;
  readonly bypassAuth: boolean;
}

const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);

export function compileMapping(r: Resource, global: IRGlobal, ctx: CompileContext): MappingPlan | undefined {
  const s = r.spec as Obj;
  const str = (k: string): string | undefined => (typeof s[k] === 'string' ? (s[k] as string) : undefined);
  const num = (k: string): number | undefined => (typeof s[k] === 'number' ? (s[k] as number) : undefined);
  let ok = true;
  const fail = (code: Parameters<CompileContext['report']>[1], msg: string, field: string): void => {
    ctx.report(r, code, msg, field);
    ok = false;
  };

  // ── match ──
  const rawPrefix = str('prefix');
  let prefix: string | undefined;
  let path: string | undefined;
  let regex: string | undefined;
  if (rawPrefix === undefined) fail('SchemaViolation', 'prefix is required', 'spec.prefix');
  else if (s['prefix_regex'] === true) {
    const e = checkRegex(rawPrefix);
    if (e) fail(e.startsWith('invalid') ? 'InvalidRegex' : 'UnsafeRegex', `prefix: ${e}`, 'spec.prefix');
    regex = rawPrefix;
  } else if (!rawPrefix.startsWith('/')) fail('SchemaViolation', `prefix '${rawPrefix}' must start with '/'`, 'spec.prefix');
  else if (s['prefix_exact'] === true) path = rawPrefix;
  else prefix = rawPrefix;

  const caseSensitive = s['case_sensitive'] !== false;
  const method = str('method')?.toUpperCase();
  const methodRegex = s['method_regex'] === true;
  if (method && methodRegex) {
    const e = checkRegex(method);
    if (e) fail(e.startsWith('invalid') ? 'InvalidRegex' : 'UnsafeRegex', `method: ${e}`, 'spec.method');
  }

  const headers: IRHeaderMatch[] = [];
  const boolHeaders = new Set(Array.isArray(s['v2BoolHeaders']) ? (s['v2BoolHeaders'] as string[]) : []);
  for (const [name, v] of Object.entries((s['headers'] ?? {}) as Obj)) {
    const n = name.toLowerCase();
    if (boolHeaders.has(name) || v === true) headers.push({ name: n, present: true });
    else if (v === false) headers.push({ name: n, present: true, invert: true });
    else headers.push({ name: n, exact: String(v) });
  }
  for (const [name, v] of Object.entries((s['regex_headers'] ?? {}) as Obj)) {
    const e = checkRegex(String(v));
    if (e) fail(e.startsWith('invalid') ? 'InvalidRegex' : 'UnsafeRegex', `regex_headers.${name}: ${e}`, `spec.regex_headers.${name}`);
    headers.push({ name: name.toLowerCase(), regex: String(v) });
  }
  const query: IRQueryMatch[] = [];
  const boolQuery = new Set(Array.isArray(s['v2BoolQueryParameters']) ? (s['v2BoolQueryParameters'] as string[]) : []);
  for (const [name, v] of Object.entries((s['query_parameters'] ?? {}) as Obj)) {
    if (boolQuery.has(name) || v === true) query.push({ name, present: true });
    else query.push({ name, exact: String(v) });
  }
  for (const [name, v] of Object.entries((s['regex_query_parameters'] ?? {}) as Obj)) {
    const e = checkRegex(String(v));
    if (e) fail(e.startsWith('invalid') ? 'InvalidRegex' : 'UnsafeRegex', `regex_query_parameters.${name}: ${e}`, `spec.regex_query_parameters.${name}`);
    query.push({ name, regex: String(v) });
  }
  headers.sort((a, b) => cmpHeader(a, b));
  query.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  // hostname (glob, for attachment) and the deprecated host (exact, or regex with host_regex)
  let hostname = str('hostname') !== undefined ? canonicalHostname(str('hostname')!) : undefined;
  let authority: IRHeaderMatch | undefined;
  const host = str('host');
  if (host !== undefined) {
    if (s['host_regex'] === true) {
      const e = checkRegex(host);
      if (e) fail(e.startsWith('invalid') ? 'InvalidRegex' : 'UnsafeRegex', `host: ${e}`, 'spec.host');
      authority = { name: ':authority', regex: host };
      hostname ??= '*';
    } else if (hostname === undefined) hostname = canonicalHostname(host);
    else authority = { name: ':authority', exact: canonicalHostname(host) };
  }

  const precedence = num('precedence') ?? 0;
  const weight = num('weight');
  if (weight !== undefined && (weight < 0 || weight > 100 || !Number.isInteger(weight))) fail('SchemaViolation', 'weight must be an integer from 0 to 100', 'spec.weight');

  // ── CORS, upgrades ──
  let cors: IRCors | undefined;
  if (s['cors'] !== undefined) {
    const c = corsFrom(s['cors'] as Obj);
    if (typeof c === 'string') fail('InvalidCORS', c, 'spec.cors');
    else cors = c;
  }
  const allowUpgrade = Array.isArray(s['allow_upgrade']) ? (s['allow_upgrade'] as string[]).map((u) => u.toLowerCase()) : [];
  if (s['use_websocket'] === true && !allowUpgrade.includes('websocket')) allowUpgrade.push('websocket');
  allowUpgrade.sort();
  const grpc = s['grpc'] === true;

  // ── redirect or route ──
  const service = str('service');
  let redirect: IRRedirect | undefined;
  const code = num('redirect_response_code') ?? 301;
  if (!REDIRECT_CODES.has(code)) fail('SchemaViolation', 'redirect_response_code must be one of 301, 302, 303, 307, 308', 'spec.redirect_response_code');
  if (s['host_redirect'] === true) {
    const rr: { -readonly [K in keyof IRRedirect]: IRRedirect[K] } = { responseCode: code as IRRedirect['responseCode'] };
    if (service) rr.hostRedirect = service.replace(/^https?:\/\//, '');
    if (str('path_redirect') !== undefined) rr.pathRedirect = str('path_redirect')!;
    if (str('prefix_redirect') !== undefined) rr.prefixRedirect = str('prefix_redirect')!;
    const rx = s['regex_redirect'] as Obj | undefined;
    if (rx && typeof rx['pattern'] === 'string') {
      const e = checkRegex(rx['pattern']);
      if (e) fail(e.startsWith('invalid') ? 'InvalidRegex' : 'UnsafeRegex', `regex_redirect.pattern: ${e}`, 'spec.regex_redirect.pattern');
      rr.regexRedirect = { pattern: rx['pattern'], substitution: String(rx['substitution'] ?? '') };
    }
    if (service?.startsWith('https://')) rr.httpsRedirect = true;
    redirect = rr;
  } else if (str('path_redirect') !== undefined || str('prefix_redirect') !== undefined || s['regex_redirect'] !== undefined) {
    fail('SchemaViolation', 'path_redirect, prefix_redirect and regex_redirect only take effect with host_redirect: true', 'spec.host_redirect');
  }

  let backend: MappingPlan['backend'];
  let cluster: ClusterNeeds | undefined;
  if (!redirect) {
    if (!service) fail('SchemaViolation', 'service is required', 'spec.service');
    else {
      const tlsName = typeof s['tls'] === 'string' ? (s['tls'] as string) : undefined;
      const parsed = parseService(service, s['tls'] === true || tlsName !== undefined);
      if (typeof parsed === 'string') fail('InvalidService', parsed, 'spec.service');
      else {
        let lb = global.loadBalancer;
        if (s['load_balancer'] !== undefined) {
          const l = loadBalancerFrom(s['load_balancer'] as Obj);
          if (typeof l === 'string') fail('SchemaViolation', l, 'spec.load_balancer');
          else lb = l;
        }
        cluster = {
          service,
          parsed,
          namespace: r.namespace,
          ...(str('resolver') ? { resolver: str('resolver')! } : {}),
          ...(tlsName ? { tlsContext: tlsName } : {}),
          ...(str('sni') ? { sni: str('sni')! } : {}),
          http2: grpc,
          connectTimeoutMs: num('connect_timeout_ms') ?? global.connectTimeoutMs,
          idleTimeoutMs: num('cluster_idle_timeout_ms') ?? global.clusterIdleTimeoutMs,
          loadBalancer: lb,
          circuitBreakers: s['circuit_breakers'] !== undefined ? circuitBreakersFrom(s['circuit_breakers'], global.circuitBreakers) : global.circuitBreakers,
        };
      }
    }
    let rewritePrefix: string | null = '/';
    if (s['rewrite'] !== undefined) rewritePrefix = s['rewrite'] === '' || s['rewrite'] === null ? null : String(s['rewrite']);
    let regexRewrite: { pattern: string; substitution: string } | undefined;
    const rx = s['regex_rewrite'] as Obj | undefined;
    if (rx && typeof rx['pattern'] === 'string') {
      const e = checkRegex(rx['pattern']);
      if (e) fail(e.startsWith('invalid') ? 'InvalidRegex' : 'UnsafeRegex', `regex_rewrite.pattern: ${e}`, 'spec.regex_rewrite.pattern');
      regexRewrite = { pattern: rx['pattern'], substitution: String(rx['substitution'] ?? '') };
      rewritePrefix = null; // regex_rewrite replaces the prefix rewrite, as in Emissary
    }
    let retryPolicy: IRRetryPolicy | undefined = global.retryPolicy;
    if (s['retry_policy'] !== undefined) {
      const rp = retryPolicyFrom(s['retry_policy'] as Obj);
      if (typeof rp === 'string') fail('SchemaViolation', rp, 'spec.retry_policy');
      else retryPolicy = rp;
    }
    backend = {
      // Placeholders that keep cluster and weight first in the IR's member order.
      cluster: '',
      weight: 0,
      rewrite: { prefix: rewritePrefix, ...(regexRewrite ? { regex: regexRewrite } : {}) },
      ...(str('host_rewrite') ? { hostRewrite: str('host_rewrite')! } : {}),
      autoHostRewrite: s['auto_host_rewrite'] === true,
      headers: headerRulesFrom(s),
      timeouts: { requestMs: num('timeout_ms') ?? global.requestTimeoutMs, idleMs: num('idle_timeout_ms') ?? 0 },
      ...(retryPolicy ? { retryPolicy } : {}),
      mapping: { kind: r.kind, name: r.name, namespace: r.namespace, origin: r.origin },
    };
  }
  if (!ok) return undefined;
  return {
    resource: r,
    ref: { kind: r.kind, name: r.name, namespace: r.namespace, origin: r.origin },
    ...(hostname !== undefined ? { hostname } : {}),
    ...(authority ? { authority } : {}),
    ...(prefix !== undefined ? { prefix } : {}),
    ...(path !== undefined ? { path } : {}),
    ...(regex !== undefined ? { regex } : {}),
    caseSensitive,
    ...(method ? { method } : {}),
    methodRegex,
    headers,
    query,
    precedence,
    ...(weight !== undefined ? { weight } : {}),
    shadow: s['shadow'] === true,
    ...(backend ? { backend } : {}),
    ...(cluster ? { cluster } : {}),
    ...(redirect ? { redirect } : {}),
    ...(cors ? { cors } : {}),
    allowUpgrade,
    grpc,
    bypassAuth: s['bypass_auth'] === true,
  };
}

export function cmpHeader(a: IRHeaderMatch, b: IRHeaderMatch): number {
  const ka = `${a.name}\u0000${a.exact ?? ''}\u0000${a.regex ?? ''}\u0000${a.present ? 1 : 0}${a.invert ? 1 : 0}`;
  const kb = `${b.name}\u0000${b.exact ?? ''}\u0000${b.regex ?? ''}\u0000${b.present ? 1 : 0}${b.invert ? 1 : 0}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
