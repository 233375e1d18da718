// Filters and FilterPolicies compiled from YAML and run on requests: rule order (the first match
// wins), ifRequestHeader, onDeny / onAllow, API keys from Secrets and the secrets directory, what
// refuses (missing or OAuth2 filters), and the problems compile reports.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadFiles } from '../../src/load/index.js';
import { compile } from '../../src/compile/index.js';
import { FilterChain, GlobMatcher, type FilterOutcome, type FilterRequest } from '../../src/dataplane/filter-chain.js';
import type { SecretFiles } from '../../src/compile/options.js';
import { signingKey, signToken, startJWKSServer } from '../support/jwks-server.js';

const key = await signingKey('k1');
const jwks = await startJWKSServer([key]);
after(() => jwks.close());

function build(yaml: string, secretFiles?: SecretFiles) {
  const loaded = loadFiles([{ path: 'filters.yaml', content: yaml }]);
  const c = compile(loaded.resources, secretFiles ? { secretFiles } : {}, loaded.problems);
  return { c, problems: c.report.problems.map((p) => `${p.code} ${p.resource?.kind}/${p.resource?.name} ${p.field ?? ''}`) };
}

function chainOf(yaml: string, secretFiles?: SecretFiles): FilterChain {
  const { c, problems } = build(yaml, secretFiles);
  assert.deepEqual(problems, []);
  return new FilterChain(c.ir.global.policies!.filters!, c.secrets);
}

function request(path: string, headers: Record<string, string> = {}, host = 'shop.example.com'): FilterRequest {
  const h = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { host, path, method: 'GET', requestId: 'req-1', header: (n) => h.get(n) };
}

const status = (o: FilterOutcome): number => (o.allow ? 200 : o.status);

const jwtFilter = (name: string, extra = '') => `---
apiVersion: getambassador.io/v3alpha1
kind: Filter
metadata: {name: ${name}, namespace: default}
spec:
  JWT:
    jwksURI: ${jwks.uri}
    issuer: https://idp.example
${extra}`;

const apiKeyFilter = `---
apiVersion: getambassador.io/v3alpha1
kind: Filter
metadata: {name: keys, namespace: default}
spec:
  APIKey:
    httpHeader: x-shop-key
    keys:
    - secretName: shop-keys
---
apiVersion: v1
kind: Secret
metadata: {name: shop-keys, namespace: default}
type: Opaque
data:
  key-1: ${Buffer.from('key-one').toString('base64')}
  key-2: ${Buffer.from('key-two').toString('base64')}
`;

test('the first matching rule wins: an exempt path before a guarded glob, a catch-all last', async () => {
  const chain = chainOf(`${jwtFilter('jwt')}${apiKeyFilter}---
apiVersion: getambassador.io/v3alpha1
kind: FilterPolicy
metadata: {name: shop, namespace: default}
spec:
  rules:
  - {host: "*", path: /shop/health, filters: null}
  - host: "*"
    path: /shop/admin/*
    filters: [{name: keys}]
  - host: "*"
    path: "*"
    filters: [{name: jwt}]
`);
  const token = await signToken(key, { iss: 'https://idp.example', sub: 'alice' });
  assert.equal(status(await chain.run(request('/shop/health'))), 200, 'exempt');
  assert.equal(status(await chain.run(request('/shop/admin/users'))), 403, 'API key required, not a token');
  assert.equal(status(await chain.run(request('/shop/admin/users', { 'x-shop-key': 'key-two' }))), 200);
  assert.equal(status(await chain.run(request('/shop/admin/users', { authorization: `Bearer ${token}` }))), 403, 'the token does not count there');
  assert.equal(status(await chain.run(request('/shop/cart'))), 401);
  assert.equal(status(await chain.run(request('/shop/cart', { authorization: `Bearer ${token}` }))), 200);
});

test('host globs pick the rule; a request no rule matches runs no filter', async () => {
  const chain = chainOf(`${apiKeyFilter}---
apiVersion: getambassador.io/v3alpha1
kind: FilterPolicy
metadata: {name: hosts, namespace: default}
spec:
  rules:
  - host: "*.internal.example.com"
    path: "*"
    filters: [{name: keys}]
`);
  assert.equal(status(await chain.run(request('/x', {}, 'api.internal.example.com'))), 403);
  assert.equal(status(await chain.run(request('/x', {}, 'API.Internal.Example.com'))), 403, 'hosts compare without case');
  assert.equal(status(await chain.run(request('/x', {}, 'api.internal.example.com:8443'))), 403, 'and without a port');
  assert.equal(status(await chain.run(request('/x', {}, '[::1]:8443'))), 200);
  assert.equal(status(await chain.run(request('/x', {}, 'shop.example.com'))), 200);
});

