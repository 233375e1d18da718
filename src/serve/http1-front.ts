// HTTP/1.1 client connections served straight from Node's llhttp parser (the one node:http uses):
// one parser per connection, requests handed to the gateway one at a time, responses framed here.

import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { RESUME_HTTP } from '../dataplane/websocket-tunnel.js';
import { ON_RESPONSE_CLOSE } from '../dataplane/response-close.js';
import { HTTPParser, METHODS, closeParser, codedError, fieldError, type LlhttpParser, type StreamHandle, LLHTTP_SUPPORT, PARSER_SLOTS } from '../dataplane/llhttp.js';
import { SlotList } from '../dataplane/slot-list.js';

/**
 * Why not http.Server: per request it builds an IncomingMessage and a ServerResponse (two full
 * streams), a headers object, and a chain of stream and event callbacks; measured on a proxied
 * request, leaving them out saves about a tenth of the gateway's CPU per request. The parser is the
 * same llhttp, in strict mode, with the same header-size limit, and it reads the socket's handle
 * itself as node:http's does (about 5% more throughput than reading through the socket's stream).
 * What this module adds is the connection's life (keep-alive, pipelining in order, 100-continue,
 * timeouts, errors) and response framing, both small and both tested at the byte level.
 */

const { kOnMessageBegin, kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete, kOnExecute } = PARSER_SLOTS;
/** The parser can read a socket's handle itself; otherwise (or for a handle of another shape) it reads the socket's stream. */
const DIRECT_READ = LLHTTP_SUPPORT.directRead === undefined;

/** The limits a connection reads on each event (a kept listener picks up a new configuration). */
export interface FrontLimits {
  /** Request line and headers must arrive within this (408 otherwise). */
  headersTimeoutMs: number;
  /** The whole request (headers and body) must arrive within this. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** No byte read or written for this long closes the connection (0: never). */
  idleTimeoutMs: number;
  maxHeaderBytes: number;
  /** Responses per connection before it closes (0: unlimited). */
  maxRequestsPerConnection: number;
}

/**
 * Where requests go. FrontRequest and FrontResponse offer the part of IncomingMessage and
 * ServerResponse the request path uses (HTTP/2 compat objects arrive through the same door).
 */
export interface FrontHandlers {
  request(req: IncomingMessage, res: ServerResponse): void;
  /** An Upgrade request (not CONNECT): the socket is the caller's from here on. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/** Coarse clock for activity stamps, advanced by the sweep: a syscall-free store per read and write. */
let coarseNow = Date.now();

/** node:http's choice for fields repeated in a request: keep the first, or join. */
const FIRST_WINS = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent',
]);

let cachedDate = '';
let cachedDateSecond = 0;
/** The Date field's value, formatted once a second. */
export function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== cachedDateSecond) {
    cachedDateSecond = s;
    cachedDate = new Date(now).toUTCString();
  }
  return cachedDate;
}

const EMPTY_HEADERS: string[] = [];
/** Bodies up to this size are copied behind their head and written with it as one buffer. */
const ONE_BUFFER_BODY = 16 * 1024;
/** Body bytes a request holds for a consumer that is not reading, before the socket stops being read. */
const BODY_BUFFER = { highWaterMark: 64 * 1024 };

/**
 * Head, body and chunk framing as one buffer (head and tail are latin1: fieldError admits nothing
 * above 0xff). Copying a few KiB costs less than the writev a string and a buffer take.
 */
function joinedWrite(head: string, body: Buffer, tail: string): Buffer {
  const joined = Buffer.allocUnsafe(head.length + body.length + tail.length);
  joined.write(head, 0, head.length, 'latin1');
  body.copy(joined, head.length);
  if (tail !== '') joined.write(tail, head.length + body.length, tail.length, 'latin1');
  return joined;
}

/**
 * A request as the gateway reads it: the fields node:http's IncomingMessage offers that the request
 * path uses, and the body as a Readable (flow control reaches the socket: a paused body stops reads).
 */
