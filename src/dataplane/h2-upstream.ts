// The forward path for clusters that speak HTTP/2 to the upstream (gRPC Mappings): one pooled
// session per endpoint, streams with trailers relayed end to end, grpc-timeout and route timeouts.

import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import type { IRRoute } from '../ir/types.js';
import type { CompiledBackend, RouteAction } from './route-action.js';
import { rewritePath } from './route-action.js';
import type { UpstreamCluster, Endpoint } from './upstream-pool.js';
import { upstreamRequestHeaders, type HeaderScan } from './header-policy.js';
import { fillRuleValues } from './header-values.js';
import { admitCluster, localReply, type ForwardEnv, type RequestContext } from './proxy.js';
import { parseGrpcTimeout } from './grpc.js';
import type { PolicyChain, ResponseBodyTransform, ResponseSink } from './policies/chain.js';

const { NGHTTP2_CANCEL } = http2.constants;

/** Response fields that never cross (connection-specific in H2, RFC 9113 §8.2.2). */
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** Sessions per cluster, keyed by endpoint; closed with the runtime that owns the cluster. */
const pools = new WeakMap<UpstreamCluster, Map<string, ClientHttp2Session>>();

/** The pooled HTTP/2 session to an endpoint of a cluster (opened on first use, shared by every stream to it). */
export function sessionFor(cluster: UpstreamCluster, ep: Endpoint): ClientHttp2Session {
  let pool = pools.get(cluster);
  if (pool === undefined) {
    pool = new Map();
    pools.set(cluster, pool);
  }
  const existing = pool.get(ep.key);
  if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
  const o = cluster.tlsOptions ?? {};
  const authority = `${cluster.secure ? 'https' : 'http'}://${ep.address.includes(':') ? `[${ep.address}]` : ep.address}:${ep.port}`;
  const session = http2.connect(authority, cluster.secure
    ? { ...o, servername: o.servername ?? ep.hostname, ALPNProtocols: ['h2'] }
    : {});
  const p = pool;
  session.on('error', () => {});
  session.once('close', () => {
    if (p.get(ep.key) === session) p.delete(ep.key);
  });
  // An idle pooled session must not keep the process (or a drained generation) alive.
  session.unref();
  const idle = cluster.ir.idleTimeoutMs > 0 ? cluster.ir.idleTimeoutMs : 60_000;
  session.setTimeout(idle, () => session.close());
  pool.set(ep.key, session);
  return session;
}

/** Close every pooled H2 session of a cluster (runtime drain). */
export function closeH2Sessions(cluster: UpstreamCluster): void {
  const pool = pools.get(cluster);
  if (pool === undefined) return;
  for (const s of pool.values()) s.close();
  pool.clear();
}

