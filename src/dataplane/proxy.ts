// The forward path for one routed request: pick an endpoint, send the request upstream with the
// rewritten path and headers, apply timeouts and retries, stream the response back or abort it.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConnectionInfo } from './runtime-types.js';
import type { IRRoute } from '../ir/types.js';
import type { CompiledBackend, CompiledRetry, ReplyRules, RouteAction } from './route-action.js';
import { rewritePath } from './route-action.js';
import type { Endpoint, UpstreamCluster } from './upstream-pool.js';
import { codedError } from './llhttp.js';
import { validateHead, type ExchangeHandlers, type ExchangeOptions, type UpstreamExchange } from './upstream-h1.js';
import { hashKeyFor } from './balancer.js';
import { endAtTurnEnd, holdWritesUntilTurnEnds } from './turn-writes.js';
import { addResponseCors } from './cors.js';
import { applyAdds, applyFilledAdds, downstreamResponseHeaders, upstreamRequestHeaders, type HeaderScan } from './header-policy.js';
import { sendLocalReply, type LocalReplyCode } from './local-reply.js';
import { isGrpcRequest, sendGrpcLocalReply } from './grpc.js';
import type { PolicyRequest, ResponseBodyTransform, ResponseSink } from './policies/chain.js';
import type { AttemptTrace, RequestTrace } from '../tracing/request-tracing.js';

/** Per-request state shared by the runtime (checks, routing) and the forward path. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly conn: ConnectionInfo;
  readonly start: number;
  method: string;
  /** Normalised path (what routing used), without query. */
  path: string;
  query: string;
  /** Host as used for routing (normalised). */
  host: string;
  /** Authority as the client sent it (forwarded as Host unless rewritten). */
  authority: string;
  requestId: string;
  clientAddress: string;
  /** X-Forwarded-For named the client (by the trusted-hops rules), not the connection. */
  clientViaXff: boolean;
  secure: boolean;
  status: number;
  route: string | undefined;
  cluster: string | undefined;
  upstreamAddress: string | undefined;
  localReply: string | undefined;
  upstreamError: string | undefined;
  bytesIn: number;
  bytesOut: number;
  /** The client went away before the response finished. */
  clientGone: boolean;
  /** Current upstream attempt (or policy step), aborted when the client goes away. */
  upstream: { destroy(): void } | undefined;
  /** The route's policy chain run: header edits, a body a step read, decisions. Undefined without policies. */
  policy: PolicyRequest | undefined;
  /** The request's trace when the configuration has a TracingService (src/tracing/request-tracing.ts). */
  trace: RequestTrace | undefined;
  /**
   * The route's response header rules for the replies the gateway makes for it from here on (its
   * redirect, an upstream failure), and the request's header scan they read; undefined: none.
   */
  replyRules?: ReplyRules | undefined;
  replyScan?: HeaderScan | undefined;
}

/** Settings of the runtime the forward path needs. */
export interface ForwardEnv {
  readonly random: () => number;
  readonly serverName: string | undefined;
  readonly dropUnderscore: boolean;
  readonly connectTimeoutMs: number;
}

/** Body kept in memory so that a retry can replay it (only when the route allows retrying bodies). */
const MAX_REPLAY_BODY = 1 << 20;
/** A mirror that cannot keep up is dropped rather than buffering the real request's body. */
const MAX_SHADOW_BUFFER = 1 << 20;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

type FailKind = 'connect_failure' | 'reset' | 'timeout' | 'per_try_timeout' | 'bad_response';

export function localReply(ctx: RequestContext, env: ForwardEnv, status: number, code: LocalReplyCode, close = false, extra?: readonly string[]): void {
  ctx.status = status;
  ctx.localReply = code;
  if (ctx.clientGone) return;
  // gRPC clients read grpc-status, not HTTP status: answer trailers-only.
  if (status >= 400 && isGrpcRequest(ctx.req)) {
    sendGrpcLocalReply(ctx.res, status, code, ctx.requestId);
    return;
  }
  // A request body we did not read to its end would stall the connection for the next request.
  const rules = ctx.replyRules;
  const scan = ctx.replyScan;
  const finish = rules !== undefined && scan !== undefined ? (headers: string[]) => applyReplyRules(headers, ctx, rules, scan, status) : undefined;
  sendLocalReply(ctx.res, status, code, ctx.requestId, close || !ctx.req.complete, env.serverName, extra, finish);
}

