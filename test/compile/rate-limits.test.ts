// Compile of rate limits: the RateLimitService's settings and defaults, the label groups Mappings
// and the Module's default_labels become (Emissary's rules), RateLimit limits in match order, and
// every configuration that cannot be enforced as written, with its problem.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadFiles } from '../../src/load/index.js';
import { CompileContext } from '../../src/compile/context.js';
import { compileRateLimits, routeRateLimitGroups, type CompiledRateLimits } from '../../src/compile/policies/rate-limits.js';
import type { Resource } from '../../src/api/resource.js';
import type { Problem } from '../../src/api/problems.js';

interface Compiled extends CompiledRateLimits {
  readonly problems: readonly Problem[];
  readonly resources: readonly Resource[];
  readonly ctx: CompileContext;
}

function compileText(yaml: string): Compiled {
  const loaded = loadFiles([{ path: 'rl.yaml', content: yaml }]);
  const ctx = new CompileContext(loaded.problems);
  const of = (k: string) => loaded.resources.filter((r) => r.kind === k);
  const out = compileRateLimits({ module: of('Module')[0], services: of('RateLimitService'), limits: of('RateLimit'), tlsContexts: new Map(), connectTimeoutMs: 3000 }, ctx);
  return { ...out, problems: ctx.problems, resources: loaded.resources, ctx };
}

const codes = (c: Compiled) => c.problems.map((p) => `${p.code} ${p.field ?? ''}`);

const RLS = `apiVersion: getambassador.io/v3alpha1
kind: RateLimitService
metadata:
  name: rls
spec:
  service: ratelimit.infra:8081
  protocol_version: v3
`;

test('a RateLimitService takes Emissary\'s defaults: domain ambassador, 20 ms, fail open, UNAVAILABLE', () => {
  const c = compileText(RLS);
  assert.deepEqual(codes(c), []);
  assert.equal(c.service?.domain, 'ambassador');
  assert.equal(c.service?.timeoutMs, 20);
  assert.equal(c.service?.failureModeDeny, false);
  assert.equal(c.service?.useResourceExhaustedCode, false);
  assert.equal(c.cluster?.http2, true);
  assert.deepEqual(c.cluster?.endpoints, [{ host: 'ratelimit.infra', port: 8081 }]);
  assert.equal(c.service?.cluster, c.cluster?.name);
});

test('its fields, and the Module\'s default_label_domain as its domain', () => {
  const c = compileText(`${RLS}  timeout_ms: 250
  failure_mode_deny: true
  grpc:
    use_resource_exhausted_code: true
---
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata:
  name: ambassador
spec:
  config:
    default_label_domain: edge
`);
  assert.deepEqual([c.service?.domain, c.service?.timeoutMs, c.service?.failureModeDeny, c.service?.useResourceExhaustedCode], ['edge', 250, true, true]);
});

test('protocol_version other than v3 (or unset: Emissary reads v2) is refused', () => {
  const docs = compileText(`apiVersion: getambassador.io/v3alpha1
kind: RateLimitService
metadata:
  name: ratelimit
spec:
  service: 'example-rate-limit.default:5000'
  protocol_version: # default is v2, if upgrading from 2.x then you must set this to v3.
  failure_mode_deny: false
`);
  // Emissary's documentation example leaves it empty (null): refused with the rest of the object.
  assert.deepEqual(codes(docs), ['SchemaViolation spec.protocol_version']);
  assert.equal(docs.service, undefined);
  assert.deepEqual(codes(compileText(RLS.replace('protocol_version: v3', 'protocol_version: v2'))), ['InvalidRateLimitService spec.protocol_version']);
  assert.deepEqual(codes(compileText(RLS.replace('  protocol_version: v3\n', ''))), ['InvalidRateLimitService spec.protocol_version']);
});

test('two RateLimitServices: both refused (Emissary would use neither)', () => {
  const c = compileText(`${RLS}---\n${RLS.replace('name: rls', 'name: rls2')}`);
  assert.deepEqual(codes(c), ['RateLimitServiceConflict metadata.name', 'RateLimitServiceConflict metadata.name']);
  assert.equal(c.service, undefined);
});

test('a tls naming no TLSContext is refused', () => {
  assert.deepEqual(codes(compileText(`${RLS}  tls: missing\n`)), ['TLSContextNotFound spec.tls']);
});

function mapping(labels: string): string {
  return `---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
  name: m
spec:
  prefix: /m/
  service: m
${labels}`;
}

function groups(yaml: string) {
  const c = compileText(yaml);
  const m = c.resources.find((r) => r.kind === 'Mapping')!;
  return { groups: routeRateLimitGroups((m.spec as Record<string, unknown>)['labels'], c.labels!, m, c.ctx), problems: codes(c) };
}

const DEFAULTS = `---
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata:
  name: ambassador
spec:
  config:
    default_labels:
      ambassador:
        defaults:
        - remote_address
      other:
        defaults:
        - generic_key: {value: o}
`;

test('every label form becomes its action; the domain\'s defaults come first in every group', () => {
  const g = groups(`${RLS}${DEFAULTS}${mapping(`  labels:
    ambassador:
    - all:
      - source_cluster: {key: source_cluster}
      - destination_cluster: {key: destination_cluster}
      - remote_address: {key: remote_address}
      - request_headers: {key: user, header_name: X-User, omit_if_not_present: true}
      - generic_key: {value: v}
      - generic_key: {key: k, value: v2}
    - second:
      - generic_key: {value: s}
    other:
    - ignored:
      - generic_key: {value: nope}
`)}`);
  assert.deepEqual(g.problems, []);
  assert.deepEqual(g.groups, [
    {
      name: 'all',
      actions: [
        { kind: 'remote_address' },
        { kind: 'source_cluster' },
        { kind: 'destination_cluster' },
        { kind: 'remote_address' },
        { kind: 'request_headers', key: 'user', header: 'x-user' },
        { kind: 'generic_key', key: 'generic_key', value: 'v' },
        { kind: 'generic_key', key: 'k', value: 'v2' },
      ],
    },
    { name: 'second', actions: [{ kind: 'remote_address' }, { kind: 'generic_key', key: 'generic_key', value: 's' }] },
  ]);
});

