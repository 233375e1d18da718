// HTTP/2 attacks against a real Gateway with raw frames (HARDENING cases 37, 38 and the H2 part of
// 39): floods end in GOAWAY and a closed connection, and the upstream sees a small bound of requests.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { Gateway } from '../../src/serve/gateway.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import { backend, buildIR, cluster, route } from '../support/ir-builder.js';
import { startRawUpstream, OK_RESPONSE, type RawUpstream } from '../support/raw-upstream.js';
import { connectH2, FLAG, frame, FRAME, get, headerBlock, rst } from '../support/h2-frames.js';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

describe('HTTP/2 floods and malformed streams (cases 37, 38, 39)', () => {
  let fast: RawUpstream;
  let slow: RawUpstream;
  let gw: Gateway;
  let port: number;

  before(async () => {
    fast = await startRawUpstream();
    // answers after a while, so streams stay open
    slow = await startRawUpstream((c) => {
      const t = setTimeout(() => c.socket.write(OK_RESPONSE), 1500);
      c.socket.once('close', () => clearTimeout(t));
    });
    const ir = buildIR({
      clusters: [cluster('fast', fast.port), cluster('slow', slow.port)],
      routes: [
        route('default/slow', { prefix: '/slow/' }, [backend('slow')]),
        route('default/fast', { prefix: '/' }, [backend('fast', { rewrite: { prefix: null } })]),
      ],
      global: { requestHeadersTimeoutMs: 500 },
      listener: { port: 0 },
    });
    gw = new Gateway({ buildRuntime, drainTimeoutMs: 500 });
    assert.equal((await gw.apply(ir, {}, { source: 't' })).ok, true);
    port = Object.values(gw.boundPorts())[0]!;
  });
  after(async () => {
    gw.forceClose();
    await fast.close();
    await slow.close();
  });

  it('rapid reset (5000 HEADERS + RST_STREAM pairs): GOAWAY ENHANCE_YOUR_CALM, TCP closed, few upstream requests', async () => {
    const before = fast.requests.length;
    const c = await connectH2(port);
    const parts: Buffer[] = [];
    for (let i = 0; i < 5000; i++) {
      const id = 1 + 2 * i;
      parts.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, get('/reset')), rst(id, NGHTTP2_CANCEL));
    }
    c.send(Buffer.concat(parts));
    assert.equal(await c.closedWithin(5000), true, 'connection closed');
    const g = c.goaway();
    assert.ok(g, 'GOAWAY sent');
    assert.equal(g.payload.readUInt32BE(4), NGHTTP2_ENHANCE_YOUR_CALM);
    // give any stray upstream work a moment to show up before counting
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(fast.requests.length - before <= 100, `upstream saw ${fast.requests.length - before} requests`);
  });

  it('CONTINUATION flood (one HEADERS, 10 000 CONTINUATION): GOAWAY and close, nothing upstream', async () => {
    const before = fast.requests.length;
    const c = await connectH2(port);
    const parts = [frame(FRAME.HEADERS, 0, 1, get('/cont'))];
    const piece = headerBlock([['x-filler', 'a'.repeat(60)]]);
    for (let i = 0; i < 10_000; i++) parts.push(frame(FRAME.CONTINUATION, 0, 1, piece));
    c.send(Buffer.concat(parts));
    assert.equal(await c.closedWithin(5000), true);
    assert.ok(c.goaway(), 'GOAWAY sent');
    assert.equal(fast.requests.length, before);
  });

  it('SETTINGS flood and PING flood: GOAWAY and close', async () => {
    for (const [type, payload] of [[FRAME.SETTINGS, Buffer.alloc(0)], [FRAME.PING, Buffer.alloc(8)]] as const) {
      const c = await connectH2(port);
      // never read: the outbound ACKs pile up on the gateway's side
      c.socket.pause();
      const one = frame(type, 0, 0, payload);
      c.send(Buffer.concat(Array.from({ length: 20_000 }, () => one)));
      c.socket.resume();
      assert.equal(await c.closedWithin(5000), true, `flood of frame type ${type} closed`);
      assert.ok(c.goaway(), `GOAWAY after frame type ${type} flood`);
    }
  });

  it('300 streams against a limit of 100: the excess is refused, the upstream sees at most 100', async () => {
    const before = slow.requests.length;
    const c = await connectH2(port);
    const parts: Buffer[] = [];
    for (let i = 0; i < 300; i++) parts.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1 + 2 * i, get('/slow/x')));
    c.send(Buffer.concat(parts));
    await new Promise((r) => setTimeout(r, 500));
    const refused = c.frames.filter((f) => f.type === FRAME.RST_STREAM && f.payload.readUInt32BE(0) === NGHTTP2_REFUSED_STREAM).length;
    const goaway = c.goaway();
    assert.ok(refused > 0 || goaway !== undefined, 'excess streams refused (or the session ended)');
    assert.ok(slow.requests.length - before <= 100, `upstream saw ${slow.requests.length - before} requests`);
    c.destroy();
  });

  it('preface only, and HEADERS without END_HEADERS: closed by the gateway timers', async () => {
    const idle = await connectH2(port);
    assert.equal(await idle.closedWithin(5000), true, 'preface-only connection closed');
    const partial = await connectH2(port);
    partial.send(frame(FRAME.HEADERS, 0, 1, get('/partial')));
    assert.equal(await partial.closedWithin(5000), true, 'unfinished header block closed');
  });

  it('H2→H1 downgrade: malformed streams never reach the upstream, the valid one arrives once with gateway framing', async () => {
    const before = fast.requests.length;
    const c = await connectH2(port);
    const post = (path: string, extra: [string, string][] = []): Buffer => headerBlock([[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', 'a.test'], ...extra]);
    const body = Buffer.alloc(32, 0x62);
    const bad: Buffer[] = [
      // content-length that disagrees with DATA
      frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, post('/cl', [['content-length', '100']])), frame(FRAME.DATA, FLAG.END_STREAM, 1, body),
      // connection-specific fields
      frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 3, post('/te', [['transfer-encoding', 'chunked']])),
      frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 5, get('/tegzip', 'a.test', [['te', 'gzip']])),
      // CRLF injection in a value, upper-case name, space in :path
      frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 7, get('/crlf', 'a.test', [['x-a', 'v\r\nx-injected: 1']])),
      frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 9, get('/upper', 'a.test', [['X-Upper', 'v']])),
      frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 11, get('/sp ace')),
      // and one valid request with a body
      frame(FRAME.HEADERS, FLAG.END_HEADERS, 13, post('/ok')), frame(FRAME.DATA, FLAG.END_STREAM, 13, body),
    ];
    c.send(Buffer.concat(bad));
    for (let i = 0; i < 40 && !c.frames.some((f) => f.stream === 13 && f.type === FRAME.DATA && (f.flags & FLAG.END_STREAM) !== 0); i++) await new Promise((r) => setTimeout(r, 50));
    c.destroy();
    const seen = fast.requests.slice(before);
    const lines = seen.map((r) => r.requestLine);
    // The header-value CRLF is dropped by the H2 layer (the request may pass without the field), never injected.
    assert.ok(!lines.some((l) => /\/(cl|te|tegzip|upper|sp)/.test(l)), `malformed streams reached the upstream: ${lines.join(' | ')}`);
    for (const r of seen) assert.ok(!r.headers.has('x-injected'), 'no injected header line');
    const ok = seen.filter((r) => r.requestLine === 'POST /ok HTTP/1.1');
    assert.equal(ok.length, 1);
    assert.equal(ok[0]!.body.length, 32);
    assert.ok(ok[0]!.headers.has('transfer-encoding') || ok[0]!.headers.get('content-length')?.[0] === '32', 'gateway-generated framing');
    assert.equal(fast.parseErrors.length, 0);
  });
});
