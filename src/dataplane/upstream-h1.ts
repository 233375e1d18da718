// HTTP/1.1 to upstreams: keep-alive connections per endpoint, the request head written in one piece,
// responses parsed by Node's own llhttp (the HTTPParser behind node:http), without ClientRequest/IncomingMessage.

import net from 'node:net';
import tls from 'node:tls';
import { holdWritesUntilTurnEnds } from './turn-writes.js';
import { HTTPParser, PARSER_SLOTS, closeParser, codedError as fault, fieldError, type LlhttpParser } from './llhttp.js';

const { kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete } = PARSER_SLOTS;

/** Node's own limits for a response head (16 KiB) and its header count (2000 fields). */
const MAX_HEADER_SIZE = 16 * 1024;
const MAX_HEADER_FIELDS = 4000;
/** A request target Node's client would refuse (spaces, controls, non-latin1). */
const INVALID_PATH = /[^\u0021-\u00ff]/;

export interface UpstreamEndpoint {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly hostname: string;
}

/** What one exchange tells the forward path; exactly one of end/error/timeout ends it, then close. */
export interface ExchangeHandlers {
  /** The final response head (1xx informational responses are skipped). */
  response(status: number, rawHeaders: string[]): void;
  data(chunk: Buffer): void;
  end(): void;
  error(err: NodeJS.ErrnoException): void;
  /** No byte moved for the exchange's idle timeout; the exchange is already aborted. */
  timeout(): void;
  /** Always last, once, however the exchange ended (including destroy()). */
  close(): void;
}

export interface ExchangeOptions {
  readonly method: string;
  /** Request line target and the fields in order, [name, value, ...]; validated by validateHead. */
  readonly path: string;
  readonly headers: readonly string[];
  /** The request carries a body framed by `transfer-encoding: chunked` (this side frames it). */
  readonly chunked: boolean;
  readonly connectTimeoutMs: number;
  /** Inactivity limit while the exchange runs; 0 = none. */
  readonly idleTimeoutMs: number;
}

/**
 * Null when path and fields can be written as they are; otherwise the error Node's client would
 * have thrown. Values from llhttp are already clean; those from configuration and rewrites may not be.
 */
export function validateHead(path: string, headers: readonly string[]): NodeJS.ErrnoException | null {
  if (path === '' || INVALID_PATH.test(path)) return fault('ERR_UNESCAPED_CHARACTERS', 'request path contains unescaped characters');
  for (let i = 0; i < headers.length; i += 2) {
    const bad = fieldError(headers[i] as string, headers[i + 1] as string);
    if (bad !== null) return bad;
  }
  return null;
}

const CRLF = '\r\n';

/**
 * Plain-TCP upstream sockets read into this one buffer (net's `onread`), and each read is parsed
 * before the next can land: no Buffer, stream push and next-tick per read. Nothing keeps a view of
 * it: llhttp turns fields into strings and hands over body bytes as copies.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

const LAST_CHUNK = '0\r\n\r\n';

/** One request/response on a pooled connection. */
export class UpstreamExchange {
  /** The connection carried an earlier exchange (a reset may mean the upstream was closing it). */
  reusedSocket = false;
  conn: UpstreamConnection | undefined;
  finished = false;
  responded = false;
  requestEnded = false;
  readonly pool: UpstreamConnectionPool;
  readonly ep: UpstreamEndpoint;
  readonly o: ExchangeOptions;
  readonly h: ExchangeHandlers;
  /** Body written before a connection was assigned. */
  private queued: (Buffer | string)[] | undefined;
  private drainWaiter: (() => void) | undefined;
  private endQueued = false;

  constructor(pool: UpstreamConnectionPool, ep: UpstreamEndpoint, o: ExchangeOptions, h: ExchangeHandlers) {
    this.pool = pool;
    this.ep = ep;
    this.o = o;
    this.h = h;
  }