export class FrontRequest extends Readable {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly socket: Socket;
  complete = false;
  private headersObject: Record<string, string | string[]> | undefined;

  constructor(readonly conn: FrontConnection, method: string, url: string, raw: string[], major: number, minor: number) {
    super(BODY_BUFFER);
    this.method = method;
    this.url = url;
    this.rawHeaders = raw;
    this.httpVersionMajor = major;
    this.httpVersionMinor = minor;
    this.socket = conn.socket;
  }

  get httpVersion(): string {
    return `${this.httpVersionMajor}.${this.httpVersionMinor}`;
  }

  /** Built on first use: the proxied path reads rawHeaders and rarely needs this. */
  get headers(): Record<string, string | string[]> {
    if (this.headersObject !== undefined) return this.headersObject;
    const h: Record<string, string | string[]> = {};
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as string).toLowerCase();
      const value = raw[i + 1] as string;
      const prev = h[name];
      if (prev === undefined) h[name] = name === 'set-cookie' ? [value] : value;
      else if (name === 'set-cookie') (prev as string[]).push(value);
      else if (FIRST_WINS.has(name)) continue;
      else h[name] = `${prev as string}${name === 'cookie' ? '; ' : ', '}${value}`;
    }
    this.headersObject = h;
    return h;
  }

  /** The body's end, once the parser saw it; pushed when someone reads (most requests have no body and no reader). */
  endPending = false;

  /** The consumer wants more body: let the socket be read again. */
  override _read(): void {
    if (this.endPending) {
      this.endPending = false;
      this.push(null);
      return;
    }
    this.conn.bodyWanted(this);
  }
}

/**
 * A response as the gateway writes it: writeHead with a flat field list or an object, write and end
 * with flow control ('drain'), 'close' once it is over (writableFinished says whether it completed).
 */