test('a Mapping without labels gets one group of the default domain\'s defaults; one with labels elsewhere gets none', () => {
  assert.deepEqual(groups(`${RLS}${DEFAULTS}${mapping('')}`).groups, [{ name: 'defaults', actions: [{ kind: 'remote_address' }] }]);
  assert.equal(groups(`${RLS}${DEFAULTS}${mapping('  labels:\n    other:\n    - g:\n      - generic_key: {value: x}\n')}`).groups, undefined);
  assert.equal(groups(`${RLS}${mapping('')}`).groups, undefined, 'no defaults, no labels: nothing to send');
});

test('the v2 shorthand reads as the same labels', () => {
  const g = groups(`${RLS}---
apiVersion: getambassador.io/v2
kind: Mapping
metadata:
  name: m
spec:
  prefix: /m/
  service: m
  labels:
    ambassador:
    - g:
      - remote_address
      - minute
      - x_user:
          header: X-User
`);
  assert.deepEqual(g.groups, [{ name: 'g', actions: [{ kind: 'remote_address' }, { kind: 'generic_key', key: 'generic_key', value: 'minute' }, { kind: 'request_headers', key: 'x_user', header: 'x-user' }] }]);
});

test('omit_if_not_present: false is refused (a missing header always drops the group)', () => {
  const g = groups(`${RLS}${mapping('  labels:\n    ambassador:\n    - g:\n      - request_headers: {key: u, header_name: x-u, omit_if_not_present: false}\n')}`);
  assert.deepEqual(g.problems, ['InvalidLabel spec.labels.ambassador.0.g.0']);
});

const LIMITS = `---
apiVersion: getambassador.io/v3alpha1
kind: RateLimit
metadata:
  name: limits
spec:
  domain: ambassador
  limits:
  - pattern: [{generic_key: a}]
    rate: 10
    unit: MINUTE
  - name: deeper
    pattern: [{generic_key: a}, {remote_address: "*"}]
    rate: 1
    unit: second
    burstFactor: 3
    action: LogOnly
`;

test('RateLimits: Edge Stack names, units and actions in any case, the longest pattern first', () => {
  const c = compileText(LIMITS);
  assert.deepEqual(codes(c), []);
  assert.equal(c.builtIn?.domain, 'ambassador');
  assert.deepEqual(c.builtIn?.rules.map((r) => [r.name, r.unit, r.action, r.burstFactor ?? null, r.pattern.length]), [
    ['deeper', 'second', 'LogOnly', 3, 2],
    ['limits.default-0', 'minute', 'Enforce', null, 1],
  ]);
  assert.equal(c.builtIn?.redis, undefined);
  assert.equal(c.builtIn?.timeoutMs, 20);
});

test('RateLimits that cannot be enforced as written are refused whole', () => {
  const bad = (field: string, value: string) => compileText(LIMITS.replace('    unit: MINUTE\n', `    unit: MINUTE\n    ${field}: ${value}\n`));
  assert.deepEqual(codes(compileText(LIMITS.replace('unit: MINUTE', 'unit: week'))), ['InvalidRateLimit spec.limits.0.unit']);
  assert.deepEqual(codes(bad('action', 'Block')), ['InvalidRateLimit spec.limits.0.action']);
  assert.deepEqual(codes(bad('injectResponseHeaders', '[{name: X-A, value: "{{ .RetryAfter | printf }}"}]')), ['InvalidRateLimit spec.limits.0.injectResponseHeaders.0.value']);
  assert.deepEqual(codes(bad('errorResponse', '{bodyTemplate: "{{ json \\"\\" . }}"}')), ['InvalidRateLimit spec.limits.0.errorResponse.bodyTemplate']);
  assert.equal(compileText(LIMITS.replace('unit: MINUTE', 'unit: week')).builtIn, undefined);
});

test('a RateLimit for another domain, or beside a RateLimitService, is reported unused', () => {
  assert.deepEqual(codes(compileText(LIMITS.replace('domain: ambassador', 'domain: elsewhere'))), ['RateLimitNotUsed spec.domain']);
  const both = compileText(`${RLS}${LIMITS}`);
  assert.deepEqual(codes(both), ['RateLimitNotUsed spec.limits']);
  assert.equal(both.builtIn, undefined);
});

test('the Module names Redis (never with credentials) and the failure mode', () => {
  const module = (url: string) => `${LIMITS}---
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata:
  name: ambassador
spec:
  config:
    portico_rate_limit:
      redis_url: ${url}
      timeout_ms: 50
      failure_mode_deny: true
`;
  const c = compileText(module('redis://redis.infra:6379/2'));
  assert.deepEqual(c.builtIn?.redis, { url: 'redis://redis.infra:6379/2' });
  assert.deepEqual([c.builtIn?.timeoutMs, c.builtIn?.failureModeDeny], [50, true]);
  const secret = compileText(module('redis://:hunter2@redis.infra:6379'));
  assert.deepEqual(codes(secret), ['SchemaViolation spec.config.portico_rate_limit.redis_url']);
  assert.ok(!secret.problems.some((p) => p.message.includes('hunter2')), 'the password is not echoed');
});
