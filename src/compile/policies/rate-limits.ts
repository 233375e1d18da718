// Rate limits: the Emissary RateLimitService (a gRPC service asked per request), Edge Stack
// RateLimits (the built-in limiter), and the label groups Mappings and the Module attach to routes.
//
// Which limiter runs: a RateLimitService when there is one (Emissary allows one; more is an error,
// as none of them would be used there); else the built-in limiter when RateLimits exist. Labels
// become descriptor groups only for the limiter's domain, with the Module's default_labels for
// that domain prepended to every group, exactly as Emissary builds Envoy's rate limit actions.

import type { Resource } from '../../api/resource.js';
import type {
  IRBuiltInRateLimiter, IRCluster, IRRateLimitAction, IRRateLimitGroup, IRRateLimitHeader, IRRateLimitRule, IRRateLimitService, IRSourceRef, IRTLSContext,
} from '../../ir/types.js';
import type { CompileContext } from '../context.js';
import { cmpStr } from '../context.js';
import { clusterBaseName, parseService } from '../service.js';
import { parseTemplate } from '../../dataplane/policies/rate-limit-templates.js';

type Obj = Record<string, unknown>;

/** Emissary's defaults: the RateLimitService's timeout_ms, and the label domain. */
export const DEFAULT_RATE_LIMIT_TIMEOUT_MS = 20;
export const DEFAULT_LABEL_DOMAIN = 'ambassador';

export interface RateLimitInputs {
  /** The `ambassador` Module, if valid. */
  readonly module: Resource | undefined;
  readonly services: readonly Resource[];
  readonly limits: readonly Resource[];
  readonly tlsContexts: ReadonlyMap<string, IRTLSContext>;
  /** Defaults for the service's cluster. */
  readonly connectTimeoutMs: number;
}

/** What Mappings need to turn their labels into groups (undefined when no limiter runs: labels then do nothing). */
export interface LabelContext {
  /** The domain whose labels count. */
  readonly domain: string;
  /** Module default_label_domain (Mappings without labels get that domain's defaults). */
  readonly defaultDomain: string;
  /** default_labels: domain → its default specifiers as actions. */
  readonly defaults: ReadonlyMap<string, readonly IRRateLimitAction[]>;
}

export interface CompiledRateLimits {
  readonly service?: IRRateLimitService;
  readonly builtIn?: IRBuiltInRateLimiter;
  /** The service's cluster. */
  readonly cluster?: IRCluster;
  readonly labels?: LabelContext;
}

const ref = (r: Resource): IRSourceRef => ({ kind: r.kind, name: r.name, namespace: r.namespace, origin: r.origin });

export function compileRateLimits(input: RateLimitInputs, ctx: CompileContext): CompiledRateLimits {
  const cfg = moduleConfig(input.module);
  const defaultDomain = typeof cfg['default_label_domain'] === 'string' && cfg['default_label_domain'] !== '' ? cfg['default_label_domain'] : DEFAULT_LABEL_DOMAIN;
  const defaults = input.module === undefined ? new Map<string, IRRateLimitAction[]>() : defaultLabels(input.module, cfg, ctx);

  const services = input.services.filter((r) => ctx.isValid(r));
  if (services.length > 1) {
    for (const r of services) {
      ctx.report(r, 'RateLimitServiceConflict', `only one RateLimitService may be configured; ${services.length} are (${services.map((s) => `${s.namespace}/${s.name}`).join(', ')}), so none is used and the configuration is refused`, 'metadata.name');
    }
    return {};
  }
  const limits = input.limits.filter((r) => ctx.isValid(r));
  if (services.length === 1) {
    const r = services[0] as Resource;
    const compiled = rateLimitService(r, defaultDomain, input, ctx);
    if (compiled === undefined) return {};
    for (const l of limits) {
      ctx.report(l, 'RateLimitNotUsed', `RateLimit ${l.namespace}/${l.name} configures the built-in limiter, but RateLimitService ${r.namespace}/${r.name} decides every rate limit; its limits do nothing`, 'spec.limits');
    }
    return { ...compiled, labels: { domain: compiled.service.domain, defaultDomain, defaults } };
  }
  if (limits.length === 0) return {};
  const builtIn = builtInLimiter(limits, defaultDomain, input.module, cfg, ctx);
  if (builtIn === undefined) return {};
  return { builtIn, labels: { domain: builtIn.domain, defaultDomain, defaults } };
}

function moduleConfig(m: Resource | undefined): Obj {
  const c = m === undefined ? undefined : (m.spec as Obj)['config'];
  return c !== null && typeof c === 'object' ? (c as Obj) : {};
}

// ───────────────────────── RateLimitService ─────────────────────────

