// HTTP/2 requests served from node:http2's core stream API: one light request and response over
// each Http2Stream, in place of the compatibility layer's Http2ServerRequest and Http2ServerResponse.

import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import type { IncomingHttpHeaders } from 'node:http';
import http2, { type IncomingHttpHeaders as Http2Headers, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { ON_RESPONSE_CLOSE } from '../dataplane/response-close.js';
import { httpDate } from './http1-front.js';

/*
 * Why: per request, the compatibility layer builds two full streams and a headers object, copies
 * every response field through setHeader/removeHeader with its checks, and always holds the stream
 * open for trailers (one more frame per response). Measured under h2load, that was most of the
 * difference between an HTTP/2 and an HTTP/1.1 request's CPU. What the request path reads and calls
 * is small (FrontRequest and FrontResponse in http1-front.ts are the same surface for HTTP/1.1).
 */

const { NGHTTP2_INTERNAL_ERROR } = http2.constants;

/** Fields that describe a connection, not a message: not allowed in HTTP/2 (RFC 9113 §8.2.2), dropped. */
const CONNECTION_FIELDS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'http2-settings']);

const BODY_BUFFER = { highWaterMark: 64 * 1024 };

/**
 * Fields node:http2 refuses to send more than once (it throws ERR_HTTP2_HEADER_SINGLE_VALUE): from an
 * upstream that repeats one, the first value is kept, as a response with one such field is what HTTP means.
 */
const SINGLE_VALUE_FIELDS = new Set([
  'access-control-allow-credentials', 'access-control-max-age', 'access-control-request-method', 'age', 'authorization',
  'content-encoding', 'content-language', 'content-length', 'content-location', 'content-md5', 'content-range',
  'content-type', 'date', 'dnt', 'etag', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match',
  'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'range',
  'referer', 'retry-after', 'tk', 'upgrade-insecure-requests', 'user-agent', 'x-content-type-options',
]);

/** RFC 9110 token characters: what node:http's validateHeaderName accepts. */
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
/** What node:http's validateHeaderValue refuses: controls other than HTAB (CR and LF would split a message). */
const INVALID_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

/*
 * The checks of node:http's validateHeaderName and validateHeaderValue with the same error codes
 * (the request path reads err.code), without their wrappers: they run for every response field.
 */
function checkName(name: string): void {
  if (!TOKEN.test(name)) throw Object.assign(new TypeError(`Header name must be a valid HTTP token ["${name}"]`), { code: 'ERR_INVALID_HTTP_TOKEN' });
}

function checkValue(name: string, value: string): void {
  if (INVALID_VALUE_CHAR.test(value)) throw Object.assign(new TypeError(`Invalid character in header content ["${name}"]`), { code: 'ERR_INVALID_CHAR' });
}

/**
 * Field names already checked, as sent → lowercased ('' for a connection field, which is dropped):
 * an upstream sends the same few names on every response. Bounded in count and name length, so
 * an upstream inventing names cannot grow it.
 */
const FIELD_NAMES = new Map<string, string>();
const FIELD_NAMES_MAX = 512;
const FIELD_NAME_CACHED_LENGTH = 64;

function fieldName(name: string): string {
  const known = FIELD_NAMES.get(name);
  if (known !== undefined) return known;
  const n = name.toLowerCase();
  checkName(n);
  const out = CONNECTION_FIELDS.has(n) ? '' : n;
  if (FIELD_NAMES.size < FIELD_NAMES_MAX && name.length <= FIELD_NAME_CACHED_LENGTH) FIELD_NAMES.set(name, out);
  return out;
}

/**
 * The connection's own socket, kept on its session by the edge (edge-protocols.ts). A session's
 * `socket` is a Proxy that binds every method it hands out: the request path reads the client's
 * address and TLS state from it for every request. Nothing on the request path writes to or ends
 * req.socket (for HTTP/2 that would end every stream of the connection).
 */
export const SESSION_SOCKET = Symbol('portico.sessionSocket');

/** The response of each stream that reached the request path. */
const RESPONSE = Symbol('portico.h2Response');

/**
 * Called by the session guard's 'close' listener, the one every stream has (h2-session-guard.ts):
 * one listener per stream, not two, and no per-stream closure.
 */
export function responseStreamClosed(stream: ServerHttp2Stream): void {
  (stream as unknown as { [RESPONSE]: H2Response | undefined })[RESPONSE]?.streamClosed();
}

