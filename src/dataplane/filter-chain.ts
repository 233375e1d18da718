// Edge Stack filters on the request path: the first FilterPolicy rule that matches the request's
// host and path picks the filters; each runs in order (if its ifRequestHeader holds) and allows
// (possibly adding headers) or denies; onAllow / onDeny decide whether the next one runs.
//
// Built once per runtime from the IR; run() is the only per-request entry. Nothing here writes to
// the client: the outcome (headers to set upstream, or the reply to send) goes back to the caller,
// so the policy chain can answer in its one local-reply shape. Invalid filters (a refused OAuth2
// filter, a missing Filter) refuse every request that reaches them, whatever onDeny says.

import type { IRAuthService, IRFilter, IRFilterRef, IRFilterRule, IRFilters, IRJWTFilter } from '../ir/types.js';
import type { LocalReplyCode } from './local-reply.js';
import type { PolicyRequest } from './policies/chain.js';
import type { SecretStore } from '../ir/secrets.js';
import { SearchMatch } from '../ir/re2-regex.js';
import { DoNotSet, parseTemplate, runTemplate, templateHeaders, TemplateError, type ParsedTemplate } from '../ir/text-template.js';
import { APIKeySet } from './api-key-check.js';
import { jwksCacheFor } from './jwks-cache.js';
import { bearerToken, missingScope, verifyJWT, verifyRemembered, VerifiedTokens, type JWTFailure, type JWTFailureKind, type JWTOutcome, type JWTRules, type KeySource, type VerifiedToken } from './jwt-verify.js';

/** The request as filters see it; header names lower case. */
export interface FilterRequest {
  readonly host: string;
  readonly path: string;
  readonly method: string;
  readonly requestId: string;
  header(name: string): string | undefined;
  /** The policy chain's request, for filters that act on it directly (External: its checks and header edits). */
  readonly policy?: PolicyRequest;
}

/**
 * What an External filter answers. Its allowed headers are already on the upstream request (the
 * AuthService check edits the policy request itself), so an allow carries none here.
 */
export type ExternalVerdict =
  | { readonly allow: true }
  | { readonly allow: false; readonly status: number; readonly code: LocalReplyCode; readonly headers: readonly string[]; readonly body: string | undefined; readonly reason: string };

/** Runs an External filter's check; given by the policy framework (AuthService's implementation). */
export type ExternalCheck = (req: FilterRequest) => Promise<ExternalVerdict>;

export type FilterOutcome =
  | { readonly allow: true; readonly setHeaders: readonly (readonly [string, string])[]; readonly rule: string | undefined; readonly filters: readonly string[] }
  | {
      readonly allow: false;
      readonly status: number;
      /** Raw header list for the reply (name, value, ...). */
      readonly headers: readonly string[];
      /** The reply body; undefined: the gateway's own local-reply body for `code`. */
      readonly body: string | undefined;
      /** A short reason for logs and metrics (never a token or key). */
      readonly reason: string;
      /** The local-reply code, when the filter says (an External filter's `auth_error`); else by status. */
      readonly code?: LocalReplyCode;
      /** The filter that denied ("namespace/name"). */
      readonly filter: string;
      readonly rule: string;
    };

export interface ExplainedFilter {
  readonly filter: string;
  readonly type: string;
  readonly decision: 'allow' | 'deny' | 'skipped' | 'at_serve_time';
  readonly status?: number;
  readonly reason: string;
}

export interface FilterExplanation {
  /** "namespace/policy#index" of the rule that matched. */
  readonly rule: string | undefined;
  readonly steps: readonly ExplainedFilter[];
  readonly decision: 'allow' | 'deny' | 'at_serve_time';
  readonly status?: number;
  readonly reason: string;
}

export interface FilterChainOptions {
  readonly now?: () => number;
  /** False offline without the secret store: API keys are then not known (not missing). */
  readonly keysKnown?: boolean;
  /** The policy framework's check for an External filter's AuthService; absent (offline): External filters refuse. */
  readonly external?: (ir: IRAuthService, id: string) => ExternalCheck | undefined;
}

