// Edge Stack filters served end to end: a gateway built from YAML, a real JWKS endpoint with keys
// made here, an echo upstream. What a client gets with and without a token or key, what the
// upstream sees, and route tests that assert "401 without a token, 200 with one".

import { after, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadFiles } from '../../src/load/index.js';
import { compile, type CompileResult } from '../../src/compile/index.js';
import { Explainer } from '../../src/review/explain-engine.js';
import { parseRequestLine } from '../../src/review/request-spec.js';
import { parseRouteTests, runLive, runOffline } from '../../src/review/route-tests.js';
import { JWKS_MIN_REFETCH_MS } from '../../src/dataplane/jwks-cache.js';
import { cleartextGatewayYaml, mappingYaml } from '../support/policy-yaml.js';
import { startEcho, type EchoUpstream, type Echoed } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { json, request, type Reply } from '../support/http-client.js';
import { signingKey, signToken, startJWKSServer, unsignedToken, type JWKSServer, type SigningKey } from '../support/jwks-server.js';

function compileClean(yaml: string): CompileResult {
  const loaded = loadFiles([{ path: 'edge.yaml', content: yaml }]);
  const c = compile(loaded.resources, {}, loaded.problems);
  const errors = c.report.problems.filter((p) => p.severity === 'error');
  assert.deepEqual(errors, [], 'the YAML compiles');
  return c;
}

function config(upstream: number, jwksURI: string): string {
  return `${cleartextGatewayYaml(8080)}---
${mappingYaml('api', '/api/', upstream)}---
${mappingYaml('health', '/health', upstream)}---
${mappingYaml('public', '/public/', upstream, '  bypass_auth: true\n')}---
apiVersion: getambassador.io/v3alpha1
kind: Filter
metadata: {name: staff, namespace: default}
spec:
  JWT:
    jwksURI: ${jwksURI}
    issuer: https://idp.example
    requireIssuer: true
    audience: shop
    injectRequestHeaders:
    - {name: X-User, value: "{{ .token.Claims.sub }}"}
---
apiVersion: getambassador.io/v3alpha1
kind: Filter
metadata: {name: partners, namespace: default}
spec:
  APIKey:
    keys: [{secretName: partner-keys}]
---
apiVersion: v1
kind: Secret
metadata: {name: partner-keys, namespace: default}
type: Opaque
data:
  acme: ${Buffer.from('acme-key-123').toString('base64')}
---
apiVersion: getambassador.io/v3alpha1
kind: FilterPolicy
metadata: {name: edge, namespace: default}
spec:
  rules:
  - {host: "*", path: /health, filters: null}
  - host: "*"
    path: /api/partner/*
    filters: [{name: partners}]
  - host: "*"
    path: "*"
    filters:
    - {name: partners, ifRequestHeader: {name: x-api-key}, onAllow: break}
    - {name: staff}
`;
}

const ISS = 'https://idp.example';
const lastSeen = (echo: EchoUpstream): Echoed => echo.received[echo.received.length - 1]!;
const header = (e: Echoed, name: string): string[] => e.headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);