/** A request as the gateway reads it: IncomingMessage's fields the request path uses, the body as a Readable. */
export class H2Request extends Readable {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  readonly headers: IncomingHttpHeaders;
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;
  readonly httpVersion = '2.0';
  readonly socket: Socket;
  complete = false;
  private flowing = false;

  constructor(
    readonly stream: ServerHttp2Stream,
    headers: Http2Headers,
    rawHeaders: string[],
  ) {
    super(BODY_BUFFER);
    this.headers = headers as IncomingHttpHeaders;
    this.rawHeaders = rawHeaders;
    this.method = String(headers[':method'] ?? 'GET');
    this.url = String(headers[':path'] ?? '');
    const session = stream.session!;
    this.socket = (session as unknown as { [SESSION_SOCKET]: Socket | undefined })[SESSION_SOCKET] ?? (session.socket as Socket);
    // The end of a bodiless request is pushed when someone reads (most requests have no body and no reader).
    if (stream.endAfterHeaders) this.complete = true;
  }

  override _read(): void {
    if (this.complete) {
      this.push(null);
      return;
    }
    if (!this.flowing) {
      // The body is read from the stream only once someone reads it: a request nobody reads keeps
      // HTTP/2 flow control closed for it, as the compatibility layer does.
      this.flowing = true;
      const s = this.stream;
      s.on('data', (c: Buffer) => {
        if (!this.push(c)) s.pause();
      });
      s.once('end', () => {
        this.complete = true;
        this.push(null);
      });
    }
    this.stream.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // A body read to its end destroys this Readable (autoDestroy): the stream then still carries the response.
    if ((err !== null || !this.complete) && !this.stream.destroyed) this.stream.destroy();
    cb(err);
  }
}

/** A response: ServerResponse's part the request path uses, written with stream.respond and the stream's own writes. */
export class H2Response extends EventEmitter {
  statusCode = 200;
  writableEnded = false;
  writableFinished = false;
  /** Read by the listener (drain, overload): HTTP/2 says goodbye per session, not per response. */
  shouldKeepAlive = true;
  readonly socket: Socket;
  private responded = false;
  private head: OutgoingHttpHeaders | undefined;
  private extra: OutgoingHttpHeaders | undefined;
  private trailers: OutgoingHttpHeaders | undefined;
  private closeHooks: (() => void)[] | undefined;
  private closed = false;
  private drainWatched = false;

  constructor(
    readonly req: H2Request,
    readonly stream: ServerHttp2Stream,
    /** The client accepts trailers (te: trailers, as gRPC clients send): the stream is then held open for them. */
    private readonly trailersAllowed: boolean,
  ) {
    super();
    this.socket = req.socket;
    (stream as unknown as { [RESPONSE]: H2Response })[RESPONSE] = this;
  }

  get headersSent(): boolean {
    return this.responded || this.stream.headersSent;
  }

  setHeader(name: string, value: string | number | readonly string[]): this {
    if (this.headersSent) throw Object.assign(new Error('Cannot set headers after they are sent to the client'), { code: 'ERR_HTTP_HEADERS_SENT' });
    const n = name.toLowerCase();
    checkName(n);
    if (CONNECTION_FIELDS.has(n)) return this;
    const v = Array.isArray(value) ? value.map(String) : String(value);
    for (const x of Array.isArray(v) ? v : [v]) checkValue(n, x);
    (this.extra ??= {})[n] = v;
    return this;
  }

  writeHead(status: number, headers?: readonly string[] | Readonly<Record<string, string | number | readonly string[] | undefined>>): this {
    if (this.headersSent) throw Object.assign(new Error('Cannot write headers after they are sent to the client'), { code: 'ERR_HTTP_HEADERS_SENT' });
    const h: OutgoingHttpHeaders = { ':status': status };
    if (this.extra !== undefined) for (const k of Object.keys(this.extra)) h[k] = this.extra[k];
    if (Array.isArray(headers)) {
      const raw = headers as readonly string[];
      for (let i = 0; i < raw.length; i += 2) this.add(h, raw[i] as string, raw[i + 1] as string);
    } else if (headers !== undefined) {
      const o = headers as Readonly<Record<string, string | number | readonly string[] | undefined>>;
      for (const k of Object.keys(o)) {
        const v = o[k];
        if (v === undefined) continue;
        if (Array.isArray(v)) for (const x of v) this.add(h, k, String(x));
        else this.add(h, k, String(v));
      }
    }
    if (h['date'] === undefined) h['date'] = httpDate();
    this.statusCode = status;
    this.head = h;
    return this;
  }