/** A route's response header rules on a reply the gateway made (its two framing fields come first and stay). */
function applyReplyRules(headers: string[], ctx: RequestContext, rules: ReplyRules, scan: HeaderScan, status: number): void {
  if (rules.values === undefined) applyAdds(headers, rules.adds, 4);
  else {
    applyFilledAdds(headers, rules.adds, rules.values, {
      facts: ctx, scan, request: ['host', ctx.authority, ...ctx.req.rawHeaders], path: ctx.path + ctx.query, authority: ctx.authority, response: headers, status, upstream: undefined,
    }, 4);
  }
}

function classify(err: NodeJS.ErrnoException): FailKind {
  const code = err.code ?? '';
  if (code.startsWith('HPE_')) return 'bad_response';
  if (code === 'PORTICO_CONNECT_TIMEOUT' || code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EADDRNOTAVAIL') {
    return 'connect_failure';
  }
  if (code === 'PORTICO_UNSOLICITED_UPGRADE' || code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code.startsWith('ERR_SSL') || code.startsWith('UNABLE_TO') || code.startsWith('CERT_') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN') {
    return 'bad_response';
  }
  return 'reset';
}

function retryableStatus(r: CompiledRetry, status: number): boolean {
  if (status >= 500) return r.on5xx || (r.onGatewayError && status >= 502 && status <= 504);
  return r.onRetriable4xx && status === 409;
}

function retryableFailure(r: CompiledRetry, kind: FailKind): boolean {
  switch (kind) {
    case 'connect_failure':
      return r.onConnectFailure;
    case 'reset':
      return r.onReset;
    case 'per_try_timeout':
      return r.on5xx || r.onGatewayError;
    default:
      return false;
  }
}

/**
 * The backend's cluster when it has endpoints and its circuit breaker admits one more request;
 * otherwise the request gets its 503 local reply here and the caller stops.
 */
export function admitCluster(ctx: RequestContext, env: ForwardEnv, backend: CompiledBackend): NonNullable<CompiledBackend['cluster']> | undefined {
  const cluster = backend.cluster;
  if (cluster === undefined || cluster.endpoints.length === 0) {
    ctx.upstreamError = 'no_endpoints';
    localReply(ctx, env, 503, 'upstream_unavailable');
    return undefined;
  }
  ctx.cluster = cluster.name;
  if (!cluster.admit()) {
    ctx.upstreamError = 'circuit_open';
    localReply(ctx, env, 503, 'circuit_open');
    return undefined;
  }
  return cluster;
}

/**
 * Forward a routed request. `scan` is the one pass over the client's headers; `backend` was
 * picked by weight. Ends in exactly one of: streamed upstream response, local reply, abort.
 */