  /** Request body bytes; false means wait for onDrain before writing more. Dropped once finished. */
  write(chunk: Buffer): boolean {
    if (this.finished || this.requestEnded || chunk.length === 0) return true;
    const framed = this.o.chunked ? [chunk.length.toString(16) + CRLF, chunk, CRLF] : [chunk];
    const c = this.conn;
    if (c === undefined) {
      (this.queued ??= []).push(...framed);
      return false;
    }
    if (framed.length === 1) return c.socket.write(chunk);
    c.socket.cork();
    let ok = true;
    for (const f of framed) ok = c.socket.write(f) && ok;
    c.socket.uncork();
    return ok;
  }

  /** The request body is complete (with a last piece, if given). */
  end(chunk?: Buffer): void {
    if (this.finished || this.requestEnded) return;
    if (chunk !== undefined) this.write(chunk);
    this.requestEnded = true;
    if (this.conn === undefined) {
      this.endQueued = true;
      return;
    }
    if (this.o.chunked) this.conn.socket.write(LAST_CHUNK);
  }

  /** Request bytes not yet handed to the kernel. */
  pendingBytes(): number {
    if (this.conn !== undefined) return this.conn.socket.writableLength;
    let n = 0;
    for (const b of this.queued ?? []) n += b.length;
    return n;
  }

  onDrain(fn: () => void): void {
    const c = this.conn;
    if (c !== undefined && !c.socket.writableNeedDrain) {
      fn();
      return;
    }
    this.drainWaiter = fn;
    if (c !== undefined) c.socket.once('drain', () => this.fireDrain());
  }

  private fireDrain(): void {
    const fn = this.drainWaiter;
    this.drainWaiter = undefined;
    if (fn !== undefined && !this.finished) fn();
  }

  /** Stop reading the response while the client catches up (backpressure). */
  pause(): void {
    if (!this.finished && this.conn?.ex === this) this.conn.socket.pause();
  }

  resume(): void {
    if (!this.finished && this.conn?.ex === this) this.conn.socket.resume();
  }

  /** Abort: the connection is closed, never reused; only close() is called. */
  destroy(): void {
    if (this.finished) return;
    const c = this.conn;
    if (c === undefined) this.pool.dequeue(this);
    this.conclude(undefined);
    if (c !== undefined && c.ex === this) {
      c.ex = undefined;
      c.destroy();
    }
  }

  /** A connection was assigned: write the head and whatever body was waiting. */
  start(conn: UpstreamConnection, reused: boolean): void {
    this.conn = conn;
    this.reusedSocket = reused;
    const o = this.o;
    let head = `${o.method} ${o.path} HTTP/1.1\r\n`;
    const hs = o.headers;
    for (let i = 0; i < hs.length; i += 2) head += `${hs[i] as string}: ${hs[i + 1] as string}\r\n`;
    head += CRLF;
    const s = conn.socket;
    conn.exchangeIdleTimeout(o.idleTimeoutMs);
    // the head and whatever body already waited go out in one write, with this turn's other writes
    holdWritesUntilTurnEnds(s);
    s.write(head, 'latin1');
    const q = this.queued;
    if (q !== undefined) {
      this.queued = undefined;
      for (const b of q) s.write(b);
    }
    if (this.endQueued && o.chunked) s.write(LAST_CHUNK);
    if (this.drainWaiter !== undefined) this.onDrain(this.drainWaiter);
  }

  /** Ends the exchange once: the outcome (end, error or timeout), then close. */
  conclude(outcome: (() => void) | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.drainWaiter = undefined;
    this.queued = undefined;
    try {
      outcome?.();
    } finally {
      this.h.close();
    }
  }
}

/** One keep-alive connection to an endpoint, with its response parser. */
export class UpstreamConnection {
  readonly socket: net.Socket;
  readonly parser: LlhttpParser;
  readonly pool: UpstreamConnectionPool;
  readonly ep: UpstreamEndpoint;
  ex: UpstreamExchange | undefined;
  private headerParts: string[] | undefined;
  private informational = false;
  private keepAlive = false;
  private connectTimer: NodeJS.Timeout | undefined;
  /** When the connection went back to the idle list (the pool's sweep closes it after idleMs). */
  idleSince = 0;
  dead = false;