export class FrontResponse extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  /** false: the connection closes after this response (drain, overload, the client asked). */
  shouldKeepAlive: boolean;
  socket: Socket | null;
  private readonly head: boolean;
  private hasBody = true;
  private chunked = false;
  /** Head text waiting to go out with the first body bytes (one write, as node:http does). */
  private pendingHead: string | undefined;
  private extra: string[] | undefined;
  private trailers: string | undefined;
  private closed = false;
  /** Run when the response is over, before its 'close' event (see whenResponseCloses). */
  private closeHooks: (() => void)[] | undefined;

  constructor(readonly req: FrontRequest, private readonly conn: FrontConnection, keepAlive: boolean) {
    super();
    this.socket = conn.socket;
    this.head = req.method === 'HEAD';
    this.shouldKeepAlive = keepAlive;
  }

  setHeader(name: string, value: string | number | readonly string[]): this {
    if (this.headersSent) throw codedError('ERR_HTTP_HEADERS_SENT', 'Cannot set headers after they are sent to the client');
    const list = (this.extra ??= []);
    for (let i = list.length - 2; i >= 0; i -= 2) if ((list[i] as string).toLowerCase() === name.toLowerCase()) list.splice(i, 2);
    if (Array.isArray(value)) for (const v of value) list.push(name, String(v));
    else list.push(name, String(value));
    return this;
  }

  writeHead(status: number, headers?: readonly string[] | Readonly<Record<string, string | number | readonly string[] | undefined>>): this {
    if (this.headersSent) throw codedError('ERR_HTTP_HEADERS_SENT', 'Cannot write headers after they are sent to the client');
    const flat = headers === undefined ? EMPTY_HEADERS : Array.isArray(headers) ? headers as readonly string[] : flatten(headers as Record<string, string | number | readonly string[] | undefined>);
    this.statusCode = status;
    this.storeHead(status, flat);
    return this;
  }

  addTrailers(trailers: Readonly<Record<string, string>>): void {
    let t = '';
    for (const k of Object.keys(trailers)) {
      const v = String(trailers[k]);
      const bad = fieldError(k, v);
      if (bad !== null) throw bad;
      t += `${k}: ${v}\r\n`;
    }
    this.trailers = (this.trailers ?? '') + t;
  }

  private storeHead(status: number, flat: readonly string[]): void {
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    let length = false;
    let te = false;
    let date = false;
    let connection: string | undefined;
    const add = (list: readonly string[], skip: readonly string[] | undefined): void => {
      for (let i = 0; i < list.length; i += 2) {
        const name = list[i] as string;
        const value = list[i + 1] as string;
        if (skip !== undefined && hasField(skip, name)) continue;
        // the checks node:http applies before it writes a head (a relayed CR/LF would split it)
        const bad = fieldError(name, value);
        if (bad !== null) throw bad;
        // Framing and connection fields decide how the body goes out: spot them by length first.
        const n = name.length;
        if (n === 14 || n === 17 || n === 10 || n === 4) {
          const lower = name.toLowerCase();
          if (lower === 'content-length') length = true;
          else if (lower === 'transfer-encoding') te = true;
          else if (lower === 'connection') connection = value.toLowerCase();
          else if (lower === 'date') date = true;
        }
        text += `${name}: ${value}\r\n`;
      }
    };
    add(flat, undefined);
    if (this.extra !== undefined) add(this.extra, flat);
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) this.hasBody = false;
    const bodyAllowed = this.hasBody && !this.head;
    if (this.hasBody && !length && !te) {
      // HTTP/1.1 clients get chunks; an HTTP/1.0 client reads to the close.
      if (this.req.httpVersionMinor >= 1 && this.req.httpVersionMajor === 1) {
        this.chunked = bodyAllowed;
        text += 'transfer-encoding: chunked\r\n';
      } else this.shouldKeepAlive = false;
    } else if (te && bodyAllowed) this.chunked = true;
    if (connection !== undefined && connection.includes('close')) this.shouldKeepAlive = false;
    if (this.shouldKeepAlive && !this.conn.mayKeepAlive()) this.shouldKeepAlive = false;
    if (connection === undefined) {
      text += this.shouldKeepAlive ? `connection: keep-alive\r\nkeep-alive: timeout=${Math.floor(this.conn.front.limits.keepAliveTimeoutMs / 1000)}\r\n` : 'connection: close\r\n';
    }
    if (!date) text += `date: ${httpDate()}\r\n`;
    if (this.head) this.hasBody = false;
    this.pendingHead = `${text}\r\n`;
    this.headersSent = true;
  }

  write(chunk: Buffer | string, cb?: () => void): boolean {
    if (this.writableEnded || this.socket === null) return false;
    if (!this.headersSent) this.storeHead(this.statusCode, EMPTY_HEADERS);
    return this.send(chunk, false, cb);
  }

  end(chunk?: Buffer | string | (() => void), cb?: () => void): this {
    if (typeof chunk === 'function') {
      cb = chunk;
      chunk = undefined;
    }
    if (this.writableEnded) return this;
    if (!this.headersSent) {
      const flat = chunk !== undefined && chunk.length > 0 ? ['content-length', String(typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length)] : ['content-length', '0'];
      this.storeHead(this.statusCode, flat);
    }
    this.writableEnded = true;
    if (this.socket === null || this.socket.destroyed) {
      this.conn.responseOver(this, false);
      return this;
    }
    this.send(chunk ?? '', true, cb);
    return this;
  }

  /**
   * One socket write for head, body bytes and chunk framing where possible. The response is over
   * once its last bytes are queued on the socket (in order before anything a later response writes):
   * no empty write and callback per response just to learn that.
   */
  private send(chunk: Buffer | string, last: boolean, cb: (() => void) | undefined): boolean {
    const socket = this.socket!;
    this.conn.lastActivity = coarseNow;
    let head = this.pendingHead;
    this.pendingHead = undefined;
    const size = this.hasBody ? (typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length) : 0;
    const writeCb = last ? undefined : cb;
    let ok = true;
    if (this.chunked) {
      let tail = '';
      if (size > 0) {
        head = `${head ?? ''}${size.toString(16)}\r\n`;
        tail = '\r\n';
      }
      if (last) tail += `0\r\n${this.trailers ?? ''}\r\n`;
      if (size === 0) ok = socket.write(`${head ?? ''}${tail}`, 'latin1', writeCb);
      else if (typeof chunk === 'string') ok = socket.write(`${head}${chunk}${tail}`, 'utf8', writeCb);
      else if (size <= ONE_BUFFER_BODY) ok = socket.write(joinedWrite(head!, chunk, tail), writeCb);
      else {
        socket.cork();
        socket.write(head!, 'latin1');
        ok = socket.write(chunk, tail === '' ? writeCb : undefined);
        if (tail !== '') ok = socket.write(tail, 'latin1', writeCb);
        socket.uncork();
      }
    } else if (size === 0) {
      if (head !== undefined) ok = socket.write(head, 'latin1', writeCb);
      else if (writeCb !== undefined) process.nextTick(writeCb);
    } else if (typeof chunk === 'string') {
      ok = socket.write(head === undefined ? chunk : `${head}${chunk}`, 'utf8', writeCb);
    } else if (head !== undefined && size <= ONE_BUFFER_BODY) {
      ok = socket.write(joinedWrite(head, chunk, ''), writeCb);
    } else if (head !== undefined) {
      socket.cork();
      socket.write(head, 'latin1');
      ok = socket.write(chunk, writeCb);
      socket.uncork();
    } else ok = socket.write(chunk, writeCb);
    if (last) {
      if (cb !== undefined) process.nextTick(cb);
      this.conn.responseOver(this, true);
      return ok;
    }
    if (!ok) this.conn.awaitDrain(this);
    return ok;
  }

  /** Abort: the client sees the connection reset, never a truncated response that looks complete. */
  destroy(): void {
    this.socket?.destroy();
  }

  [ON_RESPONSE_CLOSE](fn: () => void): void {
    if (!this.closed) (this.closeHooks ??= []).push(fn);
  }

  /** Called once by the connection: completed (written out) or cut short (socket gone). */
  over(completed: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.writableFinished = completed;
    this.socket = null;
    if (completed) this.emit('finish');
    const hooks = this.closeHooks;
    if (hooks !== undefined) {
      this.closeHooks = undefined;
      for (const fn of hooks) fn();
    }
    this.emit('close');
  }
}