test('ifRequestHeader: a filter runs only when the header condition holds', async (t) => {
  const policy = (cond: string) => `${apiKeyFilter}---
apiVersion: getambassador.io/v3alpha1
kind: FilterPolicy
metadata: {name: cond, namespace: default}
spec:
  rules:
  - host: "*"
    path: "*"
    filters:
    - name: keys
      ifRequestHeader: ${cond}
`;
  const cases: Record<string, [string, Record<string, string>, number]> = {
    'present and non-empty: runs': ['{name: x-client}', { 'x-client': 'mobile' }, 403],
    'absent: skipped': ['{name: x-client}', {}, 200],
    'exact value matches: runs': ['{name: x-client, value: mobile}', { 'x-client': 'mobile' }, 403],
    'exact value differs: skipped': ['{name: x-client, value: mobile}', { 'x-client': 'Mobile' }, 200],
    'regex found anywhere: runs': ['{name: x-client, valueRegex: "^mob"}', { 'x-client': 'mobile-app' }, 403],
    'negated, header present: skipped': ['{name: x-client, negate: true}', { 'x-client': 'web' }, 200],
    'negated, header absent: runs': ['{name: x-client, negate: true}', {}, 403],
  };
  for (const [name, [cond, headers, want]] of Object.entries(cases)) {
    await t.test(name, async () => assert.equal(status(await chainOf(policy(cond)).run(request('/a', headers))), want));
  }
});

test('onDeny continue lets the next filter decide; onAllow break stops after an allow', async () => {
  const yaml = (refs: string) => `${jwtFilter('jwt')}${apiKeyFilter}---
apiVersion: getambassador.io/v3alpha1
kind: FilterPolicy
metadata: {name: either, namespace: default}
spec:
  rules:
  - host: "*"
    path: "*"
    filters:
${refs}`;
  // an API key OR a token
  const either = chainOf(yaml('    - {name: keys, onDeny: continue, onAllow: break}\n    - {name: jwt}\n'));
  const token = await signToken(key, { iss: 'https://idp.example' });
  assert.equal(status(await either.run(request('/', { 'x-shop-key': 'key-one' }))), 200);
  assert.equal(status(await either.run(request('/', { authorization: `Bearer ${token}` }))), 200);
  assert.equal(status(await either.run(request('/'))), 401, 'neither: the last filter denies');
  // both, in order
  const both = chainOf(yaml('    - {name: keys}\n    - {name: jwt}\n'));
  assert.equal(status(await both.run(request('/', { 'x-shop-key': 'key-one' }))), 401);
  assert.equal(status(await both.run(request('/', { 'x-shop-key': 'key-one', authorization: `Bearer ${token}` }))), 200);
});

test('injectRequestHeaders: claims reach the upstream as headers; earlier filters feed later conditions', async () => {
  const chain = chainOf(`${jwtFilter('jwt', `    injectRequestHeaders:
    - {name: X-User, value: "{{ .token.Claims.sub }}"}
    - {name: X-Tier, value: "{{ if hasKey .token.Claims \\"tier\\" | not }}{{ doNotSet }}{{ end }}{{ .token.Claims.tier }}"}
    - {name: X-Agent, value: "{{ .httpRequestHeader.Get \\"User-Agent\\" }}"}
`)}${apiKeyFilter}---
apiVersion: getambassador.io/v3alpha1
kind: FilterPolicy
metadata: {name: p, namespace: default}
spec:
  rules:
  - host: "*"
    path: "*"
    filters:
    - {name: jwt}
    - {name: keys, ifRequestHeader: {name: x-tier, value: partner}}
`);
  const plain = await signToken(key, { iss: 'https://idp.example', sub: 'alice' });
  const out = await chain.run(request('/', { authorization: `Bearer ${plain}`, 'user-agent': 'curl/8', 'x-tier': 'spoofed' }));
  assert.equal(out.allow, true);
  assert.deepEqual(out.allow && out.setHeaders, [['x-user', 'alice'], ['x-agent', 'curl/8']]);
  const partner = await signToken(key, { iss: 'https://idp.example', sub: 'bob', tier: 'partner' });
  assert.equal(status(await chain.run(request('/', { authorization: `Bearer ${partner}` }))), 403, 'the injected tier makes the key filter run');
  // A claim with a line break cannot become a second header line.
  const evil = await signToken(key, { iss: 'https://idp.example', sub: 'x\r\nx-admin: true' });
  assert.equal(status(await chain.run(request('/', { authorization: `Bearer ${evil}` }))), 500);
});

