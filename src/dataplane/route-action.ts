// What to do with a matched route, compiled once per IR: weighted backends with their rewrite,
// header, timeout and retry policy; redirects; shadow; CORS. Nothing here is parsed per request.

import type { IR, IRBackend, IRCors, IRHeaderValue, IRRedirect, IRRetryPolicy, IRRoute, IRVirtualHost } from '../ir/types.js';
import { isInlineHeaderValue, type SecretStore } from '../ir/secrets.js';
import { compileCors, type CompiledCors } from './cors.js';
import { compileRegex } from './build-errors.js';
import { RegexSubstitution } from '../ir/re2-regex.js';
import type { UpstreamCluster } from './upstream-pool.js';
import type { PolicyChain } from './policies/chain.js';
import type { PolicyChains } from './policies/chain-builder.js';
import { compileValue, type FilledValue, type RuleValues } from './header-values.js';

export interface CompiledRetry {
  readonly on5xx: boolean;
  readonly onGatewayError: boolean;
  readonly onConnectFailure: boolean;
  readonly onReset: boolean;
  readonly onRetriable4xx: boolean;
  readonly numRetries: number;
  readonly perTryTimeoutMs: number;
  readonly retryNonIdempotent: boolean;
}

export interface CompiledBackend {
  readonly ir: IRBackend;
  /** undefined when the IR names a cluster that does not exist (→ 503 for this backend only). */
  readonly cluster: UpstreamCluster | undefined;
  readonly prefixRewrite: string | null;
  readonly regexRewrite: RegexSubstitution | undefined;
  readonly hostRewrite: string | undefined;
  readonly autoHostRewrite: boolean;
  /** Backend rules then global rules: global is applied last, as in Envoy. */
  readonly requestRemove: ReadonlySet<string>;
  readonly requestAdd: IRBackend['headers']['requestAdd'];
  /** Envoy's dynamic values in requestAdd, per rule; undefined when there is none (the common case). */
  readonly requestAddValues: RuleValues | undefined;
  readonly responseRemove: ReadonlySet<string>;
  readonly responseAdd: IRBackend['headers']['responseAdd'];
  readonly responseAddValues: RuleValues | undefined;
  /** responseAdd for the replies the gateway makes when this backend fails it (see ReplyRules). */
  readonly replyRules: ReplyRules | undefined;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly retry: CompiledRetry | undefined;
}

export interface CompiledRedirect {
  readonly ir: IRRedirect;
  readonly regex: RegexSubstitution | undefined;
}

/**
 * Response header rules for the replies the gateway makes itself for a route — its redirect, the
 * https redirect of an insecure request, an upstream failure — as Envoy applies a route's
 * response_headers_to_add to its direct and local responses. Rules that remove headers do not apply
 * to them: the gateway's own fields say what the reply is.
 */
export interface ReplyRules {
  readonly adds: readonly IRHeaderValue[];
  readonly values: RuleValues | undefined;
}

export interface RouteAction {
  readonly backends: readonly CompiledBackend[];
  /** Running sum of weights, for one random draw per request. */
  readonly cumulative: readonly number[];
  readonly totalWeight: number;
  readonly redirect: CompiledRedirect | undefined;
  /** The route's response header rules for the replies the gateway makes for it; undefined when it has none. */
  readonly replyRules: ReplyRules | undefined;
  readonly shadow: { readonly cluster: UpstreamCluster | undefined; readonly weight: number } | undefined;
  readonly cors: CompiledCors | undefined;
  readonly vhost: IRVirtualHost;
  /** The route's edge policies (IP filter, auth, ...); undefined: none, and the request path pays nothing. */
  readonly policies: PolicyChain | undefined;
}

/** Policies shared by many routes (the Module's) are compiled once per IR object. */
const retryCache = new WeakMap<IRRetryPolicy, CompiledRetry | undefined>();
const corsCache = new WeakMap<IRCors, CompiledCors>();

function cachedRetry(p: IRRetryPolicy | undefined): CompiledRetry | undefined {
  if (p === undefined) return undefined;
  if (!retryCache.has(p)) retryCache.set(p, compileRetry(p));
  return retryCache.get(p);
}

function cachedCors(c: IRCors): CompiledCors {
  let v = corsCache.get(c);
  if (v === undefined) {
    v = compileCors(c);
    corsCache.set(c, v);
  }
  return v;
}