function hasField(list: readonly string[], name: string): boolean {
  const lower = name.toLowerCase();
  for (let i = 0; i < list.length; i += 2) if ((list[i] as string).toLowerCase() === lower) return true;
  return false;
}

function flatten(o: Readonly<Record<string, string | number | readonly string[] | undefined>>): string[] {
  const out: string[] = [];
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(k, String(x));
    else out.push(k, String(v));
  }
  return out;
}

const enum Phase {
  /** Connected or between requests, before a request's first byte. */
  Waiting,
  /** A request line or its headers are arriving. */
  Headers,
  /** Headers complete; the body (if any) is arriving or being answered. */
  Active,
}

/** Requests parsed ahead of their turn (pipelining) before the socket stops being read. */
const MAX_PIPELINED = 16;

const ERROR_RESPONSES: Record<string, string> = {
  HPE_HEADER_OVERFLOW: 'HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'HTTP/1.1 413 Payload Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n',
  timeout: 'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n',
};
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n';

/** The raw reply that ends a connection after a parse error or a deadline (the node:http fallback writes the same). */
export function frontErrorResponse(code: string | undefined): string {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return ERROR_RESPONSES.timeout!;
  return ERROR_RESPONSES[code ?? ''] ?? BAD_REQUEST;
}

interface Pending {
  req: FrontRequest;
  res: FrontResponse;
}