test('a JWT denial: 401 with an RFC 6750 challenge naming the realm; a custom errorResponse', async () => {
  const chain = chainOf(`${jwtFilter('jwt', `    errorResponse:
      realm: shop
      headers:
      - {name: Content-Type, value: application/problem+json}
      bodyTemplate: '{"error": {{ .message | json "" }}, "expired": {{ if .error.ValidationError }}{{ eq .error.ValidationError.Errors 16 }}{{ else }}false{{ end }}}'
`)}---
apiVersion: getambassador.io/v3alpha1
kind: FilterPolicy
metadata: {name: p, namespace: default}
spec:
  rules: [{host: "*", path: "*", filters: [{name: jwt}]}]
`);
  const missing = await chain.run(request('/'));
  assert.equal(missing.allow, false);
  if (missing.allow) return;
  assert.equal(missing.status, 401);
  assert.deepEqual(missing.headers.slice(0, 2), ['www-authenticate', 'Bearer realm="shop"']);
  const expired = await chain.run(request('/', { authorization: `Bearer ${await signToken(key, { iss: 'https://idp.example', exp: 1000 })}` }));
  assert.equal(!expired.allow && expired.status, 401);
  if (expired.allow) return;
  assert.match(expired.headers[1]!, /^Bearer error="invalid_token", error_description="the token is expired", realm="shop"$/);
  assert.deepEqual(expired.headers.slice(2), ['content-type', 'application/problem+json']);
  assert.deepEqual(JSON.parse(expired.body!), { error: 'the token is expired', expired: true });
});

test('scope arguments: a token without the scope gets 403 insufficient_scope', async () => {
  const chain = chainOf(`${jwtFilter('jwt')}---
apiVersion: getambassador.io/v3alpha1
kind: FilterPolicy
metadata: {name: p, namespace: default}
spec:
  rules: [{host: "*", path: "*", filters: [{name: jwt, arguments: {scope: [orders:write]}}]}]
`);
  const reader = await signToken(key, { iss: 'https://idp.example', scope: 'orders:read' });
  const writer = await signToken(key, { iss: 'https://idp.example', scope: 'orders:read orders:write' });
  const denied = await chain.run(request('/', { authorization: `Bearer ${reader}` }));
  assert.equal(!denied.allow && denied.status, 403);
  assert.match(!denied.allow ? denied.headers[1]! : '', /insufficient_scope/);
  assert.equal(status(await chain.run(request('/', { authorization: `Bearer ${writer}` }))), 200);
});

test('API keys from the secrets directory (each file of the entry is a key); never in the IR', async () => {
  const files: SecretFiles = { roots: ['/run/secrets'], files: { 'shop-keys/partner-a': 'dir-key-a\n', 'shop-keys/partner-b': 'dir-key-b' }, skipped: {} };
  const yaml = `${apiKeyFilter.replace(/---\napiVersion: v1[\s\S]*$/, '')}---
apiVersion: getambassador.io/v3alpha1
kind: FilterPolicy
metadata: {name: p, namespace: default}
spec:
  rules: [{host: "*", path: "*", filters: [{name: keys}]}]
`;
  const { c, problems } = build(yaml, files);
  assert.deepEqual(problems, []);
  assert.equal(JSON.stringify(c.ir).includes('dir-key-a'), false, 'the IR holds no key');
  const chain = new FilterChain(c.ir.global.policies!.filters!, c.secrets);
  assert.equal(status(await chain.run(request('/', { 'x-shop-key': 'dir-key-a' }))), 200);
  assert.equal(status(await chain.run(request('/', { 'x-shop-key': 'dir-key-b' }))), 200);
  assert.equal(status(await chain.run(request('/', { 'x-shop-key': 'dir-key-' }))), 403);
  assert.equal(status(await chain.run(request('/', { 'x-shop-key': '' }))), 403);
});

