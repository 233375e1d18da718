// Wire-level HTTP/1.1 conformance of the gateway's client side: raw sockets against the real Gateway
// and request path, checking framing, ordering, closing and limits byte by byte before any front-end change.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { Gateway } from '../../src/serve/gateway.js';
import { http1FrontChoice } from '../../src/serve/http1-front-choice.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import { defaultGlobal } from '../../src/compile/global-policy.js';
import type { IR, IRGlobal } from '../../src/ir/types.js';
import { backend, buildIR, cluster, route } from '../support/ir-builder.js';
import { RawConnection, field, fieldValues, saysClose, type OpenOptions, type RawResponse } from '../support/raw-http.js';
import { nextTurn, settlesWithin, whenTrue, WAIT_BOUND_MS } from '../support/wait-until.js';

const HOST = 'conformance.test';
/** Header section limit of the main gateway (IRGlobal.maxRequestHeadersBytes). */
const HEADER_LIMIT = 8 * 1024;
/** Header receive deadline of the main gateway (IRGlobal.requestHeadersTimeoutMs). */
const HEADERS_TIMEOUT_MS = 500;
/** Limits of the second gateway: short keep-alive idle time, few requests per connection. */
const IDLE_KEEPALIVE_MS = 400;
const MAX_REQUESTS = 3;

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');


interface EchoBody {
  method: string;
  url: string;
  version: string;
  length: number;
  sha256: string;
  body?: string;
}

/** What one /drip response saw: whether its client side went away before the body was complete. */
interface Drip {
  abortedEarly: boolean;
  closed: Promise<void>;
}

/**
 * The upstream: /echo (method, url, body length and hash), /gated?id= (an echo sent once the test
 * opens its gate), /chunked (no length), /stream?id= (first part, then waits for the test's gate),
 * /status/204|304, /sized (states a length, HEAD included), /cookies (two set-cookie), /big (8 MB),
 * /drip?id=&total= (64 KB per turn of the event loop).
 */
class Upstream {
  readonly server: http.Server;
  readonly seen: string[] = [];
  readonly gates = new Map<string, () => void>();
  /** 'gate' (id) when a response waits for the test to open its gate. */
  readonly events = new EventEmitter();
  readonly drips = new Map<string, Drip>();
  readonly big = randomBytes(8 * 1024 * 1024);

  constructor() {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const open of this.gates.values()) open();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Open the gate `id` once the upstream holds it. */
  async open(id: string): Promise<void> {
    const gate = await whenTrue(`the upstream to hold ${id}`, () => this.gates.get(id), [[this.events, 'gate']]);
    gate();
  }

  /** A gate opens once: opening it takes it off the map, so close() opens only the ones still shut. */
  private gate(id: string, open: () => void): void {
    this.gates.set(id, () => {
      if (this.gates.get(id) === undefined) return;
      this.gates.delete(id);
      open();
    });
    this.events.emit('gate', id);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://upstream');
    const q = url.searchParams;
    this.seen.push(req.url ?? '');
    switch (url.pathname) {
      case '/echo':
      case '/gated':
        return this.echo(req, res, url.pathname === '/gated' ? q.get('id') ?? '' : undefined);
      case '/chunked':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('alpha-');
        res.write('beta-');
        res.end('gamma');
        return;
      case '/stream': {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first-part|');
        this.gate(q.get('id') ?? '', () => res.end('second-part'));
        return;
      }
      case '/status/204':
        res.writeHead(204, { 'x-kind': 'no-content' }).end();
        return;
      case '/status/304':
        res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=60' }).end();
        return;
      case '/sized':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5000' });
        res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(5000));
        return;
      case '/cookies':
        res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
        res.setHeader('content-type', 'text/plain');
        res.end('cookies');
        return;
      case '/big':
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(this.big.length) });
        res.end(this.big);
        return;
      case '/drip':
        return this.drip(q.get('id') ?? '', Number(q.get('total') ?? 4 * 1024 * 1024), res);
      default:
        res.writeHead(404).end();
    }
  }

  private echo(req: http.IncomingMessage, res: http.ServerResponse, gate: string | undefined): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const reply: EchoBody = {
        method: req.method ?? '',
        url: req.url ?? '',
        version: req.httpVersion,
        length: body.length,
        sha256: sha256(body),
        ...(body.length <= 1024 ? { body: body.toString('latin1') } : {}),
      };
      const send = (): void => {
        const text = JSON.stringify(reply);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
      };
      if (gate !== undefined) this.gate(gate, send);
      else send();
    });
  }

  private drip(id: string, total: number, res: http.ServerResponse): void {
    let sent = 0;
    let resolveClosed: () => void = () => {};
    const d: Drip = { abortedEarly: false, closed: new Promise((r) => (resolveClosed = r)) };
    this.drips.set(id, d);
    res.once('close', () => {
      d.abortedEarly = sent < total || !res.writableFinished;
      resolveClosed();
    });
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
    const piece = Buffer.alloc(64 * 1024, 0x61);
    const step = (): void => {
      if (res.destroyed) return;
      const n = Math.min(piece.length, total - sent);
      sent += n;
      if (sent >= total) {
        res.end(piece.subarray(0, n));
        return;
      }
      res.write(piece.subarray(0, n));
      // a piece per turn of the event loop: slow enough that a client can leave mid-body
      setImmediate(step);
    };
    step();
  }
}

