// A canary in the Gateway, on the real request path: the candidate runtime beside the served one,
// each request, HTTP/2 stream and WebSocket given one of them when it starts and kept on it to its
// end — through a rollback and through a promotion — with each revision's requests counted. A
// WebSocket is never moved to the other revision: a rolled-back one is told "going away".

import { after, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import http, { type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { Gateway, GENERATION_HEADER } from '../../src/serve/gateway.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import { backend, buildIR, cluster, route } from '../support/ir-builder.js';
import { freePort } from '../support/free-port.js';
import { whenTrue } from '../support/wait-until.js';
import type { IR } from '../../src/ir/types.js';

/** An upstream that holds every plain request until released, and echoes WebSocket messages with its name. */
interface HeldUpstream {
  readonly port: number;
  readonly held: ServerResponse[];
  release(): void;
  close(): Promise<void>;
}

/** 'held' as any held upstream takes a request. */
const arrivals = new EventEmitter();

async function heldUpstream(name: string): Promise<HeldUpstream> {
  const held: ServerResponse[] = [];
  const server = http.createServer((_req, res) => {
    held.push(res);
    arrivals.emit('held');
  });
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`${name}:${String(m)}`)));
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    held,
    release: () => {
      for (const res of held.splice(0)) res.end(name);
    },
    close: async () => {
      for (const c of wss.clients) c.terminate();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function irTo(port: number, upstream: HeldUpstream, name: string): IR {
  return buildIR({
    listener: { port, bindAddress: '127.0.0.1' },
    clusters: [cluster(name, upstream.port)],
    routes: [route(`default/${name}`, { prefix: '/' }, [backend(name)], { allowUpgrade: ['websocket'] })],
  });
}

function h1(port: number): Promise<{ generation: string; body: string; status: number }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/x', agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ generation: String(res.headers[GENERATION_HEADER]), body, status: res.statusCode ?? 0 }));
      })
      .on('error', reject);
  });
}

function h2(session: http2.ClientHttp2Session): Promise<{ generation: string; body: string }> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ':path': '/x', ':authority': 'example.com' });
    let generation = '';
    let body = '';
    s.on('response', (h) => (generation = String(h[GENERATION_HEADER])));
    s.on('data', (c: Buffer) => (body += c.toString()));
    s.on('end', () => resolve({ generation, body }));
    s.on('error', reject);
    s.end();
  });
}

function openWS(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function say(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (m) => resolve(String(m)));
    ws.send(text);
  });
}

/** Resolves once `ok` holds, looked at again as each request reaches a held upstream; bounded. */
async function waitFor(what: string, ok: () => boolean): Promise<void> {
  await whenTrue(what, ok, [[arrivals, 'held']]);
}

describe('a canary in the gateway', () => {
  let current: HeldUpstream;
  let candidate: HeldUpstream;
  const closers: (() => unknown)[] = [];

  beforeEach(async () => {
    current = await heldUpstream('current');
    candidate = await heldUpstream('candidate');
    const [c, d] = [current, candidate];
    closers.push(() => c.close(), () => d.close());
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
  });

  async function gatewayWithCanary(share: number): Promise<{ g: Gateway; port: number }> {
    const g = new Gateway({ buildRuntime, exposeGeneration: true, drainTimeoutMs: 5000 });
    closers.push(() => g.forceClose());
    const port = await freePort();
    assert.equal((await g.apply(irTo(port, current, 'current'), {}, { source: 'test' })).ok, true);
    const started = await g.canary.start(irTo(port, candidate, 'candidate'), {}, { source: 'test' }, share);
    assert.equal(started.ok && started.generation, 2);
    return { g, port };
  }

  it('keeps requests, HTTP/2 streams and WebSockets on the revision they started on through a rollback', async () => {
    const { g, port } = await gatewayWithCanary(50);
    // By turn at 50 %: the first request of each pair on the current revision, the second on the candidate.
    const a = h1(port);
    const b = h1(port);
    const session = http2.connect(`http://127.0.0.1:${port}`);
    closers.push(() => session.destroy());
    const c = h2(session);
    const d = h2(session);
    await waitFor('all four requests at their upstreams', () => current.held.length === 2 && candidate.held.length === 2);
    const onCurrent = await openWS(port);
    const onCandidate = await openWS(port);
    closers.push(() => onCurrent.terminate(), () => onCandidate.terminate());
    assert.deepEqual([await say(onCurrent, 'a'), await say(onCandidate, 'b')], ['current:a', 'candidate:b']);

    const closed = new Promise<number>((resolve) => onCandidate.once('close', (code) => resolve(code)));
    await g.canary.abort();
    assert.equal(g.canaryState(), undefined);
    current.release();
    candidate.release();
    assert.deepEqual(await Promise.all([a, b]), [
      { generation: '1', body: 'current', status: 200 },
      { generation: '2', body: 'candidate', status: 200 },
    ]);
    assert.deepEqual(await Promise.all([c, d]), [
      { generation: '1', body: 'current' },
      { generation: '2', body: 'candidate' },
    ]);
    // A WebSocket never moves to the other revision: the rolled-back one tells it "going away" (1001),
    // as any drained generation does, and the client reconnects to the current revision.
    assert.equal(await closed, 1001);
    assert.equal(await say(onCurrent, 'hello'), 'current:hello', 'the current revision\'s WebSocket goes on');
    const again = await openWS(port);
    closers.push(() => again.terminate());
    assert.equal(await say(again, 'back'), 'current:back');
    // New work gets the current revision only.
    const after = [h1(port), h1(port), h1(port)];
    await waitFor('new requests at the current upstream', () => current.held.length === 3);
    assert.equal(candidate.held.length, 0);
    current.release();
    assert.deepEqual((await Promise.all(after)).map((r) => r.generation), ['1', '1', '1']);
  });

  it('keeps a request on the old revision through a promotion, and counts each revision’s requests', async () => {
    const { g, port } = await gatewayWithCanary(50);
    const a = h1(port);
    const b = h1(port);
    await waitFor('both requests at their upstreams', () => current.held.length === 1 && candidate.held.length === 1);
    candidate.release();
    assert.equal((await b).generation, '2');
    const figures = await g.canary.figures();
    assert.equal(figures?.canary.requests, 1);
    assert.equal(figures?.stable.requests, 0, 'the current revision’s request has not finished yet');

    const promoted = await g.canary.promote();
    assert.equal(promoted.ok && promoted.generation, 2);
    assert.equal(g.generation, 2);
    current.release();
    assert.deepEqual(await a, { generation: '1', body: 'current', status: 200 });
    const next = h1(port);
    await waitFor('a new request at the candidate upstream', () => candidate.held.length === 1);
    candidate.release();
    assert.equal((await next).generation, '2');
    assert.equal(await g.canary.figures(), undefined, 'no canary once promoted');
  });

  it('a whole configuration applied during a canary ends it; its number is never reused', async () => {
    const { g, port } = await gatewayWithCanary(99);
    const r = await g.apply(irTo(port, current, 'current'), {}, { source: 'test' });
    assert.equal(r.ok && r.generation, 3);
    assert.equal(g.canaryState(), undefined);
    const x = h1(port);
    await waitFor('at the current upstream', () => current.held.length === 1);
    current.release();
    assert.equal((await x).generation, '3');
  });
});