test('fail closed: an OAuth2 filter, a missing Filter, a bad template, an External filter naming a TLSContext are errors, and what they guard is refused', async () => {
  const { c, problems } = build(`---
apiVersion: getambassador.io/v3alpha1
kind: Filter
metadata: {name: ext, namespace: default}
spec:
  External:
    auth_service: auth.example:3000
    proto: http
    tls: my-context
---
apiVersion: getambassador.io/v3alpha1
kind: Filter
metadata: {name: sso, namespace: default}
spec:
  OAuth2:
    authorizationURL: https://idp.example
    clientID: shop
---
apiVersion: getambassador.io/v3alpha1
kind: Filter
metadata: {name: jwt, namespace: default}
spec:
  JWT:
    jwksURI: ${jwks.uri}
    validAlgorithms: [HS256]
    injectRequestHeaders:
    - {name: X-User, value: "{{ range .token.Claims }}x{{ end }}"}
---
apiVersion: getambassador.io/v3alpha1
kind: FilterPolicy
metadata: {name: p, namespace: default}
spec:
  rules:
  - {host: "*", path: /sso/*, filters: [{name: sso}]}
  - {host: "*", path: /jwt/*, filters: [{name: jwt, onDeny: continue}]}
  - {host: "*", path: /gone/*, filters: [{name: nowhere}]}
  - {host: "*", path: /ext/*, filters: [{name: ext}]}
`);
  assert.deepEqual([...problems].sort(), [
    'FilterNotFound FilterPolicy/p spec.rules.2.filters.0.name',
    'InvalidTemplate Filter/jwt spec.JWT.injectRequestHeaders.0.value',
    'NotEnforced Filter/sso spec.OAuth2',
    'SchemaViolation Filter/ext spec.External.tls',
    'SchemaViolation Filter/jwt spec.JWT.validAlgorithms',
  ]);
  assert.match(c.report.problems.find((p) => p.code === 'NotEnforced' && p.resource?.name === 'sso')!.message, /OAuth2\/OIDC/);
  const chain = new FilterChain(c.ir.global.policies!.filters!, c.secrets);
  for (const path of ['/sso/x', '/jwt/x', '/gone/x', '/ext/x']) assert.equal(status(await chain.run(request(path))), 500, `${path} is refused, onDeny notwithstanding`);
  assert.equal(status(await chain.run(request('/open'))), 200);
});

test('globs: `*` matches any run, slashes too; the rest is literal', () => {
  const g = (glob: string, s: string, fold = false) => new GlobMatcher(glob, fold).test(s);
  assert.equal(g('/httpbin/*', '/httpbin/a/b'), true);
  assert.equal(g('/httpbin/*', '/httpbin'), false);
  assert.equal(g('/a/*/c', '/a/b/x/c'), true);
  assert.equal(g('/a*b*c', '/aXbYbc'), true);
  assert.equal(g('/a*b*c', '/acb'), false);
  assert.equal(g('/exact', '/exact/'), false);
  assert.equal(g('*.example.com', 'a.b.example.com', true), true);
});

test('explain: the rule that matched and what each filter would do offline', async () => {
  const chain = chainOf(`${jwtFilter('jwt')}${apiKeyFilter}---
apiVersion: getambassador.io/v3alpha1
kind: FilterPolicy
metadata: {name: p, namespace: default}
spec:
  rules:
  - {host: "*", path: /health, filters: []}
  - host: "*"
    path: "*"
    filters:
    - {name: keys, onDeny: continue, onAllow: break}
    - {name: jwt}
`);
  assert.deepEqual(chain.explain(request('/health')), { rule: 'default/p#0', steps: [], decision: 'allow', reason: 'rule default/p#0 applies no filter' });
  const none = chain.explain(request('/orders'));
  assert.equal(none.decision, 'deny');
  assert.equal(none.status, 401);
  assert.deepEqual(none.steps.map((s) => [s.filter, s.decision]), [['default/keys', 'deny'], ['default/jwt', 'deny']]);
  assert.equal(chain.explain(request('/orders', { 'x-shop-key': 'key-one' })).decision, 'allow');
  const token = chain.explain(request('/orders', { authorization: 'Bearer a.b.c' }));
  assert.equal(token.decision, 'at_serve_time');
});

test('a FilterPolicy from a team source is a ClaimViolation (its globs reach past any claim); the central one applies', () => {
  const policy = (name: string) => `apiVersion: getambassador.io/v3alpha1\nkind: FilterPolicy\nmetadata: {name: ${name}, namespace: default}\nspec:\n  rules: [{host: "*", path: "*", filters: null}]\n`;
  const team = loadFiles([{ path: 'team.yaml', content: policy('aaa-open-everything') }], { source: 'shop', revision: '0123456789abcdef0123' });
  const central = loadFiles([{ path: 'edge.yaml', content: policy('edge') }], { source: 'ops', revision: 'abcdef0123456789abcd' });
  const c = compile([...team.resources, ...central.resources], { claims: { shop: { kinds: ['Mapping', 'FilterPolicy'], hostnames: ['*'], pathPrefixes: [] } } }, []);
  assert.deepEqual(c.report.problems.map((p) => [p.code, p.resource?.name]), [['ClaimViolation', 'aaa-open-everything']]);
  assert.deepEqual(c.ir.global.policies!.filters!.rules.map((r) => r.source.name), ['edge']);
});