export function compileRetry(p: IRRetryPolicy | undefined): CompiledRetry | undefined {
  if (p === undefined || p.numRetries <= 0 || p.retryOn.length === 0) return undefined;
  const on = new Set(p.retryOn.map((s) => s.trim().toLowerCase()));
  return {
    on5xx: on.has('5xx'),
    onGatewayError: on.has('gateway-error'),
    onConnectFailure: on.has('connect-failure') || on.has('5xx') || on.has('gateway-error'),
    onReset: on.has('reset') || on.has('5xx') || on.has('refused-stream'),
    onRetriable4xx: on.has('retriable-4xx'),
    numRetries: p.numRetries,
    perTryTimeoutMs: p.perTryTimeoutMs ?? 0,
    retryNonIdempotent: p.retryNonIdempotent,
  };
}

function compiledSubstitution(r: { readonly pattern: string; readonly substitution: string }): RegexSubstitution {
  return compileRegex(r.pattern, () => new RegexSubstitution(r.pattern, r.substitution));
}

const NO_NAMES: ReadonlySet<string> = new Set();

/** Shared empty set when there is nothing to remove: most routes have no removal rules. */
function lowerSet(a: readonly string[], b: readonly string[]): ReadonlySet<string> {
  if (a.length === 0 && b.length === 0) return NO_NAMES;
  return new Set([...a, ...b].map((s) => s.toLowerCase()));
}

function concat<T>(a: readonly T[], b: readonly T[]): readonly T[] {
  return b.length === 0 ? a : a.length === 0 ? b : [...a, ...b];
}

/**
 * Header values with their credentials filled in from the SecretStore (the IR holds "[redacted]").
 * Without a store (explain, route tests) the redacted values stay: nothing offline shows a credential.
 */
function withCredentials(adds: readonly IRHeaderValue[], secrets: SecretStore | undefined): readonly IRHeaderValue[] {
  if (secrets === undefined || !adds.some((a) => a.secret !== undefined)) return adds;
  return adds.map((a) => {
    if (a.secret === undefined) return a;
    const value = secrets[a.secret.id]?.value;
    // compile put every value it referenced in the store; a missing one must not send "[redacted]".
    if (value === undefined) throw new Error(`header ${a.name}: credential ${a.secret.id} is not in the secret store`);
    return { name: a.name, value, append: a.append };
  });
}

/** Compiled values, per IR rule: the Module's rules are shared by every route. */
const valueCache = new WeakMap<IRHeaderValue, FilledValue | string | null>();

function cachedValue(a: IRHeaderValue): FilledValue | string | undefined {
  let v = valueCache.get(a);
  if (v === undefined) {
    v = compileValue(a.value) ?? null;
    valueCache.set(a, v);
  }
  return v ?? undefined;
}

/**
 * The rules with their credentials filled in and their Envoy values compiled (header-values.ts):
 * `values` stays undefined unless some rule has one, so that most routes pay nothing per request.
 * A value from the secrets directory is a credential, never a template.
 */
function addRules(ir: readonly IRHeaderValue[], secrets: SecretStore | undefined): { adds: readonly IRHeaderValue[]; values: RuleValues | undefined } {
  const resolved = withCredentials(ir, secrets);
  let adds: IRHeaderValue[] | undefined;
  let values: (FilledValue | undefined)[] | undefined;
  for (let i = 0; i < resolved.length; i++) {
    const a = resolved[i] as IRHeaderValue;
    if (a.value.indexOf('%') < 0) continue;
    const own = ir[i] as IRHeaderValue;
    if (own.secret !== undefined && !isInlineHeaderValue(own.secret.id)) continue;
    const v = a === own ? cachedValue(a) : compileValue(a.value);
    if (v === undefined) continue;
    if (typeof v === 'string') (adds ??= resolved.slice())[i] = { name: a.name, value: v, append: a.append };
    else (values ??= new Array<FilledValue | undefined>(resolved.length).fill(undefined))[i] = v;
  }
  return { adds: adds ?? resolved, values };
}

