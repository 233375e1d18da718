// The Gateway in one process: apply, swap, bind-before-commit, kept sockets, listener removal and
// the hot-swap-under-load contract (HARDENING §4.2, cases 14, 44, 45), with a stub request path.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Gateway, GENERATION_HEADER } from '../../src/serve/gateway.js';
import { buildStubRuntime, heldRequests } from './stub-runtime.js';
import { makeIR } from './ir-fixtures.js';
import { canConnect, request } from './http-client.js';
import { freePort } from '../support/free-port.js';
import { runLoad } from './load-generator.js';
import { nextEvent } from '../support/wait-until.js';

const gateways: Gateway[] = [];
after(async () => {
  heldRequests.release();
  for (const g of gateways) g.forceClose();
});

function newGateway(): Gateway {
  const g = new Gateway({ buildRuntime: buildStubRuntime, exposeGeneration: true, drainTimeoutMs: 3000 });
  gateways.push(g);
  return g;
}

const meta = { source: 'test' };

describe('Gateway', () => {
  it('serves the applied configuration and swaps to the next one', async () => {
    const g = newGateway();
    const port = await freePort();
    const r1 = await g.apply(makeIR([{ port, routes: ['/a/'] }]), {}, meta);
    assert.equal(r1.ok, true);
    assert.deepEqual(r1.ok && r1.listeners.added, [`listener-${port}`]);
    const a = await request(`http://127.0.0.1:${port}/a/x`);
    assert.equal(a.status, 200);
    assert.equal(JSON.parse(a.body).route, 'default/a');
    assert.equal(a.headers[GENERATION_HEADER], '1');

    const r2 = await g.apply(makeIR([{ port, routes: ['/b/'] }]), {}, meta);
    assert.equal(r2.ok && r2.generation, 2);
    assert.deepEqual(r2.ok && r2.listeners.kept, [`listener-${port}`]);
    assert.equal((await request(`http://127.0.0.1:${port}/a/x`)).status, 404, 'removed route is gone');
    const b = await request(`http://127.0.0.1:${port}/b/x`);
    assert.equal(b.status, 200);
    assert.equal(b.headers[GENERATION_HEADER], '2');
  });

  it('does not send the generation header unless asked to', async () => {
    const g = new Gateway({ buildRuntime: buildStubRuntime });
    gateways.push(g);
    const port = await freePort();
    assert.equal((await g.apply(makeIR([{ port, routes: ['/'] }]), {}, meta)).ok, true);
    const r = await request(`http://127.0.0.1:${port}/`);
    assert.equal(r.status, 200);
    assert.equal(r.headers[GENERATION_HEADER], undefined);
  });

  it('keeps the socket of an unchanged listener: a keep-alive connection survives the swap', async () => {
    const g = newGateway();
    const port = await freePort();
    await g.apply(makeIR([{ port, routes: ['/'] }]), {}, meta);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    after(() => agent.destroy());
    const first = await request(`http://127.0.0.1:${port}/x`, { agent });
    await g.apply(makeIR([{ port, routes: ['/', '/new/'] }]), {}, meta);
    const second = await request(`http://127.0.0.1:${port}/x`, { agent });
    assert.equal(second.headers[GENERATION_HEADER], '2');
    assert.equal(JSON.parse(second.body).remotePort, JSON.parse(first.body).remotePort, 'same client connection');
  });

  it('keeps the old configuration when a new port is already taken (case 14: EADDRINUSE)', async () => {
    const g = newGateway();
    const port = await freePort();
    await g.apply(makeIR([{ port, routes: ['/old/'] }]), {}, meta);
    const squatter = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    after(() => squatter.close());
    const taken = (squatter.address() as net.AddressInfo).port;

    const res = await g.apply(makeIR([{ port, routes: ['/new/'] }, { port: taken, routes: ['/'] }]), {}, meta);
    assert.equal(res.ok, false);
    assert.equal(!res.ok && res.error.code, 'EADDRINUSE');
    assert.equal(!res.ok && res.error.port, taken);
    assert.match(!res.ok ? res.error.message : '', new RegExp(`listener-${taken}.*${taken}`));
    assert.equal(g.generation, 1);
    assert.equal((await request(`http://127.0.0.1:${port}/old/`)).status, 200, 'old routes still served');
    assert.equal((await request(`http://127.0.0.1:${port}/new/`)).status, 404, 'nothing of the candidate is served');
  });

  it('rejects two listeners on one port as ListenerConflict and changes nothing', async () => {
    const g = newGateway();
    const port = await freePort();
    await g.apply(makeIR([{ port, routes: ['/'] }]), {}, meta);
    const other = await freePort();
    const res = await g.apply(makeIR([{ port: other, name: 'one', routes: ['/'] }, { port: other, name: 'two', routes: ['/'] }]), {}, meta);
    assert.equal(!res.ok && res.error.code, 'ListenerConflict');
    assert.equal(await canConnect(other), false, 'the conflicting port was not bound');
    assert.equal((await request(`http://127.0.0.1:${port}/`)).status, 200);
  });

  it('binds an added listener and drains a removed one: in-flight request completes with Connection: close (case 45)', async () => {
    const g = newGateway();
    const p1 = await freePort();
    const p2 = await freePort();
    await g.apply(makeIR([{ port: p1, routes: ['/'] }]), {}, meta);
    const held = nextEvent(heldRequests, 'held', 'the request to be in flight');
    const slow = request(`http://127.0.0.1:${p1}/wait-for-release`, { agent: new http.Agent({ keepAlive: true }) });
    await held;
    const res = await g.apply(makeIR([{ port: p2, routes: ['/'] }]), {}, meta);
    assert.deepEqual(res.ok && res.listeners, { added: [`listener-${p2}`], removed: [`listener-${p1}`], kept: [] });
    assert.equal(await canConnect(p1), false, 'removed listener refuses new connections');
    assert.equal((await request(`http://127.0.0.1:${p2}/`)).status, 200);
    heldRequests.release();
    const done = await slow;
    assert.equal(done.status, 200);
    assert.equal(JSON.parse(done.body).generation, 1, 'the in-flight request finished on its own generation');
    assert.equal(done.headers.connection, 'close');
  });

  it('drains a connection whose keep-alive response began before the drain: it closes once that response is over', { timeout: 30_000 }, async () => {
    // a drain deadline far beyond the test's: only the front closing the connection lets the test pass
    const g = new Gateway({ buildRuntime: buildStubRuntime, drainTimeoutMs: 600_000 });
    gateways.push(g);
    const p1 = await freePort();
    const p2 = await freePort();
    await g.apply(makeIR([{ port: p1, routes: ['/'] }]), {}, meta);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    after(() => agent.destroy());
    const held = nextEvent(heldRequests, 'held', 'the response to be under way');
    const head = new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`http://127.0.0.1:${p1}/head-then-wait`, { agent }, resolve).on('error', reject);
    });
    await held;
    const res = await head;
    assert.equal(res.headers.connection, 'keep-alive', 'the head went out before the drain, promising keep-alive');
    const closed = new Promise<void>((r) => res.socket.once('close', () => r()));
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      body += c;
    });
    const ended = new Promise<void>((r) => res.once('end', () => r()));
    const applied = await g.apply(makeIR([{ port: p2, routes: ['/'] }]), {}, meta);
    assert.deepEqual(applied.ok && applied.listeners.removed, [`listener-${p1}`]);
    heldRequests.release();
    await ended;
    assert.equal(body, 'first;rest', 'the response in flight is delivered whole');
    await closed;
    assert.equal((await request(`http://127.0.0.1:${p2}/`)).status, 200);
  });

  it('cuts what is left on a removed listener at the drain deadline; other listeners are unaffected (case 45)', async () => {
    const g = new Gateway({ buildRuntime: buildStubRuntime, drainTimeoutMs: 300 });
    gateways.push(g);
    const keep = await freePort();
    const gone = await freePort();
    await g.apply(makeIR([{ port: keep, routes: ['/'] }, { port: gone, routes: ['/'] }]), {}, meta);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    after(() => agent.destroy());
    await request(`http://127.0.0.1:${gone}/warm`, { agent });
    const idle = Object.values(agent.freeSockets)[0]?.[0];
    assert.ok(idle);
    const idleClosed = new Promise<void>((r) => idle.once('close', () => r()));
    const held = nextEvent(heldRequests, 'held', 'the request to be in flight');
    // answered only if the test released it: only the drain deadline can end it
    const stuck = request(`http://127.0.0.1:${gone}/wait-for-release`).then(
      () => 'completed',
      () => 'cut',
    );
    await held;
    const res = await g.apply(makeIR([{ port: keep, routes: ['/'] }]), {}, meta);
    assert.deepEqual(res.ok && res.listeners.removed, [`listener-${gone}`]);
    await idleClosed;
    assert.equal(await stuck, 'cut', 'a request longer than the drain deadline is cut at the deadline');
    assert.equal((await request(`http://127.0.0.1:${keep}/`)).status, 200);
  });

  it('loses no request across 30 applies under keep-alive load; generations never go backwards (case 44)', async (t) => {
    const g = newGateway();
    const port = await freePort();
    const stable = ['/stable/', '/also/'];
    await g.apply(makeIR([{ port, routes: [...stable, '/flappy/'] }]), {}, meta);
    let applies = 0;
    let applying: Promise<unknown> = Promise.resolve();
    const result = await runLoad({
      port,
      paths: ['/stable/x', '/also/y', '/flappy/z'],
      total: 3000,
      connections: 8,
      onProgress: (done) => {
        if (done % 90 === 0 && applies < 30) {
          applies++;
          const withFlappy = applies % 2 === 0;
          applying = applying.then(() => g.apply(makeIR([{ port, routes: withFlappy ? [...stable, '/flappy/'] : stable }]), {}, meta));
        }
      },
    });
    await applying;
    t.diagnostic(`requests ${result.sent}, by status ${JSON.stringify(result.byStatus)}, errors ${result.errors.length}`);
    assert.equal(applies, 30);
    assert.equal(g.generation, 31);
    assert.deepEqual(result.errors, [], 'no connection errors');
    assert.equal(result.failuresByPath['/stable/x'] ?? 0, 0);
    assert.equal(result.failuresByPath['/also/y'] ?? 0, 0);
    assert.equal(result.generationRegressions, 0);
    assert.ok(result.maxGeneration > 1, 'the load saw new generations');
    const statuses = Object.keys(result.byStatus).map(Number).sort();
    assert.ok(statuses.every((s) => s === 200 || s === 404), `only 200 and 404 (removed route): ${statuses.join(',')}`);
  });
});