export function forward(ctx: RequestContext, env: ForwardEnv, action: RouteAction, route: IRRoute, backend: CompiledBackend, scan: HeaderScan, xff: string | undefined, xfp: string): void {
  const cluster = admitCluster(ctx, env, backend);
  if (cluster === undefined) return;
  const req = ctx.req;
  const upstreamPath = rewritePath(backend, route, ctx.path) + ctx.query;
  const headers = upstreamRequestHeaders({
    raw: req.rawHeaders, scan, dropUnderscore: env.dropUnderscore, remove: backend.requestRemove, adds: backend.requestAdd,
    addValues: backend.requestAddValues, facts: ctx, xff, xfp, requestId: ctx.requestId, policy: ctx.policy?.edits,
  });
  const hostValue = backend.hostRewrite ?? ctx.authority;
  headers[1] = hostValue;
  const invalid = validateHead(upstreamPath, headers);
  if (invalid !== null) {
    // a rewrite or header rule produced what cannot go on the wire: a fault of the configuration
    ctx.upstreamError = invalid.code;
    localReply(ctx, env, 500, 'internal_error');
    return;
  }
  const chunked = scan.hasBody && scan.contentLength === undefined;
  if (action.shadow !== undefined && action.shadow.cluster !== undefined && env.random() * 100 < action.shadow.weight) {
    mirror(ctx, env, action.shadow.cluster, upstreamPath, headers, hostValue, scan.hasBody, chunked);
  }
  const f = new Forwarding(ctx, env, action, backend, cluster, scan, headers, hostValue, {
    method: ctx.method, path: upstreamPath, headers, chunked,
    connectTimeoutMs: cluster.ir.connectTimeoutMs || env.connectTimeoutMs, idleTimeoutMs: backend.idleTimeoutMs,
  });
  // The runtime aborts ctx.upstream when the client goes away: the forwarding stops, timers and all.
  ctx.upstream = f;
  const read = ctx.policy?.body;
  if (read !== undefined) {
    // A policy read the body (or its first part, the rest still in the paused stream).
    ctx.bytesIn += read.bytes.length;
    if (read.complete) f.body = read.bytes;
    else f.bodyPrefix = read.bytes;
    f.bodyReplayable = read.complete;
    f.start();
  } else if (scan.hasBody && backend.retry !== undefined && backend.retry.retryNonIdempotent) f.keepBodyThenStart();
  else f.start();
}

/**
 * One request's way upstream, across its attempts: the body kept for retries, the overall request
 * timer, the retry budget. State lives in fields, not closures: this runs for every request.
 */
class Forwarding {
  readonly hashKey: string | undefined;
  body: Buffer | undefined;
  /** Bytes read while trying to keep the body for retries, before it turned out too large. */
  bodyPrefix: Buffer | undefined;
  bodyReplayable: boolean;
  retriesUsed = 0;
  implicitRetryUsed = false;
  overallTimer: NodeJS.Timeout | undefined;
  done = false;
  /** The exchange of the attempt under way. */
  exchange: UpstreamExchange | undefined;

  constructor(
    readonly ctx: RequestContext,
    readonly env: ForwardEnv,
    readonly action: RouteAction,
    readonly backend: CompiledBackend,
    readonly cluster: UpstreamCluster,
    readonly scan: HeaderScan,
    readonly headers: string[],
    readonly hostValue: string,
    readonly options: ExchangeOptions,
  ) {
    const req = ctx.req;
    this.hashKey = hashKeyFor(cluster.ir.loadBalancer, (n) => headerValue(req, n), ctx.clientAddress);
    this.bodyReplayable = !scan.hasBody;
  }

  finishAll(): void {
    this.done = true;
    if (this.overallTimer) clearTimeout(this.overallTimer);
  }

  /** Abort: the client went away or the request timed out. */
  destroy(): void {
    this.finishAll();
    this.exchange?.destroy();
  }

  start(): void {
    if (this.backend.requestTimeoutMs > 0) this.overallTimer = setTimeout(onRequestTimeout, this.backend.requestTimeoutMs, this);
    this.attempt();
  }

  requestTimedOut(): void {
    if (this.done) return;
    const ctx = this.ctx;
    ctx.upstreamError = 'request_timeout';
    this.destroy();
    if (ctx.res.headersSent) ctx.res.destroy();
    else localReply(ctx, this.env, 504, 'upstream_timeout');
  }

