import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { backend, buildIR, cluster, route } from '../support/ir-builder.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { sendRaw } from '../support/raw-h1-sender.js';
import { webSocketAccept } from '../../src/dataplane/websocket-tunnel.js';

interface WSUpstream {
  port: number;
  /** Every request line the upstream's HTTP parser saw (upgrades and plain requests). */
  seen: string[];
  close(): Promise<void>;
}

/** A WebSocket echo server that answers 426 to versions it does not speak (as RFC 6455 §4.4 says). */
async function startWSUpstream(): Promise<WSUpstream> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.end('plain');
  });
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(binary ? m : `echo:${String(m)}`)));
  server.on('upgrade', (req, socket, head) => {
    seen.push(`${req.method} ${req.url} upgrade:${req.headers.upgrade ?? ''}`);
    if (req.headers['sec-websocket-version'] !== '13') {
      socket.end('HTTP/1.1 426 Upgrade Required\r\nsec-websocket-version: 13\r\ncontent-length: 7\r\n\r\nupgrade');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** An upstream that answers every upgrade with a 101 whose accept value is wrong. */
async function startBad101(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.once('data', () => s.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n'));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

function openWS(url: string, opts: { headers?: Record<string, string> } = {}): Promise<{ ws?: WebSocket; status?: number; body?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, opts);
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', () => resolve({ status: res.statusCode, body }));
    });
    ws.once('error', () => resolve({}));
  });
}

function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => ws.once('message', (m) => resolve(String(m))));
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

describe('WebSockets (case 35)', () => {
  let up: WSUpstream;
  let bad: { port: number; close(): Promise<void> };
  let gw: TestGateway;
  before(async () => {
    up = await startWSUpstream();
    bad = await startBad101();
    gw = await startGateway(buildIR({
      clusters: [cluster('ws', up.port), cluster('bad', bad.port)],
      routes: [
        route('default/ws', { prefix: '/ws/' }, [backend('ws', { rewrite: { prefix: '/' } })], { allowUpgrade: ['websocket'] }),
        route('default/idle', { prefix: '/idle/' }, [backend('ws', { rewrite: { prefix: '/' }, timeouts: { requestMs: 3000, idleMs: 300 } })], { allowUpgrade: ['websocket'] }),
        route('default/bad', { prefix: '/bad/' }, [backend('bad')], { allowUpgrade: ['websocket'] }),
        route('default/plain', { prefix: '/' }, [backend('ws', { rewrite: { prefix: '/' } })]),
      ],
    }));
  });
  after(async () => {
    await gw.close();
    await up.close();
    await bad.close();
  });

  it('tunnels a WebSocket on a route that allows it, both directions', async () => {
    const { ws } = await openWS(`ws://127.0.0.1:${gw.port}/ws/chat`);
    assert.ok(ws, 'handshake completed through the gateway');
    ws.send('hello');
    assert.equal(await nextMessage(ws), 'echo:hello');
    ws.send(Buffer.alloc(100_000, 7));
    const big = await new Promise<Buffer>((r) => ws.once('message', (m) => r(m as Buffer)));
    assert.equal(big.length, 100_000);
    const code = closed(ws);
    ws.close(1000);
    assert.equal(await code, 1000);
    assert.ok(up.seen.includes('GET /chat upgrade:websocket'), 'upstream saw the rewritten path');
  });

  it('refuses a WebSocket on a route without allow_upgrade, and never contacts the upstream', async () => {
    const before = up.seen.length;
    const r = await openWS(`ws://127.0.0.1:${gw.port}/other`);
    assert.equal(r.ws, undefined);
    assert.equal(r.status, 404);
    assert.equal(up.seen.length, before);
  });

  it('never forwards or tunnels Upgrade: h2c', async () => {
    const before = up.seen.length;
    const r = await sendRaw(gw.port, 'GET /ws/x HTTP/1.1\r\nhost: a\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQAAP__\r\n\r\n');
    assert.deepEqual(r.statuses, [501]);
    assert.equal(up.seen.length, before);
  });

  it("relays the upstream's 426 and keeps parsing HTTP: the follow-up request is routed, not tunnelled", async () => {
    const before = up.seen.length;
    const key = Buffer.alloc(16, 1).toString('base64');
    const r = await sendRaw(gw.port,
      `GET /ws/chat HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-key: ${key}\r\nsec-websocket-version: 99\r\n\r\n` +
      'GET /internal HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
    assert.deepEqual(r.statuses, [426, 200]);
    assert.match(r.text, /plain$/);
    // The upstream parsed the follow-up as its own routed request (rewritten by the gateway), never as raw tunnel bytes.
    assert.deepEqual(up.seen.slice(before), ['GET /chat upgrade:websocket', 'GET /internal']);
  });

  it('rejects an invalid client handshake with 400', async () => {
    const r = await sendRaw(gw.port, 'GET /ws/chat HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-key: short\r\nsec-websocket-version: 13\r\n\r\n');
    assert.deepEqual(r.statuses, [400]);
  });

  it('never tunnels a 101 with a wrong Sec-WebSocket-Accept', async () => {
    const key = Buffer.alloc(16, 2).toString('base64');
    assert.notEqual(webSocketAccept(key), 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=');
    const r = await sendRaw(gw.port, `GET /bad/ HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-key: ${key}\r\nsec-websocket-version: 13\r\n\r\n`);
    assert.deepEqual(r.statuses, [502]);
    assert.doesNotMatch(r.text, /smuggled/);
  });

  it('closes an idle tunnel', async () => {
    const { ws } = await openWS(`ws://127.0.0.1:${gw.port}/idle/x`);
    assert.ok(ws);
    ws.send('one');
    assert.equal(await nextMessage(ws), 'echo:one');
    const code = await closed(ws);
    // The gateway drops both TCP connections: the client sees an abnormal closure (no close frame).
    assert.equal(code, 1006);
  });
});

describe('WebSockets at drain', () => {
  it('closes open tunnels with 1001 (going away)', async () => {
    const up = await startWSUpstream();
    const gw = await startGateway(buildIR({
      clusters: [cluster('ws', up.port)],
      routes: [route('default/ws', { prefix: '/' }, [backend('ws')], { allowUpgrade: ['websocket'] })],
    }));
    try {
      const { ws } = await openWS(`ws://127.0.0.1:${gw.port}/`);
      assert.ok(ws);
      const code = closed(ws);
      const drained = gw.runtime.drain(5000);
      assert.equal(await code, 1001);
      await drained;
      assert.equal(gw.runtime.inflight(), 0);
    } finally {
      await gw.close();
      await up.close();
    }
  });
});
