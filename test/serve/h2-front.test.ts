// HTTP/2 requests through the stream front (src/serve/h2-front.ts) and the real request path: bodies
// past the flow-control window, 100-continue, response fields HTTP/2 forbids, bodiless answers, resets.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Gateway } from '../../src/serve/gateway.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import { backend, buildIR, cluster, route, vhost } from '../support/ir-builder.js';

interface Exchange {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  /** The response ended with its HEADERS frame (no DATA frame followed). */
  endAfterHeaders: boolean;
  sawContinue: boolean;
}

function exchange(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const s = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let h: http2.IncomingHttpHeaders = {};
    let sawContinue = false;
    let endAfterHeaders = false;
    s.on('continue', () => {
      sawContinue = true;
      s.end(body);
    });
    s.on('response', (x, flags: number) => {
      h = x;
      endAfterHeaders = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve({ status: Number(h[':status']), headers: h, body: Buffer.concat(chunks), endAfterHeaders, sawContinue }));
    s.on('error', reject);
    if (body !== undefined && headers['expect'] === undefined) s.end(body);
  });
}

describe('HTTP/2 stream front', () => {
  let upstream: http.Server;
  let gw: Gateway;
  let port: number;
  let session: http2.ClientHttp2Session;
  /** Resolved when the upstream sees the client's /hang request go away. */
  let hangClosed: Promise<void>;
  let hangArrived: () => void = () => {};
  const arrived = new Promise<void>((r) => (hangArrived = r));

  before(async () => {
    let closedHang: () => void = () => {};
    hangClosed = new Promise<void>((r) => (closedHang = r));
    upstream = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/hang') {
          res.once('close', () => closedHang());
          hangArrived();
          return;
        }
        if (req.url === '/twice') {
          // Fields HTTP/2 allows once, sent twice by a careless upstream.
          res.writeHead(200, [['content-type', 'text/plain'], ['content-type', 'text/html'], ['etag', '"a"'], ['etag', '"b"'], ['x-many', '1'], ['x-many', '2']].flat());
          res.end('twice');
          return;
        }
        if (req.url === '/empty') {
          res.writeHead(204, { 'x-kind': 'empty' });
          res.end();
          return;
        }
        const body = Buffer.concat(chunks);
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'set-cookie': ['a=1', 'b=2'],
          'keep-alive': 'timeout=5',
          te: 'gzip',
          'http2-settings': 'AAMAAABkAAQAoAAAAAIAAAAA',
          'x-received-bytes': String(body.length),
          'x-received-sum': String(body.reduce((s, b) => (s + b) % 65_521, 0)),
        });
        res.end(body);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const upPort = (upstream.address() as AddressInfo).port;
    const base = buildIR({ clusters: [cluster('up', upPort)] });
    const routes = [route('default/up', { prefix: '/' }, [backend('up', { rewrite: { prefix: null } })])];
    const ir = { ...base, listeners: [{ ...base.listeners[0]!, name: 'http', port: 0, virtualHosts: [vhost('*', routes)] }] };
    gw = new Gateway({ buildRuntime, drainTimeoutMs: 1000 });
    const r = await gw.apply(ir, {}, { source: 'test' });
    assert.equal(r.ok, true, JSON.stringify(r));
    port = gw.boundPorts()['http']!;
    session = http2.connect(`http://127.0.0.1:${port}`);
  });
  after(async () => {
    session.destroy();
    gw.forceClose();
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  it('carries a request body larger than the flow-control window, after 100-continue when asked', async () => {
    const body = Buffer.alloc(300_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const sum = String(body.reduce((s, b) => (s + b) % 65_521, 0));
    const plain = await exchange(session, { ':method': 'POST', ':path': '/upload' }, body);
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['x-received-bytes'], String(body.length));
    assert.equal(plain.headers['x-received-sum'], sum);
    assert.ok(plain.body.equals(body), 'the echoed body differs from the one sent');
    const asked = await exchange(session, { ':method': 'PUT', ':path': '/upload', expect: '100-continue' }, body);
    assert.equal(asked.sawContinue, true, 'no 100 Continue before the body');
    assert.equal(asked.status, 200);
    assert.equal(asked.headers['x-received-sum'], sum);
  });

  it('keeps repeated response fields and drops the connection-specific ones HTTP/2 forbids', async () => {
    const r = await exchange(session, { ':path': '/fields' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(r.headers['keep-alive'], undefined);
    assert.equal(r.headers['te'], undefined);
    assert.equal(r.headers['http2-settings'], undefined);
    assert.equal(r.headers['connection'], undefined);
    assert.ok(typeof r.headers['date'] === 'string' && r.headers['date'].endsWith('GMT'));
  });

  it('keeps the first of a once-only field an upstream sent twice; other repeated fields all arrive', async () => {
    const r = await exchange(session, { ':path': '/twice' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/plain');
    assert.equal(r.headers['etag'], '"a"');
    assert.equal(r.headers['x-many'], '1, 2');
    assert.equal(r.body.toString(), 'twice');
    const after = await exchange(session, { ':path': '/fields' });
    assert.equal(after.status, 200);
  });

  it('answers a bodiless response and HEAD with one HEADERS frame that ends the stream', async () => {
    const empty = await exchange(session, { ':path': '/empty' });
    assert.equal(empty.status, 204);
    assert.equal(empty.headers['x-kind'], 'empty');
    assert.equal(empty.endAfterHeaders, true);
    const head = await exchange(session, { ':method': 'HEAD', ':path': '/fields' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.endAfterHeaders, true);
  });

  it('a stream the client resets mid-request releases its upstream request; the session serves on', async () => {
    const s = session.request({ ':path': '/hang' });
    s.on('error', () => {});
    await arrived;
    s.close(http2.constants.NGHTTP2_CANCEL);
    await hangClosed;
    const after = await exchange(session, { ':path': '/fields' });
    assert.equal(after.status, 200);
  });
});