  attempt(): void {
    const ctx = this.ctx;
    if (this.done || ctx.clientGone) return;
    const ep = this.cluster.pick(this.hashKey, Date.now());
    if (ep === undefined) {
      this.finishAll();
      localReply(ctx, this.env, 503, 'upstream_unavailable');
      return;
    }
    this.headers[1] = this.backend.autoHostRewrite ? ep.hostname : this.hostValue;
    ep.active++;
    this.cluster.active++;
    ctx.upstreamAddress = ep.key;
    const a = new Attempt(this, ep);
    const trace = ctx.trace;
    if (trace !== undefined) {
      a.trace = !trace.sampled ? trace.propagate(this.headers) : trace.attempt(this.headers, {
        method: this.options.method, scheme: this.cluster.ir.scheme, authority: this.headers[1] as string, path: this.options.path,
        cluster: this.cluster.name, endpoint: ep.key, resend: this.retriesUsed + (this.implicitRetryUsed ? 1 : 0),
      });
    }
    // after a stale pooled connection, every later attempt of this request takes a new one
    const ex = this.cluster.pool.request(ep, this.options, a, this.implicitRetryUsed);
    a.ex = ex;
    this.exchange = ex;
    const retry = this.backend.retry;
    if (retry !== undefined && retry.perTryTimeoutMs > 0) a.tryTimer = setTimeout(onPerTryTimeout, retry.perTryTimeoutMs, a);

    if (!this.scan.hasBody) ex.end();
    else if (this.body !== undefined) ex.end(this.body);
    else {
      const req = ctx.req;
      req.on('data', (c: Buffer) => {
        ctx.bytesIn += c.length;
        if (!ex.write(c)) {
          req.pause();
          ex.onDrain(() => req.resume());
        }
      });
      req.once('end', () => ex.end());
      // keepBodyThenStart paused the request when the kept part passed the replay limit: send that
      // part, then let the rest flow (a paused stream does not resume for a new 'data' listener)
      if (this.bodyPrefix !== undefined) {
        if (ex.write(this.bodyPrefix)) req.resume();
        else ex.onDrain(() => req.resume());
      }
    }
  }

  scheduleRetry(): void {
    this.retriesUsed++;
    this.cluster.retriesActive++;
    // jittered exponential backoff, 25 ms base and at most 10 times that, as in Envoy (whatever num_retries is)
    const delay = Math.floor(this.env.random() * 25 * Math.min(2 ** (this.retriesUsed - 1), 10));
    setTimeout(retryAfterBackoff, delay, this);
  }

  /** Keep the body so a retry can resend it; past the limit, stream the rest and give up retrying. */
  keepBodyThenStart(): void {
    const req = this.ctx.req;
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      chunks.push(c);
      size += c.length;
      this.ctx.bytesIn += c.length;
      if (size > MAX_REPLAY_BODY) {
        req.off('data', onData);
        req.off('end', onEnd);
        req.pause();
        this.bodyReplayable = false;
        this.bodyPrefix = Buffer.concat(chunks);
        this.start();
      }
    };
    const onEnd = (): void => {
      this.body = Buffer.concat(chunks, size);
      this.bodyReplayable = true;
      this.start();
    };
    req.on('data', onData);
    req.on('end', onEnd);
  }
}

function onRequestTimeout(f: Forwarding): void {
  f.requestTimedOut();
}

function retryAfterBackoff(f: Forwarding): void {
  f.cluster.retriesActive--;
  f.attempt();
}

function onPerTryTimeout(a: Attempt): void {
  a.fail('per_try_timeout', codedError('PORTICO_PER_TRY_TIMEOUT', 'per-try timeout'));
}

/** One try against one endpoint: what the upstream exchange reports lands in these methods. */
class Attempt implements ExchangeHandlers {
  ex!: UpstreamExchange;
  settled = false;
  released = false;
  tryTimer: NodeJS.Timeout | undefined;
  /** The route's response hook's body transform (compression), when it took this response. */
  transform: ResponseBodyTransform | undefined;
  trace: AttemptTrace | undefined;

  constructor(
    readonly f: Forwarding,
    readonly ep: Endpoint,
  ) {}

  /** Whatever ended this attempt, its endpoint and cluster counters come back down once. */
  close(): void {
    if (this.released) return;
    this.released = true;
    this.ep.active--;
    this.f.cluster.active--;
    if (this.tryTimer) clearTimeout(this.tryTimer);
    this.trace?.end();
  }