describe('Edge Stack filters through the gateway', () => {
  let echo: EchoUpstream;
  let jwks: JWKSServer;
  let key: SigningKey;
  let gw: TestGateway;
  let compiled: CompileResult;
  const get = (path: string, headers: Record<string, string> = {}): Promise<Reply> => request(gw.port, { path, headers: { host: 'shop.example.com', ...headers } });
  const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

  before(async () => {
    echo = await startEcho('api');
    key = await signingKey('key-1');
    jwks = await startJWKSServer([key]);
    compiled = compileClean(config(echo.port, jwks.uri));
    gw = await startGateway(compiled.ir, { secrets: compiled.secrets });
  });
  after(async () => {
    await gw.close();
    await echo.close();
    await jwks.close();
  });

  it('401 without a token (RFC 6750 challenge, the one reply shape); 200 with one, the claim passed upstream', async () => {
    const before = echo.received.length;
    const r = await get('/api/orders');
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="staff.default"');
    assert.equal(json(r).code, 'auth_denied');
    assert.equal(echo.received.length, before, 'the upstream never saw it');
    const token = await signToken(key, { iss: ISS, aud: 'shop', sub: 'alice', exp: Math.floor(Date.now() / 1000) + 300 });
    const ok = await get('/api/orders', { ...bearer(token), 'x-user': 'mallory' });
    assert.equal(ok.status, 200);
    assert.deepEqual(header(lastSeen(echo), 'x-user'), ['alice'], "the client's X-User never reaches the upstream");
  });

  it('expired, wrong issuer, wrong audience, alg none, a tampered signature: 401 invalid_token, never forwarded', async () => {
    const now = Math.floor(Date.now() / 1000);
    const good = await signToken(key, { iss: ISS, aud: 'shop', sub: 'alice' });
    const [h, p, s] = good.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ iss: ISS, aud: 'shop', sub: 'admin' })).toString('base64url')}.${s}`;
    const cases: Record<string, [string, RegExp]> = {
      expired: [await signToken(key, { iss: ISS, aud: 'shop', exp: now - 60 }), /expired/],
      'wrong issuer': [await signToken(key, { iss: 'https://evil.example', aud: 'shop' }), /another issuer/],
      'wrong audience': [await signToken(key, { iss: ISS, aud: 'billing' }), /audience/],
      'alg none': [unsignedToken({ iss: ISS, aud: 'shop', sub: 'admin' }, { kid: 'key-1' }), /algorithm/],
      'tampered payload': [forged, /signature/],
      'tampered signature': [`${h}.${p}.${s!.slice(0, -4)}AAAA`, /signature/],
    };
    const before = echo.received.length;
    for (const [name, [token, why]] of Object.entries(cases)) {
      const r = await get('/api/orders', bearer(token));
      assert.equal(r.status, 401, name);
      assert.match(String(r.headers['www-authenticate']), /^Bearer error="invalid_token", error_description="[^"]+", realm="staff\.default"$/, name);
      assert.match(String(r.headers['www-authenticate']), why, name);
    }
    assert.equal(echo.received.length, before);
  });

  it('a key rotated into the JWKS: a token with the new kid works once the set is refetched', async () => {
    const next = await signingKey('key-2');
    jwks.publish([key, next]);
    const fetched = jwks.fetches();
    // The refetch for an unknown kid waits for the minimum interval since the last fetch.
    mock.timers.enable({ apis: ['Date'], now: Date.now() + JWKS_MIN_REFETCH_MS });
    try {
      const r = await get('/api/orders', bearer(await signToken(next, { iss: ISS, aud: 'shop', sub: 'bob' })));
      assert.equal(r.status, 200);
      assert.equal(jwks.fetches(), fetched + 1, 'one refetch');
    } finally {
      mock.timers.reset();
    }
  });

  it('API keys: the partner rule wants one; elsewhere a key (if sent) or a token will do', async () => {
    assert.equal((await get('/api/partner/feed')).status, 403);
    assert.equal((await get('/api/partner/feed', { 'x-api-key': 'wrong' })).status, 403);
    assert.equal((await get('/api/partner/feed', { 'x-api-key': 'acme-key-123' })).status, 200);
    const token = await signToken(key, { iss: ISS, aud: 'shop' });
    assert.equal((await get('/api/partner/feed', bearer(token))).status, 403, 'a token does not open the partner rule');
    assert.equal((await get('/api/orders', { 'x-api-key': 'acme-key-123' })).status, 200, 'onAllow break: the key suffices');
    assert.equal((await get('/api/orders', { 'x-api-key': 'wrong' })).status, 403, 'a wrong key is refused (onDeny break)');
  });

  it('the first rule wins: /health is exempt; bypass_auth routes run no filter', async () => {
    assert.equal((await get('/health')).status, 200);
    assert.equal((await get('/public/x')).status, 200);
  });

  it('decisions are recorded for logs and metrics, by filter and outcome', async () => {
    await get('/api/orders');
    const last = gw.done[gw.done.length - 1]!;
    assert.deepEqual(last.policies, ['filter Filter default/staff', 'deny']);
  });

  it('route tests: 401 without a token, offline and live; 200 with one and 401 with an expired one, checked with --target', async () => {
    const token = await signToken(key, { iss: ISS, aud: 'shop', sub: 'carol' });
    const stale = await signToken(key, { iss: ISS, aud: 'shop', sub: 'carol', exp: 1_000_000 });
    const { tests, problems } = parseRouteTests('edge.test.yaml', `tests:
