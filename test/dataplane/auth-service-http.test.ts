// AuthService proto http end to end with a real auth service and a real upstream (issue 17; the
// cases of Emissary's extauth-http e2e test, test/testdata/emissary/e2e/extauth-http, plus
// HARDENING §41): what the service is asked, what a 200 lets through, what a refusal sends back,
// status_on_error and failure_mode_allow, timeouts, include_body, bypass_auth, several services
// taking turns, circuit breakers, TLS to the service, WebSocket handshakes and the decisions counted.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startEcho, echoedHeader, type EchoUpstream, type Echoed } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { request, json, type Reply } from '../support/http-client.js';
import { compileYaml } from '../support/compile-yaml.js';
import { cleartextGatewayYaml, mappingYaml } from '../support/policy-yaml.js';
import { checkHeader, startHttpAuth, type HttpAuthServer } from '../support/auth-servers.js';
import { closedPort } from '../support/fault-upstream.js';
import { makeTestPKI } from '../support/test-pki.js';
import { RawConnection } from '../support/raw-http.js';
import { TrafficMetrics } from '../../src/admin/metrics.js';

const indent = (s: string): string => s.replace(/^(?=.)/gm, '  ');

function authServiceYaml(name: string, service: string, spec: string): string {
  return `---\napiVersion: getambassador.io/v3alpha1\nkind: AuthService\nmetadata:\n  name: ${name}\nspec:\n  auth_service: "${service}"\n${indent(spec)}`;
}

/** The KAT AuthService (extauth-http/manifests.yaml), pointed at a local service. */
const KAT_SPEC = `proto: http
path_prefix: "/extauth"
timeout_ms: 5000
allowed_request_headers:
- X-Foo
- X-Bar
- X-Want-Status
- X-Want-Headers
- X-Want-Hold
- X-Want-Hang
- Location
allowed_authorization_headers:
- X-Foo
- X-User-Id
add_auth_headers:
  x-added-auth: auth-added
status_on_error:
  code: 503
`;

function gatewayYaml(echoPort: number, auth: string, module = ''): string {
  return `${cleartextGatewayYaml(8080)}---\n${mappingYaml('target', '/target/', echoPort)}---\n${mappingYaml('target-unauthed', '/target/unauthed/', echoPort, '  bypass_auth: true\n')}---\n${mappingYaml('ws', '/ws/', echoPort, '  allow_upgrade: [websocket]\n')}${auth}${module}`;
}

const want = (status: number, headers: Record<string, string | string[]> = {}): Record<string, string> => ({
  'x-want-status': String(status),
  ...(Object.keys(headers).length > 0 ? { 'x-want-headers': JSON.stringify(headers) } : {}),
});

