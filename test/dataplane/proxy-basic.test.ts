import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backend, buildIR, cluster, route } from '../support/ir-builder.js';
import { startEcho, type EchoUpstream, type Echoed, echoedHeader } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { json, request } from '../support/http-client.js';

describe('basic proxy: route, forward, rewrite, local replies', () => {
  let a: EchoUpstream;
  let b: EchoUpstream;
  let gw: TestGateway;
  let downPort: number;

  before(async () => {
    a = await startEcho('a');
    b = await startEcho('b');
    const tmp = await startEcho('gone');
    downPort = tmp.port;
    await tmp.close();
    const ir = buildIR({
      clusters: [cluster('a', a.port), cluster('b', b.port), cluster('down', downPort)],
      routes: [
        route('default/exact', { path: '/exact/thing' }, [backend('b', { rewrite: { prefix: '/other' } })]),
        route('default/backend', { prefix: '/backend/' }, [backend('a')]),
        route('default/norewrite', { prefix: '/keep/' }, [backend('a', { rewrite: { prefix: null } })]),
        route('default/down', { prefix: '/down/' }, [backend('down')]),
        route('default/post-only', { prefix: '/b/', method: 'POST' }, [backend('b')]),
        route('default/b', { prefix: '/b/' }, [backend('a')]),
      ],
    });
    gw = await startGateway(ir);
  });
  after(async () => {
    await gw.close();
    await a.close();
    await b.close();
  });

  it('forwards a prefix route with the default rewrite "/"', async () => {
    const r = await request(gw.port, { path: '/backend/foo/bar?x=1' });
    assert.equal(r.status, 200);
    const e = json<Echoed>(r);
    assert.equal(e.name, 'a');
    assert.equal(e.url, '/foo/bar?x=1');
    assert.equal(echoedHeader(e, 'host'), 'example.com');
  });

  it('keeps the path when rewrite is disabled, and rewrites exact paths', async () => {
    const keep = json<Echoed>(await request(gw.port, { path: '/keep/x' }));
    assert.equal(keep.url, '/keep/x');
    const ex = json<Echoed>(await request(gw.port, { path: '/exact/thing' }));
    assert.equal(ex.name, 'b');
    assert.equal(ex.url, '/other');
  });

  it('picks the first matching route in compiled order, honouring method', async () => {
    assert.equal(json<Echoed>(await request(gw.port, { method: 'POST', path: '/b/x', body: 'hi' })).name, 'b');
    assert.equal(json<Echoed>(await request(gw.port, { path: '/b/x' })).name, 'a');
  });

  it('forwards request bodies', async () => {
    const e = json<Echoed>(await request(gw.port, { method: 'POST', path: '/b/x', body: 'payload', headers: { host: 'h', 'content-type': 'text/plain' } }));
    assert.equal(e.body, 'payload');
    assert.equal(echoedHeader(e, 'content-length'), '7');
  });

  it('answers 404 with the JSON local reply when no route matches', async () => {
    const r = await request(gw.port, { path: '/nothing' });
    assert.equal(r.status, 404);
    const body = json(r);
    assert.equal(body.code, 'no_route');
    assert.equal(body.status, 404);
    assert.equal(typeof body.requestId, 'string');
    assert.equal(r.headers['content-type'], 'application/json');
  });

  it('answers 503 when the upstream refuses connections, without leaking internals', async () => {
    const r = await request(gw.port, { path: '/down/x' });
    assert.equal(r.status, 503);
    assert.equal(json(r).code, 'upstream_unavailable');
    assert.doesNotMatch(r.body, /ECONNREFUSED|127\.0\.0\.1/);
    const info = gw.done.find((d) => d.route === 'default/down');
    assert.ok(info);
    assert.equal(info.status, 503);
    assert.equal(info.localReply, 'upstream_unavailable');
  });

  it('reports every request to onRequestDone with the normalised path', async () => {
    await request(gw.port, { path: '/backend/./a/../b' });
    const info = gw.done.at(-1);
    assert.ok(info);
    assert.equal(info.path, '/backend/b');
    assert.equal(info.status, 200);
    assert.equal(info.cluster, 'a');
    assert.equal(info.route, 'default/backend');
  });
});