  constructor(pool: UpstreamConnectionPool, ep: UpstreamEndpoint, connectTimeoutMs: number) {
    this.pool = pool;
    this.ep = ep;
    const t = pool.tlsOptions;
    const socket = t === undefined
      ? net.connect({ host: ep.address, port: ep.port, noDelay: true, onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => this.onRead(n, buf) } })
      : tls.connect({
        ...t, host: ep.address, port: ep.port, servername: t.servername ?? (net.isIP(ep.hostname) === 0 ? ep.hostname : undefined),
        session: pool.tlsSessions.get(ep.key),
      });
    if (t !== undefined) {
      socket.setNoDelay(true);
      // resume the TLS session on the next connection to this endpoint (a full handshake costs far more)
      socket.on('session', (session: Buffer) => pool.tlsSessions.set(ep.key, session));
    }
    this.socket = socket;
    if (connectTimeoutMs > 0) {
      this.connectTimer = setTimeout(() => this.fail(fault('PORTICO_CONNECT_TIMEOUT', 'upstream connect timeout')), connectTimeoutMs);
      socket.once(t === undefined ? 'connect' : 'secureConnect', () => {
        clearTimeout(this.connectTimer);
        this.connectTimer = undefined;
      });
    }
    const p = new HTTPParser();
    p.initialize(HTTPParser.RESPONSE, {}, MAX_HEADER_SIZE, HTTPParser.kLenientNone);
    p[kOnHeaders] = (headers: string[]) => {
      const parts = (this.headerParts ??= []);
      if (parts.length + headers.length <= MAX_HEADER_FIELDS) for (const x of headers) parts.push(x);
    };
    p[kOnHeadersComplete] = (_maj: number, _min: number, headers: string[] | undefined, _m: unknown, _u: unknown, status: number, _msg: unknown, upgrade: boolean, keepAlive: boolean) => this.onHead(headers, status, upgrade, keepAlive);
    p[kOnBody] = (b: Buffer) => {
      const ex = this.ex;
      if (ex !== undefined && !ex.finished && !this.informational) ex.h.data(b);
    };
    p[kOnMessageComplete] = () => this.onComplete();
    this.parser = p;
    // TLS sockets have no onread: their decrypted bytes arrive as 'data'
    if (t !== undefined) socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('end', () => this.onEnd());
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(err));
    socket.on('close', () => this.fail(fault('ECONNRESET', 'socket hang up')));
    socket.on('timeout', () => this.onTimeout());
  }

  private onHead(headers: string[] | undefined, status: number, upgrade: boolean, keepAlive: boolean): number {
    let raw = headers ?? [];
    if (this.headerParts !== undefined) {
      raw = this.headerParts.concat(raw);
      this.headerParts = undefined;
    }
    const ex = this.ex;
    if (ex === undefined || ex.finished) {
      // bytes from the upstream while no request was outstanding: the connection is out of step
      this.destroy();
      return 1;
    }
    if (upgrade || status === 101) {
      this.fail(fault('PORTICO_UNSOLICITED_UPGRADE', 'unsolicited 101 from upstream'));
      return 1;
    }
    if (status < 200) {
      // 1xx informational (103 Early Hints, a stray 100): skipped, the final response follows
      this.informational = true;
      return 1;
    }
    // An upstream that answers before the request is all sent may never read the rest of it: what
    // it left unread would be taken for the next request, so the connection is not used again.
    this.keepAlive = keepAlive && ex.requestEnded;
    ex.responded = true;
    ex.h.response(status, raw);
    return ex.o.method === 'HEAD' ? 1 : 0;
  }

  private onComplete(): void {
    // Trailer fields arrive through kOnHeaders just before this; they are not relayed and must not
    // be mistaken for the next response's head.
    this.headerParts = undefined;
    if (this.informational) {
      this.informational = false;
      return;
    }
    const ex = this.ex;
    if (ex === undefined || ex.finished) return;
    this.ex = undefined;
    // Reusable only when both directions are complete and the upstream agreed to keep it open.
    const reusable = this.keepAlive && ex.requestEnded && !this.dead;
    if (reusable) this.pool.release(this);
    else this.destroy();
    ex.conclude(() => ex.h.end());
  }

  private onData(d: Buffer): void {
    const r = this.parser.execute(d);
    if (r instanceof Error) this.fail(r as NodeJS.ErrnoException);
  }

  private onRead(n: number, buf: Uint8Array): boolean {
    if (this.dead) return false;
    this.onData((buf as Buffer).subarray(0, n));
    return true;
  }

  /**
   * An exchange's inactivity limit (0: none) on the socket's own timer, armed only by an exchange
   * with its own idle timeout; between exchanges the pool's sweep watches.
   */
  exchangeIdleTimeout(ms: number): void {
    if (ms > 0 || (this.socket.timeout ?? 0) > 0) this.socket.setTimeout(ms);
  }

  private onEnd(): void {
    // A response framed by the connection's end completes here.
    if (this.ex !== undefined && this.ex.responded) {
      const r = this.parser.finish();
      if (r instanceof Error) {
        this.fail(r as NodeJS.ErrnoException);
        return;
      }
    }
    this.fail(fault('ECONNRESET', 'socket hang up'));
  }

  private onTimeout(): void {
    const ex = this.ex;
    if (ex === undefined) {
      this.destroy();
      return;
    }
    this.ex = undefined;
    this.destroy();
    ex.conclude(() => ex.h.timeout());
  }

  /** The connection failed: the running exchange (if any) gets the error, the connection is gone. */
  fail(err: NodeJS.ErrnoException): void {
    const ex = this.ex;
    this.ex = undefined;
    this.destroy();
    ex?.conclude(() => ex.h.error(err));
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.pool.forget(this);
    this.socket.destroy();
    // The native parser may be on the stack (this runs from its callbacks): free it once that unwinds.
    setImmediate(closeParser, this.parser);
  }
}