  fail(kind: FailKind, err?: NodeJS.ErrnoException): void {
    if (this.settled) return;
    this.settled = true;
    this.trace?.failed(kind, err?.code);
    this.close();
    const ex = this.ex;
    ex.destroy();
    const f = this.f;
    const ctx = f.ctx;
    if (f.done) return;
    if (ctx.clientGone) {
      f.finishAll();
      return;
    }
    ctx.upstreamError = err?.code ?? kind;
    if (ctx.res.headersSent) {
      // A response byte already went out: never retry, never end cleanly.
      f.finishAll();
      ctx.res.destroy();
      return;
    }
    const cluster = f.cluster;
    // A request written onto a pooled connection the upstream was closing never reached it: safe to resend
    // once, on a new connection (the other pooled ones may be as stale: an upstream's keep-alive timeout
    // closes them together). Not the endpoint's failure: the resend finds out whether it is.
    if (kind === 'reset' && ex.reusedSocket && f.bodyReplayable && IDEMPOTENT.has(f.options.method) && !f.implicitRetryUsed) {
      f.implicitRetryUsed = true;
      f.attempt();
      return;
    }
    cluster.reportFailure(this.ep, Date.now(), ctx.upstreamError);
    const retry = f.backend.retry;
    if (retry !== undefined && f.retriesUsed < retry.numRetries && f.bodyReplayable && retryableFailure(retry, kind) && cluster.canRetry()) {
      f.scheduleRetry();
      return;
    }
    f.finishAll();
    if (kind === 'timeout' || kind === 'per_try_timeout') localReply(ctx, f.env, 504, 'upstream_timeout');
    else if (kind === 'bad_response') localReply(ctx, f.env, 502, 'bad_upstream_response');
    else localReply(ctx, f.env, 503, 'upstream_unavailable');
  }

  response(status: number, raw: string[]): void {
    const f = this.f;
    const ctx = f.ctx;
    if (this.settled || f.done) {
      this.ex.destroy();
      return;
    }
    if (this.tryTimer) {
      clearTimeout(this.tryTimer);
      this.tryTimer = undefined;
    }
    this.trace?.response(status);
    const cluster = f.cluster;
    if (status >= 500) cluster.reportFailure(this.ep, Date.now(), `status ${status}`);
    else cluster.reportSuccess(this.ep);
    const retry = f.backend.retry;
    if (retry !== undefined && retryableStatus(retry, status) && f.retriesUsed < retry.numRetries && f.bodyReplayable && cluster.canRetry()) {
      this.settled = true;
      this.close();
      this.ex.destroy();
      f.scheduleRetry();
      return;
    }
    const out = downstreamResponseHeaders(raw, f.backend.responseRemove);
    if (f.action.cors !== undefined) addResponseCors(f.action.cors, f.scan.origin, out);
    const adds = f.backend.responseAdd;
    if (adds.length > 0) {
      const values = f.backend.responseAddValues;
      if (values === undefined) applyAdds(out, adds, 0);
      else {
        const socket = this.ex.conn?.socket;
        applyFilledAdds(out, adds, values, {
          facts: ctx, scan: f.scan, request: f.headers, path: f.options.path, authority: f.headers[1] as string, response: out, status,
          upstream: { address: socket?.remoteAddress ?? this.ep.address, port: socket?.remotePort ?? this.ep.port },
        }, 0);
      }
    }
    const chain = f.action.policies;
    if (chain !== undefined) {
      const added = ctx.policy?.responseHeaders;
      if (added !== undefined) for (let i = 0; i < added.length; i++) out.push(added[i] as string);
      if (chain.response !== undefined) this.transform = chain.response.start(ctx.req, status, out, this.sink());
    }
    // HTTP/1 only: an HTTP/2 response's socket belongs to the whole session.
    if (ctx.req.httpVersionMajor === 1) holdWritesUntilTurnEnds(ctx.res.socket);
    try {
      ctx.res.writeHead(status, out);
    } catch (err) {
      // e.g. ERR_INVALID_CHAR: a header value we must not relay (response splitting)
      this.settled = true;
      this.close();
      f.finishAll();
      this.ex.destroy();
      ctx.upstreamError = (err as NodeJS.ErrnoException).code ?? 'invalid_header';
      localReply(ctx, f.env, 502, 'bad_upstream_response');
      return;
    }
    ctx.status = status;
  }

