// Turns the policy fields of a Mapping (or the Module) into IR values: header rules, CORS,
// retry policy, load balancer, circuit breakers. Returns an error string instead of throwing.

import type { IRCircuitBreakers, IRCors, IRHeaderRules, IRHeaderValue, IRLoadBalancer, IRRetryPolicy } from '../ir/types.js';
import { parseDurationMs } from './service.js';
import type { HeaderCredentials, ReportProblem } from './header-credentials.js';

type Obj = Record<string, unknown>;

function list(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  const items: readonly unknown[] = Array.isArray(v) ? v : String(v).split(',');
  const out: string[] = [];
  for (let i = 0; i < items.length; i++) {
    const t = String(items[i]).trim();
    if (t !== '') out.push(t);
  }
  return out;
}

/** list(), lower-cased and sorted: header names to remove. */
function lowerSortedList(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  const items: readonly unknown[] = Array.isArray(v) ? v : String(v).split(',');
  if (items.length === 1) {
    // One name is the common case: no sorting, no filtering.
    const one = String(items[0]).trim().toLowerCase();
    return one === '' ? [] : [one];
  }
  // The IR keeps this array: map() allocates it at its exact length, where pushing keeps room for 16.
  let out = items.map(lowerTrimmed);
  if (out.includes('')) out = out.filter((x) => x !== '');
  if (out.length > 1) out.sort();
  return out;
}

function lowerTrimmed(x: unknown): string {
  return String(x).trim().toLowerCase();
}

/**
 * Header values are gathered here first, because their count is known only at the end; only the
 * exact-length copy is kept by the IR. compile() is synchronous, so one array serves every call.
 */
const gathered: (IRHeaderValue | undefined)[] = [];

// Loaded objects each have a hidden class of their own: one for-in pass reads their members far
// faster than looking each member up by name.
function headerValues(v: unknown): IRHeaderValue[] {
  if (!v || typeof v !== 'object') return [];
  const o = v as Obj;
  let n = 0;
  for (const name in o) {
    const val = o[name];
    if (val !== null && typeof val === 'object') {
      let value: unknown;
      let append: unknown;
      for (const k in val) {
        if (k === 'value') value = (val as Obj)[k];
        else if (k === 'append') append = (val as Obj)[k];
      }
      gathered[n++] = { name: name.toLowerCase(), value: String(value ?? ''), append: append === undefined ? true : Boolean(append) };
    } else gathered[n++] = { name: name.toLowerCase(), value: String(val), append: true };
  }
  const out = exactCopy(gathered, n);
  if (n === 2) {
    // The common pair is put in order by hand: a sort call costs more than the comparison.
    if (out[1]!.name < out[0]!.name) out.reverse();
  } else if (n > 2) out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}

/** The first n items of a gathering array, which is then emptied so that it keeps nothing alive. */
function exactCopy<T>(from: (T | undefined)[], n: number): T[] {
  if (n === 0) return [];
  const out = from.slice(0, n) as T[];
  for (let i = 0; i < n; i++) from[i] = undefined;
  return out;
}

/** The header-rule fields of a Mapping spec or of the Module's config. */
export interface HeaderRuleFields {
  readonly add_request_headers?: unknown;
  readonly remove_request_headers?: unknown;
  readonly add_response_headers?: unknown;
  readonly remove_response_headers?: unknown;
}

/**
 * A Mapping's header-rule fields, each taken from the Module's defaults when the Mapping does not
 * set it: the Mapping's own value replaces the default, as in Emissary (its lookup_default).
 */
export function withMappingDefaults(spec: HeaderRuleFields, defaults: HeaderRuleFields | undefined): HeaderRuleFields {
  if (defaults === undefined) return spec;
  return {
    add_request_headers: spec.add_request_headers ?? defaults.add_request_headers,
    remove_request_headers: spec.remove_request_headers ?? defaults.remove_request_headers,
    add_response_headers: spec.add_response_headers ?? defaults.add_response_headers,
    remove_response_headers: spec.remove_response_headers ?? defaults.remove_response_headers,
  };
}

/** How credentials in the rules are handled (header-credentials.ts), and where to report. */
export interface CredentialRules {
  readonly credentials: HeaderCredentials;
  /** The rules belong to a team source. */
  readonly team: boolean;
  /** Field prefix of the rules ("spec." for a Mapping). */
  readonly field: string;
  readonly report: ReportProblem;
}

