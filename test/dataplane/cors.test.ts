import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backend, buildIR, cluster, route } from '../support/ir-builder.js';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { request } from '../support/http-client.js';
import type { IRCors } from '../../src/ir/types.js';

const STRICT: IRCors = {
  origins: ['https://example.com', 'null-not-listed'],
  originRegexes: ['https://[a-z]+\\.example\\.org'],
  methods: ['GET', 'POST'],
  headers: ['content-type', 'x-token'],
  exposedHeaders: ['x-trace'],
  credentials: true,
  maxAge: '600',
};

describe('CORS (HARDENING case 42)', () => {
  let echo: EchoUpstream;
  let gw: TestGateway;
  before(async () => {
    echo = await startEcho('e');
    gw = await startGateway(buildIR({
      clusters: [cluster('e', echo.port)],
      global: { cors: { origins: ['*'], originRegexes: [], methods: [], headers: [], exposedHeaders: [], credentials: false } },
      routes: [
        route('default/strict', { prefix: '/strict/' }, [backend('e')], { cors: STRICT }),
        route('default/starcreds', { prefix: '/starcreds/' }, [backend('e')], { cors: { ...STRICT, origins: ['*'], originRegexes: [] } }),
        route('default/global', { prefix: '/global/' }, [backend('e')]),
      ],
    }));
  });
  after(async () => {
    await gw.close();
    await echo.close();
  });

  const preflight = (path: string, origin: string, method = 'POST', headers?: string) => request(gw.port, {
    method: 'OPTIONS', path,
    headers: { host: 'example.com', origin, 'access-control-request-method': method, ...(headers ? { 'access-control-request-headers': headers } : {}) },
  });

  it('answers an allowed preflight at the edge, echoing the exact origin', async () => {
    const seen = echo.received.length;
    const r = await preflight('/strict/x', 'https://example.com', 'POST', 'Content-Type, X-Token');
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], 'https://example.com');
    assert.equal(r.headers['access-control-allow-methods'], 'GET,POST');
    assert.equal(r.headers['access-control-allow-headers'], 'content-type,x-token');
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    assert.equal(r.headers['access-control-max-age'], '600');
    assert.equal(r.headers.vary, 'Origin');
    assert.equal(echo.received.length, seen, 'preflight never reaches the upstream');
  });

  it('gives no allow headers for disallowed origins, methods or headers', async () => {
    for (const [origin, method, hdrs] of [
      ['https://evil.example', 'POST', undefined],
      ['https://example.com', 'DELETE', undefined],
      ['https://example.com', 'POST', 'x-other'],
      ['https://example.com.evil.net', 'POST', undefined],
      ['https://evilexample.com', 'POST', undefined],
      ['https://a.example.org.evil.net', 'POST', undefined],
      ['null', 'POST', undefined],
    ] as const) {
      const r = await preflight('/strict/x', origin, method, hdrs);
      assert.equal(r.status, 200);
      assert.equal(r.headers['access-control-allow-origin'], undefined, `${origin} ${method} ${hdrs}`);
      assert.equal(r.headers['access-control-allow-methods'], undefined);
      assert.equal(r.headers.vary, 'Origin');
    }
  });

  it('accepts regex origins only as a full match', async () => {
    const r = await preflight('/strict/x', 'https://api.example.org');
    assert.equal(r.headers['access-control-allow-origin'], 'https://api.example.org');
  });

  it('adds allow headers to actual responses for allowed origins only, always with Vary: Origin', async () => {
    const ok = await request(gw.port, { path: '/strict/x', headers: { host: 'example.com', origin: 'https://example.com' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://example.com');
    assert.equal(ok.headers['access-control-expose-headers'], 'x-trace');
    assert.match(String(ok.headers.vary), /Origin/);
    const bad = await request(gw.port, { path: '/strict/x', headers: { host: 'example.com', origin: 'https://evil.example' } });
    assert.equal(bad.status, 200);
    assert.equal(bad.headers['access-control-allow-origin'], undefined);
    assert.match(String(bad.headers.vary), /Origin/);
  });

  it('never answers "*" together with credentials', async () => {
    const r = await preflight('/starcreds/x', 'https://any.example');
    assert.equal(r.headers['access-control-allow-origin'], undefined);
  });

  it('uses the Module policy for routes without their own', async () => {
    const r = await preflight('/global/x', 'https://any.example', 'PUT');
    assert.equal(r.headers['access-control-allow-origin'], '*');
  });
});