function gatewayIR(upstreamPort: number, global: Partial<IRGlobal>): IR {
  const base = defaultGlobal();
  const routes = [
    // a download route without an overall deadline, as long transfers are usually configured
    route('default/drip', { prefix: '/drip' }, [backend('up', { rewrite: { prefix: null }, timeouts: { requestMs: 0, idleMs: 0 } })]),
    // generous for the multi-MB transfers; short, since a request whose client left keeps its timer to the end
    route('default/all', { prefix: '/' }, [backend('up', { rewrite: { prefix: null }, timeouts: { requestMs: 10_000, idleMs: 0 } })]),
  ];
  const ir = buildIR({ clusters: [cluster('up', upstreamPort)], routes, listener: { name: 'edge', port: 0 } });
  return {
    ...ir,
    global: {
      ...ir.global,
      ...global,
      // The overload monitor would switch keep-alive off under heap pressure on a busy machine; these
      // tests are about framing, so it is left out of the picture.
      limits: {
        ...base.limits,
        maxConnections: 10_000,
        overload: { heapDisableKeepAliveRatio: 0, heapShedRatio: 0, eventLoopDelayDisableKeepAliveMs: 0, eventLoopDelayShedMs: 0 },
        ...global.limits,
      },
    },
  };
}

const get = (path: string, extra = '', version = '1.1'): string => `GET ${path} HTTP/${version}\r\nHost: ${HOST}\r\n${extra}\r\n`;
const post = (path: string, body: string, extra = ''): string =>
  `POST ${path} HTTP/1.1\r\nHost: ${HOST}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\n${extra}\r\n${body}`;

function echoOf(r: RawResponse): EchoBody {
  assert.equal(r.status, 200, `expected 200 from the echo, got ${r.status}: ${r.body.toString('latin1').slice(0, 200)}`);
  return JSON.parse(r.body.toString('utf8')) as EchoBody;
}

/**
 * Nothing follows the responses read so far: no stray byte is waiting, and the next request's
 * response is the very next thing on the wire (stray bytes would come first and be read as it).
 */
async function nothingFollows(c: RawConnection, after: string): Promise<void> {
  assert.equal(c.unread.length, 0, `no stray bytes after ${after}`);
  c.write(get('/echo?tag=sentinel'));
  assert.equal(echoOf(await c.readResponse()).url, '/echo?tag=sentinel', `nothing follows ${after}`);
}