  data(c: Buffer): void {
    if (this.settled) return;
    if (this.transform !== undefined) {
      this.transform.write(c);
      return;
    }
    this.emit(c);
  }

  /** Body bytes to the client (from the upstream, or out of the transform); pauses the upstream when the client lags. */
  emit(c: Buffer): boolean {
    const ctx = this.f.ctx;
    ctx.bytesOut += c.length;
    if (ctx.res.write(c)) return true;
    this.ex.pause();
    ctx.res.once('drain', () => this.ex.resume());
    return false;
  }

  end(): void {
    if (this.settled) return;
    this.settled = true;
    this.close();
    this.f.finishAll();
    // a transform flushes what it holds, then ends the response through the sink
    if (this.transform !== undefined) this.transform.end();
    else this.endResponse();
  }

  endResponse(): void {
    const ctx = this.f.ctx;
    if (ctx.req.httpVersionMajor === 1) endAtTurnEnd(ctx.res);
    else ctx.res.end();
  }

  /** Where a response transform sends its output. */
  sink(): ResponseSink {
    return {
      emit: (c) => this.emit(c),
      end: () => this.endResponse(),
      fail: (err) => {
        const ctx = this.f.ctx;
        ctx.upstreamError = `response_transform: ${err.message}`;
        // the head is out: an abort, never a clean end
        ctx.res.destroy();
      },
    };
  }

  error(err: NodeJS.ErrnoException): void {
    this.fail(classify(err), err);
  }

  timeout(): void {
    const ctx = this.f.ctx;
    if (!ctx.res.headersSent) {
      this.fail('timeout', codedError('PORTICO_IDLE_TIMEOUT', 'upstream idle timeout'));
      return;
    }
    if (this.settled) return;
    this.settled = true;
    this.trace?.failed('timeout', 'idle_timeout');
    ctx.upstreamError = 'idle_timeout';
    this.f.finishAll();
    this.close();
    ctx.res.destroy();
  }
}

export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Shadow copy: same request to another cluster, Host suffixed "-shadow", response discarded. */
function mirror(ctx: RequestContext, env: ForwardEnv, cluster: UpstreamCluster, path: string, headers: readonly string[], hostValue: string, hasBody: boolean, chunked: boolean): void {
  const ep = cluster.pick(undefined, Date.now());
  if (ep === undefined || !cluster.admit()) return;
  const h = headers.slice();
  h[1] = `${hostValue}-shadow`;
  const trace = ctx.trace?.attempt(h, { method: ctx.method, scheme: cluster.ir.scheme, authority: h[1], path, cluster: cluster.name, endpoint: ep.key, resend: 0 }, true);
  cluster.active++;
  let released = false;
  const release = (): void => {
    if (!released) {
      released = true;
      cluster.active--;
      trace?.end();
    }
  };
  const ignore = (): void => {};
  const ex = cluster.pool.request(ep, {
    method: ctx.method, path, headers: h, chunked, connectTimeoutMs: cluster.ir.connectTimeoutMs || env.connectTimeoutMs,
    idleTimeoutMs: cluster.ir.connectTimeoutMs > 0 ? Math.max(cluster.ir.connectTimeoutMs, 10_000) : 10_000,
  }, trace === undefined
    ? { response: ignore, data: ignore, end: ignore, error: ignore, timeout: ignore, close: release }
    : { response: (status) => trace.response(status), data: ignore, end: ignore, error: (err) => trace.failed('shadow', err.code), timeout: () => trace.failed('timeout'), close: release });
  const req = ctx.req;
  if (!hasBody) {
    ex.end();
    return;
  }
  req.on('data', (c: Buffer) => {
    if (ex.finished) return;
    // never hold the real request back for its mirror
    if (ex.pendingBytes() > MAX_SHADOW_BUFFER) ex.destroy();
    else ex.write(c);
  });
  req.on('end', () => ex.end());
  req.on('close', () => {
    if (!req.complete) ex.destroy();
  });
}
