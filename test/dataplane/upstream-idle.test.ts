import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { backend, buildIR, cluster, route } from '../support/ir-builder.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { request } from '../support/http-client.js';

const CLUSTER_IDLE_MS = 500;

/** An upstream that numbers its connections, notes when each closes, and answers /slow?ms=N late. */
interface CountingUpstream {
  readonly port: number;
  readonly opened: number[];
  readonly closedAt: Map<number, number>;
  close(): Promise<void>;
}

async function startCounting(): Promise<CountingUpstream> {
  const opened: number[] = [];
  const closedAt = new Map<number, number>();
  const ids = new WeakMap<Socket, number>();
  const server = http.createServer((req, res) => {
    const id = ids.get(req.socket) ?? -1;
    const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms') ?? '0');
    setTimeout(() => res.end(`conn ${id}`), ms);
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s) => {
    const id = opened.length + 1;
    opened.push(Date.now());
    ids.set(s, id);
    s.on('close', () => closedAt.set(id, Date.now()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    opened,
    closedAt,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

describe('upstream connection pool: the cluster idle timeout', () => {
  let up: CountingUpstream;
  let gw: TestGateway;

  before(async () => {
    up = await startCounting();
    gw = await startGateway(buildIR({
      clusters: [cluster('c', up.port, { idleTimeoutMs: CLUSTER_IDLE_MS })],
      routes: [route('default/c', { prefix: '/' }, [backend('c', { rewrite: { prefix: null } })])],
    }));
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  it('closes a pooled connection left idle past the timeout, and the next request opens a new one', async () => {
    const first = await request(gw.port, { path: '/a' });
    assert.equal(first.status, 200);
    assert.equal(first.body.toString(), 'conn 1');
    const releasedAt = Date.now();
    // reused while it is fresh
    const again = await request(gw.port, { path: '/b' });
    assert.equal(again.body.toString(), 'conn 1', 'a fresh idle connection is reused');
    await sleep(CLUSTER_IDLE_MS / 5);
    assert.equal(up.closedAt.has(1), false, 'not closed before the idle timeout');
    const deadline = Date.now() + 5000;
    while (!up.closedAt.has(1) && Date.now() < deadline) await sleep(20);
    assert.ok(up.closedAt.has(1), 'the idle connection was closed');
    assert.ok((up.closedAt.get(1) as number) - releasedAt >= CLUSTER_IDLE_MS - 20, 'not before the idle timeout');
    const next = await request(gw.port, { path: '/c' });
    assert.equal(next.status, 200);
    assert.equal(next.body.toString(), 'conn 2', 'a new connection after the idle one was closed');
  });

  it('does not cut an exchange whose response takes longer than the idle timeout', async () => {
    const slow = await request(gw.port, { path: `/slow?ms=${CLUSTER_IDLE_MS * 3}` });
    assert.equal(slow.status, 200);
    assert.match(slow.body.toString(), /^conn \d+$/);
  });
});