interface CompiledRef {
  readonly ir: IRFilterRef;
  readonly filter: CompiledFilter;
  readonly regex: SearchMatch | undefined;
}

interface CompiledRule {
  readonly ir: IRFilterRule;
  readonly host: GlobMatcher;
  readonly path: GlobMatcher;
  readonly refs: readonly CompiledRef[];
  readonly label: string;
}

type CompiledFilter =
  | { readonly type: 'Invalid'; readonly id: string; readonly why: string }
  /** keys undefined: offline without the secret store (explain says the check happens at serve time). */
  | { readonly type: 'APIKey'; readonly id: string; readonly header: string; readonly keys: APIKeySet | undefined }
  /** check undefined: offline, where the service is never asked (explain says serve time). */
  | { readonly type: 'External'; readonly id: string; readonly check: ExternalCheck | undefined }
  | {
      readonly type: 'JWT';
      readonly id: string;
      readonly ir: IRJWTFilter;
      readonly rules: JWTRules;
      readonly keys: KeySource | undefined;
      readonly verified: VerifiedTokens;
      readonly inject: readonly (readonly [string, ParsedTemplate])[];
      readonly errorHeaders: readonly (readonly [string, ParsedTemplate])[];
      readonly body: ParsedTemplate | undefined;
    };

/** A `*` glob: `*` is any run of characters (`/` too), the rest literal. */
export class GlobMatcher {
  private readonly parts: readonly string[];
  readonly any: boolean;

  constructor(
    readonly glob: string,
    private readonly fold: boolean,
  ) {
    const g = fold ? glob.toLowerCase() : glob;
    this.parts = g.split('*');
    this.any = g === '*';
  }

  test(input: string): boolean {
    if (this.any) return true;
    const s = this.fold ? input.toLowerCase() : input;
    const parts = this.parts;
    if (parts.length === 1) return s === parts[0];
    const first = parts[0]!;
    const last = parts[parts.length - 1]!;
    if (!s.startsWith(first) || s.length < first.length + last.length || !s.endsWith(last)) return false;
    // Greedy left to right is exact for `*`-only globs: each middle part at its first place leaves the most room.
    let at = first.length;
    const end = s.length - last.length;
    for (let i = 1; i < parts.length - 1; i++) {
      const p = parts[i]!;
      const found = s.indexOf(p, at);
      if (found < 0 || found + p.length > end) return false;
      at = found + p.length;
    }
    return true;
  }
}

/** jwt-go's ValidationError bits, which Edge Stack error templates test (`eq .error.ValidationError.Errors 16`). */
const VALIDATION_BITS: Readonly<Record<JWTFailureKind, number>> = {
  missing: 0, malformed: 1, algorithm: 4, signature: 4, unknown_key: 2, keys_unavailable: 2,
  audience: 8, expired: 16, issued_in_future: 32, issuer: 64, not_yet_valid: 128, claim: 512, insufficient_scope: 0,
};

export class FilterChain {
  private readonly rules: readonly CompiledRule[];
  private readonly now: () => number;

  constructor(ir: IRFilters, secrets: SecretStore, options: FilterChainOptions = {}) {
    this.now = options.now ?? Date.now;
    const filters = new Map<string, CompiledFilter>();
    for (const f of ir.filters) filters.set(f.id, compileFilter(f, secrets, options));
    this.rules = ir.rules.map((r) => ({
      ir: r,
      host: new GlobMatcher(r.host, true),
      path: new GlobMatcher(r.path, false),
      label: `${r.source.namespace}/${r.source.name}#${r.index}`,
      refs: r.filters.map((ref) => ({
        ir: ref,
        filter: filters.get(ref.filter) ?? { type: 'Invalid', id: ref.filter, why: `Filter ${ref.filter} does not exist` },
        regex: ref.ifRequestHeader?.valueRegex !== undefined ? new SearchMatch(ref.ifRequestHeader.valueRegex) : undefined,
      })),
    }));
  }

  /** Start fetching every JWT filter's keys, so the first request does not wait for them. */
  prefetch(): void {
    for (const r of this.rules) for (const ref of r.refs) if (ref.filter.type === 'JWT') (ref.filter.keys as { prefetch?: () => void } | undefined)?.prefetch?.();
  }