/** One client connection: its parser, the request being parsed, the one being answered, and those waiting. */
export class FrontConnection {
  readonly parser: LlhttpParser;
  phase = Phase.Waiting;
  phaseSince = coarseNow;
  lastActivity = coarseNow;
  served = 0;
  /** The request whose headers and body the parser is reading. */
  private parsing: FrontRequest | undefined;
  /** The exchange being answered; the others wait in order. */
  private current: Pending | undefined;
  private readonly waiting: Pending[] = [];
  /** Fields of a header section longer than one parser callback (llhttp hands them over in batches). */
  private partialHeaders: string[] | undefined;
  private partialUrl = '';
  private upgradeRequest: FrontRequest | undefined;
  /** An error response owed to a broken pipelined request, sent after the response under way. */
  private pendingError: string | undefined;
  private readingPaused = false;
  private closing = false;
  /**
   * The socket's handle when the parser reads it directly (as node:http does): no Buffer, stream push
   * and next-tick per read. Bytes already in the socket's stream buffer still arrive through 'data'.
   */
  private consumed: StreamHandle | undefined;
  private drainWaiter: FrontResponse | undefined;
  private readonly onData = (d: Buffer): void => this.data(d);
  private readonly onDrain = (): void => {
    const w = this.drainWaiter;
    this.drainWaiter = undefined;
    w?.emit('drain');
  };
  private readonly onClose = (): void => this.closed();

  constructor(readonly front: Http1Front, readonly socket: Socket) {
    const p = new HTTPParser();
    p.initialize(HTTPParser.REQUEST, {}, front.limits.maxHeaderBytes, HTTPParser.kLenientNone);
    p[kOnMessageBegin] = () => {
      this.phase = Phase.Headers;
      this.phaseSince = coarseNow;
    };
    p[kOnHeaders] = (headers: string[], url: string) => {
      (this.partialHeaders ??= []).push(...headers);
      this.partialUrl += url;
    };
    p[kOnHeadersComplete] = (major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, _s: unknown, _m: unknown, upgrade: boolean, keepAlive: boolean) =>
      this.headersComplete(major, minor, headers, method, url, upgrade, keepAlive);
    p[kOnBody] = (b: Buffer) => this.body(b);
    p[kOnMessageComplete] = () => this.messageComplete();
    this.parser = p;
    socket.on('data', this.onData);
    const handle = (socket as unknown as { _handle?: StreamHandle | null })._handle;
    if (DIRECT_READ && handle?.isStreamBase === true && handle._consumed !== true && typeof handle.readStart === 'function') {
      handle._consumed = true;
      p.consume(handle);
      p[kOnExecute] = (r: number | Error) => this.executed(r);
      this.consumed = handle;
    }
    socket.on('drain', this.onDrain);
    socket.once('close', this.onClose);
  }

  /** Feed bytes (also the bytes an upgrade handed back). */
  data(d: Buffer): void {
    this.lastActivity = coarseNow;
    if (this.closing) return;
    this.parsed(this.parser.execute(d), d);
  }

  /** What the parser made of a read of the consumed handle. */
  private executed(r: number | Error): void {
    this.lastActivity = coarseNow;
    // bytes after the connection stopped being HTTP/1 (an error, a close on its way) are not parsed
    if (this.closing) return;
    this.parsed(r, undefined);
  }

  private parsed(r: number | Error, d: Buffer | undefined): void {
    if (r instanceof Error) {
      this.parseError(r as NodeJS.ErrnoException);
      return;
    }
    const up = this.upgradeRequest;
    if (up !== undefined) {
      this.upgradeRequest = undefined;
      if (this.current === undefined) this.handOver(up, (d ?? this.parser.getCurrentBuffer()).subarray(r));
      else {
        // an upgrade pipelined behind a response cannot take the socket: the connection ends after it
        this.closing = true;
        this.current.res.shouldKeepAlive = false;
      }
    }
  }

