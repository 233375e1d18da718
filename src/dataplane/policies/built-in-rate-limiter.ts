// The built-in limiter: matches a request's descriptors against Edge Stack RateLimit patterns,
// counts the matches (Redis or this process) and decides: through, with the limits' headers, or
// 429 with Retry-After and the limit's errorResponse.

import { createHash } from 'node:crypto';
import type { IRBuiltInRateLimiter, IRRateLimitHeader, IRRateLimitRule } from '../../ir/types.js';
import type { Descriptor, DescriptorEntry } from './rate-limit-descriptors.js';
import type { CounterCheck, CounterResult, CounterStore } from './rate-limit-counters.js';
import { parseTemplate, renderTemplate, type ParsedTemplate, type TemplateData } from './rate-limit-templates.js';

export const UNIT_MS: Readonly<Record<IRRateLimitRule['unit'], number>> = Object.freeze({
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
});

/** Whether a descriptor starts with the rule's pattern. */
export function patternMatches(rule: IRRateLimitRule, d: Descriptor): boolean {
  if (rule.pattern.length > d.length) return false;
  for (let i = 0; i < rule.pattern.length; i++) {
    const entry = d[i] as DescriptorEntry;
    let any = false;
    for (const alt of rule.pattern[i]!) {
      if (alt.key === entry.key && (alt.value === '*' || alt.value === '' || alt.value === entry.value)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  return true;
}

/** The rule that applies to a descriptor: rules are ordered longest pattern first, so the first match. */
export function ruleFor(rules: readonly IRRateLimitRule[], d: Descriptor): IRRateLimitRule | undefined {
  for (const r of rules) if (patternMatches(r, d)) return r;
  return undefined;
}

/** Keys longer than this are hashed: header values can be long, Redis keys should not be. */
const MAX_PLAIN_KEY = 200;

/** The count's name: domain, limit and the entries the pattern matched (not the rest of the descriptor). */
export function counterKey(domain: string, rule: IRRateLimitRule, d: Descriptor): string {
  let key = `${domain}|${rule.name}`;
  for (let i = 0; i < rule.pattern.length; i++) {
    const e = d[i] as DescriptorEntry;
    key += `|${e.key.length}:${e.key}=${e.value}`;
  }
  return key.length <= MAX_PLAIN_KEY ? key : `${domain}|${rule.name}|#${createHash('sha256').update(key).digest('base64url')}`;
}

export function counterCheck(domain: string, rule: IRRateLimitRule, d: Descriptor): CounterCheck {
  const burst = rule.burstFactor;
  const unit = UNIT_MS[rule.unit];
  return {
    key: counterKey(domain, rule, d),
    limit: burst === undefined ? rule.rate : rule.rate * burst,
    windowMs: burst === undefined ? unit : unit * burst,
    sliding: burst !== undefined,
    enforce: rule.action === 'Enforce',
  };
}

interface CompiledHeader {
  readonly name: string;
  readonly value: ParsedTemplate;
}

/** A rule with its templates parsed once per IR generation. */
export interface CompiledRule {
  readonly ir: IRRateLimitRule;
  readonly injectRequest: readonly CompiledHeader[];
  readonly injectResponse: readonly CompiledHeader[];
  readonly errorHeaders: readonly CompiledHeader[];
  readonly errorBody: ParsedTemplate | undefined;
}

function compileHeaders(hs: readonly IRRateLimitHeader[], forError: boolean): CompiledHeader[] {
  const out: CompiledHeader[] = [];
  for (const h of hs) {
    const t = parseTemplate(h.value, forError);
    // compile refused what does not parse: a header that reaches here always does
    if (typeof t !== 'string') out.push({ name: h.name, value: t });
  }
  return out;
}

export function compileRule(r: IRRateLimitRule): CompiledRule {
  const body = r.errorResponse?.bodyTemplate === undefined ? undefined : parseTemplate(r.errorResponse.bodyTemplate, true);
  return {
    ir: r,
    injectRequest: compileHeaders(r.injectRequestHeaders, false),
    injectResponse: compileHeaders(r.injectResponseHeaders, false),
    errorHeaders: compileHeaders(r.errorResponse?.headers ?? [], true),
    errorBody: typeof body === 'string' ? undefined : body,
  };
}

/** What one request's limits came to. */
export interface LimiterVerdict {
  /** No rule matched any descriptor: nothing was counted. */
  readonly matched: boolean;
  /** The enforced limit that refused the request (the one with the longest wait), if any. */
  readonly refusedBy?: CompiledRule;
  /** LogOnly limits the request passed (it goes on, and this is logged). */
  readonly loggedOnly: readonly CompiledRule[];
  /** Headers for the upstream request (only when not refused). */
  readonly requestHeaders: readonly string[];
  /** Headers for the client's response, whatever it is ([name, value, ...]). */
  readonly responseHeaders: readonly string[];
  /** For a refusal: Retry-After (seconds), errorResponse headers, and its body when the limit has a template. */
  readonly retryAfterMs: number;
  readonly errorHeaders: readonly string[];
  readonly errorBody?: string;
}

export const NOT_MATCHED: LimiterVerdict = Object.freeze({
  matched: false, loggedOnly: [], requestHeaders: [], responseHeaders: [], retryAfterMs: 0, errorHeaders: [],
});

/** A descriptor and the rule that applies to it. */
export interface RuleMatch {
  readonly rule: CompiledRule;
  readonly descriptor: Descriptor;
}

/** The rules and counts of one built-in limiter (one IR generation; the store outlives it). */
export class BuiltInRateLimiter {
  readonly rules: readonly CompiledRule[];

  constructor(
    readonly ir: IRBuiltInRateLimiter,
    readonly store: CounterStore,
    private readonly now: () => number = Date.now,
  ) {
    this.rules = ir.rules.map(compileRule);
  }

  /** The compiled rule for each descriptor that one matches (descriptor order). */
  matches(descriptors: readonly Descriptor[]): RuleMatch[] {
    const out: RuleMatch[] = [];
    for (const d of descriptors) {
      for (const r of this.rules) {
        if (patternMatches(r.ir, d)) {
          out.push({ rule: r, descriptor: d });
          break;
        }
      }
    }
    return out;
  }

  /**
   * Counts the request and decides. Resolves undefined when nothing matched; rejects with the
   * store's CounterStoreError when the counts could not be had (the caller applies the failure mode).
   */
  async decide(descriptors: readonly Descriptor[], requestId: string, matched?: readonly RuleMatch[]): Promise<LimiterVerdict> {
    const m = matched ?? this.matches(descriptors);
    if (m.length === 0) return NOT_MATCHED;
    const checks = m.map((x) => counterCheck(this.ir.domain, x.rule.ir, x.descriptor));
    const results = await this.store.hit(checks, this.now());
    return verdict(m.map((x) => x.rule), results, requestId);
  }
}

/** The verdict from the counts: exported for explain, which reads counts it does not make. */
export function verdict(rules: readonly CompiledRule[], results: readonly CounterResult[], requestId: string): LimiterVerdict {
  let refusedBy: CompiledRule | undefined;
  let wait = 0;
  let anyOver = false;
  const loggedOnly: CompiledRule[] = [];
  for (let i = 0; i < rules.length; i++) {
    const r = results[i] as CounterResult;
    if (!r.over) continue;
    anyOver = true;
    const rule = rules[i] as CompiledRule;
    if (rule.ir.action === 'LogOnly') {
      loggedOnly.push(rule);
      continue;
    }
    if (refusedBy === undefined || r.retryAfterMs > wait) {
      refusedBy = rule;
      wait = r.retryAfterMs;
    }
  }
  const data: TemplateData = { overallCode: anyOver ? 2 : 1, retryAfterMs: wait };
  const responseHeaders: string[] = [];
  for (const rule of rules) for (const h of rule.injectResponse) responseHeaders.push(h.name, renderTemplate(h.value, data));
  if (refusedBy === undefined) {
    const requestHeaders: string[] = [];
    for (const rule of rules) for (const h of rule.injectRequest) requestHeaders.push(h.name, renderTemplate(h.value, data));
    return { matched: true, loggedOnly, requestHeaders, responseHeaders, retryAfterMs: 0, errorHeaders: [] };
  }
  const errorData: TemplateData = { ...data, statusCode: 429, message: 'too many requests; retry later', requestId };
  const errorHeaders: string[] = [];
  for (const h of refusedBy.errorHeaders) errorHeaders.push(h.name, renderTemplate(h.value, errorData));
  const v: LimiterVerdict = { matched: true, refusedBy, loggedOnly, requestHeaders: [], responseHeaders, retryAfterMs: wait, errorHeaders };
  return refusedBy.errorBody === undefined ? v : { ...v, errorBody: renderTemplate(refusedBy.errorBody, errorData) };
}