export interface PoolOptions {
  /** Connections per endpoint (circuit breaker max_connections); more requests wait in line. */
  readonly maxConnections: number;
  /** Idle connections kept per endpoint. */
  readonly maxIdle: number;
  /** An idle connection is closed after this long. */
  readonly idleMs: number;
  /** TLS origination (https clusters); undefined = cleartext. */
  readonly tlsOptions: tls.ConnectionOptions | undefined;
}

interface EndpointConnections {
  open: number;
  readonly idle: UpstreamConnection[];
  readonly waiting: UpstreamExchange[];
}

/** The keep-alive connections of one cluster, per endpoint: LIFO reuse, bounded, with a wait line. */
export class UpstreamConnectionPool {
  /** Last TLS session per endpoint, for resumption. */
  readonly tlsSessions = new Map<string, Buffer>();
  private readonly o: PoolOptions;
  private readonly byEndpoint = new Map<string, EndpointConnections>();
  private readonly all = new Set<UpstreamConnection>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(o: PoolOptions) {
    this.o = o;
  }

  get tlsOptions(): tls.ConnectionOptions | undefined {
    return this.o.tlsOptions;
  }

  private slot(key: string): EndpointConnections {
    let s = this.byEndpoint.get(key);
    if (s === undefined) {
      s = { open: 0, idle: [], waiting: [] };
      this.byEndpoint.set(key, s);
    }
    return s;
  }