export function forwardH2(
  ctx: RequestContext, env: ForwardEnv, _action: RouteAction, route: IRRoute, backend: CompiledBackend, scan: HeaderScan,
  xff: string | undefined, xfp: string,
): void {
  const cluster = admitCluster(ctx, env, backend);
  if (cluster === undefined) return;
  const ep = cluster.pick(undefined, Date.now());
  if (ep === undefined) {
    localReply(ctx, env, 503, 'upstream_unavailable');
    return;
  }
  const req = ctx.req;
  const flat = upstreamRequestHeaders({
    raw: req.rawHeaders, scan, dropUnderscore: env.dropUnderscore, remove: backend.requestRemove, adds: backend.requestAdd,
    addValues: backend.requestAddValues, facts: ctx, xff, xfp, requestId: ctx.requestId, policy: ctx.policy?.edits,
  });
  const headers: OutgoingHttpHeaders = {
    ':method': ctx.method,
    ':path': rewritePath(backend, route, ctx.path) + ctx.query,
    ':authority': backend.autoHostRewrite ? ep.hostname : (backend.hostRewrite ?? ctx.authority),
    ':scheme': cluster.secure ? 'https' : 'http',
  };
  const trace = ctx.trace?.attempt(flat, {
    method: ctx.method, scheme: cluster.secure ? 'https' : 'http', authority: String(headers[':authority']), path: String(headers[':path']),
    cluster: cluster.name, endpoint: ep.key, resend: 0,
  });
  for (let i = 2; i < flat.length; i += 2) {
    const name = (flat[i] as string).toLowerCase();
    if (name === 'transfer-encoding' || name === 'host') continue;
    const prev = headers[name];
    headers[name] = prev === undefined ? (flat[i + 1] as string) : Array.isArray(prev) ? [...prev, flat[i + 1] as string] : [String(prev), flat[i + 1] as string];
  }

  ep.active++;
  cluster.active++;
  ctx.upstreamAddress = ep.key;
  let released = false;
  let done = false;
  let timer: NodeJS.Timeout | undefined;
  const release = (): void => {
    if (released) return;
    released = true;
    ep.active--;
    cluster.active--;
    if (timer !== undefined) clearTimeout(timer);
    trace?.end();
  };

  let stream: ClientHttp2Stream;
  try {
    stream = sessionFor(cluster, ep).request(headers, { endStream: !scan.hasBody });
  } catch (err) {
    release();
    ctx.upstreamError = (err as NodeJS.ErrnoException).code ?? 'h2_request_failed';
    localReply(ctx, env, 503, 'upstream_unavailable');
    return;
  }
  // The runtime aborts ctx.upstream when the client goes away: cancel the stream, not the session.
  ctx.upstream = { destroy: () => stream.close(NGHTTP2_CANCEL) };

  const fail = (status: number, code: 'upstream_unavailable' | 'upstream_timeout' | 'bad_upstream_response', why: string): void => {
    if (done) return;
    done = true;
    trace?.failed(code, why);
    release();
    if (!stream.closed) stream.close(NGHTTP2_CANCEL);
    if (ctx.clientGone) return;
    ctx.upstreamError = why;
    if (ctx.res.headersSent) {
      // Mid-response: an abort, never a clean end.
      ctx.res.destroy();
      return;
    }
    cluster.reportFailure(ep, Date.now(), why);
    localReply(ctx, env, status, code);
  };

  // gRPC deadline from the client, bounded by the route's own timeout.
  const routeMs = backend.requestTimeoutMs;
  const grpcMs = parseGrpcTimeout(req.headers['grpc-timeout']);
  const limit = grpcMs !== undefined && (routeMs === 0 || grpcMs < routeMs) ? grpcMs : routeMs;
  if (limit > 0) timer = setTimeout(() => fail(504, 'upstream_timeout', 'request_timeout'), limit);
  const connectMs = cluster.ir.connectTimeoutMs || env.connectTimeoutMs;
  const session = stream.session;
  let connectTimer: NodeJS.Timeout | undefined;
  if (session !== undefined && session.connecting) {
    connectTimer = setTimeout(() => fail(503, 'upstream_unavailable', 'PORTICO_CONNECT_TIMEOUT'), connectMs);
    session.once('connect', () => clearTimeout(connectTimer));
  }

  let transform: ResponseBodyTransform | undefined;
  const emit = (c: Buffer): boolean => {
    ctx.bytesOut += c.length;
    if (ctx.res.write(c)) return true;
    stream.pause();
    ctx.res.once('drain', () => stream.resume());
    return false;
  };
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (connectTimer !== undefined) clearTimeout(connectTimer);
    fail(ctx.res.headersSent ? 502 : 503, ctx.res.headersSent ? 'bad_upstream_response' : 'upstream_unavailable', err.code ?? 'h2_stream_error');
  });
  stream.on('response', (h) => {
    if (done) return;
    if (connectTimer !== undefined) clearTimeout(connectTimer);
    const status = Number(h[':status'] ?? 502);
    trace?.response(status);
    if (status >= 500) cluster.reportFailure(ep, Date.now(), `status ${status}`);
    else cluster.reportSuccess(ep);
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(h)) {
      if (k.charCodeAt(0) === 0x3a || v === undefined || DROP_RESPONSE.has(k) || backend.responseRemove.has(k)) continue;
      out[k] = v as string | string[];
    }
    const adds = backend.responseAdd;
    const values = backend.responseAddValues;
    // Envoy's dynamic values, when the route has some (header-values.ts): read before any rule applies
    let filled: (string | undefined)[] | undefined;
    if (values !== undefined) {
      const response: string[] = [];
      for (const [k, v] of Object.entries(out)) {
        if (Array.isArray(v)) for (const x of v) response.push(k, x);
        else response.push(k, v);
      }
      const socket = stream.session?.socket;
      filled = fillRuleValues(adds, values, {
        facts: ctx, scan, request: flat, path: String(headers[':path']), authority: String(headers[':authority']), response, status,
        upstream: { address: socket?.remoteAddress ?? ep.address, port: socket?.remotePort ?? ep.port },
      });
    }
    for (let i = 0; i < adds.length; i++) {
      const a = adds[i]!;
      const k = a.name.toLowerCase();
      const value = filled?.[i] ?? a.value;
      if (value === '' && filled?.[i] !== undefined) {
        // empty: nothing added, but append=false still removes the upstream's (header-policy.ts)
        if (!a.append) delete out[k];
        continue;
      }
      const prev = out[k];
      out[k] = !a.append || prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
    }
    const chain = _action.policies;
    if (chain !== undefined) transform = policyResponse(ctx, chain, status, out, emit);
    try {
      ctx.res.writeHead(status, out);
    } catch {
      fail(502, 'bad_upstream_response', 'invalid_header');
      return;
    }
    ctx.status = status;
  });
  stream.on('trailers', (t) => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(t)) if (k.charCodeAt(0) !== 0x3a && v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : String(v);
    // Trailers carry grpc-status: they must reach the client as trailers, unchanged.
    ctx.res.addTrailers(out);
  });
  stream.on('data', (c: Buffer) => {
    if (transform !== undefined) transform.write(c);
    else emit(c);
  });
  stream.on('end', () => {
    if (done) return;
    done = true;
    release();
    if (!ctx.res.headersSent) {
      localReply(ctx, env, 502, 'bad_upstream_response');
      return;
    }
    if (transform !== undefined) transform.end();
    else ctx.res.end();
  });
  stream.on('close', () => {
    if (!done) fail(503, 'upstream_unavailable', `h2_reset_${stream.rstCode ?? 0}`);
  });

  if (scan.hasBody) {
    const read = ctx.policy?.body;
    if (read !== undefined) {
      // A policy read the body (or its first part, the rest still in the paused stream).
      ctx.bytesIn += read.bytes.length;
      if (read.complete) {
        stream.end(read.bytes);
        return;
      }
      stream.write(read.bytes);
    }
    req.on('data', (c: Buffer) => {
      ctx.bytesIn += c.length;
    });
    req.pipe(stream);
  }
}