  /**
   * The first rule that matches (undefined: no rule, no filter). The host is matched without its
   * port: routing keeps a port it did not strip, and `shop.example.com:8443` must not slip past a
   * rule for `shop.example.com`.
   */
  ruleFor(host: string, path: string): CompiledRule | undefined {
    const name = hostWithoutPort(host);
    for (const r of this.rules) if (r.host.test(name) && r.path.test(path)) return r;
    return undefined;
  }

  /** True when some rule could apply filters to this request (the chain step can be skipped otherwise). */
  applies(host: string, path: string): boolean {
    const r = this.ruleFor(host, path);
    return r !== undefined && r.refs.length > 0;
  }

  /**
   * What the filters would do with a request offline (`explain`, route tests without a target): the
   * rule, and each filter's verdict as far as it can be known without the network. A JWT without a
   * token is a 401 offline; with one, its signature needs the keys: decided at serve time.
   */
  explain(req: FilterRequest): FilterExplanation {
    const rule = this.ruleFor(req.host, req.path);
    if (rule === undefined) return { rule: undefined, steps: [], decision: 'allow', reason: 'no FilterPolicy rule matches' };
    if (rule.refs.length === 0) return { rule: rule.label, steps: [], decision: 'allow', reason: `rule ${rule.label} applies no filter` };
    const steps: ExplainedFilter[] = [];
    for (const ref of rule.refs) {
      const f = ref.filter;
      if (!conditionHolds(ref, req.header)) {
        steps.push({ filter: f.id, type: f.type, decision: 'skipped', reason: `ifRequestHeader ${ref.ir.ifRequestHeader!.name} does not hold` });
        continue;
      }
      let step: ExplainedFilter;
      if (f.type === 'Invalid') step = { filter: f.id, type: f.type, decision: 'deny', status: 500, reason: f.why };
      else if (f.type === 'APIKey' && f.keys === undefined) step = { filter: f.id, type: f.type, decision: 'at_serve_time', status: 403, reason: 'the keys are checked at serve time' };
      else if (f.type === 'APIKey') {
        step = f.keys!.accepts(req.header(f.header))
          ? { filter: f.id, type: f.type, decision: 'allow', reason: `${f.header} holds a known key` }
          : { filter: f.id, type: f.type, decision: 'deny', status: 403, reason: `${f.header} holds no known key` };
      } else if (f.type === 'External') step = { filter: f.id, type: f.type, decision: 'at_serve_time', reason: 'the external service decides' };
      else {
        const t = bearerToken(req.header('authorization'));
        step = t === undefined || typeof t !== 'string'
          ? { filter: f.id, type: f.type, decision: 'deny', status: 401, reason: t === undefined ? 'no bearer token' : t.message }
          : { filter: f.id, type: f.type, decision: 'at_serve_time', status: 401, reason: 'a bearer token: its signature and claims are checked at serve time' };
      }
      steps.push(step);
      if (step.decision === 'at_serve_time') return { rule: rule.label, steps, decision: 'at_serve_time', status: step.status, reason: step.reason };
      if (step.decision === 'allow' && ref.ir.onAllow === 'break') break;
      if (step.decision === 'deny' && (f.type === 'Invalid' || ref.ir.onDeny === 'break')) {
        return { rule: rule.label, steps, decision: 'deny', status: step.status, reason: `${f.id}: ${step.reason}` };
      }
    }
    return { rule: rule.label, steps, decision: 'allow', reason: `rule ${rule.label}: the filters allow` };
  }

  /**
   * Run the matching rule's filters. Decides at once when every filter that runs can (API keys, a
   * remembered token), else returns a promise; never rejects: a fault is a 500 denial (fail closed).
   */
  run(req: FilterRequest): FilterOutcome | Promise<FilterOutcome> {
    const rule = this.ruleFor(req.host, req.path);
    if (rule === undefined || rule.refs.length === 0) return { allow: true, setHeaders: [], rule: rule?.label, filters: [] };
    // Modifications are cumulative: later filters (and their ifRequestHeader) see earlier ones.
    const set = new Map<string, string>();
    const header = (n: string): string | undefined => set.get(n) ?? req.header(n);
    const view: FilterRequest = { host: req.host, path: req.path, method: req.method, requestId: req.requestId, header, ...(req.policy !== undefined ? { policy: req.policy } : {}) };
    return this.runFrom(rule, 0, view, set, []);
  }