/**
 * `shared`, when given, hands out one IR value for equal header rules across a compile run.
 * Undefined when `creds` reported an error.
 */
export function headerRulesFrom(spec: HeaderRuleFields, shared?: SharedHeaderRules, creds?: CredentialRules): IRHeaderRules | undefined {
  if (creds && (creds.credentials.concerns(spec.add_request_headers) || creds.credentials.concerns(spec.add_response_headers))) {
    // Credentials are never shared: equal redacted values may stand for different secrets.
    const c = creds.credentials;
    const requestAdd = c.concerns(spec.add_request_headers) ? c.values(spec.add_request_headers as Obj, creds.team, `${creds.field}add_request_headers`, creds.report) : headerValues(spec.add_request_headers);
    const responseAdd = c.concerns(spec.add_response_headers) ? c.values(spec.add_response_headers as Obj, creds.team, `${creds.field}add_response_headers`, creds.report) : headerValues(spec.add_response_headers);
    if (!requestAdd || !responseAdd) return undefined;
    return { requestAdd, requestRemove: lowerSortedList(spec.remove_request_headers), responseAdd, responseRemove: lowerSortedList(spec.remove_response_headers) };
  }
  if (!shared) {
    return {
      requestAdd: headerValues(spec.add_request_headers),
      requestRemove: lowerSortedList(spec.remove_request_headers),
      responseAdd: headerValues(spec.add_response_headers),
      responseRemove: lowerSortedList(spec.remove_response_headers),
    };
  }
  return {
    requestAdd: shared.values(headerValues(spec.add_request_headers)),
    requestRemove: shared.names(spec.remove_request_headers),
    responseAdd: shared.values(headerValues(spec.add_response_headers)),
    responseRemove: shared.names(spec.remove_response_headers),
  };
}

/**
 * Header rules of one compile run, shared between the Mappings that write the same ones: thousands
 * of Mappings add and remove the same few headers, and the IR only reads them. Values are shared,
 * and so are lists of one name or one value.
 */
export class SharedHeaderRules {
  private readonly oneName = new Map<string, readonly string[]>();
  private readonly valueObjects = [new Map<string, Map<string, IRHeaderValue>>(), new Map<string, Map<string, IRHeaderValue>>()] as const;
  private readonly oneValue = new Map<IRHeaderValue, readonly IRHeaderValue[]>();

  /** lowerSortedList(v), one list per name when v is a single name. */
  names(v: unknown): readonly string[] {
    if (typeof v !== 'string' && !(Array.isArray(v) && v.length === 1 && typeof v[0] === 'string')) return lowerSortedList(v);
    const raw = (typeof v === 'string' ? v : v[0]) as string;
    // A string may still hold several comma-separated names: only a plain name is shared.
    if (typeof v === 'string' && v.includes(',')) return lowerSortedList(v);
    let list = this.oneName.get(raw);
    if (!list) {
      list = lowerSortedList(v);
      this.oneName.set(raw, list);
    }
    return list;
  }

  /** The same list for equal values (as built by headerValues) of one or two headers. */
  values(built: IRHeaderValue[]): readonly IRHeaderValue[] {
    if (built.length === 0 || built.length > 2) return built;
    const first = this.value(built[0] as IRHeaderValue);
    if (built.length === 1) {
      let list = this.oneValue.get(first);
      if (!list) this.oneValue.set(first, (list = [first]));
      return list;
    }
    // A pair usually holds a value of its own (a route name): only its members are shared.
    built[0] = first;
    built[1] = this.value(built[1] as IRHeaderValue);
    return built;
  }

  private value(h: IRHeaderValue): IRHeaderValue {
    const byName = this.valueObjects[h.append ? 1 : 0];
    let byValue = byName.get(h.name);
    if (!byValue) byName.set(h.name, (byValue = new Map()));
    const seen = byValue.get(h.value);
    if (seen) return seen;
    byValue.set(h.value, h);
    return h;
  }
}

/**
 * The CORS policy as served. Origins no browser sends (a path, no scheme) never match, in Emissary
 * too, and are left out; with credentials, "*" is left out, so that no site is answered with
 * credentials unless it is listed by name. The loader warns about both (InvalidCORS).
 */