  private headersComplete(major: number, minor: number, headers: string[] | undefined, methodIndex: number, url: string | undefined, upgrade: boolean, keepAlive: boolean): number {
    let raw = headers ?? EMPTY_HEADERS;
    if (this.partialHeaders !== undefined) {
      raw = headers === undefined ? this.partialHeaders : this.partialHeaders.concat(headers);
      url = this.partialUrl + (url ?? '');
      this.partialHeaders = undefined;
      this.partialUrl = '';
    }
    const method = METHODS[methodIndex] ?? 'GET';
    this.phase = Phase.Active;
    const req = new FrontRequest(this, method, url ?? '', raw, major, minor);
    if (upgrade && method !== 'CONNECT') {
      // Parsing stops after this message; parsed() hands the socket over with what followed.
      this.upgradeRequest = req;
      return 2;
    }
    this.parsing = req;
    const res = new FrontResponse(req, this, keepAlive && !this.front.draining);
    if (this.current === undefined) this.start({ req, res });
    else {
      this.waiting.push({ req, res });
      if (this.waiting.length >= MAX_PIPELINED) this.pauseReading();
    }
    // CONNECT is answered as a request (405) and nothing after it is parsed.
    if (upgrade) {
      this.closing = true;
      res.shouldKeepAlive = false;
      return 2;
    }
    return 0;
  }

  private body(b: Buffer): void {
    const req = this.parsing;
    if (req === undefined || req.destroyed) return;
    // A consumer that stops reading stops the socket too (the rest waits in the kernel, not here).
    if (!req.push(b)) this.pauseReading();
  }

  private messageComplete(): void {
    const req = this.parsing;
    this.parsing = undefined;
    if (req !== undefined) {
      req.complete = true;
      // A body that was never read (or a request without one) ends when a reader asks: _read().
      if (req.readableFlowing === null && req.readableLength === 0) req.endPending = true;
      else if (!req.destroyed) req.push(null);
    }
    if (this.phase === Phase.Active && this.current === undefined) {
      this.phase = Phase.Waiting;
      this.phaseSince = coarseNow;
    }
  }

  private start(p: Pending): void {
    this.current = p;
    const { req, res } = p;
    this.served++;
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1) {
      const expect = expectValue(req.rawHeaders);
      if (expect !== undefined) {
        if (expect.toLowerCase() === '100-continue') this.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
        else {
          // an expectation we cannot meet: refused here, never forwarded; a body that follows is discarded
          res.writeHead(417, ['content-length', '0']).end();
          return;
        }
      }
    }
    this.front.handlers.request(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  }

  /** The response ended (written out, or the socket went away first). */
  responseOver(res: FrontResponse, completed: boolean): void {
    const cur = this.current;
    if (cur === undefined || cur.res !== res) {
      res.over(completed);
      return;
    }
    this.current = undefined;
    if (this.drainWaiter === res) this.drainWaiter = undefined;
    const req = cur.req;
    // Draining, a connection stays open only for requests already waiting behind this one.
    const keep = completed && res.shouldKeepAlive && !this.closing && (!this.front.draining || this.waiting.length > 0);
    res.over(completed);
    if (this.pendingError !== undefined && completed) {
      this.writeErrorAndClose(this.pendingError);
      return;
    }
    if (!keep) {
      this.closeAfterWrites();
      return;
    }
    // The rest of a body nobody needs any more is discarded as it arrives (as node:http does): its
    // readers are detached, so an upstream exchange never sees it end as if complete.
    if (!req.complete) {
      req.removeAllListeners('data');
      req.resume();
    }
    const next = this.waiting.shift();
    if (next !== undefined) {
      if (this.readingPaused && this.waiting.length < MAX_PIPELINED) this.resumeReading();
      this.start(next);
      return;
    }
    if (this.parsing === undefined) {
      this.phase = Phase.Waiting;
      this.phaseSince = coarseNow;
    }
    if (this.readingPaused) this.resumeReading();
  }

  /** Whether the next response may keep the connection open (draining and the per-connection cap say no). */
  mayKeepAlive(): boolean {
    if (this.front.draining || this.closing) return false;
    const max = this.front.limits.maxRequestsPerConnection;
    return max <= 0 || this.served < max;
  }

  awaitDrain(res: FrontResponse): void {
    this.drainWaiter = res;
  }

