// The cluster idle timeout of the upstream connection pool, on the pool's own clock: node:test mock
// timers move the sweep and Date.now, so the test says exactly when a connection may and must close.

import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { backend, buildIR, cluster, route } from '../support/ir-builder.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { request } from '../support/http-client.js';
import { nextEvent, whenTrue } from '../support/wait-until.js';

const CLUSTER_IDLE_MS = 500;

/** An upstream that numbers its connections, notes when each closes, and holds /slow until released. */
interface CountingUpstream {
  readonly port: number;
  readonly closedAt: Map<number, number>;
  /** 'close' (id) when a connection closes; 'held' when a /slow request is waiting. */
  readonly events: EventEmitter;
  release(): void;
  close(): Promise<void>;
}

async function startCounting(): Promise<CountingUpstream> {
  let opened = 0;
  const closedAt = new Map<number, number>();
  const ids = new WeakMap<Socket, number>();
  const events = new EventEmitter();
  const held: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    const id = ids.get(req.socket) ?? -1;
    const answer = (): void => void res.end(`conn ${id}`);
    if (req.url?.startsWith('/slow')) {
      held.push(answer);
      events.emit('held');
    } else answer();
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s) => {
    const id = ++opened;
    ids.set(s, id);
    s.on('close', () => {
      closedAt.set(id, Date.now());
      events.emit('close', id);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    closedAt,
    events,
    release: () => {
      for (const answer of held.splice(0)) answer();
    },
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/**
 * An upstream and a gateway with the cluster idle timeout, started after the test took over the
 * clock (the pool's sweep timer is made on the mocked clock); `run` gets both, then both close.
 */
async function withClock(t: TestContext, run: (up: CountingUpstream, gw: TestGateway) => Promise<void>): Promise<void> {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const up = await startCounting();
  const gw = await startGateway(buildIR({
    clusters: [cluster('c', up.port, { idleTimeoutMs: CLUSTER_IDLE_MS })],
    routes: [route('default/c', { prefix: '/' }, [backend('c', { rewrite: { prefix: null } })])],
  }));
  try {
    await run(up, gw);
  } finally {
    await gw.close();
    await up.close();
  }
}

describe('upstream connection pool: the cluster idle timeout', () => {
  it('closes a pooled connection left idle past the timeout, and the next request opens a new one', (t) => withClock(t, async (up, gw) => {
    const first = await request(gw.port, { path: '/a' });
    assert.equal(first.status, 200);
    assert.equal(first.body.toString(), 'conn 1');
    // idle for all but the last millisecond of the timeout: still pooled, so the next request reuses it
    t.mock.timers.tick(CLUSTER_IDLE_MS - 1);
    const again = await request(gw.port, { path: '/b' });
    assert.equal(again.body.toString(), 'conn 1', 'an idle connection is kept until its timeout');
    assert.equal(up.closedAt.has(1), false, 'not closed before the idle timeout');
    const releasedAt = Date.now();
    // then idle past the timeout (the sweep may come a little late, never early)
    t.mock.timers.tick(2 * CLUSTER_IDLE_MS);
    await whenTrue('the idle connection to be closed', () => up.closedAt.has(1), [[up.events, 'close']]);
    assert.ok((up.closedAt.get(1) as number) - releasedAt >= CLUSTER_IDLE_MS, 'not before the idle timeout');
    const next = await request(gw.port, { path: '/c' });
    assert.equal(next.status, 200);
    assert.equal(next.body.toString(), 'conn 2', 'a new connection after the idle one was closed');
  }));

  it('does not cut an exchange whose response takes longer than the idle timeout', (t) => withClock(t, async (up, gw) => {
    // one pooled connection, so the pool's sweep is running when the slow exchange takes it
    assert.equal((await request(gw.port, { path: '/warm' })).body.toString(), 'conn 1');
    const held = nextEvent(up.events, 'held', 'the slow request at the upstream');
    const slow = request(gw.port, { path: '/slow' });
    await held;
    t.mock.timers.tick(3 * CLUSTER_IDLE_MS);
    up.release();
    const r = await slow;
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'conn 1', 'answered on the connection that was busy past the idle timeout');
    assert.equal(up.closedAt.has(1), false);
  }));
});
