import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { lookup } from 'node:dns/promises';
import { backend, buildIR, cluster, route } from '../support/ir-builder.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { json, request } from '../support/http-client.js';
import { startEcho, echoedHeader, type Echoed, type EchoUpstream } from '../support/echo-upstream.js';
import { closedPort, startHeld, type HeldUpstream } from '../support/fault-upstream.js';
import { nextTurn, whenTrue } from '../support/wait-until.js';
import type { IRBackend, IRCluster } from '../../src/ir/types.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function echo(name: string): Promise<EchoUpstream> {
  const e = await startEcho(name);
  cleanups.push(() => e.close());
  return e;
}

async function gatewayFor(c: IRCluster, b: Partial<IRBackend> = {}): Promise<TestGateway> {
  const gw = await startGateway(buildIR({ clusters: [c], routes: [route('default/r', { prefix: '/' }, [backend(c.name, { rewrite: { prefix: null }, ...b })])] }));
  cleanups.push(() => gw.close());
  return gw;
}

/** An upstream that holds its answers until the test releases them, closed after the file. */
async function held(body?: string): Promise<HeldUpstream> {
  const u = await startHeld(body);
  cleanups.push(() => u.close());
  return u;
}

/** The held upstream has received `n` requests. */
const arrived = (u: HeldUpstream, n = 1): Promise<boolean> =>
  whenTrue(`${n} request(s) at the held upstream`, () => u.requests.length >= n, [[u.events, 'request']]);

async function names(port: number, n: number, headers: Record<string, string> = {}): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(json<Echoed>(await request(port, { path: '/x', headers: { host: 'a', ...headers } })).name);
  return out;
}

describe('upstream pools and balancing', () => {
  it('round_robin alternates between endpoints', async () => {
    const a = await echo('a');
    const b = await echo('b');
    const gw = await gatewayFor(cluster('rr', a.port, { endpoints: [{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: b.port }] }));
    const got = await names(gw.port, 10);
    assert.equal(got.filter((n) => n === 'a').length, 5);
    assert.equal(got.filter((n) => n === 'b').length, 5);
  });

  it('least_request avoids the endpoint that is busy with a slow request', async () => {
    const slow = await held('{"name":"slow"}');
    const fast = await echo('fast');
    const ir = buildIR({
      clusters: [cluster('lr', fast.port, { loadBalancer: { policy: 'least_request' }, endpoints: [{ host: '127.0.0.1', port: slow.port }, { host: '127.0.0.1', port: fast.port }] })],
      routes: [route('default/r', { prefix: '/' }, [backend('lr')])],
    });
    // random() = 0 makes ties go to the first endpoint (the slow one), so the setup is deterministic
    const gw = await startGateway(ir, { random: () => 0 });
    cleanups.push(() => gw.close());
    const pending = request(gw.port, { path: '/x' });
    await arrived(slow);
    assert.equal(slow.requests.length, 1, 'one request is held by the slow endpoint');
    const got = await names(gw.port, 8);
    assert.deepEqual(got, Array(8).fill('fast'));
    slow.release();
    assert.equal((await pending).body, '{"name":"slow"}');
  });

  it('ring_hash on a header keeps a key on one endpoint and spreads keys', async () => {
    const a = await echo('a');
    const b = await echo('b');
    const gw = await gatewayFor(cluster('rh', a.port, {
      loadBalancer: { policy: 'ring_hash', hash: { header: 'x-user' } },
      endpoints: [{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: b.port }],
    }));
    for (const user of ['alice', 'bob', 'carol']) {
      const got = new Set(await names(gw.port, 5, { 'x-user': user }));
      assert.equal(got.size, 1, `${user} moved between endpoints`);
    }
    const spread = new Set<string>();
    for (let i = 0; i < 30; i++) spread.add((await names(gw.port, 1, { 'x-user': `user-${i}` }))[0] as string);
    assert.equal(spread.size, 2);
  });

  it('ring_hash on a cookie and on the source address', async () => {
    const a = await echo('a');
    const b = await echo('b');
    const eps = [{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: b.port }];
    const byCookie = await gatewayFor(cluster('rc', a.port, { loadBalancer: { policy: 'ring_hash', hash: { cookie: { name: 'session' } } }, endpoints: eps }));
    assert.equal(new Set(await names(byCookie.port, 6, { cookie: 'other=1; session=abc' })).size, 1);
    const bySource = await gatewayFor(cluster('rs', a.port, { loadBalancer: { policy: 'ring_hash', hash: { sourceIp: true } }, endpoints: eps }));
    assert.equal(new Set(await names(bySource.port, 6)).size, 1);
  });

  it('circuit breaker max_requests → 503 for the excess request', async () => {
    const slow = await held();
    const gw = await gatewayFor(cluster('cb', slow.port, { circuitBreakers: { maxConnections: 1, maxPendingRequests: 0, maxRequests: 1, maxRetries: 0 } }));
    const first = request(gw.port, { path: '/x' });
    await arrived(slow);
    const second = await request(gw.port, { path: '/x' });
    assert.equal(second.status, 503);
    assert.equal(json(second).code, 'circuit_open');
    slow.release();
    assert.equal((await first).status, 200);
  });

  it('passive ejection takes a failing endpoint out of rotation', async () => {
    const ok = await echo('ok');
    const gw = await gatewayFor(cluster('ej', ok.port, {
      endpoints: [{ host: '127.0.0.1', port: await closedPort() }, { host: '127.0.0.1', port: ok.port }],
      outlierDetection: { consecutiveFailures: 1, baseEjectionMs: 60_000 },
    }));
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await request(gw.port, { path: '/x' })).status);
    assert.equal(statuses.filter((s) => s === 503).length, 1, statuses.join(','));
  });

  it('resolves DNS names for dns clusters and sends the name with auto_host_rewrite', async () => {
    const addrs = await lookup('localhost', { all: true });
    const e = await echo('dns');
    // listen on every address "localhost" resolves to, so the test holds on IPv4-only and dual-stack hosts
    for (const ad of addrs.filter((x) => x.address !== '127.0.0.1')) {
      const extra = http.createServer((_q, s) => s.end(JSON.stringify({ name: 'dns', method: 'GET', url: '/', headers: [['host', 'localhost']], body: '' })));
      await new Promise<void>((resolve) => {
        extra.once('error', () => resolve());
        extra.listen(e.port, ad.address, () => resolve());
      });
      cleanups.push(() => new Promise<void>((resolve) => extra.close(() => resolve())));
    }
    const gw = await gatewayFor(cluster('dns', e.port, { dns: true, endpoints: [{ host: 'localhost', port: e.port }] }), { autoHostRewrite: true });
    const r = await request(gw.port, { path: '/x' });
    assert.equal(r.status, 200);
    assert.equal(echoedHeader(json<Echoed>(r), 'host'), 'localhost');
  });
});

