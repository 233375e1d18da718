import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { backend, buildIR, cluster, route } from '../support/ir-builder.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { json, request } from '../support/http-client.js';
import {
  closedPort, startBlackhole, startDoubleResponse, startMalformed, startResetMidBody, startUnaccepting, startUnsolicited101,
} from '../support/fault-upstream.js';
import { startRawUpstream, type RawUpstream } from '../support/raw-upstream.js';
import { nextEvent, whenTrue } from '../support/wait-until.js';
import type { IRBackend } from '../../src/ir/types.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function gatewayTo(port: number, over: Partial<IRBackend> = {}): Promise<TestGateway> {
  const gw = await startGateway(buildIR({ clusters: [cluster('u', port)], routes: [route('default/r', { prefix: '/' }, [backend('u', { rewrite: { prefix: null }, ...over })])] }));
  cleanups.push(() => gw.close());
  return gw;
}

async function upstream(p: Promise<RawUpstream>): Promise<RawUpstream> {
  const u = await p;
  cleanups.push(() => u.close());
  return u;
}

/** The upstream saw `n` of its connections close. */
const upstreamClosed = (u: RawUpstream, n = 1): Promise<boolean> =>
  whenTrue(`${n} upstream connection(s) closed`, () => u.closedConnections.length >= n, [[u.events, 'close']]);

/** The gateway reported `n` finished requests. */
const finished = (gw: TestGateway, n = 1): Promise<boolean> =>
  whenTrue(`${n} finished request(s)`, () => gw.done.length >= n, [[gw.events, 'done']]);