  private runFrom(rule: CompiledRule, from: number, req: FilterRequest, set: Map<string, string>, ran: string[]): FilterOutcome | Promise<FilterOutcome> {
    for (let i = from; i < rule.refs.length; i++) {
      const ref = rule.refs[i]!;
      if (!conditionHolds(ref, req.header)) continue;
      ran.push(ref.filter.id);
      let verdict: Verdict | Promise<Verdict>;
      try {
        verdict = this.runFilter(ref, req);
      } catch (err) {
        verdict = deny(500, [], undefined, `filter fault: ${(err as Error).message}`);
      }
      if (verdict instanceof Promise) {
        return verdict
          .catch((err: unknown) => deny(500, [], undefined, `filter fault: ${(err as Error).message}`))
          .then((v) => {
            const next = settle(rule, ref, v, set);
            if (next === CONTINUE) return this.runFrom(rule, i + 1, req, set, ran);
            return next === STOP ? allowOutcome(rule, set, ran) : next;
          });
      }
      const next = settle(rule, ref, verdict, set);
      if (next === STOP) break;
      if (next !== CONTINUE) return next;
    }
    return allowOutcome(rule, set, ran);
  }

  private runFilter(ref: CompiledRef, req: FilterRequest): Verdict | Promise<Verdict> {
    const f = ref.filter;
    switch (f.type) {
      case 'Invalid':
        return deny(500, [], undefined, `filter unavailable: ${f.why}`);
      case 'APIKey':
        if (f.keys === undefined) return deny(500, [], undefined, 'filter unavailable: its keys are not known');
        return f.keys.accepts(req.header(f.header)) ? ALLOW : deny(403, [], undefined, 'API key not found');
      case 'External':
        if (f.check === undefined) return deny(500, [], undefined, 'filter unavailable: the auth service cannot be asked here');
        return f.check(req).then((v): Verdict => (v.allow ? ALLOW : { allow: false, status: v.status, headers: v.headers, body: v.body, reason: v.reason, code: v.code }));
      case 'JWT':
        return this.runJWT(f, ref.ir.scope, req);
    }
  }

  private runJWT(f: Extract<CompiledFilter, { type: 'JWT' }>, scope: readonly string[], req: FilterRequest): Verdict | Promise<Verdict> {
    const t = bearerToken(req.header('authorization'));
    if (t === undefined) return jwtDeny(f, req, { kind: 'missing', message: 'no bearer token' });
    if (typeof t !== 'string') return jwtDeny(f, req, t);
    const now = this.now();
    const remembered = verifyRemembered(t, f.rules, f.keys, now, f.verified);
    if (remembered !== undefined) return jwtVerdict(f, scope, req, remembered);
    return verifyJWT(t, f.rules, f.keys, now, f.verified).then((out) => jwtVerdict(f, scope, req, out));
  }
}

const CONTINUE = 0;
const STOP = 1;

/** After one filter: go on, stop with an allow (onAllow break), or the denial that ends the run. */
function settle(rule: CompiledRule, ref: CompiledRef, v: Verdict, set: Map<string, string>): typeof CONTINUE | typeof STOP | FilterOutcome {
  if (v.allow) {
    for (const [k, val] of v.setHeaders) set.set(k.toLowerCase(), val);
    return ref.ir.onAllow === 'break' ? STOP : CONTINUE;
  }
  if (ref.filter.type === 'Invalid' || ref.ir.onDeny === 'break') {
    return { allow: false, status: v.status, headers: v.headers, body: v.body, reason: v.reason, ...(v.code !== undefined ? { code: v.code } : {}), filter: ref.filter.id, rule: rule.label };
  }
  return CONTINUE;
}

function allowOutcome(rule: CompiledRule, set: Map<string, string>, ran: string[]): FilterOutcome {
  return { allow: true, setHeaders: [...set], rule: rule.label, filters: ran };
}