describe('AuthService proto http', () => {
  let echo: EchoUpstream;
  let auth1: HttpAuthServer;
  let auth2: HttpAuthServer;
  let gw: TestGateway;
  const gateways: TestGateway[] = [];
  const get = (path: string, headers: Record<string, string> = {}, port = gw.port): Promise<Reply> =>
    request(port, { path, headers: { host: 'example.com', ...headers } });
  const start = async (yaml: string): Promise<TestGateway> => {
    const g = await startGateway(compileYaml(yaml).ir);
    gateways.push(g);
    return g;
  };

  before(async () => {
    echo = await startEcho('target');
    auth1 = await startHttpAuth('auth1');
    auth2 = await startHttpAuth('auth2');
    gw = await start(gatewayYaml(echo.port, authServiceYaml('auth1', `127.0.0.1:${auth1.port}`, KAT_SPEC)));
  });
  after(async () => {
    for (const g of gateways) await g.close();
    await echo.close();
    await auth1.close();
    await auth2.close();
  });

  it('asks the service with path_prefix + the path, the allowed headers, add_auth_headers and Content-Length 0; a 401 is the client\'s answer, as written', async () => {
    const seen = echo.received.length;
    const r = await get('/target/0?q=1', { ...want(401), Baz: 'baz', 'X-Foo': 'foo', 'User-Agent': 'kat' });
    assert.equal(r.status, 401);
    assert.equal(r.body, 'auth1 says 401', 'the service\'s body, not the JSON shape');
    assert.equal(echo.received.length, seen, 'a refused request never reaches the upstream');
    const c = auth1.checks.at(-1)!;
    assert.equal(c.method, 'GET');
    assert.equal(c.url, '/extauth/target/0?q=1');
    assert.equal(checkHeader(c, 'host'), 'example.com');
    assert.equal(checkHeader(c, 'x-forwarded-proto'), 'http');
    assert.equal(checkHeader(c, 'content-length'), '0');
    assert.equal(checkHeader(c, 'x-forwarded-for'), '127.0.0.1');
    assert.equal(checkHeader(c, 'user-agent'), 'kat');
    assert.equal(checkHeader(c, 'x-foo'), 'foo');
    assert.equal(checkHeader(c, 'x-added-auth'), 'auth-added');
    assert.equal(checkHeader(c, 'baz'), undefined, 'a header not allowed is not sent to the service');
    const info = gw.done.at(-1)!;
    assert.equal(info.localReply, 'auth_denied');
    assert.deepEqual(info.policies, ['auth AuthService default/auth1', 'deny']);
  });

  it('a refusal carries the allowed answer headers only (Location, X-Foo; not X-Bar)', async () => {
    const redirect = await get('/target/1', { ...want(302, { location: 'https://login.example/start' }), location: 'foo' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.location, 'https://login.example/start');
    assert.equal(checkHeader(auth1.checks.at(-1)!, 'location'), 'foo', 'Location is an allowed request header here');
    const foo = await get('/target/2', want(401, { 'x-foo': 'foo', 'x-bar': 'bar', 'www-authenticate': 'Basic realm="kat"' }));
    assert.equal(foo.status, 401);
    assert.equal(foo.headers['x-foo'], 'foo');
    assert.equal(foo.headers['x-bar'], undefined);
    assert.equal(foo.headers['www-authenticate'], 'Basic realm="kat"');
  });

  it('a 200 lets the request on with the allowed answer headers set upstream; the client\'s own copies never arrive', async () => {
    const r = await get('/target/4', {
      ...want(200, { authorization: 'Bearer from-auth', 'x-user-id': 'alice', 'x-bar': 'not-allowed' }),
      Authorization: 'foo-11111',
      'X-User-Id': 'mallory',
    });
    assert.equal(r.status, 200);
    const e = json<Echoed>(r);
    assert.equal(echoedHeader(e, 'authorization'), 'Bearer from-auth');
    assert.equal(echoedHeader(e, 'x-user-id'), 'alice');
    assert.equal(echoedHeader(e, 'x-bar'), undefined);
    assert.equal(checkHeader(auth1.checks.at(-1)!, 'x-user-id'), undefined, 'a client-supplied identity is not even shown to the service');
    // the service says nothing about x-user-id: the client's claim is still dropped
    const quiet = json<Echoed>(await get('/target/5', { ...want(200), 'X-User-Id': 'mallory', Authorization: 'keep-me' }));
    assert.equal(echoedHeader(quiet, 'x-user-id'), undefined);
    assert.equal(echoedHeader(quiet, 'authorization'), 'keep-me', 'a default allowed header the service did not set passes as the client sent it');
    assert.deepEqual(gw.done.at(-1)!.policies, ['auth AuthService default/auth1', 'allow']);
  });

  it('x-envoy-auth-headers-to-remove in a 200 removes those headers from the upstream request', async () => {
    const e = json<Echoed>(await get('/target/6', { ...want(200, { 'x-envoy-auth-headers-to-remove': 'x-secret-token, x-other' }), 'X-Secret-Token': 's3cr3t', 'X-Keep': 'k' }));
    assert.equal(echoedHeader(e, 'x-secret-token'), undefined);
    assert.equal(echoedHeader(e, 'x-keep'), 'k');
  });

  it('the service sees the normalised path (HARDENING §33/§41): dot segments and encoded dots are resolved first', async () => {
    await get('/target/public/%2e%2e/admin', want(401));
    assert.equal(auth1.checks.at(-1)!.url, '/extauth/target/admin');
    await get('/target/a/../b', want(401));
    assert.equal(auth1.checks.at(-1)!.url, '/extauth/target/b');
  });

  it('bypass_auth skips the service entirely', async () => {
    const before = auth1.checks.length;
    const r = await get('/target/unauthed/6', want(401));
    assert.equal(r.status, 200);
    assert.equal(auth1.checks.length, before);
    assert.equal(gw.done.at(-1)!.policies, undefined, 'a route whose only policy is bypassed has no chain');
  });

  it('a 5xx from the service is an error: status_on_error (503 here), not the 500', async () => {
    const r = await get('/target/7', want(500));
    assert.equal(r.status, 503);
    assert.equal(json<{ code: string }>(r).code, 'auth_error');
    const info = gw.done.at(-1)!;
    assert.deepEqual(info.policies, ['auth AuthService default/auth1', 'error']);
    assert.equal(info.upstreamError, 'auth service answered 500');
  });

  it('a service that is down fails closed with the default 403; failure_mode_allow lets the request on, without client identity claims', async () => {
    const down = await closedPort();
    const closed = await start(gatewayYaml(echo.port, authServiceYaml('down', `127.0.0.1:${down}`, 'allowed_authorization_headers: [x-user-id]\n')));
    const r = await get('/target/x', {}, closed.port);
    assert.equal(r.status, 403);
    assert.equal(json<{ code: string }>(r).code, 'auth_error');
    const open = await start(gatewayYaml(echo.port, authServiceYaml('down', `127.0.0.1:${down}`, 'failure_mode_allow: true\nallowed_authorization_headers: [x-user-id]\n')));
    const ok = await get('/target/x', { 'X-User-Id': 'mallory' }, open.port);
    assert.equal(ok.status, 200);
    assert.equal(echoedHeader(json<Echoed>(ok), 'x-user-id'), undefined);
    assert.deepEqual(open.done.at(-1)!.policies, ['auth AuthService default/down', 'error_allow']);
  });

  it('a service that does not answer within timeout_ms gets status_on_error, and the check is abandoned', async () => {
    const slow = await start(gatewayYaml(echo.port, authServiceYaml('slow', `127.0.0.1:${auth2.port}`, 'timeout_ms: 300\nallowed_request_headers: [x-want-hang]\nstatus_on_error: {code: 504}\n')));
    const r = await get('/target/hang', { 'x-want-hang': '1' }, slow.port);
    assert.equal(r.status, 504);
    assert.match(slow.done.at(-1)!.upstreamError ?? '', /timeout \(300 ms\)/);
  });

  it('include_body: up to max_bytes goes to the service; over it, 413 without allow_partial, the first max_bytes with it; the upstream always gets the whole body', async () => {
    const strict = await start(gatewayYaml(echo.port, authServiceYaml('body', `127.0.0.1:${auth2.port}`, 'include_body: {max_bytes: 10, allow_partial: false}\n')));
    const post = (port: number, body: string) => request(port, { method: 'POST', path: '/target/body', headers: { host: 'example.com', 'content-type': 'text/plain' }, body });
    const small = await post(strict.port, 'hello');
    assert.equal(small.status, 200);
    assert.equal(auth2.checks.at(-1)!.body.toString(), 'hello');
    assert.equal(checkHeader(auth2.checks.at(-1)!, 'content-length'), '5');
    assert.equal(checkHeader(auth2.checks.at(-1)!, 'x-envoy-auth-partial-body'), 'false');
    assert.equal(json<Echoed>(small).body, 'hello');
    const seen = auth2.checks.length;
    const big = await post(strict.port, 'x'.repeat(20));
    assert.equal(big.status, 413);
    assert.equal(json<{ code: string }>(big).code, 'payload_too_large');
    assert.equal(auth2.checks.length, seen, 'the service is not asked');
    const partial = await start(gatewayYaml(echo.port, authServiceYaml('body', `127.0.0.1:${auth2.port}`, 'include_body: {max_bytes: 10, allow_partial: true}\n')));
    const body = '0123456789abcdefghij';
    const p = await post(partial.port, body);
    assert.equal(p.status, 200);
    assert.equal(auth2.checks.at(-1)!.body.toString(), '0123456789');
    assert.equal(checkHeader(auth2.checks.at(-1)!, 'x-envoy-auth-partial-body'), 'true');
    assert.equal(json<Echoed>(p).body, body);
  });

  it('several AuthServices take turns (round-robin), never chained', async () => {
    const two = await start(gatewayYaml(echo.port, authServiceYaml('auth1', `127.0.0.1:${auth1.port}`, 'path_prefix: /extauth\n') + authServiceYaml('auth2', `127.0.0.1:${auth2.port}`, 'path_prefix: /extauth\n')));
    const a = auth1.checks.length;
    const b = auth2.checks.length;
    for (let i = 0; i < 6; i++) assert.equal((await get(`/target/lb/${i}`, {}, two.port)).status, 200);
    assert.equal(auth1.checks.length - a, 3);
    assert.equal(auth2.checks.length - b, 3);
    const labels = two.done.slice(-2).map((d) => d.policies?.[0]).sort();
    assert.deepEqual(labels, ['auth AuthService default/auth1', 'auth AuthService default/auth2']);
  });

  it('circuit_breakers bound the checks in flight: past max_requests the check fails at once (status_on_error)', async () => {
    const cb = await start(gatewayYaml(echo.port, authServiceYaml('cb', `127.0.0.1:${auth2.port}`, 'allowed_request_headers: [x-want-hold]\ncircuit_breakers: [{max_requests: 1}]\n')));
    const first = get('/target/held', { 'x-want-hold': '1' }, cb.port);
    await auth2.whenHeld(1);
    const second = await get('/target/second', {}, cb.port);
    assert.equal(second.status, 403);
    assert.equal(cb.done.at(-1)!.upstreamError, 'circuit_open');
    auth2.release();
    assert.equal((await first).status, 200);
  });

  it('a client that goes away while its check waits: the check is dropped, nothing reaches the upstream, the request counts as 499', async () => {
    const g = await start(gatewayYaml(echo.port, authServiceYaml('held', `127.0.0.1:${auth2.port}`, 'allowed_request_headers: [x-want-hold]\n')));
    const c = await RawConnection.open(g.port);
    c.write('GET /target/leaving HTTP/1.1\r\nHost: example.com\r\nX-Want-Hold: 1\r\n\r\n');
    await auth2.whenHeld(1);
    const abandoned = auth2.abandoned();
    c.destroy();
    await auth2.whenAbandoned(abandoned + 1);
    assert.equal(g.done.at(-1)!.status, 499);
    auth2.release();
    assert.equal((await get('/target/after', {}, g.port)).status, 200, 'the gateway goes on serving');
    assert.equal(echo.received.filter((e) => e.url.includes('leaving')).length, 0);
  });

  it('tls: true reaches an https auth service', async () => {
    const pki = makeTestPKI();
    const secure = await startHttpAuth('secure', { key: pki.a.keyPem, cert: pki.a.certPem });
    try {
      const g = await start(gatewayYaml(echo.port, authServiceYaml('secure', `127.0.0.1:${secure.port}`, 'tls: true\n')));
      assert.equal((await get('/target/tls', {}, g.port)).status, 200);
      assert.equal(secure.checks.length, 1);
    } finally {
      await secure.close();
    }
  });

  it('a WebSocket handshake is checked too: refused on its socket, or tunnelled with the service\'s headers', async () => {
    // The echo upstream answers the handshake with plain JSON of what it received (no 101): enough
    // to see what the policies let through.
    const handshake = (headers: Record<string, string>) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/ws/chat`, { headers: { host: 'example.com', ...headers } });
      ws.on('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      ws.on('open', () => reject(new Error('unexpected 101')));
      ws.on('error', () => {});
    });
    const refused = await handshake(want(401));
    assert.equal(refused.status, 401);
    assert.equal(refused.body, 'auth1 says 401');
    assert.deepEqual(gw.done.at(-1)!.policies, ['auth AuthService default/auth1', 'deny']);
    const allowed = await handshake({ ...want(200, { 'x-user-id': 'alice' }), 'X-User-Id': 'mallory' });
    assert.equal(allowed.status, 200);
    const e = JSON.parse(allowed.body) as Echoed;
    assert.equal(echoedHeader(e, 'x-user-id'), 'alice');
    assert.equal(echoedHeader(e, 'upgrade'), 'websocket');
  });

  it('counts decisions by policy and outcome', async () => {
    const metrics = new TrafficMetrics();
    for (const info of gw.done) metrics.observe(info);
    const text = await metrics.registry.metrics();
    assert.match(text, /portico_policy_decisions_total\{policy="auth",resource="AuthService default\/auth1",outcome="deny"\} \d+/);
    assert.match(text, /portico_policy_decisions_total\{policy="auth",resource="AuthService default\/auth1",outcome="allow"\} \d+/);
    assert.match(text, /portico_policy_decisions_total\{policy="auth",resource="AuthService default\/auth1",outcome="error"\} 1/);
  });
});