function rateLimitService(
  r: Resource, defaultDomain: string, input: RateLimitInputs, ctx: CompileContext,
): { service: IRRateLimitService; cluster: IRCluster } | undefined {
  const s = r.spec as Obj;
  if (s['protocol_version'] !== 'v3') {
    // Emissary refuses v2 and defaults to it: only an explicit v3 works there.
    const v = s['protocol_version'] === undefined ? 'unset (Emissary reads it as v2)' : `'${String(s['protocol_version'])}'`;
    ctx.report(r, 'InvalidRateLimitService', `protocol_version is ${v}: only "v3" is supported, as in Emissary 3`, 'spec.protocol_version');
    return undefined;
  }
  const tls = typeof s['tls'] === 'string' && s['tls'] !== '' ? s['tls'] : undefined;
  const parsed = parseService(String(s['service']), tls !== undefined);
  if (typeof parsed === 'string') {
    ctx.report(r, 'InvalidService', parsed, 'spec.service');
    return undefined;
  }
  let tlsContext: IRTLSContext | undefined;
  if (tls !== undefined) {
    tlsContext = input.tlsContexts.get(tls);
    if (tlsContext === undefined) {
      ctx.report(r, 'TLSContextNotFound', `TLSContext '${tls}' (named by tls) was not found or is invalid`, 'spec.tls');
      return undefined;
    }
  }
  const name = `ratelimitservice_${clusterBaseName(String(s['service']), r.namespace).slice('cluster_'.length)}`;
  const cluster: IRCluster = {
    name,
    service: String(s['service']),
    namespace: r.namespace,
    scheme: parsed.scheme,
    endpoints: [{ host: parsed.host, port: parsed.port }],
    dns: !parsed.isIP,
    http2: true,
    ...(parsed.scheme === 'https' || tlsContext !== undefined ? { tls: { ...(tlsContext !== undefined ? { context: tlsContext.name } : {}), ...(tlsContext?.sni !== undefined ? { sni: tlsContext.sni } : {}) } } : {}),
    connectTimeoutMs: input.connectTimeoutMs,
    idleTimeoutMs: 0,
    loadBalancer: { policy: 'round_robin' },
    circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
    outlierDetection: { consecutiveFailures: 5, baseEjectionMs: 30000 },
  };
  const grpc = (s['grpc'] ?? {}) as Obj;
  const domain = typeof s['domain'] === 'string' && s['domain'] !== '' ? s['domain'] : defaultDomain;
  return {
    cluster,
    service: {
      cluster: name,
      domain,
      timeoutMs: typeof s['timeout_ms'] === 'number' ? s['timeout_ms'] : DEFAULT_RATE_LIMIT_TIMEOUT_MS,
      failureModeDeny: s['failure_mode_deny'] === true,
      useResourceExhaustedCode: grpc['use_resource_exhausted_code'] === true,
      source: ref(r),
    },
  };
}

// ───────────────────────── labels ─────────────────────────

/** One specifier (already in the v3 form the loader normalises to) as an action; a string says what is wrong. */
export function labelAction(spec: unknown): IRRateLimitAction | string {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return 'a label must be a map with one of source_cluster, destination_cluster, remote_address, request_headers, generic_key';
  const keys = Object.keys(spec);
  if (keys.length !== 1) return `a label must have exactly one key (it has ${keys.length}: ${keys.join(', ')})`;
  const kind = keys[0] as string;
  const v = (spec as Obj)[kind];
  const body = v !== null && typeof v === 'object' ? (v as Obj) : {};
  switch (kind) {
    case 'source_cluster':
    case 'destination_cluster':
    case 'remote_address':
      return { kind };
    case 'generic_key': {
      if (typeof body['value'] !== 'string') return 'generic_key needs a string value';
      const key = typeof body['key'] === 'string' && body['key'] !== '' ? body['key'] : 'generic_key';
      return { kind, key, value: body['value'] };
    }
    case 'request_headers': {
      if (typeof body['key'] !== 'string' || body['key'] === '' || typeof body['header_name'] !== 'string' || body['header_name'] === '') {
        return 'request_headers needs key and header_name';
      }
      if (body['omit_if_not_present'] === false) return 'request_headers omit_if_not_present: false is not supported (a missing header always drops its group, as in Emissary)';
      return { kind, key: body['key'], header: body['header_name'].toLowerCase() };
    }
    default:
      return `unknown label '${kind}' (use source_cluster, destination_cluster, remote_address, request_headers or generic_key)`;
  }
}