/** A verified (or refused) token's verdict: scopes, then the headers it injects. */
function jwtVerdict(f: Extract<CompiledFilter, { type: 'JWT' }>, scope: readonly string[], req: FilterRequest, out: JWTOutcome): Verdict {
  if (!out.ok) return jwtDeny(f, req, out.failure);
  const missing = missingScope(out.token.claims, scope);
  if (missing !== undefined) return jwtDeny(f, req, { kind: 'insufficient_scope', message: `the token lacks scope ${JSON.stringify(missing)}` });
  if (f.inject.length === 0) return ALLOW;
  const data = { token: tokenData(out.token), httpRequestHeader: templateHeaders({ get: (n) => req.header(n.toLowerCase()) }) };
  const setHeaders: [string, string][] = [];
  for (const [name, tpl] of f.inject) {
    let v: string;
    try {
      v = runTemplate(tpl, data);
    } catch (err) {
      if (err instanceof DoNotSet) continue;
      if (err instanceof TemplateError) return deny(500, [], undefined, `injectRequestHeaders ${name}: ${err.message}`);
      throw err;
    }
    // A claim cannot smuggle a second header line (or anything a header may not hold) upstream.
    if (!VALID_HEADER_VALUE.test(v)) return deny(500, [], undefined, `injectRequestHeaders ${name}: the value has characters a header may not hold`);
    setHeaders.push([name, v]);
  }
  return { allow: true, setHeaders };
}

function hostWithoutPort(host: string): string {
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    return close < 0 ? host : host.slice(0, close + 1);
  }
  const colon = host.lastIndexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

const VALID_HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

type Verdict =
  | { readonly allow: true; readonly setHeaders: readonly (readonly [string, string])[] }
  | { readonly allow: false; readonly status: number; readonly headers: readonly string[]; readonly body: string | undefined; readonly reason: string; readonly code?: LocalReplyCode };

const ALLOW: Verdict = { allow: true, setHeaders: [] };
const deny = (status: number, headers: readonly string[], body: string | undefined, reason: string): Verdict => ({ allow: false, status, headers, body, reason });

function conditionHolds(ref: CompiledRef, header: (n: string) => string | undefined): boolean {
  const c = ref.ir.ifRequestHeader;
  if (c === undefined) return true;
  const v = header(c.name);
  let holds: boolean;
  if (c.value !== undefined) holds = v === c.value;
  else if (ref.regex !== undefined) holds = v !== undefined && ref.regex.test(v);
  else holds = v !== undefined && v !== '';
  return c.negate ? !holds : holds;
}

function tokenData(t: VerifiedToken): Record<string, unknown> {
  return { Raw: t.raw, Header: t.header, Claims: t.claims, Signature: t.signature, Valid: true };
}