- name: no token
  request: {url: http://shop.example.com/api/orders}
  expect: {status: 401}
- name: a token
  request: {url: http://shop.example.com/api/orders, headers: {Authorization: "Bearer ${token}"}}
  expect: {status: 200, route: default/api}
- name: an expired token
  request: {url: http://shop.example.com/api/orders, headers: {Authorization: "Bearer ${stale}"}}
  expect: {status: 401}
`);
    assert.deepEqual(problems, []);
    const offline = tests.map((t) => runOffline(new Explainer(compiled.ir, [], compiled.secrets), t));
    assert.deepEqual(offline.map((r) => r.ok), [true, true, true]);
    assert.equal(offline[0]!.unchecked, undefined, '401 without a token is decided offline');
    assert.match(offline[2]!.unchecked ?? '', /^status 401: decided at serve time by filter FilterPolicy .*check with --target$/, 'a token needs the keys');
    const live = await Promise.all(tests.map((t) => runLive({ url: new URL(gw.origin), timeoutMs: 5000 }, t)));
    assert.deepEqual(live.map((r) => [r.ok, r.mismatches]), [[true, []], [true, []], [true, []]]);
  });

  it('explain names the matching rule and what each filter would do', () => {
    const e = new Explainer(compiled.ir, [], compiled.secrets);
    const r = e.explain(parseRequestLine('GET http://shop.example.com/api/partner/feed', [['X-API-Key', 'acme-key-123']]));
    assert.equal(r.policies[0]?.decision, 'allow');
    assert.match(r.policies[0]?.reason ?? '', /FilterPolicy rule default\/edge#1: APIKey default\/partners: allow/);
    const denied = e.explain(parseRequestLine('GET http://shop.example.com/api/orders'));
    assert.equal(denied.outcome, 'policy_denied');
    assert.equal(denied.status, 401);
  });
});

describe('an External filter: the AuthService check with the filter\'s own spec', () => {
  let echo: EchoUpstream;
  let auth: http.Server;
  let authPort: number;
  let gw: TestGateway;
  const asked: string[] = [];
  const get = (path: string, headers: Record<string, string> = {}): Promise<Reply> => request(gw.port, { path, headers: { host: 'shop.example.com', ...headers } });

  before(async () => {
    echo = await startEcho('api');
    auth = http.createServer((req, res) => {
      asked.push(req.url ?? '');
      if (req.headers['x-allow'] === 'yes') res.writeHead(200, { 'x-auth-user': 'svc-user' }).end();
      else res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Basic realm="ext"' }).end('denied by the auth service');
    });
    await new Promise<void>((resolve) => auth.listen(0, '127.0.0.1', resolve));
    authPort = (auth.address() as AddressInfo).port;
    const c = compileClean(`${cleartextGatewayYaml(8080)}---
${mappingYaml('ext', '/ext/', echo.port)}---
apiVersion: getambassador.io/v3alpha1
kind: Filter
metadata: {name: ext-auth, namespace: default}
spec:
  External:
    auth_service: 127.0.0.1:${authPort}
    proto: http
    path_prefix: /check
    timeout_ms: 2000
    allowed_request_headers: [x-allow]
    allowed_authorization_headers: [x-auth-user]
---
apiVersion: getambassador.io/v3alpha1
kind: FilterPolicy
metadata: {name: ext, namespace: default}
spec:
  rules: [{host: "*", path: /ext/*, filters: [{name: ext-auth}]}]
`);
    gw = await startGateway(c.ir, { secrets: c.secrets });
  });
  after(async () => {
    await gw.close();
    await echo.close();
    if (auth.listening) await new Promise<void>((resolve) => auth.close(() => resolve()));
  });

  it("the service's refusal is the client's reply; its allow adds the allowed header, and a client's copy never passes", async () => {
    const denied = await get('/ext/orders');
    assert.equal(denied.status, 401);
    assert.equal(denied.body, 'denied by the auth service');
    assert.equal(denied.headers['www-authenticate'], 'Basic realm="ext"');
    assert.equal(asked[asked.length - 1], '/check/ext/orders');
    const ok = await get('/ext/orders', { 'x-allow': 'yes', 'x-auth-user': 'mallory' });
    assert.equal(ok.status, 200);
    assert.deepEqual(header(lastSeen(echo), 'x-auth-user'), ['svc-user']);
    assert.deepEqual(gw.done[gw.done.length - 1]!.policies, ['filter FilterPolicy default/ext', 'allow']);
  });

  it('a service that cannot be asked fails closed: 403 auth_error', async () => {
    auth.closeAllConnections();
    await new Promise<void>((resolve) => auth.close(() => resolve()));
    const r = await get('/ext/orders', { 'x-allow': 'yes' });
    assert.equal(r.status, 403);
    assert.equal(json(r).code, 'auth_error');
    assert.deepEqual(gw.done[gw.done.length - 1]!.policies, ['filter Filter default/ext-auth', 'error']);
  });
});