function defaultLabels(m: Resource, cfg: Obj, ctx: CompileContext): Map<string, IRRateLimitAction[]> {
  const out = new Map<string, IRRateLimitAction[]>();
  const dl = cfg['default_labels'];
  if (dl === undefined || dl === null || typeof dl !== 'object') return out;
  for (const [domain, v] of Object.entries(dl as Obj).sort((a, b) => cmpStr(a[0], b[0]))) {
    const list = v !== null && typeof v === 'object' ? (v as Obj)['defaults'] : undefined;
    if (!Array.isArray(list)) {
      ctx.report(m, 'InvalidLabel', `default_labels.${domain} must be a map with a "defaults" list of labels`, `spec.config.default_labels.${domain}`);
      continue;
    }
    const actions: IRRateLimitAction[] = [];
    list.forEach((s: unknown, i) => {
      const a = labelAction(s);
      if (typeof a === 'string') ctx.report(m, 'InvalidLabel', a, `spec.config.default_labels.${domain}.defaults.${i}`);
      else actions.push(a);
    });
    out.set(domain, actions);
  }
  return out;
}

/**
 * A Mapping's groups for the limiter's domain, defaults prepended; undefined when there are none.
 * Bad labels are reported on the Mapping (an error: a limit that was meant to apply would not).
 */
export function routeRateLimitGroups(labels: unknown, lc: LabelContext, m: Resource, ctx: CompileContext): IRRateLimitGroup[] | undefined {
  const hasLabels = labels !== null && typeof labels === 'object' && Object.keys(labels).length > 0;
  if (!hasLabels) {
    // Emissary gives a Mapping without labels one group of the default domain's defaults.
    const d = lc.defaultDomain === lc.domain ? lc.defaults.get(lc.domain) : undefined;
    return d !== undefined && d.length > 0 ? [{ name: 'defaults', actions: d }] : undefined;
  }
  const groups = (labels as Obj)[lc.domain];
  if (!Array.isArray(groups)) return undefined;
  const defaults = lc.defaults.get(lc.domain) ?? [];
  const out: IRRateLimitGroup[] = [];
  groups.forEach((g: unknown, gi) => {
    const field = `spec.labels.${lc.domain}.${gi}`;
    if (g === null || typeof g !== 'object' || Object.keys(g).length !== 1) {
      ctx.report(m, 'InvalidLabel', 'a label group must be a map with one key, its name, holding a list of labels', field);
      return;
    }
    const [name, specs] = Object.entries(g as Obj)[0] as [string, unknown];
    if (!Array.isArray(specs)) {
      ctx.report(m, 'InvalidLabel', `label group '${name}' must hold a list of labels`, `${field}.${name}`);
      return;
    }
    const actions: IRRateLimitAction[] = [];
    specs.forEach((s: unknown, si) => {
      const a = labelAction(s);
      if (typeof a === 'string') ctx.report(m, 'InvalidLabel', a, `${field}.${name}.${si}`);
      else actions.push(a);
    });
    // Groups imported from a v0 rate_limits list keep no defaults in Emissary.
    out.push({ name, actions: name.startsWith('v0_ratelimit_') ? actions : [...defaults, ...actions] });
  });
  return out.length > 0 ? out : undefined;
}

// ───────────────────────── RateLimit (the built-in limiter) ─────────────────────────

const UNITS = new Set(['second', 'minute', 'hour', 'day']);