export function compileRouteAction(
  ir: IR, route: IRRoute, vhost: IRVirtualHost, clusters: ReadonlyMap<string, UpstreamCluster>, secrets?: SecretStore, chains?: PolicyChains,
): RouteAction {
  const g = ir.global;
  const backends = route.backends.map((b): CompiledBackend => {
    const request = addRules(concat(b.headers.requestAdd, g.headers.requestAdd), secrets);
    const response = addRules(concat(b.headers.responseAdd, g.headers.responseAdd), secrets);
    return {
      ir: b,
      cluster: clusters.get(b.cluster),
      prefixRewrite: b.rewrite.prefix,
      regexRewrite: b.rewrite.regex ? compiledSubstitution(b.rewrite.regex) : undefined,
      hostRewrite: b.hostRewrite,
      autoHostRewrite: b.autoHostRewrite,
      requestRemove: lowerSet(b.headers.requestRemove, g.headers.requestRemove),
      requestAdd: request.adds,
      requestAddValues: request.values,
      responseRemove: lowerSet(b.headers.responseRemove, g.headers.responseRemove),
      responseAdd: response.adds,
      responseAddValues: response.values,
      replyRules: replyRules(response.adds, response.values),
      requestTimeoutMs: b.timeouts.requestMs,
      idleTimeoutMs: b.timeouts.idleMs,
      retry: cachedRetry(b.retryPolicy ?? g.retryPolicy),
    };
  });
  const cumulative: number[] = [];
  let total = 0;
  for (const b of route.backends) {
    total += Math.max(0, b.weight);
    cumulative.push(total);
  }
  const r = route.redirect;
  const cors = route.cors ? cachedCors(route.cors) : g.cors ? cachedCors(g.cors) : undefined;
  // A redirect's own rules; else the first backend's (Emissary writes one route's rules for the group).
  let replies = backends[0]?.replyRules;
  if (r !== undefined) {
    const own = addRules(concat(r.headers?.responseAdd ?? [], g.headers.responseAdd), secrets);
    replies = replyRules(own.adds, own.values);
  }
  return {
    backends,
    cumulative,
    totalWeight: total,
    redirect: r
      ? { ir: r, regex: r.regexRedirect ? compiledSubstitution(r.regexRedirect) : undefined }
      : undefined,
    replyRules: replies,
    shadow: route.shadow ? { cluster: clusters.get(route.shadow.cluster), weight: route.shadow.weight } : undefined,
    cors,
    vhost,
    policies: chains?.chainFor(route, cors),
  };
}

/** The fields that frame a reply the gateway makes: its own, whatever a rule says. */
const REPLY_FRAMING = new Set(['content-length', 'content-type', 'transfer-encoding', 'connection']);

/** Add rules as they apply to the gateway's own replies; undefined when none does. */
function replyRules(adds: readonly IRHeaderValue[], values: RuleValues | undefined): ReplyRules | undefined {
  if (adds.length === 0) return undefined;
  if (!adds.some((a) => REPLY_FRAMING.has(a.name.toLowerCase()))) return { adds, values };
  const keep = adds.map((a, i) => (REPLY_FRAMING.has(a.name.toLowerCase()) ? -1 : i)).filter((i) => i >= 0);
  if (keep.length === 0) return undefined;
  return { adds: keep.map((i) => adds[i]!), values: values === undefined ? undefined : keep.map((i) => values[i]) };
}

/** Weighted choice with one random draw; a route whose weights sum to 0 uses its first backend. */
export function pickBackend(a: RouteAction, random: () => number): CompiledBackend | undefined {
  const n = a.backends.length;
  if (n <= 1 || a.totalWeight <= 0) return a.backends[0];
  const x = random() * a.totalWeight;
  for (let i = 0; i < n; i++) if (x < (a.cumulative[i] as number)) return a.backends[i];
  return a.backends[n - 1];
}

/** The upstream path (query kept) after prefix_rewrite or regex_rewrite. */
export function rewritePath(b: CompiledBackend, route: IRRoute, path: string): string {
  if (b.regexRewrite !== undefined) return b.regexRewrite.replaceAll(path);
  // Emissary: `rewrite: ""` means no rewrite at all.
  if (b.prefixRewrite === null || b.prefixRewrite === '') return path;
  const m = route.match;
  let out: string;
  if (m.prefix !== undefined) out = b.prefixRewrite + path.slice(m.prefix.length);
  // An exact path or a regex (prefix_regex) matches the whole path, so Envoy's prefix_rewrite
  // replaces all of it: with Emissary's default rewrite "/" the upstream sees "/".
  else out = b.prefixRewrite;
  return out.charCodeAt(0) === 0x2f ? out : '/' + out;
}