  /** A request body consumer wants more: read the socket again unless pipelining holds it. */
  bodyWanted(req: FrontRequest): void {
    if (req === this.parsing && this.readingPaused && this.waiting.length < MAX_PIPELINED) this.resumeReading();
  }

  private pauseReading(): void {
    if (this.readingPaused) return;
    this.readingPaused = true;
    this.socket.pause();
    const h = this.consumed;
    if (h !== undefined && h.reading === true) {
      h.reading = false;
      h.readStop();
    }
  }

  private resumeReading(): void {
    if (!this.readingPaused || this.closing) return;
    this.readingPaused = false;
    this.socket.resume();
    const h = this.consumed;
    if (h !== undefined && h.reading !== true && !this.socket.destroyed) {
      h.reading = true;
      h.readStart();
    }
  }

  /**
   * The socket goes to the upgrade handler, unread from here on. Bytes the client sends while the
   * upstream decides are held (in the socket's buffer and the kernel, bounded by the socket's
   * high-water mark and TCP's window), never read into nowhere: skipping them would let a request's
   * body be parsed as the next request's head. A 101 makes them the tunnel's first bytes; a refusal
   * gives the socket back with them to be parsed in order as HTTP, which is what HTTP/1.1 says a
   * connection that was not upgraded carries (and what HARDENING case 35 asks: it stays HTTP); a
   * local reply closes the connection, and they are never parsed. Closing after every refusal would
   * be as safe; holding keeps the connection of a client that pipelined behind its upgrade.
   */
  private handOver(req: FrontRequest, head: Buffer): void {
    this.detach();
    this.releaseParser();
    const socket = this.socket;
    socket.pause();
    (socket as unknown as Record<symbol, unknown>)[RESUME_HTTP] = (rest: Buffer): void => {
      (socket as unknown as Record<symbol, unknown>)[RESUME_HTTP] = undefined;
      this.front.accept(socket, rest);
    };
    this.front.handlers.upgrade(req as unknown as IncomingMessage, socket, head);
  }

  private parseError(err: NodeJS.ErrnoException): void {
    // Nothing after a framing error can be trusted: the connection ends with a 400 (or 431, 413).
    this.closing = true;
    const response = ERROR_RESPONSES[err.code ?? ''] ?? BAD_REQUEST;
    const req = this.parsing;
    this.parsing = undefined;
    const cur = this.current;
    if (cur === undefined) {
      req?.destroy();
      this.writeErrorAndClose(response);
    } else if (cur.req === req) {
      // The request being answered has a broken body: its response (and upstream exchange) is abandoned.
      if (cur.res.headersSent) {
        this.socket.destroy();
        return;
      }
      this.current = undefined;
      req.destroy();
      cur.res.over(false);
      this.writeErrorAndClose(response);
    } else {
      // A pipelined request is broken: the one being answered finishes first, then the error goes out.
      req?.destroy();
      this.pendingError = response;
      cur.res.shouldKeepAlive = false;
      this.waiting.length = 0;
      this.pauseReading();
    }
  }

  private writeErrorAndClose(response: string): void {
    this.closing = true;
    this.current = undefined;
    if (this.socket.writable) {
      this.socket.write(response, 'latin1');
      endThenDestroy(this.socket);
    } else this.socket.destroy();
    this.detach();
  }

  /** End the socket once what was written is out. */
  private closeAfterWrites(): void {
    this.closing = true;
    this.detach();
    endThenDestroy(this.socket);
  }

  /** Deadlines, checked by the front's sweep; a request or connection past its own closes. */
  sweep(now: number): void {
    const l = this.front.limits;
    if (this.phase === Phase.Waiting && this.current === undefined) {
      const limit = this.served === 0 ? l.headersTimeoutMs : l.keepAliveTimeoutMs;
      if (limit > 0 && now - this.phaseSince >= limit) {
        this.closeNow(this.served === 0 ? ERROR_RESPONSES.timeout : undefined);
        return;
      }
    }
    if (this.phase === Phase.Headers && l.headersTimeoutMs > 0 && now - this.phaseSince >= l.headersTimeoutMs) {
      this.closeNow(this.current === undefined ? ERROR_RESPONSES.timeout : undefined);
      return;
    }
    if (this.parsing !== undefined && l.requestTimeoutMs > 0 && now - this.phaseSince >= l.requestTimeoutMs) {
      // the handler owns the response of a request whose body is late: the connection just ends
      this.socket.destroy();
      return;
    }
    if (l.idleTimeoutMs > 0 && now - this.lastActivity >= l.idleTimeoutMs) this.socket.destroy();
  }