function builtInLimiter(limits: readonly Resource[], domain: string, module: Resource | undefined, cfg: Obj, ctx: CompileContext): IRBuiltInRateLimiter | undefined {
  const rules: { rule: IRRateLimitRule; order: number }[] = [];
  let order = 0;
  for (const r of limits) {
    const s = r.spec as Obj;
    const list = Array.isArray(s['limits']) ? (s['limits'] as Obj[]) : [];
    const compiled: IRRateLimitRule[] = [];
    let ok = true;
    list.forEach((l, i) => {
      const rule = limitRule(r, l, i, ctx);
      if (rule === undefined) ok = false;
      else compiled.push(rule);
    });
    // A RateLimit with one bad limit is refused whole: its other limits would be enforced without it.
    if (!ok) continue;
    if (s['domain'] !== domain) {
      ctx.report(r, 'RateLimitNotUsed', `RateLimit ${r.namespace}/${r.name} is for domain '${String(s['domain'])}', but Mapping labels are read for domain '${domain}' (Module default_label_domain): its limits never match`, 'spec.domain');
      continue;
    }
    for (const rule of compiled) rules.push({ rule, order: order++ });
  }
  if (rules.length === 0) return undefined;
  // The longest pattern wins; among equals, the first in resource order (namespace, name, index).
  rules.sort((a, b) => b.rule.pattern.length - a.rule.pattern.length || a.order - b.order);
  const rl = (cfg['portico_rate_limit'] ?? {}) as Obj;
  const url = typeof rl['redis_url'] === 'string' ? rl['redis_url'] : undefined;
  if (url !== undefined && module !== undefined) {
    // Never echoed: it may hold a password.
    const field = 'spec.config.portico_rate_limit.redis_url';
    const m = /^rediss?:\/\/([^/?#]*)(\/\d*)?$/.exec(url);
    if (m === null || m[1] === '') {
      ctx.report(module, 'SchemaViolation', 'portico_rate_limit.redis_url: expected redis://HOST:PORT[/DB] or rediss://HOST:PORT[/DB]', field);
      return undefined;
    }
    if ((m[1] as string).includes('@')) {
      ctx.report(module, 'SchemaViolation', 'portico_rate_limit.redis_url carries credentials, which would be in git: give the URL without them, and set REDIS_URL (which may carry them) where Portico runs', field);
      return undefined;
    }
  }
  return {
    domain,
    rules: rules.map((x) => x.rule),
    ...(url !== undefined ? { redis: { url } } : {}),
    timeoutMs: typeof rl['timeout_ms'] === 'number' ? rl['timeout_ms'] : DEFAULT_RATE_LIMIT_TIMEOUT_MS,
    failureModeDeny: rl['failure_mode_deny'] === true,
  };
}

function headersOf(r: Resource, v: unknown, field: string, forError: boolean, ctx: CompileContext): IRRateLimitHeader[] | undefined {
  if (!Array.isArray(v)) return [];
  const out: IRRateLimitHeader[] = [];
  let ok = true;
  v.forEach((h: Obj, i) => {
    const t = parseTemplate(String(h['value']), forError);
    if (typeof t === 'string') {
      ctx.report(r, 'InvalidRateLimit', `header ${String(h['name'])}: ${t}`, `${field}.${i}.value`);
      ok = false;
      return;
    }
    out.push({ name: String(h['name']), value: String(h['value']) });
  });
  return ok ? out : undefined;
}

function limitRule(r: Resource, l: Obj, i: number, ctx: CompileContext): IRRateLimitRule | undefined {
  const field = `spec.limits.${i}`;
  const unit = String(l['unit']).toLowerCase();
  if (!UNITS.has(unit)) {
    ctx.report(r, 'InvalidRateLimit', `unit '${String(l['unit'])}' is not one of second, minute, hour, day`, `${field}.unit`);
    return undefined;
  }
  const actionRaw = l['action'] === undefined ? 'enforce' : String(l['action']).toLowerCase();
  if (actionRaw !== 'enforce' && actionRaw !== 'logonly') {
    ctx.report(r, 'InvalidRateLimit', `action '${String(l['action'])}' is not Enforce or LogOnly`, `${field}.action`);
    return undefined;
  }
  const pattern: { key: string; value: string }[][] = [];
  for (const item of l['pattern'] as Obj[]) {
    const alts = Object.entries(item).map(([key, value]) => ({ key, value: String(value) }));
    if (alts.length === 0) {
      ctx.report(r, 'InvalidRateLimit', 'a pattern item must name at least one label', `${field}.pattern`);
      return undefined;
    }
    pattern.push(alts.sort((a, b) => cmpStr(a.key, b.key) || cmpStr(a.value, b.value)));
  }
  const req = headersOf(r, l['injectRequestHeaders'], `${field}.injectRequestHeaders`, false, ctx);
  const res = headersOf(r, l['injectResponseHeaders'], `${field}.injectResponseHeaders`, false, ctx);
  const er = l['errorResponse'] as Obj | undefined;
  const errHeaders = er === undefined ? [] : headersOf(r, er['headers'], `${field}.errorResponse.headers`, true, ctx);
  if (req === undefined || res === undefined || errHeaders === undefined) return undefined;
  let bodyTemplate: string | undefined;
  if (er !== undefined && typeof er['bodyTemplate'] === 'string' && er['bodyTemplate'] !== '') {
    const t = parseTemplate(er['bodyTemplate'], true);
    if (typeof t === 'string') {
      ctx.report(r, 'InvalidRateLimit', `bodyTemplate: ${t}`, `${field}.errorResponse.bodyTemplate`);
      return undefined;
    }
    bodyTemplate = er['bodyTemplate'];
  }
  return {
    name: typeof l['name'] === 'string' ? l['name'] : `${r.name}.${r.namespace}-${i}`,
    pattern,
    rate: l['rate'] as number,
    unit: unit as IRRateLimitRule['unit'],
    ...(typeof l['burstFactor'] === 'number' ? { burstFactor: l['burstFactor'] } : {}),
    action: actionRaw === 'enforce' ? 'Enforce' : 'LogOnly',
    injectRequestHeaders: req,
    injectResponseHeaders: res,
    ...(er !== undefined ? { errorResponse: { headers: errHeaders, ...(bodyTemplate !== undefined ? { bodyTemplate } : {}) } } : {}),
    source: ref(r),
  };
}
