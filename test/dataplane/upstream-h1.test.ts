import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { backend, buildIR, cluster, route } from '../support/ir-builder.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { json, request } from '../support/http-client.js';
import { OK_RESPONSE, startRawUpstream, type RawUpstream, type ScriptContext } from '../support/raw-upstream.js';
import { startHeld } from '../support/fault-upstream.js';
import { whenTrue } from '../support/wait-until.js';
import type { IRCluster } from '../../src/ir/types.js';

// The gateway's own HTTP/1.1 client to upstreams: framing, 1xx, HEAD, keep-alive reuse and its limits,
// waiting for a connection, and streaming in both directions — checked on the bytes the upstream received.

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function upstream(script?: (c: ScriptContext) => void): Promise<RawUpstream> {
  const u = await startRawUpstream(script);
  cleanups.push(() => u.close());
  return u;
}

async function gatewayTo(port: number, over: Partial<IRCluster> = {}): Promise<TestGateway> {
  const gw = await startGateway(buildIR({ clusters: [cluster('u', port, over)], routes: [route('default/r', { prefix: '/' }, [backend('u', { rewrite: { prefix: null } })])] }));
  cleanups.push(() => gw.close());
  return gw;
}

/** Replies 413 to every request head without reading its body; records each connection's first bytes. */
async function startEarlyAnswer(): Promise<{ port: number; heads: string[]; connections(): number }> {
  const heads: string[] = [];
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    count++;
    sockets.add(socket);
    let seen = '';
    let answered = false;
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (d: Buffer) => {
      if (answered) return;
      seen += d.toString('latin1');
      if (!seen.includes('\r\n\r\n')) return;
      answered = true;
      heads.push(seen.slice(0, seen.indexOf('\r\n\r\n') + 2));
      socket.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 3\r\n\r\nbig');
      // and reads no more: the rest of a large body stays unsent, however fast the gateway reads its client
      socket.pause();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  return { port: (server.address() as AddressInfo).port, heads, connections: () => count };
}

describe('HTTP/1.1 to upstreams', () => {
  it('reuses one keep-alive connection for sequential requests', async () => {
    const u = await upstream();
    const gw = await gatewayTo(u.port);
    for (let i = 0; i < 5; i++) assert.equal((await request(gw.port, { path: `/k${i}` })).body, 'ok');
    assert.equal(u.requests.length, 5);
    assert.equal(u.connections(), 1, 'all five went over the same upstream connection');
    assert.deepEqual(u.requests.map((r) => r.requestLine), [0, 1, 2, 3, 4].map((i) => `GET /k${i} HTTP/1.1`));
  });

  it('does not reuse a connection the upstream said it will close', async () => {
    const u = await upstream((c) => c.socket.end('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok'));
    const gw = await gatewayTo(u.port);
    assert.equal((await request(gw.port, { path: '/a' })).body, 'ok');
    assert.equal((await request(gw.port, { path: '/b' })).body, 'ok');
    assert.equal(u.connections(), 2);
  });

  it('relays a response framed by the end of the connection', async () => {
    const u = await upstream((c) => c.socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end'));
    const gw = await gatewayTo(u.port);
    const r = await request(gw.port, { path: '/eof' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'until the end');
    assert.equal(r.aborted, false);
  });

  it('skips 1xx informational responses and relays the final one', async () => {
    const u = await upstream((c) => c.socket.write(`HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n${OK_RESPONSE}`));
    const gw = await gatewayTo(u.port);
    const r = await request(gw.port, { path: '/hints' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    // the connection is still in step: the next request is answered on it
    assert.equal((await request(gw.port, { path: '/next' })).body, 'ok');
    assert.equal(u.connections(), 1);
  });

  it('answers HEAD with the upstream headers, no body, and keeps the connection in step', async () => {
    const u = await upstream((c) => c.socket.write(c.request.requestLine.startsWith('HEAD')
      ? 'HTTP/1.1 200 OK\r\ncontent-length: 1234\r\ncontent-type: text/plain\r\n\r\n'
      : OK_RESPONSE));
    const gw = await gatewayTo(u.port);
    const h = await request(gw.port, { method: 'HEAD', path: '/h' });
    assert.equal(h.status, 200);
    assert.equal(h.headers['content-length'], '1234');
    assert.equal(h.body, '');
    assert.equal((await request(gw.port, { path: '/after-head' })).body, 'ok');
    assert.equal(u.connections(), 1);
  });

  it('frames a chunked request body as chunks and a sized one by its length', async () => {
    const u = await upstream((c) => c.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${String(c.request.body.length).length}\r\n\r\n${c.request.body.length}`));
    const gw = await gatewayTo(u.port);
    const big = Buffer.alloc(300_000, 'x');
    const sized = await request(gw.port, { method: 'POST', path: '/sized', body: big, headers: { host: 'example.com', 'content-length': String(big.length) } });
    assert.equal(sized.body, '300000');
    const chunked = await request(gw.port, { method: 'POST', path: '/chunked', body: big, headers: { host: 'example.com', 'transfer-encoding': 'chunked' } });
    assert.equal(chunked.body, '300000');
    assert.deepEqual(u.parseErrors, []);
    const [a, b] = u.requests;
    assert.deepEqual(a?.headers.get('content-length'), ['300000']);
    assert.equal(a?.headers.get('transfer-encoding'), undefined);
    assert.deepEqual(b?.headers.get('transfer-encoding'), ['chunked']);
    assert.equal(b?.headers.get('content-length'), undefined);
    assert.ok(b?.body.equals(big));
  });

  it('streams a large response to the client intact', async () => {
    const payload = Buffer.alloc(8 * 1024 * 1024, 'abcdefgh');
    const u = await upstream((c) => {
      c.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${payload.length}\r\n\r\n`);
      c.socket.write(payload);
    });
    const gw = await gatewayTo(u.port);
    const r = await request(gw.port, { path: '/large', timeoutMs: 20_000 });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, payload.length);
    assert.equal(r.body, payload.toString());
  });

  it('with max_connections 1, concurrent requests wait for the one connection instead of failing', async () => {
    const u = await startHeld('ok');
    cleanups.push(() => u.close());
    const gw = await gatewayTo(u.port, { circuitBreakers: { maxConnections: 1, maxPendingRequests: 10, maxRequests: 10, maxRetries: 3 } });
    const pending = Promise.all(Array.from({ length: 4 }, (_, i) => request(gw.port, { path: `/w${i}` })));
    // all four in flight while the one connection is busy: three of them wait in line
    await whenTrue('four requests in flight at the gateway', () => gw.runtime.inflight() === 4, [[gw.events, 'request']]);
    u.release();
    const replies = await pending;
    assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 200]);
    assert.equal(u.connections(), 1);
    assert.equal(u.requests.length, 4);
    assert.equal(gw.runtime.inflight(), 0);
  });

  it('resends once, on a fresh connection, a request that met a pooled connection the upstream had closed', async () => {
    // The upstream had closed its first connection, kept alive without a word, when the next request
    // came: it closes that connection as the request arrives, answering nothing (the race, made certain).
    const u = await upstream((c) => {
      if (c.request.connection === 0 && c.nth === 2) c.socket.destroy();
      else c.socket.write(OK_RESPONSE);
    });
    const gw = await gatewayTo(u.port);
    assert.equal((await request(gw.port, { path: '/first' })).body, 'ok');
    const second = await request(gw.port, { path: '/second' });
    assert.equal(second.status, 200);
    assert.equal(second.body, 'ok');
    assert.equal(u.connections(), 2);
    assert.deepEqual(u.requests.map((r) => `${r.requestLine.split(' ')[1]} on ${r.connection}`), ['/first on 0', '/second on 0', '/second on 1'], 'sent once more, on a fresh connection');
  });

  it('resends on a fresh connection, not on another pooled one, when every pooled connection was closed', async () => {
    // Two connections kept alive; the upstream then closes both without a word (as after its keep-alive
    // timeout): the resend must not take the other stale one from the pool.
    const held: (() => void)[] = [];
    const u = await upstream((c) => {
      if (c.request.connection < 2 && c.nth === 2) c.socket.destroy();
      else if (c.request.connection < 2) {
        // the first two answers wait for each other, so that both connections are open at once
        held.push(() => c.socket.write(OK_RESPONSE));
        if (held.length === 2) for (const answer of held) answer();
      } else c.socket.write(OK_RESPONSE);
    });
    const gw = await gatewayTo(u.port);
    const firsts = await Promise.all([request(gw.port, { path: '/a' }), request(gw.port, { path: '/b' })]);
    assert.deepEqual(firsts.map((r) => r.status), [200, 200]);
    assert.equal(u.connections(), 2);
    const after = await request(gw.port, { path: '/after' });
    assert.equal(after.status, 200);
    assert.equal(after.body, 'ok');
    assert.deepEqual(u.requests.filter((r) => r.requestLine.includes('/after')).map((r) => r.connection >= 2), [false, true], 'once on a pooled connection, then on a new one');
  });

  it('an upstream that answers before the request body is complete gets a fresh connection next time', async () => {
    // Answers as soon as the head arrives (as an upstream refusing an upload would), on a keep-alive connection.
    const u = await startEarlyAnswer();
    const gw = await gatewayTo(u.port);
    const early = await request(gw.port, { method: 'POST', path: '/upload', body: Buffer.alloc(16_000_000, 'y'), headers: { host: 'example.com', 'content-length': '16000000' } });
    assert.equal(early.status, 413);
    const next = await request(gw.port, { path: '/after' });
    assert.equal(next.status, 413);
    assert.equal(u.heads.length, 2);
    assert.match(u.heads[1] ?? '', /^GET \/after HTTP\/1\.1\r\n/, 'the next request starts cleanly, not inside the unfinished upload');
    assert.equal(u.connections(), 2);
  });

  it('never carries a chunked response\'s trailer fields into the next response on the connection', async () => {
    const u = await upstream((c) => c.socket.write(c.nth === 1
      ? 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-trailer\r\n\r\n2\r\nok\r\n0\r\nx-trailer: leaked\r\n\r\n'
      : OK_RESPONSE));
    const gw = await gatewayTo(u.port);
    const first = await request(gw.port, { path: '/t1' });
    assert.equal(first.body, 'ok');
    const second = await request(gw.port, { path: '/t2' });
    assert.equal(second.body, 'ok');
    assert.equal(second.headers['x-trailer'], undefined);
    assert.equal(u.connections(), 1);
  });

  it('relays a response head with more fields than one parser batch (32), in order', async () => {
    const fields = Array.from({ length: 45 }, (_, i) => `x-f${String(i).padStart(2, '0')}: v${i}\r\n`).join('');
    const u = await upstream((c) => c.socket.write(`HTTP/1.1 200 OK\r\n${fields}content-length: 2\r\n\r\nok`));
    const gw = await gatewayTo(u.port);
    const r = await request(gw.port, { path: '/many' });
    assert.equal(r.status, 200);
    const names = r.rawHeaders.filter((_, i) => i % 2 === 0).filter((n) => n.startsWith('x-f'));
    assert.deepEqual(names, Array.from({ length: 45 }, (_, i) => `x-f${String(i).padStart(2, '0')}`));
    assert.equal(r.headers['x-f44'], 'v44');
  });

  it('drops response fields the upstream names in Connection, and the hop-by-hop ones', async () => {
    const u = await upstream((c) => c.socket.write('HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Internal-Trace\r\nx-internal-trace: secret\r\nkeep-alive: timeout=5\r\nx-kept: yes\r\ncontent-length: 2\r\n\r\nok'));
    const gw = await gatewayTo(u.port);
    const r = await request(gw.port, { path: '/nominated' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-internal-trace'], undefined);
    assert.equal(r.headers['x-kept'], 'yes');
    assert.notEqual(r.headers['keep-alive'], 'timeout=5');
  });

  it('refuses to send a rewritten path that cannot go on the wire', async () => {
    const u = await upstream();
    const gw = await startGateway(buildIR({
      clusters: [cluster('u', u.port)],
      routes: [route('default/r', { prefix: '/' }, [backend('u', { rewrite: { prefix: null, regex: { pattern: '^/sp/(.*)$', substitution: '/a b/\\1' } } })])],
    }));
    cleanups.push(() => gw.close());
    const r = await request(gw.port, { path: '/sp/x' });
    assert.equal(r.status, 500);
    assert.equal(json(r).code, 'internal_error');
    assert.equal(u.requests.length, 0, 'nothing reached the upstream');
  });
});