/** The JWT filter's denial: RFC 6750 WWW-Authenticate, and the errorResponse headers and body. */
function jwtDeny(f: Extract<CompiledFilter, { type: 'JWT' }>, req: FilterRequest, failure: JWTFailure): Verdict {
  const status = failure.kind === 'insufficient_scope' ? 403 : failure.kind === 'keys_unavailable' ? 500 : 401;
  const realm = f.ir.errorResponse.realm;
  let challenge: string;
  if (failure.kind === 'missing') challenge = `Bearer realm="${realm}"`;
  else if (failure.kind === 'insufficient_scope') challenge = `Bearer error="insufficient_scope", error_description="${quoteSafe(failure.message)}", realm="${realm}"`;
  else if (failure.kind === 'malformed' && /Authorization header/.test(failure.message)) challenge = `Bearer error="invalid_request", error_description="${quoteSafe(failure.message)}", realm="${realm}"`;
  else challenge = `Bearer error="invalid_token", error_description="${quoteSafe(failure.message)}", realm="${realm}"`;
  const headers: string[] = [];
  if (status !== 500) headers.push('www-authenticate', challenge);
  // Edge Stack's template data: status_code and message are printed by `{{ . | json "" }}`; the
  // aliases and the error are there for templates but hidden from that dump (non-enumerable).
  const data: Record<string, unknown> = { message: failure.message, status_code: status };
  if (status >= 500) data.request_id = req.requestId;
  Object.defineProperty(data, 'httpStatus', { value: status, enumerable: false });
  Object.defineProperty(data, 'requestId', { value: req.requestId, enumerable: false });
  if (status < 500) Object.defineProperty(data, 'request_id', { value: req.requestId, enumerable: false });
  const bits = VALIDATION_BITS[failure.kind];
  Object.defineProperty(data, 'error', { value: { ValidationError: bits === 0 ? null : { Errors: bits, Inner: failure.message } }, enumerable: false });
  if (f.body === undefined && f.errorHeaders.length === 1 && f.errorHeaders[0]![0].toLowerCase() === 'content-type' && f.errorHeaders[0]![1].constant && f.errorHeaders[0]![1].source === 'application/json') {
    // Nothing customised: the gateway's own reply shape (its content type is JSON already).
    return deny(status, headers, undefined, `jwt ${failure.kind}`);
  }
  for (const [name, tpl] of f.errorHeaders) {
    try {
      const v = runTemplate(tpl, data);
      if (VALID_HEADER_VALUE.test(v)) headers.push(name.toLowerCase(), v);
    } catch {
      // an error header that cannot be built is left out; the denial stands
    }
  }
  let body: string;
  try {
    body = f.body === undefined ? JSON.stringify(data) : runTemplate(f.body, data);
  } catch {
    body = JSON.stringify(data);
  }
  return deny(status, headers, body, `jwt ${failure.kind}`);
}

function quoteSafe(s: string): string {
  return s.replace(/["\\\r\n]/g, '');
}

function compileFilter(f: IRFilter, secrets: SecretStore, options: FilterChainOptions): CompiledFilter {
  switch (f.type) {
    case 'Invalid':
      return { type: 'Invalid', id: f.id, why: f.invalid ?? 'the Filter is invalid' };
    case 'APIKey': {
      if (options.keysKnown === false) return { type: 'APIKey', id: f.id, header: f.apiKey!.httpHeader, keys: undefined };
      const keys = f.apiKey!.keys.map((k) => secrets[k.id]?.value).filter((v): v is string => v !== undefined && v !== '');
      return keys.length === 0 ? { type: 'Invalid', id: f.id, why: 'its keys are missing' } : { type: 'APIKey', id: f.id, header: f.apiKey!.httpHeader, keys: new APIKeySet(keys) };
    }
    case 'External': {
      if (f.external === undefined) return { type: 'Invalid', id: f.id, why: 'its AuthService settings are missing' };
      return { type: 'External', id: f.id, check: options.external?.(f.external, f.id) };
    }
    case 'JWT': {
      const j = f.jwt!;
      const rules: JWTRules = {
        algorithms: j.algorithms,
        ...(j.audience !== undefined ? { audience: j.audience } : {}),
        requireAudience: j.requireAudience,
        ...(j.issuer !== undefined ? { issuer: j.issuer } : {}),
        requireIssuer: j.requireIssuer,
        requireExpiresAt: j.requireExpiresAt,
        leewayForExpiresAtMs: j.leewayForExpiresAtMs,
        requireNotBefore: j.requireNotBefore,
        leewayForNotBeforeMs: j.leewayForNotBeforeMs,
        requireIssuedAt: j.requireIssuedAt,
        leewayForIssuedAtMs: j.leewayForIssuedAtMs,
      };
      return {
        type: 'JWT', id: f.id, ir: j, rules,
        keys: j.jwksURI !== undefined ? jwksCacheFor(j.jwksURI, { insecureTLS: j.insecureTLS, maxAgeMs: j.maxStaleMs }) : undefined,
        verified: new VerifiedTokens(),
        inject: j.injectRequestHeaders.map((h) => [h.name, parseTemplate(h.value)] as const),
        errorHeaders: j.errorResponse.headers.map((h) => [h.name, parseTemplate(h.value, true)] as const),
        body: j.errorResponse.bodyTemplate !== undefined ? parseTemplate(j.errorResponse.bodyTemplate, true) : undefined,
      };
    }
  }
}
