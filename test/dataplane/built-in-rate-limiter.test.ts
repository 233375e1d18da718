// The built-in limiter's decisions on descriptors, with the in-process counts: which limit a
// descriptor meets (prefix patterns, wildcards, alternatives, the longest pattern), counts per
// matched value, Retry-After, LogOnly, and the header and body templates.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BuiltInRateLimiter, counterKey, patternMatches } from '../../src/dataplane/policies/built-in-rate-limiter.js';
import { ProcessCounterStore } from '../../src/dataplane/policies/rate-limit-counters.js';
import { goDuration, parseTemplate } from '../../src/dataplane/policies/rate-limit-templates.js';
import type { IRBuiltInRateLimiter, IRRateLimitRule } from '../../src/ir/types.js';
import type { Descriptor } from '../../src/dataplane/policies/rate-limit-descriptors.js';

const origin = { source: 'test', revision: 'r', path: 'limits.yaml', line: 1, col: 1 };
const src = { kind: 'RateLimit', name: 'limits', namespace: 'default', origin };

function rule(o: Partial<IRRateLimitRule> & Pick<IRRateLimitRule, 'name' | 'pattern'>): IRRateLimitRule {
  return { rate: 2, unit: 'minute', action: 'Enforce', injectRequestHeaders: [], injectResponseHeaders: [], source: src, ...o };
}

const d = (...pairs: [string, string][]): Descriptor => pairs.map(([key, value]) => ({ key, value }));
const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

function limiter(rules: IRRateLimitRule[], clock: { now: number }): BuiltInRateLimiter {
  const ir: IRBuiltInRateLimiter = { domain: 'ambassador', rules, timeoutMs: 20, failureModeDeny: false };
  return new BuiltInRateLimiter(ir, new ProcessCounterStore(), () => clock.now);
}

test('a pattern matches descriptors that start with it: wildcards, alternatives, order', () => {
  const r = rule({ name: 'r', pattern: [[{ key: 'generic_key', value: 'foo' }, { key: 'generic_key', value: 'bar' }], [{ key: 'remote_address', value: '*' }]] });
  assert.equal(patternMatches(r, d(['generic_key', 'foo'], ['remote_address', '10.0.0.1'], ['other', 'x'])), true);
  assert.equal(patternMatches(r, d(['generic_key', 'bar'], ['remote_address', '10.0.0.2'])), true);
  assert.equal(patternMatches(r, d(['generic_key', 'baz'], ['remote_address', '10.0.0.1'])), false);
  assert.equal(patternMatches(r, d(['remote_address', '10.0.0.1'], ['generic_key', 'foo'])), false, 'order counts');
  assert.equal(patternMatches(r, d(['x', 'y'], ['generic_key', 'foo'], ['remote_address', '1'])), false, 'a prefix, not a substring');
  assert.equal(patternMatches(r, d(['generic_key', 'foo'])), false, 'shorter than the pattern');
  const empty = rule({ name: 'e', pattern: [[{ key: 'k', value: '' }]] });
  assert.equal(patternMatches(empty, d(['k', 'anything'])), true, '"" checks only the key');
});

test('the longest matching pattern applies; a wildcard counts each value apart', async () => {
  const clock = { now: T0 };
  const l = limiter([
    rule({ name: 'per-client', rate: 1, pattern: [[{ key: 'generic_key', value: 'api' }], [{ key: 'remote_address', value: '*' }]] }),
    rule({ name: 'whole-api', rate: 100, pattern: [[{ key: 'generic_key', value: 'api' }]] }),
  ], clock);
  const a = d(['generic_key', 'api'], ['remote_address', '10.0.0.1']);
  const b = d(['generic_key', 'api'], ['remote_address', '10.0.0.2']);
  assert.deepEqual(l.matches([a]).map((m) => m.rule.ir.name), ['per-client']);
  assert.equal((await l.decide([a], 'id')).refusedBy, undefined);
  const second = await l.decide([a], 'id');
  assert.equal(second.refusedBy?.ir.name, 'per-client');
  assert.equal(second.retryAfterMs, 60_000);
  assert.equal((await l.decide([b], 'id')).refusedBy, undefined, 'another client has its own count');
  assert.equal(l.matches([d(['generic_key', 'other'])]).length, 0);
  assert.equal((await l.decide([d(['generic_key', 'other'])], 'id')).matched, false);
});

test('the count is keyed by the matched entries only, and long values are hashed', () => {
  const r = rule({ name: 'r', pattern: [[{ key: 'generic_key', value: 'api' }]] });
  assert.equal(counterKey('ambassador', r, d(['generic_key', 'api'], ['remote_address', '1'])), counterKey('ambassador', r, d(['generic_key', 'api'], ['remote_address', '2'])));
  const long = counterKey('ambassador', rule({ name: 'h', pattern: [[{ key: 'x-user', value: '*' }]] }), d(['x-user', 'u'.repeat(5000)]));
  assert.ok(long.length < 120, long);
});

test('LogOnly lets the request through and says which limit it passed', async () => {
  const clock = { now: T0 };
  const l = limiter([rule({ name: 'watch', rate: 1, action: 'LogOnly', pattern: [[{ key: 'generic_key', value: 'api' }]] })], clock);
  await l.decide([d(['generic_key', 'api'])], 'id');
  const v = await l.decide([d(['generic_key', 'api'])], 'id');
  assert.equal(v.refusedBy, undefined);
  assert.deepEqual(v.loggedOnly.map((x) => x.ir.name), ['watch']);
});

test('injected headers and the error body render their templates', async () => {
  const clock = { now: T0 + 15_000 };
  const l = limiter([
    rule({
      name: 'tpl', rate: 1, pattern: [[{ key: 'generic_key', value: 'api' }]],
      injectRequestHeaders: [{ name: 'x-limit-state', value: 'code {{ .RateLimitResponse.OverallCode }}' }],
      injectResponseHeaders: [{ name: 'x-retry', value: '{{ .RetryAfter }}' }],
      errorResponse: { headers: [{ name: 'x-why', value: '{{ .status_code }}' }], bodyTemplate: '{"msg":"{{ .message }}","id":"{{ .request_id }}","wait":{{ .RetryAfter.Seconds }}}' },
    }),
  ], clock);
  const ok = await l.decide([d(['generic_key', 'api'])], 'req-1');
  assert.deepEqual(ok.requestHeaders, ['x-limit-state', 'code 1']);
  assert.deepEqual(ok.responseHeaders, ['x-retry', '0s']);
  const over = await l.decide([d(['generic_key', 'api'])], 'req-2');
  assert.deepEqual(over.responseHeaders, ['x-retry', '45s']);
  assert.deepEqual(over.errorHeaders, ['x-why', '429']);
  assert.deepEqual(JSON.parse(over.errorBody ?? ''), { msg: 'too many requests; retry later', id: 'req-2', wait: 45 });
});

test('templates: only field reads are accepted, and durations print as Go prints them', () => {
  assert.equal(typeof parseTemplate('{{ .RetryAfter }}', false), 'object');
  assert.match(parseTemplate('{{ json "" . }}', true) as string, /not supported/);
  assert.match(parseTemplate('{{ .Nope }}', true) as string, /unknown/);
  assert.match(parseTemplate('{{ .message }}', false) as string, /only known in errorResponse/);
  assert.match(parseTemplate('open {{ .RetryAfter', false) as string, /unclosed/);
  assert.deepEqual([0, 500, 1000, 1500, 90_000, 3_600_000].map(goDuration), ['0s', '500ms', '1s', '1.5s', '1m30s', '1h0m0s']);
});