  /** One field into the head: checked as node:http checks it (a value that could split a message throws ERR_INVALID_CHAR). */
  private add(h: OutgoingHttpHeaders, name: string, value: string): void {
    const n = fieldName(name);
    if (n === '') return;
    checkValue(n, value);
    const prev = h[n];
    if (prev === undefined) h[n] = value;
    else if (SINGLE_VALUE_FIELDS.has(n)) return;
    else if (Array.isArray(prev)) prev.push(value);
    else h[n] = [String(prev), value];
  }

  addTrailers(t: Readonly<Record<string, string>>): void {
    const out = (this.trailers ??= {});
    for (const k of Object.keys(t)) {
      const n = k.toLowerCase();
      const v = String(t[k]);
      checkValue(n, v);
      out[n] = v;
    }
  }

  write(chunk: Buffer | string): boolean {
    if (this.writableEnded || this.stream.destroyed) return false;
    this.respond(false);
    if (this.stream.closed) return false;
    const ok = this.stream.write(chunk);
    if (!ok && !this.drainWatched) {
      this.drainWatched = true;
      this.stream.on('drain', () => this.emit('drain'));
    }
    return ok;
  }

  end(chunk?: Buffer | string): this {
    if (this.writableEnded) return this;
    this.writableEnded = true;
    if (this.stream.destroyed) return this;
    const empty = chunk === undefined || chunk.length === 0;
    if (!this.headersSent && empty && this.trailers === undefined) {
      // Headers alone end the stream: one HEADERS frame with END_STREAM.
      this.respond(true);
      return this;
    }
    this.respond(false);
    if (this.stream.closed) return this;
    if (empty) this.stream.end();
    else this.stream.end(chunk);
    return this;
  }

  destroy(err?: Error): void {
    if (!this.stream.destroyed) this.stream.destroy(err);
  }

  /** Close callbacks run directly, in order, before 'close' (see whenResponseCloses). */
  [ON_RESPONSE_CLOSE](fn: () => void): void {
    if (this.closed) {
      queueMicrotask(fn);
      return;
    }
    (this.closeHooks ??= []).push(fn);
  }

  private respond(endStream: boolean): void {
    if (this.headersSent) return;
    this.responded = true;
    const head = this.head ?? this.defaultHead();
    const waitForTrailers = !endStream && this.trailersAllowed;
    if (waitForTrailers) this.stream.once('wantTrailers', () => this.stream.sendTrailers(this.trailers ?? {}));
    try {
      this.stream.respond(head, { endStream, waitForTrailers });
    } catch {
      // A head node:http2 refuses (writeHead checked each field): this stream ends with a reset, the session serves on.
      this.stream.close(NGHTTP2_INTERNAL_ERROR);
    }
  }

  private defaultHead(): OutgoingHttpHeaders {
    const h: OutgoingHttpHeaders = { ':status': this.statusCode };
    if (this.extra !== undefined) for (const k of Object.keys(this.extra)) h[k] = this.extra[k];
    if (h['date'] === undefined) h['date'] = httpDate();
    return h;
  }

  /** The stream closed (its 'close' event). */
  streamClosed(): void {
    if (this.closed) return;
    this.closed = true;
    // Finished: everything was handed to the session and the stream closed without a reset.
    this.writableFinished = this.writableEnded && this.stream.rstCode === 0;
    if (!this.writableFinished && !this.req.complete) this.req.destroy();
    const hooks = this.closeHooks;
    this.closeHooks = undefined;
    if (hooks !== undefined) for (const fn of hooks) fn();
    this.emit('close');
  }
}

/** The request and response of a new stream; `te: trailers` in the request allows trailers in the response. */
export function streamExchange(stream: ServerHttp2Stream, headers: Http2Headers, rawHeaders: string[]): { req: H2Request; res: H2Response } {
  const req = new H2Request(stream, headers, rawHeaders);
  const te = headers['te'];
  const res = new H2Response(req, stream, typeof te === 'string' && te.toLowerCase().includes('trailers'));
  return { req, res };
}