describe('drain and upgrades', () => {
  it('drain waits for in-flight requests, then resolves', async () => {
    const slow = await held();
    const gw = await gatewayFor(cluster('d', slow.port));
    const inflight = request(gw.port, { path: '/x' });
    await arrived(slow);
    assert.equal(gw.runtime.inflight(), 1);
    let drained = false;
    const drain = gw.runtime.drain(10_000).then(() => {
      drained = true;
    });
    // a turn of the event loop: a drain that did not wait for the request would have resolved by now
    await nextTurn();
    assert.equal(drained, false, 'drain waits while the request runs');
    slow.release();
    await drain;
    assert.equal(gw.runtime.inflight(), 0, 'drain resolved after the request ended');
    const r = await inflight;
    assert.equal(r.status, 200);
    assert.equal(r.body, 'slow');
  });

  it('drain resolves at the deadline even if a request is still running', async (t) => {
    const slow = await held();
    const gw = await gatewayFor(cluster('d2', slow.port), { timeouts: { requestMs: 0, idleMs: 0 } });
    let finished = false;
    const inflight = request(gw.port, { path: '/x' }).then((r) => {
      finished = true;
      return r;
    }, () => {
      finished = true;
      return undefined;
    });
    await arrived(slow);
    // the drain deadline is a clock: move it rather than wait for it
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let drained = false;
    const drain = gw.runtime.drain(100).then(() => {
      drained = true;
    });
    t.mock.timers.tick(99);
    await nextTurn();
    assert.equal(drained, false, 'drain waits until its deadline');
    t.mock.timers.tick(1);
    await drain;
    assert.equal(finished, false, 'drain returned before the slow request ended');
    t.mock.timers.reset();
    slow.release();
    await inflight;
  });

  it('never forwards an upgrade the route does not allow: WebSocket → 404, h2c → 501', async () => {
    const e = await echo('e');
    const gw = await gatewayFor(cluster('u', e.port));
    const ws = await request(gw.port, { path: '/x', headers: { host: 'a', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' } });
    assert.equal(ws.status, 404);
    assert.equal(json(ws).code, 'no_route');
    const h2c = await request(gw.port, { path: '/x', headers: { host: 'a', connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAARAAAAAAAIAAAAA' } });
    assert.equal(h2c.status, 501);
    assert.equal(json(h2c).code, 'upgrade_not_supported');
    assert.equal(e.received.length, 0);
    const logged = gw.done.filter((d) => d.route === 'default/r');
    assert.deepEqual(logged.map((d) => d.status).sort(), [404, 501]);
  });
});

describe('upstream connections kept between bursts', () => {
  it('a burst of 300 concurrent requests leaves 300 reusable connections: the next burst opens none', async () => {
    const burst = 300;
    let connections = 0;
    let held: http.ServerResponse[] = [];
    let releaseAt = burst;
    const upstream = http.createServer((_req, res) => {
      held.push(res);
      // Every request of a burst is in flight at once before any is answered.
      if (held.length === releaseAt) {
        for (const r of held) r.end('ok');
        held = [];
      }
    });
    upstream.on('connection', () => connections++);
    upstream.maxRequestsPerSocket = 0;
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => { upstream.closeAllConnections(); upstream.close(() => r()); }));
    const port = (upstream.address() as { port: number }).port;
    const gw = await gatewayFor(cluster('many', port));
    const fire = (): Promise<number[]> =>
      Promise.all(
        Array.from({ length: burst }, () =>
          new Promise<number>((resolve, reject) => {
            const req = http.request({ host: '127.0.0.1', port: gw.port, path: '/x', headers: { host: 'a' }, agent: false }, (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            });
            req.on('error', reject);
            req.end();
          }),
        ),
      );
    assert.deepEqual(new Set(await fire()), new Set([200]));
    assert.equal(connections, burst);
    releaseAt = burst;
    assert.deepEqual(new Set(await fire()), new Set([200]));
    assert.equal(connections, burst, 'the second burst reused the first burst\'s upstream connections');
  });
});