describe('HTTP/1.1 conformance of the gateway client side', () => {
  const upstream = new Upstream();
  const gateways: Gateway[] = [];
  const conns: RawConnection[] = [];
  /** Main gateway: small header limit and header deadline, no keep-alive or request-count limits to speak of. */
  let mainPort = 0;
  /** Second gateway: short keep-alive idle timeout, MAX_REQUESTS per connection. */
  let limitedPort = 0;
  /** Third gateway: MAX_REQUESTS per connection with the default 60 s keep-alive idle timeout. */
  let longIdlePort = 0;

  async function startGateway(global: Partial<IRGlobal>): Promise<number> {
    const gw = new Gateway({ buildRuntime, drainTimeoutMs: 500 });
    gateways.push(gw);
    const r = await gw.apply(gatewayIR(upstream.port, global), {}, { source: 'test' });
    assert.equal(r.ok, true, JSON.stringify(r));
    const port = gw.boundPorts()['edge'];
    assert.ok(port !== undefined && port > 0);
    return port;
  }

  async function open(port = mainPort, opts: OpenOptions = {}): Promise<RawConnection> {
    const c = await RawConnection.open(port, opts);
    conns.push(c);
    return c;
  }

  /** Send `raw` on a fresh connection: the gateway answers `status` and closes, and the upstream never hears of `tag`. */
  async function refused(raw: string, status: number, tag: string): Promise<void> {
    const c = await open();
    c.write(raw);
    const r = await c.readResponse();
    assert.equal(r.status, status, `${JSON.stringify(raw.slice(0, 60))} → ${r.status}`);
    assert.equal(await c.waitClosed(), true, `the connection closes after ${status}`);
    assert.ok(!upstream.seen.some((u) => u.includes(tag)), 'nothing reached the upstream');
  }

  before(async () => {
    await new Promise<void>((r) => upstream.server.listen(0, '127.0.0.1', r));
    const base = defaultGlobal();
    mainPort = await startGateway({ requestHeadersTimeoutMs: HEADERS_TIMEOUT_MS, maxRequestHeadersBytes: HEADER_LIMIT });
    limitedPort = await startGateway({
      limits: { ...base.limits, keepAliveTimeoutMs: IDLE_KEEPALIVE_MS, maxRequestsPerConnection: MAX_REQUESTS },
    });
    longIdlePort = await startGateway({ limits: { ...base.limits, keepAliveTimeoutMs: 60_000, maxRequestsPerConnection: MAX_REQUESTS } });
  });

  after(async () => {
    for (const c of conns) c.destroy();
    for (const g of gateways) g.forceClose();
    await upstream.close();
  });

  it('keep-alive: several requests on one socket, each response framed by its length or by chunks', async () => {
    const c = await open();
    c.write(get('/echo?n=1'));
    const r1 = await c.readResponse();
    assert.equal(r1.framing, 'length');
    assert.equal(echoOf(r1).url, '/echo?n=1');
    assert.equal(saysClose(r1), false);

    c.write(get('/chunked'));
    const r2 = await c.readResponse();
    assert.equal(r2.status, 200);
    assert.equal(r2.body.toString(), 'alpha-beta-gamma');

    c.write(post('/echo?n=3', 'hello there'));
    const e3 = echoOf(await c.readResponse());
    assert.deepEqual([e3.method, e3.body], ['POST', 'hello there']);

    c.write(get('/sized'));
    const r4 = await c.readResponse();
    assert.equal(r4.body.length, 5000);

    c.write(get('/echo?n=5'));
    assert.equal(echoOf(await c.readResponse()).url, '/echo?n=5');
    assert.equal(c.closed, false, 'the connection is still open');
    assert.equal(c.unread.length, 0, 'no stray bytes after the last response');
  });

  it('pipelining: three requests in one write come back in request order, also when the first is slow', async () => {
    const c = await open();
    c.write(get('/gated?id=p3a') + get('/echo?tag=b') + get('/echo?tag=c'));
    // the first is answered only once the gateway has it in hand, the two others parsed behind it
    await upstream.open('p3a');
    const urls: string[] = [];
    for (let i = 0; i < 3; i++) urls.push(echoOf(await c.readResponse()).url);
    assert.deepEqual(urls, ['/gated?id=p3a', '/echo?tag=b', '/echo?tag=c']);
    await nothingFollows(c, 'the third response');
  });

  it('pipelining: 40 requests in one write, more than the gateway parses ahead, all come back in order', async () => {
    const c = await open();
    // the first waits for its gate, so the others pile up past the parse-ahead limit and the socket stops being read
    let burst = get('/gated?id=q0');
    for (let i = 1; i < 40; i++) burst += get(`/echo?tag=q${i}`);
    c.write(burst);
    await upstream.open('q0');
    const urls: string[] = [];
    for (let i = 0; i < 40; i++) urls.push(echoOf(await c.readResponse()).url);
    assert.deepEqual(urls, ['/gated?id=q0', ...Array.from({ length: 39 }, (_, i) => `/echo?tag=q${i + 1}`)]);
    // nothing follows the last response, and the connection reads again afterwards
    await nothingFollows(c, 'the last response');
  });

  it('pipelining: a POST with a body between two GETs is forwarded whole and answered in order', async () => {
    const c = await open();
    const chunked = `POST /echo?tag=p4 HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n`;
    c.write(get('/echo?tag=p1') + post('/echo?tag=p2', 'pipelined-body') + get('/echo?tag=p3') + chunked);
    const e = [];
    for (let i = 0; i < 4; i++) e.push(echoOf(await c.readResponse()));
    assert.deepEqual(e.map((x) => x.url), ['/echo?tag=p1', '/echo?tag=p2', '/echo?tag=p3', '/echo?tag=p4']);
    assert.deepEqual(e.map((x) => x.method), ['GET', 'POST', 'GET', 'POST']);
    assert.equal(e[1]?.body, 'pipelined-body');
    assert.equal(e[3]?.body, 'abcdefg');
    assert.equal(e[2]?.length, 0, 'the GET after the POST carries none of its body');
  });

  it('HTTP/1.0 client without keep-alive: the response, then the gateway closes', async () => {
    const c = await open();
    c.write(get('/echo?v=10', '', '1.0'));
    const r = await c.readResponse();
    assert.equal(echoOf(r).url, '/echo?v=10');
    assert.equal(await c.waitClosed(), true, 'closed after the response');
  });

  it('HTTP/1.0 client with Connection: keep-alive: the connection stays open for a response with a length', async () => {
    const c = await open();
    c.write(get('/echo?v=10ka1', 'Connection: keep-alive\r\n', '1.0'));
    const r1 = await c.readResponse();
    assert.equal(echoOf(r1).url, '/echo?v=10ka1');
    assert.equal(r1.framing, 'length');
    assert.equal(saysClose(r1), false);
    c.write(get('/echo?v=10ka2', 'Connection: keep-alive\r\n', '1.0'));
    const r2 = await c.readResponse();
    assert.equal(echoOf(r2).url, '/echo?v=10ka2', 'a second request on the same socket is served');
  });

  it('HTTP/1.0 client: an upstream chunked reply is not sent chunked, and its body is intact', async () => {
    for (const extra of ['', 'Connection: keep-alive\r\n']) {
      const c = await open();
      c.write(get('/chunked', extra, '1.0'));
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      assert.equal(field(r, 'transfer-encoding'), undefined, 'no Transfer-Encoding to an HTTP/1.0 client');
      assert.ok(r.framing === 'length' || r.framing === 'close', `framing ${r.framing}`);
      assert.equal(r.body.toString(), 'alpha-beta-gamma');
      if (r.framing === 'close') assert.equal(c.closed, true);
    }
  });

  it('HEAD: no body bytes on the wire even when the upstream states a length; the next request parses', async () => {
    const c = await open();
    c.write(`HEAD /sized HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` + get('/echo?after=head1'));
    const h = await c.readResponse({ head: true });
    assert.equal(h.status, 200);
    const cl = field(h, 'content-length');
    assert.ok(cl === undefined || cl === '5000', `a stated length is the upstream's: ${cl}`);
    assert.equal(echoOf(await c.readResponse()).url, '/echo?after=head1', 'the next response starts right after the HEAD head');

    // an upstream that would chunk its GET reply: still no bytes (not even a last chunk) after the head
    c.write(`HEAD /chunked HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` + get('/echo?after=head2'));
    const h2 = await c.readResponse({ head: true });
    assert.equal(h2.status, 200);
    assert.equal(echoOf(await c.readResponse()).url, '/echo?after=head2');
    assert.equal(c.closed, false);
  });

  it('upstream 204 and 304: no body on the wire, and the connection serves the next request', async () => {
    const c = await open();
    c.write(get('/status/204') + get('/status/304', 'If-None-Match: "v1"\r\n') + get('/echo?after=304'));
    const r204 = await c.readResponse();
    assert.equal(r204.status, 204);
    assert.equal(field(r204, 'x-kind'), 'no-content');
    assert.equal(field(r204, 'transfer-encoding'), undefined, 'a 204 carries no Transfer-Encoding');
    assert.equal(field(r204, 'content-length'), undefined, 'a 204 carries no Content-Length');
    const r304 = await c.readResponse();
    assert.equal(r304.status, 304);
    assert.equal(field(r304, 'etag'), '"v1"');
    assert.equal(field(r304, 'transfer-encoding'), undefined, 'a 304 carries no Transfer-Encoding');
    assert.equal(echoOf(await c.readResponse()).url, '/echo?after=304', 'no body bytes were taken for the next response');
    await nothingFollows(c, 'the response after the 304');
  });

  it('an upstream reply without a length reaches the client chunked, streamed as it comes', async () => {
    const c = await open();
    c.write(get('/stream?id=s1'));
    assert.equal(await c.waitForText('first-part|'), true, 'the first part arrives while the upstream is still sending');
    const open1 = upstream.gates.get('s1');
    assert.ok(open1);
    open1();
    const r = await c.readResponse();
    assert.equal(r.status, 200);
    assert.equal(r.framing, 'chunked');
    assert.equal(r.body.toString(), 'first-part|second-part');
    assert.ok(r.chunkSizes.length >= 2, 'sent as it came, in more than one chunk');
    c.write(get('/echo?after=stream'));
    assert.equal(echoOf(await c.readResponse()).url, '/echo?after=stream');
  });

  it('request bodies: content-length, chunked and a 4 MB body reach the upstream whole', async () => {
    const c = await open();
    c.write(post('/echo?b=cl', 'a=1&b=2'));
    const e1 = echoOf(await c.readResponse());
    assert.deepEqual([e1.length, e1.body], [7, 'a=1&b=2']);

    c.write(`POST /echo?b=te HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n`);
    const e2 = echoOf(await c.readResponse());
    assert.equal(e2.body, 'hello world');

    const big = randomBytes(4 * 1024 * 1024);
    c.write(`POST /echo?b=big HTTP/1.1\r\nHost: ${HOST}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${big.length}\r\n\r\n`);
    c.write(big);
    const e3 = echoOf(await c.readResponse({ timeoutMs: 20_000 }));
    assert.deepEqual([e3.length, e3.sha256], [big.length, sha256(big)]);

    c.write(get('/echo?after=bodies'));
    assert.equal(echoOf(await c.readResponse()).length, 0);
  });

  it('Expect: 100-continue: "HTTP/1.1 100 Continue" comes before the final response and the body is forwarded', async () => {
    const c = await open();
    c.write(`POST /echo?x=continue HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n`);
    const interim = await c.readResponse();
    assert.equal(interim.status, 100);
    assert.equal(interim.version, 'HTTP/1.1');
    c.write('hello world');
    const e = echoOf(await c.readResponse());
    assert.deepEqual([e.url, e.body], ['/echo?x=continue', 'hello world']);
  });

  it('an unknown Expect value is answered 417 and never forwarded', async () => {
    const c = await open();
    c.write(`GET /echo?x=expect-odd HTTP/1.1\r\nHost: ${HOST}\r\nExpect: something-else\r\n\r\n`);
    const r = await c.readResponse();
    assert.equal(r.status, 417);
    assert.ok(!upstream.seen.some((u) => u.includes('expect-odd')));
    // the connection is either closed or still in step for the next request
    c.write(get('/echo?after=417'));
    if (!c.closed) assert.equal(echoOf(await c.readResponse()).url, '/echo?after=417');
  });

  it('Connection: close from the client: the response, then the gateway closes', async () => {
    const c = await open();
    c.write(get('/echo?x=close', 'Connection: close\r\n'));
    const r = await c.readResponse();
    assert.equal(echoOf(r).url, '/echo?x=close');
    assert.equal(await c.waitClosed(), true);
  });

  it('malformed request line, bare LF and an invalid field name → 400 and close', async () => {
    await refused(`GET /echo?m=proto HTTQ/1.1\r\nHost: ${HOST}\r\n\r\n`, 400, 'm=proto');
    await refused(`GET /echo?m=lf HTTP/1.1\nHost: ${HOST}\n\n`, 400, 'm=lf');
    await refused(`GET /echo?m=name HTTP/1.1\r\nHost: ${HOST}\r\nX(A): b\r\n\r\n`, 400, 'm=name');
  });

  it('a header section over maxRequestHeadersBytes → 431 and close', async () => {
    const filler = `X-Filler: ${'f'.repeat(HEADER_LIMIT + 1024)}\r\n`;
    await refused(get('/echo?m=big-head', filler), 431, 'm=big-head');
    // many small fields add up the same way
    const many = Array.from({ length: 200 }, (_, i) => `X-Field-${i}: ${'v'.repeat(60)}\r\n`).join('');
    await refused(get('/echo?m=many-fields', many), 431, 'm=many-fields');
  });

  it('headers started and never finished: the gateway closes the connection (408 or plain close)', async () => {
    const c = await open();
    c.write(`GET /echo?m=partial HTTP/1.1\r\nHost: ${HOST}\r\nX-Waiting: `);
    assert.equal(await c.waitClosed(), true, 'closed before the bound');
    if (c.unread.length > 0) assert.equal((await c.readResponse()).status, 408);
    assert.ok(!upstream.seen.some((u) => u.includes('m=partial')));

    const silent = await open();
    assert.equal(await silent.waitClosed(), true, 'a connection that sends nothing is closed too');
  });

  it('headers trickled a byte at a time never finish: the deadline covers the whole head, not each byte', async (t) => {
    if (http1FrontChoice().front === 'node') {
      // node:http checks its header deadline against its own clock (uv_hrtime), which no mock timer
      // reaches: there the client trickles in real time, a byte per 100 ms, until the gateway closes.
      const c = await open();
      c.write(`GET /echo?m=trickle HTTP/1.1\r\nHost: ${HOST}\r\nX-Slow: `);
      const until = performance.now() + WAIT_BOUND_MS;
      while (!c.closed && performance.now() < until) {
        c.write('a');
        await c.waitClosed(100);
      }
      assert.equal(c.closed, true, 'closed before the bound');
      if (c.unread.length > 0) assert.equal((await c.readResponse()).status, 408);
      assert.ok(!upstream.seen.some((u) => u.includes('m=trickle')));
      return;
    }
    // The llhttp front's deadlines run on its sweep timer and Date.now: on mock timers the test moves
    // the clock 100 ms per byte, and lets the gateway read each byte before the clock moves on.
    t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: Date.now() });
    const port = await startGateway({ requestHeadersTimeoutMs: HEADERS_TIMEOUT_MS, maxRequestHeadersBytes: HEADER_LIMIT });
    const c = await open(port);
    c.write(`GET /echo?m=trickle HTTP/1.1\r\nHost: ${HOST}\r\nX-Slow: `);
    await nextTurn();
    let movedMs = 0;
    // one byte per 100 ms keeps the connection busy; only a deadline on the whole head ends it
    while (!c.closed && movedMs < 10 * HEADERS_TIMEOUT_MS) {
      c.write('a');
      await nextTurn();
      t.mock.timers.tick(100);
      movedMs += 100;
      await nextTurn();
    }
    assert.equal(c.closed, true, `closed before ${10 * HEADERS_TIMEOUT_MS} ms of trickling`);
    assert.ok(movedMs >= HEADERS_TIMEOUT_MS, `not before the deadline (closed after ${movedMs} ms)`);
    if (c.unread.length > 0) assert.equal((await c.readResponse()).status, 408);
    assert.ok(!upstream.seen.some((u) => u.includes('m=trickle')));
  });

  it('keep-alive idle timeout: an idle connection is closed by the gateway', async () => {
    const c = await open(limitedPort);
    c.write(get('/echo?idle=1'));
    const r = await c.readResponse();
    assert.equal(echoOf(r).url, '/echo?idle=1');
    assert.equal(saysClose(r), false);
    assert.equal(await c.waitClosed(), true, 'the idle connection was closed');
    assert.equal(c.unread.length, 0, 'closed without sending anything');
  });

  it(`maxRequestsPerConnection = ${MAX_REQUESTS}: the last response says connection: close and the socket closes`, async () => {
    const c = await open(limitedPort);
    const closes: boolean[] = [];
    for (let i = 1; i <= MAX_REQUESTS; i++) {
      c.write(get(`/echo?count=${i}`));
      const r = await c.readResponse();
      assert.equal(echoOf(r).url, `/echo?count=${i}`);
      closes.push(saysClose(r));
    }
    assert.deepEqual(closes, [...Array<boolean>(MAX_REQUESTS - 1).fill(false), true]);
    assert.equal(await c.waitClosed(), true);
  });

  it('maxRequestsPerConnection reached: the socket closes right after the last response, not at the keep-alive idle timeout', async (t) => {
    // RFC 9112 §9.6: the sender of "close" closes; the long-idle gateway would keep an idle socket 60 s.
    // The front's clock (Date.now) stands still here: no keep-alive timeout can be what closes it.
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const c = await open(longIdlePort);
    for (let i = 1; i <= MAX_REQUESTS; i++) {
      c.write(get(`/echo?long-idle=${i}`));
      const r = await c.readResponse();
      assert.equal(saysClose(r), i === MAX_REQUESTS);
    }
    assert.equal(await c.waitClosed(), true, 'closed with no time passing for the keep-alive idle timeout');
  });

  it('two set-cookie fields from the upstream reach the client as two fields; a Date field is present', async () => {
    const c = await open();
    c.write(get('/cookies'));
    const r = await c.readResponse();
    assert.equal(r.status, 200);
    assert.deepEqual(fieldValues(r.fields, 'set-cookie'), ['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    const date = fieldValues(r.fields, 'date');
    assert.equal(date.length, 1);
    assert.ok(!Number.isNaN(Date.parse(date[0] as string)), `Date parses: ${date[0]}`);
  });

  it('a client that closes mid-response does not break the next client, and the upstream exchange is ended', async () => {
    const a = await open();
    a.write(get('/drip?id=abort&total=4194304'));
    assert.equal(await a.waitReceived(200 * 1024), true, 'part of the body arrived');
    a.destroy();
    const drip = upstream.drips.get('abort');
    assert.ok(drip);
    const ended = await settlesWithin(drip.closed, WAIT_BOUND_MS);
    assert.equal(ended, true, 'the upstream response was ended after the client left');
    assert.equal(drip.abortedEarly, true, 'it did not run to the end');

    const b = await open();
    b.write(get('/echo?after=abort'));
    assert.equal(echoOf(await b.readResponse()).url, '/echo?after=abort');
    b.write(get('/drip?id=whole&total=262144'));
    const whole = await b.readResponse({ timeoutMs: 10_000 });
    assert.equal(whole.status, 200);
    assert.equal(whole.body.length, 262144);
  });

  it('an 8 MB response read slowly by the client arrives complete and byte-exact', async () => {
    const c = await open(mainPort, { initialStallTurns: 100, readPauseTurns: 2 });
    c.write(get('/big'));
    const r = await c.readResponse({ timeoutMs: 30_000 });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, upstream.big.length);
    assert.equal(sha256(r.body), sha256(upstream.big));
    c.write(get('/echo?after=big'));
    assert.equal(echoOf(await c.readResponse()).url, '/echo?after=big');
  });
});
