import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backend, buildIR, cluster, route } from '../support/ir-builder.js';
import { echoedHeader, startEcho, type EchoUpstream, type Echoed } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { json, request } from '../support/http-client.js';
import { sendRaw } from '../support/raw-h1-sender.js';
import type { IRGlobal } from '../../src/ir/types.js';

async function gatewayWith(echo: EchoUpstream, global: Partial<IRGlobal> = {}, l7Depth = 0): Promise<TestGateway> {
  return startGateway(buildIR({ clusters: [cluster('e', echo.port)], routes: [route('default/r', { prefix: '/' }, [backend('e', { rewrite: { prefix: null } })])], global, listener: { l7Depth } }));
}

describe('header sanitisation (HARDENING case 34)', () => {
  let echo: EchoUpstream;
  let gw: TestGateway;
  let trusting: TestGateway;
  let dropping: TestGateway;
  before(async () => {
    echo = await startEcho('e');
    gw = await gatewayWith(echo);
    trusting = await gatewayWith(echo, { xffNumTrustedHops: 1, preserveExternalRequestId: true });
    dropping = await gatewayWith(echo, { headersWithUnderscoresAction: 'DROP_HEADER' });
  });
  after(async () => {
    await Promise.all([gw.close(), trusting.close(), dropping.close()]);
    await echo.close();
  });

  it('with 0 trusted hops: client XFF does not change the client address, the peer is appended, XFP overwritten', async () => {
    const r = await request(gw.port, { headers: { host: 'example.com', 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https' } });
    const e = json<Echoed>(r);
    assert.equal(echoedHeader(e, 'x-forwarded-for'), '1.2.3.4, 127.0.0.1');
    assert.equal(echoedHeader(e, 'x-forwarded-proto'), 'http');
    assert.equal(gw.done.at(-1)?.clientAddress, '127.0.0.1');
  });

  it('with 1 trusted hop: the right-most XFF entry is the client', async () => {
    await request(trusting.port, { headers: { host: 'example.com', 'x-forwarded-for': '9.9.9.9, 5.6.7.8' } });
    assert.equal(trusting.done.at(-1)?.clientAddress, '5.6.7.8');
  });

  it('strips internal control headers sent by clients', async () => {
    const e = json<Echoed>(await request(gw.port, { headers: { host: 'example.com', 'x-envoy-max-retries': '10', 'x-envoy-upstream-rq-timeout-ms': '1', 'x-portico-internal': '1' } }));
    assert.equal(echoedHeader(e, 'x-envoy-max-retries'), undefined);
    assert.equal(echoedHeader(e, 'x-envoy-upstream-rq-timeout-ms'), undefined);
    assert.equal(echoedHeader(e, 'x-portico-internal'), undefined);
  });

  it('removes headers the client nominates in Connection before adding its own', async () => {
    const e = json<Echoed>(await request(gw.port, { headers: { host: 'example.com', connection: 'close, X-Forwarded-For, Authorization', authorization: 'Bearer t', 'x-forwarded-for': '6.6.6.6' } }));
    assert.equal(echoedHeader(e, 'authorization'), undefined);
    assert.equal(echoedHeader(e, 'x-forwarded-for'), '127.0.0.1', "the gateway's own XFF survives");
  });

  it('never forwards Keep-Alive, Proxy-Connection, TE (except trailers), Upgrade or HTTP2-Settings', async () => {
    const e = json<Echoed>(await request(gw.port, { headers: { host: 'example.com', 'keep-alive': 'timeout=5', 'proxy-connection': 'keep-alive', te: 'trailers', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAARAAAAAAAIAAAAA' } }));
    for (const h of ['keep-alive', 'proxy-connection', 'upgrade', 'http2-settings']) assert.equal(echoedHeader(e, h), undefined, h);
    assert.equal(echoedHeader(e, 'te'), 'trailers');
    const e2 = json<Echoed>(await request(gw.port, { headers: { host: 'example.com', te: 'gzip' } }));
    assert.equal(echoedHeader(e2, 'te'), undefined);
  });

  it('rejects header names with underscores (REJECT_REQUEST) or drops them (DROP_HEADER)', async () => {
    const r = await request(gw.port, { headers: { host: 'example.com', x_forwarded_for: '1.2.3.4' } });
    assert.equal(r.status, 400);
    const d = json<Echoed>(await request(dropping.port, { headers: { host: 'example.com', x_user: 'admin', 'x-ok': '1' } }));
    assert.equal(echoedHeader(d, 'x_user'), undefined);
    assert.equal(echoedHeader(d, 'x-ok'), '1');
  });

  it('generates x-request-id unless preserving is configured and the value is safe', async () => {
    const e = json<Echoed>(await request(gw.port, { headers: { host: 'example.com', 'x-request-id': 'client-id' } }));
    assert.notEqual(echoedHeader(e, 'x-request-id'), 'client-id');
    assert.match(echoedHeader(e, 'x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const kept = json<Echoed>(await request(trusting.port, { headers: { host: 'example.com', 'x-request-id': 'client-id' } }));
    assert.equal(echoedHeader(kept, 'x-request-id'), 'client-id');
    const unsafe = json<Echoed>(await request(trusting.port, { headers: { host: 'example.com', 'x-request-id': 'a"b' } }));
    assert.notEqual(echoedHeader(unsafe, 'x-request-id'), 'a"b');
  });

  it('duplicate Host → 400 and close', async () => {
    const x = await sendRaw(gw.port, 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');
    assert.deepEqual(x.statuses, [400]);
    assert.ok(x.closed);
  });

  it('more headers than the limit → 431 (limit-1 and limit pass)', async () => {
    const lines = (n: number): string => Array.from({ length: n }, (_, i) => `x-h${i}: v\r\n`).join('');
    // Host counts as one header; the limit is 100.
    const at = await sendRaw(gw.port, `GET / HTTP/1.1\r\nHost: a\r\n${lines(99)}connection: close\r\n\r\n`);
    assert.deepEqual(at.statuses, [431]);
    const under = await sendRaw(gw.port, `GET / HTTP/1.1\r\nHost: a\r\n${lines(97)}connection: close\r\n\r\n`);
    assert.deepEqual(under.statuses, [200]);
    const limit = await sendRaw(gw.port, `GET / HTTP/1.1\r\nHost: a\r\n${lines(98)}connection: close\r\n\r\n`);
    assert.deepEqual(limit.statuses, [200]);
    const far = await sendRaw(gw.port, `GET / HTTP/1.1\r\nHost: a\r\n${lines(1500)}\r\n`);
    assert.deepEqual(far.statuses, [431]);
    assert.ok(far.closed);
  });

  it('absolute-form: routes and forwards on the authority of the target', async () => {
    const x = await sendRaw(gw.port, 'GET http://Evil.Example/admin HTTP/1.1\r\nHost: a\r\nconnection: close\r\n\r\n');
    assert.deepEqual(x.statuses, [200]);
    const e = JSON.parse(x.text.slice(x.text.indexOf('\r\n\r\n') + 4)) as Echoed;
    assert.equal(echoedHeader(e, 'host'), 'Evil.Example');
    assert.equal(e.url, '/admin');
  });

  it('HTTP/2.0 on an HTTP/1 connection → 505; CONNECT → 405', async () => {
    const v = await sendRaw(gw.port, 'GET / HTTP/2.0\r\nHost: a\r\n\r\n');
    assert.ok(v.statuses[0] === 505 || v.statuses[0] === 400, v.text);
    const c = await sendRaw(gw.port, 'CONNECT internal:22 HTTP/1.1\r\nHost: internal:22\r\n\r\n');
    assert.deepEqual(c.statuses, [405]);
    assert.ok(c.closed);
  });
});