  /**
   * Start an exchange; its head goes out as soon as a connection is free. `fresh`: not on an idle
   * pooled connection (a new one, or the next one released while at the limit).
   */
  request(ep: UpstreamEndpoint, o: ExchangeOptions, h: ExchangeHandlers, fresh = false): UpstreamExchange {
    const ex = new UpstreamExchange(this, ep, o, h);
    if (this.closed) {
      queueMicrotask(() => ex.conclude(() => h.error(fault('ECONNRESET', 'upstream pool closed'))));
      return ex;
    }
    const s = this.slot(ep.key);
    let c = fresh ? undefined : s.idle.pop();
    while (c !== undefined && (c.dead || c.socket.destroyed)) c = s.idle.pop();
    if (c !== undefined) {
      this.assign(c, ex, true);
      return ex;
    }
    if (s.open < this.o.maxConnections) {
      this.assign(this.open(ep, s, o.connectTimeoutMs), ex, false);
      return ex;
    }
    s.waiting.push(ex);
    return ex;
  }

  private open(ep: UpstreamEndpoint, s: EndpointConnections, connectTimeoutMs: number): UpstreamConnection {
    s.open++;
    const c = new UpstreamConnection(this, ep, connectTimeoutMs);
    this.all.add(c);
    return c;
  }

  private assign(c: UpstreamConnection, ex: UpstreamExchange, reused: boolean): void {
    c.ex = ex;
    if (reused) {
      c.socket.ref();
      c.socket.resume();
    }
    ex.start(c, reused);
  }

  /** A finished exchange hands its connection back: to the next in line, else to the idle list. */
  release(c: UpstreamConnection): void {
    const s = this.slot(c.ep.key);
    if (this.closed) {
      c.destroy();
      return;
    }
    const next = s.waiting.shift();
    if (next !== undefined) {
      this.assign(c, next, true);
      return;
    }
    if (s.idle.length >= this.o.maxIdle) {
      c.destroy();
      return;
    }
    c.exchangeIdleTimeout(0);
    c.idleSince = Date.now();
    // an idle pooled connection must not keep a drained generation's process alive
    c.socket.unref();
    s.idle.push(c);
    if (this.sweepTimer === undefined) {
      // an eighth of the timeout late at most, and rarely for long timeouts (many clusters, many pools)
      this.sweepTimer = setInterval(() => this.closeIdle(), Math.max(25, Math.min(10_000, Math.floor(this.o.idleMs / 8))));
      this.sweepTimer.unref();
    }
  }

  /**
   * Idle connections past idleMs are closed: one coarse sweep for the pool rather than a socket timer
   * set and cleared around every exchange.
   */
  private closeIdle(): void {
    const now = Date.now();
    let left = 0;
    for (const s of this.byEndpoint.values()) {
      for (const c of s.idle.slice()) {
        if (now - c.idleSince >= this.o.idleMs) c.destroy();
        else left++;
      }
    }
    if (left === 0) this.stopSweep();
  }

  private stopSweep(): void {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  /** A connection closed: count it out, and open a fresh one for whoever waits. */
  forget(c: UpstreamConnection): void {
    if (!this.all.delete(c)) return;
    const s = this.slot(c.ep.key);
    s.open--;
    const i = s.idle.indexOf(c);
    if (i >= 0) s.idle.splice(i, 1);
    if (this.closed) return;
    const next = s.waiting.shift();
    if (next !== undefined) this.assign(this.open(next.ep, s, next.o.connectTimeoutMs), next, false);
  }

  dequeue(ex: UpstreamExchange): void {
    const s = this.byEndpoint.get(ex.ep.key);
    if (s === undefined) return;
    const i = s.waiting.indexOf(ex);
    if (i >= 0) s.waiting.splice(i, 1);
  }

  /** Close every connection, idle or busy (the runtime has drained or hit its deadline). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopSweep();
    for (const s of this.byEndpoint.values()) {
      for (const ex of s.waiting.splice(0)) ex.destroy();
    }
    for (const c of [...this.all]) c.fail(fault('ECONNRESET', 'upstream pool closed'));
  }
}