/**
 * The policies' response headers and the response hook (compression) on an HTTP/2 upstream's
 * response; the hook's body transform, when it takes the body.
 */
function policyResponse(
  ctx: RequestContext, chain: PolicyChain, status: number, out: Record<string, string | string[]>, emit: (c: Buffer) => boolean,
): ResponseBodyTransform | undefined {
  const added = ctx.policy?.responseHeaders;
  if (added !== undefined) {
    for (let i = 0; i < added.length; i += 2) {
      const k = (added[i] as string).toLowerCase();
      const prev = out[k];
      out[k] = prev === undefined ? (added[i + 1] as string) : Array.isArray(prev) ? [...prev, added[i + 1] as string] : [prev, added[i + 1] as string];
    }
  }
  const hook = chain.response;
  if (hook === undefined) return undefined;
  const flat: string[] = [];
  for (const [k, v] of Object.entries(out)) for (const x of Array.isArray(v) ? v : [v]) flat.push(k, x);
  const sink: ResponseSink = {
    emit,
    end: () => ctx.res.end(),
    fail: (err) => {
      ctx.upstreamError = `response_transform: ${err.message}`;
      ctx.res.destroy();
    },
  };
  const t = hook.start(ctx.req, status, flat, sink);
  if (t === undefined) return undefined;
  for (const k of Object.keys(out)) delete out[k];
  for (let i = 0; i < flat.length; i += 2) {
    const k = (flat[i] as string).toLowerCase();
    const prev = out[k];
    out[k] = prev === undefined ? (flat[i + 1] as string) : Array.isArray(prev) ? [...prev, flat[i + 1] as string] : [prev, flat[i + 1] as string];
  }
  return t;
}