describe('upstream faults (HARDENING cases 25–29)', () => {
  it('25: upstream down → 503 local reply, and requests do not pile up', async () => {
    const gw = await gatewayTo(await closedPort());
    const replies = await Promise.all(Array.from({ length: 20 }, () => request(gw.port, { path: '/x' })));
    for (const r of replies) {
      assert.equal(r.status, 503);
      assert.equal(json(r).code, 'upstream_unavailable');
    }
    assert.equal(gw.runtime.inflight(), 0);
  });

  it('26: upstream never answers → 504 at the route timeout, and the upstream connection is closed', async () => {
    const u = await upstream(startBlackhole());
    const gw = await gatewayTo(u.port, { timeouts: { requestMs: 300, idleMs: 0 } });
    const r = await request(gw.port, { path: '/x' });
    assert.equal(r.status, 504);
    assert.equal(json(r).code, 'upstream_timeout');
    await upstreamClosed(u);
    assert.equal(u.closedConnections.length, 1, 'the gateway closed its upstream connection');
  });

  it('26: idle timeout also ends a silent upstream with 504', async () => {
    const u = await upstream(startBlackhole());
    const gw = await gatewayTo(u.port, { timeouts: { requestMs: 0, idleMs: 200 } });
    assert.equal((await request(gw.port, { path: '/x' })).status, 504);
  });

  for (const [how, framing] of [['reset', 'length'], ['fin', 'length'], ['reset', 'chunked'], ['fin', 'chunked']] as const) {
    it(`27: upstream ${how} mid-body (${framing}) → the client sees an abort, never a clean end, and no retry`, async () => {
      const u = await startResetMidBody(how, framing);
      cleanups.push(() => u.close());
      const gw = await gatewayTo(u.port, { retryPolicy: { retryOn: ['5xx', 'reset'], numRetries: 3, retryNonIdempotent: false } });
      const r = await request(gw.port, { path: '/x', onResponse: () => u.cut() });
      assert.equal(r.status, 200);
      assert.ok(r.aborted, 'response must be aborted');
      assert.ok(r.body.length < 20_000);
      assert.equal(u.requests.length, 1, 'no retry once response bytes were sent');
      await finished(gw);
      assert.ok(gw.done[0]?.upstreamError);
    });
  }

  const malformed: [string, string][] = [
    ['CL and TE together', 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['duplicate differing CL', 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!'],
    ['bare LF', 'HTTP/1.1 200 OK\ncontent-length: 2\n\nok'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nx-a: 1\r\n folded\r\ncontent-length: 2\r\n\r\nok'],
    ['status 1000', 'HTTP/1.1 1000 Weird\r\ncontent-length: 2\r\n\r\nok'],
    ['a 20 KB header', `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(20_000)}\r\ncontent-length: 2\r\n\r\nok`],
    ['garbage', 'SSH-2.0-OpenSSH_9.6\r\n\r\n'],
  ];
  for (const [name, raw] of malformed) {
    it(`28: malformed upstream response (${name}) → 502`, async () => {
      const u = await upstream(startMalformed(raw));
      const gw = await gatewayTo(u.port);
      const r = await request(gw.port, { path: '/x' });
      assert.equal(r.status, 502);
      assert.equal(json(r).code, 'bad_upstream_response');
    });
  }

  it('28: a double response on keep-alive never reaches another client', async () => {
    const u = await upstream(startDoubleResponse());
    const gw = await gatewayTo(u.port);
    const first = await request(gw.port, { path: '/1' });
    assert.equal(first.body, 'c1');
    const second = await request(gw.port, { path: '/2' });
    assert.notEqual(second.body, 'evil');
    assert.equal(second.status, 200);
  });

  it('28: an unsolicited 101 → 502 and no tunnel', async () => {
    const u = await upstream(startUnsolicited101());
    const gw = await gatewayTo(u.port);
    const r = await request(gw.port, { path: '/x' });
    assert.equal(r.status, 502);
    assert.doesNotMatch(r.body, /smuggled/);
  });

  it('28: a header value the client must not see (response splitting) → 502', async () => {
    const u = await upstream(startMalformed('HTTP/1.1 200 OK\r\nx-bad: a\x7fb\r\ncontent-length: 2\r\n\r\nok'));
    const gw = await gatewayTo(u.port);
    const r = await request(gw.port, { path: '/x' });
    assert.equal(r.status, 502);
  });

  it('29: client gone while waiting for headers → the upstream request is aborted', async () => {
    const u = await upstream(startBlackhole());
    const gw = await gatewayTo(u.port, { timeouts: { requestMs: 0, idleMs: 0 } });
    const s = net.connect(gw.port, '127.0.0.1');
    s.on('error', () => {});
    s.write('GET /x HTTP/1.1\r\nHost: a\r\n\r\n');
    await whenTrue('the request at the upstream', () => u.requests.length === 1, [[u.events, 'request']]);
    s.destroy();
    await upstreamClosed(u);
    assert.equal(u.closedConnections.length, 1);
    await whenTrue('no request in flight', () => gw.runtime.inflight() === 0, [[gw.events, 'done']]);
    assert.equal(gw.runtime.inflight(), 0);
  });

  it('29: client gone mid-upload → the upstream request is aborted', async () => {
    const u = await upstream(startRawUpstream());
    const gw = await gatewayTo(u.port);
    const s = net.connect(gw.port, '127.0.0.1');
    s.on('error', () => {});
    s.write('POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n' + 'x'.repeat(1000));
    await whenTrue('part of the body at the upstream', () => u.connections() === 1 && (u.bytesReceived[0] ?? 0) > 1000, [[u.events, 'data']]);
    s.destroy();
    await upstreamClosed(u);
    assert.equal(u.closedConnections.length, 1);
    assert.equal(u.requests.length, 0, 'the upstream never saw a complete request');
  });

  it('29: client gone mid-download → the upstream response is abandoned, the process survives', async () => {
    const big = 'y'.repeat(4 << 20);
    const u = await upstream(startRawUpstream((c) => c.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${big.length}\r\n\r\n${big}`)));
    const gw = await gatewayTo(u.port);
    const s = net.connect(gw.port, '127.0.0.1');
    s.on('error', () => {});
    let got = 0;
    await new Promise<void>((resolve) => {
      s.on('data', (d: Buffer) => {
        got += d.length;
        if (got > 10_000) {
          s.destroy();
          resolve();
        }
      });
      s.write('GET /x HTTP/1.1\r\nHost: a\r\n\r\n');
    });
    await upstreamClosed(u);
    assert.equal(u.closedConnections.length, 1);
    // still serving
    assert.equal((await request(gw.port, { path: '/y' })).status, 200);
  });
});

describe('local replies while the client is still sending a body', () => {
  it('closes the connection after the reply instead of leaving it stuck mid-body', async () => {
    const gw = await gatewayTo(await closedPort());
    const s = net.connect(gw.port, '127.0.0.1');
    s.on('error', () => {});
    const got: Buffer[] = [];
    const closed = nextEvent(s, 'close', 'the gateway to close the connection');
    s.on('data', (d: Buffer) => got.push(d));
    s.write('POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n' + 'x'.repeat(1000));
    await closed;
    const text = Buffer.concat(got).toString();
    assert.match(text, /^HTTP\/1\.1 503 /);
    assert.match(text, /connection: close/i);
    assert.ok(s.destroyed || s.readableEnded, 'the gateway closed the connection');
    s.destroy();
  });
});

describe('connect timeout', () => {
  it('a connect that never completes ends at the cluster connect timeout with 503', async () => {
    const hang = await startUnaccepting();
    cleanups.push(() => hang.close());
    const gw = await startGateway(buildIR({
      clusters: [cluster('hang', hang.port, { connectTimeoutMs: 200 })],
      routes: [route('default/r', { prefix: '/' }, [backend('hang', { timeouts: { requestMs: 10_000, idleMs: 0 } })])],
    }));
    cleanups.push(() => gw.close());
    const r = await request(gw.port, { path: '/x' });
    assert.equal(r.status, 503);
    assert.equal(json(r).code, 'upstream_unavailable');
    await finished(gw);
    assert.equal(gw.done[0]?.upstreamError, 'PORTICO_CONNECT_TIMEOUT');
  });
});

describe('circuit-breaker accounting after failures', () => {
  it('timeouts, resets and refusals give their slot back (max_requests 1 keeps admitting)', async () => {
    const hole = await upstream(startBlackhole());
    const reset = await startResetMidBody('reset');
    cleanups.push(() => reset.close());
    const down = await closedPort();
    const cb = { maxConnections: 1, maxPendingRequests: 0, maxRequests: 1, maxRetries: 0 };
    const gw = await startGateway(buildIR({
      clusters: [cluster('hole', hole.port, { circuitBreakers: cb }), cluster('reset', reset.port, { circuitBreakers: cb }), cluster('down', down, { circuitBreakers: cb })],
      routes: [
        route('default/hole', { prefix: '/hole/' }, [backend('hole', { timeouts: { requestMs: 150, idleMs: 0 } })]),
        route('default/reset', { prefix: '/reset/' }, [backend('reset')]),
        route('default/down', { prefix: '/down/' }, [backend('down')]),
      ],
    }));
    cleanups.push(() => gw.close());
    for (let i = 0; i < 3; i++) {
      assert.equal((await request(gw.port, { path: '/hole/x' })).status, 504);
      assert.ok((await request(gw.port, { path: '/reset/x', onResponse: () => reset.cut() })).aborted);
      assert.equal((await request(gw.port, { path: '/down/x' })).status, 503);
      assert.notEqual(gw.done.at(-1)?.localReply, 'circuit_open');
    }
    assert.equal(gw.done.filter((d) => d.localReply === 'circuit_open').length, 0);
  });
});
