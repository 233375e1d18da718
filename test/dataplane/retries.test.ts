import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backend, buildIR, cluster, route } from '../support/ir-builder.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { request } from '../support/http-client.js';
import { startRawUpstream, OK_RESPONSE, type RawUpstream, type ScriptContext } from '../support/raw-upstream.js';
import type { IRBackend, IRCluster, IRRetryPolicy } from '../../src/ir/types.js';
import { compileYaml } from '../support/compile-yaml.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(script: (c: ScriptContext, n: number) => void, retryPolicy: IRRetryPolicy | undefined, over: { backend?: Partial<IRBackend>; cluster?: Partial<IRCluster> } = {}): Promise<{ u: RawUpstream; gw: TestGateway }> {
  let n = 0;
  const u = await startRawUpstream((c) => script(c, ++n));
  const gw = await startGateway(buildIR({
    clusters: [cluster('u', u.port, over.cluster)],
    routes: [route('default/r', { prefix: '/' }, [backend('u', { rewrite: { prefix: null }, retryPolicy, ...over.backend })])],
  }));
  cleanups.push(() => gw.close(), () => u.close());
  return { u, gw };
}

const status = (code: number, body = 'x'): string => `HTTP/1.1 ${code} X\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
const RETRY_5XX: IRRetryPolicy = { retryOn: ['5xx'], numRetries: 2, retryNonIdempotent: false };

describe('retries (HARDENING case 40)', () => {
  it('retries a GET on 5xx and returns the first good answer', async () => {
    const { u, gw } = await setup((c, n) => c.socket.write(n === 1 ? status(503) : OK_RESPONSE), RETRY_5XX);
    const r = await request(gw.port, { path: '/x' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    assert.equal(u.requests.length, 2);
  });

  it('gives up after num_retries and returns the last failure', async () => {
    const { u, gw } = await setup((c) => c.socket.resetAndDestroy(), { retryOn: ['reset'], numRetries: 2, retryNonIdempotent: false });
    const r = await request(gw.port, { path: '/x' });
    assert.equal(r.status, 503);
    assert.equal(u.requests.length, 3);
  });

  it('per_try_timeout ends a silent try and the next try answers', async () => {
    const { u, gw } = await setup((c, n) => {
      if (n > 1) c.socket.write(OK_RESPONSE);
    }, { retryOn: ['5xx'], numRetries: 2, perTryTimeoutMs: 200, retryNonIdempotent: false });
    const r = await request(gw.port, { path: '/x' });
    assert.equal(r.status, 200);
    assert.equal(u.requests.length, 2);
  });

  it('does not retry a POST whose body was consumed unless the route allows it', async () => {
    const { u, gw } = await setup((c) => c.socket.resetAndDestroy(), { retryOn: ['reset', '5xx'], numRetries: 3, retryNonIdempotent: false });
    const r = await request(gw.port, { method: 'POST', path: '/x', body: 'data', headers: { host: 'a', 'content-type': 'text/plain' } });
    assert.equal(r.status, 503);
    assert.equal(u.requests.length, 1);
  });

  it('retries a POST with its body replayed when retry of non-idempotent requests is configured', async () => {
    const { u, gw } = await setup((c, n) => (n === 1 ? c.socket.resetAndDestroy() : c.socket.write(OK_RESPONSE)), { retryOn: ['reset'], numRetries: 1, retryNonIdempotent: true });
    const r = await request(gw.port, { method: 'POST', path: '/x', body: 'data', headers: { host: 'a', 'content-type': 'text/plain' } });
    assert.equal(r.status, 200);
    assert.equal(u.requests.length, 2);
    assert.equal(u.requests[1]?.body.toString(), 'data');
  });

  it("a Mapping's retry_policy retries a POST on 5xx with its body, as Emissary's Envoy does", async () => {
    const compiled = compileYaml('apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: { name: orders }\nspec: { hostname: "*", prefix: /, service: orders, retry_policy: { retry_on: 5xx, num_retries: 1 } }\n');
    const policy = compiled.ir.listeners.flatMap((l) => l.virtualHosts).flatMap((v) => v.routes).flatMap((r) => r.backends)[0]?.retryPolicy;
    assert.ok(policy, 'the Mapping compiles to a retry policy');
    const { u, gw } = await setup((c, n) => c.socket.write(n === 1 ? status(503) : OK_RESPONSE), policy);
    const r = await request(gw.port, { method: 'POST', path: '/x', body: 'order 42', headers: { host: 'a', 'content-type': 'text/plain' } });
    assert.equal(r.status, 200);
    assert.equal(u.requests.length, 2);
    assert.equal(u.requests[1]?.body.toString(), 'order 42');
  });

  it('a body past the replay limit is streamed to the upstream whole, with retries given up', async () => {
    const { u, gw } = await setup((c) => c.socket.write(OK_RESPONSE), { retryOn: ['reset'], numRetries: 1, retryNonIdempotent: true });
    const big = Buffer.alloc(3 * 1024 * 1024, 'abcdefgh');
    const r = await request(gw.port, { method: 'POST', path: '/x', body: big, headers: { host: 'a', 'content-type': 'application/octet-stream' } });
    assert.equal(r.status, 200);
    assert.equal(u.requests.length, 1);
    assert.ok(u.requests[0]!.body.equals(big), `the upstream got ${u.requests[0]!.body.length} of ${big.length} bytes`);
  });

  it('ignores retry-control headers sent by the client', async () => {
    const { u, gw } = await setup((c) => c.socket.write(status(503)), undefined);
    const r = await request(gw.port, { path: '/x', headers: { host: 'a', 'x-envoy-max-retries': '5', 'x-envoy-retry-on': '5xx' } });
    assert.equal(r.status, 503);
    assert.equal(u.requests.length, 1);
  });

  it('the retry budget (circuit breaker max_retries) caps retries', async () => {
    const { u, gw } = await setup((c) => c.socket.write(status(503)), RETRY_5XX, {
      cluster: { circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 0 } },
    });
    assert.equal((await request(gw.port, { path: '/x' })).status, 503);
    assert.equal(u.requests.length, 1);
  });

  it('gateway-error retries only 502/503/504', async () => {
    const { u, gw } = await setup((c) => c.socket.write(status(500)), { retryOn: ['gateway-error'], numRetries: 2, retryNonIdempotent: false });
    assert.equal((await request(gw.port, { path: '/x' })).status, 500);
    assert.equal(u.requests.length, 1);
  });
});