export function corsFrom(c: Obj): IRCors | string {
  const credentials = c['credentials'] === true;
  const origins = list(c['origins']).filter((o) => (o === '*' ? !credentials : o === 'null' || ORIGIN_RE.test(o)));
  const out: { -readonly [K in keyof IRCors]: IRCors[K] } = {
    origins: origins.map((o) => o.toLowerCase()).sort(),
    originRegexes: [],
    methods: list(c['methods']).map((m) => m.toUpperCase()).sort(),
    headers: list(c['headers']).map((h) => h.toLowerCase()).sort(),
    exposedHeaders: list(c['exposed_headers']).map((h) => h.toLowerCase()).sort(),
    credentials,
  };
  if (c['max_age'] !== undefined) out.maxAge = String(c['max_age']);
  return out;
}

/** An origin as browsers send it: scheme://host[:port]. */
const ORIGIN_RE = /^[a-z][a-z0-9+.-]*:\/\/[^/\s?#]+$/i;

const RETRY_ON = new Set(['5xx', 'gateway-error', 'connect-failure', 'retriable-4xx', 'refused-stream', 'retriable-status-codes', 'reset', 'retriable-headers', 'envoy-ratelimited']);

export function retryPolicyFrom(r: Obj): IRRetryPolicy | string {
  const retryOn = list(r['retry_on']);
  for (const x of retryOn) if (!RETRY_ON.has(x)) return `retry_policy.retry_on: unknown condition '${x}' (known: ${[...RETRY_ON].join(', ')})`;
  const n = r['num_retries'] === undefined ? 1 : Number(r['num_retries']);
  // Above 10 is kept, as in Emissary; the loader warns (AboveLimit).
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) return 'retry_policy.num_retries must be an integer from 0 to 4294967295';
  // A retry_policy retries requests with a body too, as Envoy does for Emissary: the body is kept for
  // a replay up to 1 MiB (Emissary's buffer); a longer one is sent once.
  const out: { -readonly [K in keyof IRRetryPolicy]: IRRetryPolicy[K] } = { retryOn: retryOn.sort(), numRetries: n, retryNonIdempotent: true };
  if (r['per_try_timeout'] !== undefined) {
    const ms = parseDurationMs(r['per_try_timeout'] as string);
    if (typeof ms === 'string') return `retry_policy.per_try_timeout: ${ms}`;
    out.perTryTimeoutMs = ms;
  }
  return out;
}

export function loadBalancerFrom(lb: Obj): IRLoadBalancer | string {
  const policy = String(lb['policy'] ?? 'round_robin');
  if (policy === 'round_robin' || policy === 'least_request') return { policy };
  if (policy === 'ring_hash' || policy === 'maglev') {
    if (typeof lb['header'] === 'string') return { policy, hash: { header: (lb['header'] as string).toLowerCase() } };
    if (lb['cookie'] && typeof lb['cookie'] === 'object') {
      const c = lb['cookie'] as Obj;
      if (typeof c['name'] !== 'string') return 'load_balancer.cookie.name is required';
      return { policy, hash: { cookie: { name: c['name'], ...(c['ttl'] !== undefined ? { ttl: String(c['ttl']) } : {}), ...(c['path'] !== undefined ? { path: String(c['path']) } : {}) } } };
    }
    if (lb['source_ip'] === true) return { policy, hash: { sourceIp: true } };
    return `load_balancer policy ${policy} needs one of header, cookie or source_ip`;
  }
  return `load_balancer.policy '${policy}' is not one of round_robin, least_request, ring_hash, maglev`;
}

export function circuitBreakersFrom(v: unknown, base: IRCircuitBreakers): IRCircuitBreakers {
  const arr = Array.isArray(v) ? (v as Obj[]) : v && typeof v === 'object' ? [v as Obj] : [];
  // Emissary allows one entry per priority; Portico has one priority class, so the default one applies.
  const cb = arr.find((x) => (x['priority'] ?? 'default') === 'default') ?? arr[0];
  if (!cb) return base;
  const n = (k: string, d: number): number => (typeof cb[k] === 'number' ? (cb[k] as number) : d);
  return {
    maxConnections: n('max_connections', base.maxConnections),
    maxPendingRequests: n('max_pending_requests', base.maxPendingRequests),
    maxRequests: n('max_requests', base.maxRequests),
    maxRetries: n('max_retries', base.maxRetries),
  };
}