  private closeNow(response: string | undefined): void {
    if (response !== undefined && this.current === undefined) this.writeErrorAndClose(response);
    else this.socket.destroy();
  }

  /** Drain: a connection between requests closes now; one serving a request closes after it. */
  closeIfIdle(): void {
    if (this.current !== undefined || this.parsing !== undefined || this.upgradeRequest !== undefined) return;
    this.socket.destroy();
  }

  /** Stop reading and answering: what follows on the socket is not this connection's to parse. */
  private detach(): void {
    const s = this.socket;
    s.off('data', this.onData);
    s.off('drain', this.onDrain);
    this.front.forget(this);
    const h = this.consumed;
    if (h !== undefined) {
      // reads go back to the socket's stream (an upgraded connection's new owner reads 'data')
      this.consumed = undefined;
      this.parser.unconsume();
      h._consumed = false;
    }
    if (this.readingPaused) {
      this.readingPaused = false;
      s.resume();
    }
  }

  private closed(): void {
    this.closing = true;
    this.detach();
    const req = this.parsing;
    this.parsing = undefined;
    const cur = this.current;
    this.current = undefined;
    if (cur !== undefined) {
      if (!cur.req.complete) cur.req.destroy();
      cur.res.over(false);
    }
    if (req !== undefined && req !== cur?.req) req.destroy();
    this.waiting.length = 0;
    this.releaseParser();
  }

  /** The parser's native half is freed once the current parse has unwound (as node:http does). */
  private releaseParser(): void {
    this.socket.off('close', this.onClose);
    setImmediate(closeParser, this.parser);
  }
}

/** Send FIN after what is queued, then let go of the socket (a client that never closes its side cannot hold it). */
function endThenDestroy(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.writable) socket.end();
  if (socket.writableFinished) socket.destroy();
  else socket.once('finish', () => socket.destroy());
}

function expectValue(raw: readonly string[]): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as string;
    if (n.length === 6 && n.toLowerCase() === 'expect') return raw[i + 1];
  }
  return undefined;
}

/** Serves every HTTP/1.x connection of one port; the sweep enforces the deadlines of all of them. */
export class Http1Front {
  limits: FrontLimits;
  draining = false;
  private readonly connections = new SlotList<FrontConnection>();
  private timer: NodeJS.Timeout | undefined;

  constructor(limits: FrontLimits, readonly handlers: FrontHandlers, private readonly sweepEveryMs: number) {
    this.limits = limits;
  }

  /** Serve `socket` as HTTP/1.x; `head` holds bytes already read from it. */
  accept(socket: Socket, head?: Buffer): void {
    const c = new FrontConnection(this, socket);
    this.connections.add(c);
    if (this.timer === undefined) {
      coarseNow = Date.now();
      this.timer = setInterval(() => this.sweep(), this.sweepEveryMs);
      this.timer.unref();
    }
    if (head !== undefined && head.length > 0) c.data(head);
    if (socket.isPaused()) socket.resume();
  }

  forget(c: FrontConnection): void {
    this.connections.delete(c);
  }

  private sweep(): void {
    coarseNow = Date.now();
    if (this.connections.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    for (const c of this.connections.snapshot()) c.sweep(coarseNow);
  }

  closeIdleConnections(): void {
    for (const c of this.connections.snapshot()) c.closeIfIdle();
  }

  closeAllConnections(): void {
    for (const c of this.connections.snapshot()) c.socket.destroy();
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
