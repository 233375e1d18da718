// buildRuntime: one immutable request path per IR generation (route index, upstream pools,
// compiled policies). handle() runs the edge checks, routes once, then redirects, answers or forwards.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { IR, IRListener } from '../ir/types.js';
import type { SecretStore } from '../ir/secrets.js';
import type { BuildRuntime, ConnectionInfo, RequestInfo, Runtime, RuntimeOptions } from './runtime-types.js';
import { parseRequestTarget, type PathPolicy } from './path-normalize.js';
import { buildRuntimeIndex, matchRoute, normalizeHost, type CompiledRoute, type RouteRequest, type RuntimeIndex } from './route-index.js';
import { compileRouteAction, pickBackend, rewritePath, type CompiledBackend, type RouteAction } from './route-action.js';
import { UpstreamCluster } from './upstream-pool.js';
import { clusterHealth, type ClusterHealth } from './upstream-health.js';
import { forwardedFor, newRequestId, REQUEST_ID_RE, scanRequestHeaders, upstreamRequestHeaders, type HeaderScan } from './header-policy.js';
import { closeH2Sessions, forwardH2 } from './h2-upstream.js';
import { TCPRouter, type OpenTCPSession } from './tcp-proxy.js';
import { isWebSocketHandshake, openWebSocketTunnel, resumeHTTPParsing, type OpenTunnel } from './websocket-tunnel.js';
import { preflightHeaders } from './cors.js';
import { canonicalPathLocation, routeRedirectLocation } from './redirect.js';
import { answersPreflight, insecureOutcome, requestSecurity } from './edge-decision.js';
import { forward, headerValue, localReply, type ForwardEnv, type RequestContext } from './proxy.js';
import { whenResponseCloses } from './response-close.js';
import { sendLocalReplyOnSocket, sendPolicyReply, type LocalReplyCode } from './local-reply.js';
import { PolicyChains } from './policies/chain-builder.js';
import { PolicyRequest, runPolicyChain, type PolicyChain, type PolicyDecision } from './policies/chain.js';
import { addResponseCors } from './cors.js';
import { isGrpcRequest, sendGrpcLocalReply } from './grpc.js';
import { forwardedClientCert, verifiedClientElement, verifiedPeerFields } from './client-cert-details.js';
import type { RequestTracer } from '../tracing/request-tracing.js';
import { onDemand } from './on-demand-module.js';

/** OpenTelemetry's request side, loaded with the first TracingService. */
const requestTracing = onDemand<typeof import('../tracing/request-tracing.js')>(import.meta.url, '../tracing/request-tracing.js');

/** Program faults inside the request path carry this code in logs; the client only sees a 500. */
export const ERR_REQUEST_PATH = 'PORTICO_ERR_REQUEST_PATH';

/** A WebSocket handshake that passed the request path's checks, on its way to its policies and upstream. */
interface UpgradeRequest {
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  readonly head: Buffer;
  readonly conn: ConnectionInfo;
  readonly start: number;
  readonly requestId: string;
  /** The normalised path (routing's). */
  readonly path: string;
  readonly authority: string;
  readonly query: string;
  readonly route: CompiledRoute<RouteAction>;
  readonly scan: HeaderScan;
  readonly xfp: string;
  readonly fwd: { readonly client: string; readonly viaXff: boolean; readonly xff: string };
}

class RequestPathRuntime implements Runtime {
  readonly generation: number;
  readonly hash: string;
  readonly ir: IR;
  readonly index: RuntimeIndex<RouteAction>;
  private readonly clusters = new Map<string, UpstreamCluster>();
  private readonly listeners = new Map<string, IRListener>();
  /** TLS contexts that can complete a handshake (a Host whose Secret does not exist yet has one without a certificate). */
  private readonly servingContexts = new Set<string>();
  private readonly policy: PathPolicy;
  private readonly env: ForwardEnv;
  private readonly random: () => number;
  private readonly onDone: ((info: RequestInfo) => void) | undefined;
  private active = 0;
  private draining = false;
  private drained: (() => void)[] = [];
  private closed = false;
  /** The policy chains of this IR; closed with the runtime (a stage may hold a shared client). */
  private chains: PolicyChains | undefined;
  private readonly tunnels = new Set<OpenTunnel>();
  private readonly tcp: TCPRouter;
  private readonly tcpSessions = new Set<OpenTCPSession>();
  /** Raw Host → normalised host, per listener port: clients repeat the same few Host values. */
  private readonly hostCache = new Map<string, string>();
  /** TLS contexts that verify client certificates with their own CA (only those yield an identity). */
  private readonly clientCAContexts: ReadonlySet<string>;
  /** Present only when the IR has a TracingService and the process exports spans. */
  private tracer: RequestTracer | undefined;

  constructor(ir: IR, secrets: SecretStore, options: RuntimeOptions) {
    this.generation = options.generation;
    this.hash = options.hash;
    this.ir = ir;
    this.random = options.random ?? Math.random;
    this.onDone = options.onRequestDone;
    for (const c of ir.clusters) this.clusters.set(c.name, new UpstreamCluster(c, ir.tlsContexts, secrets, this.random));
    for (const l of ir.listeners) this.listeners.set(l.name, l);
    for (const c of ir.tlsContexts) if (c.certificate !== undefined || c.fallback === true) this.servingContexts.add(c.name);
    this.clientCAContexts = new Set(ir.tlsContexts.filter((c) => c.ca !== undefined).map((c) => c.name));
    try {
      const chains = new PolicyChains({ ir, clusters: this.clusters, secrets, random: this.random, ...(options.onWarning ? { warn: options.onWarning } : {}) });
      this.chains = chains;
      this.index = buildRuntimeIndex(ir, (route, vh) => compileRouteAction(ir, route, vh, this.clusters, secrets, chains));
    } catch (err) {
      // nothing of a runtime that failed to build may keep sockets or timers alive
      this.close();
      throw err;
    }
    const g = ir.global;
    this.tcp = new TCPRouter({
      clusters: this.clusters, tlsContexts: ir.tlsContexts, secrets, random: this.random,
      connectTimeoutMs: g.connectTimeoutMs > 0 ? g.connectTimeoutMs : 3000, handshakeTimeoutMs: g.limits.tlsHandshakeTimeoutMs > 0 ? g.limits.tlsHandshakeTimeoutMs : 10_000,
    });
    this.policy = { normalizePath: g.normalizePath, mergeSlashes: g.mergeSlashes, escapedSlashesAction: g.escapedSlashesAction };
    this.env = {
      random: this.random,
      serverName: g.serverName,
      dropUnderscore: g.headersWithUnderscoresAction === 'DROP_HEADER',
      connectTimeoutMs: g.connectTimeoutMs > 0 ? g.connectTimeoutMs : 3000,
    };
    if (g.tracing !== undefined && options.tracing !== undefined) this.tracer = new (requestTracing().RequestTracer)(g.tracing, options.tracing.acquire(g.tracing), this.random);
  }

  inflight(): number {
    return this.active;
  }

  handle(req: IncomingMessage, res: ServerResponse, conn: ConnectionInfo): void {
    this.active++;
    const ctx: RequestContext = {
      req, res, conn, start: performance.now(), method: req.method ?? 'GET', path: '', query: '', host: '', authority: '',
      requestId: '', clientAddress: req.socket.remoteAddress ?? '', clientViaXff: false, secure: conn.tls, status: 0, route: undefined, cluster: undefined,
      upstreamAddress: undefined, localReply: undefined, upstreamError: undefined, bytesIn: 0, bytesOut: 0, clientGone: false, upstream: undefined, trace: undefined,
      policy: undefined, replyRules: undefined, replyScan: undefined,
    };
    if (this.tracer !== undefined) ctx.trace = this.tracer.begin(req, ctx.start);
    whenResponseCloses(res, () => this.finish(ctx));
    try {
      this.serve(ctx);
    } catch (err) {
      this.fault(ctx, err);
    }
  }

  /** A program fault in the request path: logged with its code; the client gets a 500 (or an abort). */
  private fault(ctx: RequestContext, err: unknown): void {
    ctx.upstreamError = `${ERR_REQUEST_PATH}: ${(err as Error).message}`;
    if (ctx.requestId === '') ctx.requestId = newRequestId();
    if (!ctx.res.headersSent) localReply(ctx, this.env, 500, 'internal_error', true);
    else ctx.res.destroy();
  }

  private serve(ctx: RequestContext): void {
    const req = ctx.req;
    const conn = ctx.conn;
    const env = this.env;
    const g = this.ir.global;
    const scan = scanRequestHeaders(req.rawHeaders, req.httpVersionMinor, g);
    // HTTP/2 frames the body itself (no content-length needed): a stream not ended with its headers has one.
    if (req.httpVersionMajor === 2 && (req as unknown as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders === false) scan.hasBody = true;
    ctx.requestId = g.preserveExternalRequestId && scan.requestId !== undefined && REQUEST_ID_RE.test(scan.requestId) ? scan.requestId : newRequestId();
    // A real HTTP/2 stream (h2-front.ts), not an HTTP/1 request line claiming 2.0.
    const h2 = req.httpVersionMajor === 2 && (req as unknown as { stream?: unknown }).stream !== undefined;
    if (!h2 && (req.httpVersionMajor !== 1 || req.httpVersionMinor > 1)) {
      localReply(ctx, env, req.httpVersionMajor > 1 ? 505 : 400, req.httpVersionMajor > 1 ? 'version_not_supported' : 'bad_request', true);
      return;
    }
    if (ctx.method === 'CONNECT') {
      localReply(ctx, env, 405, 'method_not_allowed', true);
      return;
    }
    if (scan.error !== undefined) {
      if (scan.error === 'too_many') localReply(ctx, env, 431, 'headers_too_many', true);
      else localReply(ctx, env, 400, 'bad_request', true);
      return;
    }
    const target = parseRequestTarget(req.url ?? '', this.policy);
    if (target.kind === 'reject') {
      ctx.path = (req.url ?? '').slice(0, 1024);
      localReply(ctx, env, 400, 'invalid_path');
      return;
    }
    ctx.path = target.path;
    ctx.query = target.query;
    let authority = target.authority ?? scan.host;
    if (h2) {
      // HTTP/2: :authority is the source of truth; a host field that disagrees is a confusion attempt (HARDENING §2.3).
      const a = req.headers[':authority'];
      if (typeof a === 'string' && scan.host !== undefined && scan.host !== a) {
        localReply(ctx, env, 400, 'bad_request');
        return;
      }
      authority = typeof a === 'string' ? a : scan.host;
    }
    if (authority === undefined) {
      localReply(ctx, env, 400, 'bad_request', true);
      return;
    }
    ctx.authority = authority;
    ctx.host = this.normalizedHost(authority, conn);
    if (ctx.host === '') {
      localReply(ctx, env, 400, 'bad_request', true);
      return;
    }
    if (target.kind === 'redirect') {
      // escaped slashes were unescaped: make every party see the canonical path
      localReply(ctx, env, 307, 'redirect', false, ['location', canonicalPathLocation(target.path, target.query)]);
      return;
    }
    const listener = this.listeners.get(conn.listener);
    const sec = requestSecurity(listener, g, conn.tls, scan.xfp);
    const peer = req.socket.remoteAddress ?? '';
    const fwd = forwardedFor(peer, scan.xff, sec.trusted, g.useRemoteAddress);
    ctx.clientAddress = fwd.client;
    ctx.clientViaXff = fwd.viaXff;
    ctx.secure = sec.secure;

    const rreq: RouteRequest = { host: ctx.host, path: ctx.path, query: ctx.query, method: ctx.method, header: (n) => headerValue(req, n) };
    const m = matchRoute(this.index, conn.listener, rreq);
    const vhost = m.vhost;
    const route = m.route;
    if (vhost === undefined || route === undefined) {
      localReply(ctx, env, 404, 'no_route');
      return;
    }
    ctx.route = route.ir.id;
    ctx.trace?.routed(route.ir);
    if (conn.tls && vhost.ir.tlsContext !== undefined && this.misdirected(conn, vhost.ir.tlsContext)) {
      // The TLS session was set up for another host's certificate or client-cert policy (domain fronting).
      localReply(ctx, env, 421, 'misdirected_request');
      return;
    }
    const insecure = insecureOutcome(vhost.ir, route.ir, sec, ctx.host, authority, ctx.path, ctx.query);
    if (insecure.kind === 'redirect') {
      // Emissary's https redirect is a variant of the route, with the route's response headers.
      ctx.replyRules = route.action.replyRules;
      ctx.replyScan = scan;
      localReply(ctx, env, 301, 'redirect', false, ['location', insecure.location]);
      return;
    }
    if (insecure.kind === 'reject') {
      localReply(ctx, env, 404, 'no_route');
      return;
    }
    const fwdXff = g.useRemoteAddress || scan.xff !== undefined ? fwd.xff : undefined;
    // Edge policies run between route match and everything the route does (as Envoy's filters run
    // before its router): redirects, preflights, forwarding. A route without them has no chain.
    const chain = route.action.policies;
    if (chain !== undefined && chain.steps.length > 0) {
      this.runPolicies(ctx, chain, route, scan, sec.xfp, fwdXff, peer);
      return;
    }
    this.dispatch(ctx, route, scan, sec.xfp, fwdXff);
  }

  /** What a routed request gets once its policies let it through: a redirect, a preflight answer, or the upstream. */
  private dispatch(ctx: RequestContext, route: CompiledRoute<RouteAction>, scan: HeaderScan, xfp: string, fwdXff: string | undefined, picked?: CompiledBackend): void {
    const env = this.env;
    const action = route.action;
    if (action.redirect !== undefined) {
      const loc = routeRedirectLocation(action.redirect, route.ir, ctx.secure, ctx.host, ctx.path, ctx.query);
      ctx.replyRules = action.replyRules;
      ctx.replyScan = scan;
      localReply(ctx, env, action.redirect.ir.responseCode, 'redirect', false, ['location', loc]);
      return;
    }
    if (action.cors !== undefined && ctx.method === 'OPTIONS') {
      const acrm = headerValue(ctx.req, 'access-control-request-method');
      if (answersPreflight(action.cors, ctx.method, scan.origin, acrm)) {
        this.answerPreflight(ctx, preflightHeaders(action.cors, scan.origin!, acrm, headerValue(ctx.req, 'access-control-request-headers')));
        return;
      }
    }
    const backend = picked ?? pickBackend(action, this.random);
    if (backend === undefined) {
      localReply(ctx, env, 503, 'upstream_unavailable');
      return;
    }
    // The replies the gateway makes for the request from here (an upstream failure) carry the backend's response rules.
    ctx.replyRules = backend.replyRules;
    ctx.replyScan = scan;
    if (ctx.conn.tls || this.ir.global.clientCertDetails !== undefined) this.decideClientCert(ctx.req, ctx.conn, scan);
    if (backend.cluster?.ir.http2 === true) forwardH2(ctx, env, action, route.ir, backend, scan, fwdXff, xfp);
    else forward(ctx, env, action, route.ir, backend, scan, fwdXff, xfp);
  }

  private answerPreflight(ctx: RequestContext, headers: string[]): void {
    ctx.status = 200;
    ctx.localReply = 'cors_preflight';
    headers.push('content-length', '0', 'x-request-id', ctx.requestId);
    ctx.res.writeHead(200, headers);
    ctx.res.end();
  }

  /**
   * The route's policy chain, then dispatch. What the steps decide for the upstream (header edits,
   * a body they read) travels on ctx.policy; while a step waits, a client that goes away aborts it.
   */
  private runPolicies(ctx: RequestContext, chain: PolicyChain, route: CompiledRoute<RouteAction>, scan: HeaderScan, xfp: string, fwdXff: string | undefined, peer: string): void {
    const r = new PolicyRequest(ctx.req, route.ir, false);
    r.method = ctx.method;
    r.path = ctx.path;
    r.query = ctx.query;
    r.host = ctx.host;
    r.authority = ctx.authority;
    r.scheme = xfp;
    r.clientAddress = ctx.clientAddress;
    r.peerAddress = peer;
    r.forwardedFor = fwdXff;
    r.requestId = ctx.requestId;
    r.hasBody = scan.hasBody;
    r.contentLength = scan.contentLength !== undefined ? Number(scan.contentLength) : undefined;
    r.origin = scan.origin;
    // The backend is picked before the chain, as Envoy picks a weighted cluster at route match:
    // a rate-limit label destination_cluster names the cluster the request then goes to.
    const picked = route.action.backends.length > 0 ? pickBackend(route.action, this.random) : undefined;
    r.destinationCluster = picked?.cluster?.name;
    ctx.policy = r;
    ctx.upstream = r;
    runPolicyChain(chain, r, (d) => {
      if (ctx.upstream === r) ctx.upstream = undefined;
      if (ctx.clientGone) return;
      try {
        if (r.passedDetail !== undefined) ctx.upstreamError = r.passedDetail;
        if (d === undefined) this.dispatch(ctx, route, scan, xfp, fwdXff, picked);
        else this.policyReply(ctx, r, d, route.action);
      } catch (err) {
        this.fault(ctx, err);
      }
    });
  }

  /** A step's answer instead of the upstream's: the one local-reply shape, or the service's own reply. */
  private policyReply(ctx: RequestContext, r: PolicyRequest, d: PolicyDecision, action: RouteAction): void {
    const reply = d.reply ?? { status: 500, code: 'internal_error' as const };
    if (d.detail !== undefined) ctx.upstreamError = d.detail;
    if (reply.code === 'cors_preflight') {
      this.answerPreflight(ctx, (reply.headers ?? []).slice());
      return;
    }
    ctx.status = reply.status;
    ctx.localReply = reply.code;
    if (isGrpcRequest(ctx.req)) {
      sendGrpcLocalReply(ctx.res, reply.status, reply.code, ctx.requestId, reply.grpcStatus);
      return;
    }
    const headers: string[] = reply.headers !== undefined ? reply.headers.slice() : [];
    if (r.responseHeaders !== undefined) headers.push(...r.responseHeaders);
    // Envoy's CORS filter sits before the others: their replies get the allow headers too, so a
    // browser can read a 401 or 429.
    if (action.cors !== undefined) addResponseCors(action.cors, r.origin, headers);
    sendPolicyReply(ctx.res, reply.status, reply.code, headers, reply.body, ctx.requestId, !ctx.req.complete, this.env.serverName);
  }

  /**
   * Client identity for the upstream: scan.forwardedClientCert from the Module's policy, and scan.peer
   * for header rules. Only a context with its own CA asked for and verified the client's certificate.
   */
  private decideClientCert(req: IncomingMessage, conn: ConnectionInfo, scan: HeaderScan): void {
    // Cheapest test first: the SNI lookup walks the listener's hosts, and most clients send no certificate.
    const verifies = conn.tls && this.clientCAContexts.size > 0 && (req.socket as TLSSocket).authorized === true
      && this.clientCAContexts.has(this.sniContext(conn) ?? '');
    if (verifies) scan.peer = () => verifiedPeerFields(req);
    const policy = this.ir.global.clientCertDetails;
    if (policy === undefined || policy.forward === 'SANITIZE') return;
    const element = verifies && policy.forward !== 'ALWAYS_FORWARD_ONLY' ? verifiedClientElement(req, policy.set) : undefined;
    scan.forwardedClientCert = forwardedClientCert(policy, element, scan.xfcc);
  }

  /**
   * SNI and Host disagree where it matters: with SNI, the Host needs another TLS context; without SNI,
   * the Host requires client certificates that the default context did not ask for.
   */
  private misdirected(conn: ConnectionInfo, hostContext: string): boolean {
    const chosen = this.sniContext(conn);
    if (chosen === hostContext) return false;
    if (conn.sni !== undefined) return true;
    return this.ir.tlsContexts.find((c) => c.name === hostContext)?.certRequired === true;
  }

  /** The TLS context the listener chose for this connection's SNI (the same order as the SNI lookup). */
  private sniContext(conn: ConnectionInfo): string | undefined {
    const l = this.listeners.get(conn.listener);
    if (l === undefined) return undefined;
    const sni = conn.sni?.toLowerCase();
    let wildcard: { len: number; ctx: string } | undefined;
    let star: string | undefined;
    let first: string | undefined;
    let firstServing: string | undefined;
    for (const vh of l.virtualHosts) {
      if (vh.tlsContext === undefined) continue;
      first ??= vh.tlsContext;
      if (firstServing === undefined && this.servingContexts.has(vh.tlsContext)) firstServing = vh.tlsContext;
      if (vh.hostname === '*') star ??= vh.tlsContext;
      else if (vh.hostname.startsWith('*.')) {
        if (sni !== undefined && sni.endsWith(vh.hostname.slice(1)) && (wildcard === undefined || vh.hostname.length > wildcard.len)) wildcard = { len: vh.hostname.length, ctx: vh.tlsContext };
      } else if (sni !== undefined && vh.hostname === sni) return vh.tlsContext;
    }
    return wildcard?.ctx ?? star ?? firstServing ?? first;
  }

  private normalizedHost(authority: string, conn: ConnectionInfo): string {
    const key = conn.tls ? `${conn.port}s${authority}` : `${conn.port} ${authority}`;
    let h = this.hostCache.get(key);
    if (h === undefined) {
      h = normalizeHost(authority, conn.port, conn.tls, this.ir.global.stripMatchingHostPort);
      // bounded: a client cycling through random Host values must not grow memory
      if (this.hostCache.size >= 1024) this.hostCache.clear();
      this.hostCache.set(key, h);
    }
    return h;
  }

  private finish(ctx: RequestContext): void {
    this.active--;
    if (!ctx.res.writableFinished) {
      ctx.clientGone = true;
      ctx.upstream?.destroy();
      if (ctx.status === 0) ctx.status = 499;
    }
    const trace = ctx.trace;
    // One clock read serves the SERVER span and the report; an unsampled trace needs none.
    const sampled = trace !== undefined && trace.sampled;
    const end = sampled || this.onDone !== undefined ? performance.now() : 0;
    if (sampled) trace.end(ctx, end);
    if (this.onDone !== undefined) this.report({
      generation: this.generation,
      listener: ctx.conn.listener,
      method: ctx.method,
      path: ctx.path,
      authority: ctx.authority,
      status: ctx.status,
      route: ctx.route,
      cluster: ctx.cluster,
      upstreamAddress: ctx.upstreamAddress,
      durationMs: end - ctx.start,
      bytesIn: ctx.bytesIn,
      bytesOut: ctx.bytesOut,
      clientAddress: ctx.clientAddress,
      requestId: ctx.requestId,
      localReply: ctx.localReply,
      upstreamError: ctx.upstreamError,
      policies: ctx.policy?.decisions,
      traceId: trace?.traceId,
    });
    if (this.draining && this.active === 0) this.release();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, conn: ConnectionInfo): void {
    socket.on('error', () => {});
    const start = performance.now();
    const requestId = newRequestId();
    let path = (req.url ?? '').slice(0, 1024);
    let authority = req.headers.host ?? '';
    const reply = (status: number, code: LocalReplyCode, route?: string): void => {
      sendLocalReplyOnSocket(socket, status, code, requestId);
      this.report({
        generation: this.generation, listener: conn.listener, method: req.method ?? '', path, authority, status, route,
        durationMs: performance.now() - start, bytesIn: 0, bytesOut: 0, clientAddress: req.socket.remoteAddress ?? '', requestId, localReply: code,
      });
    };
    // The server's 'connect' event lands here too: the gateway is not a forward proxy.
    if (req.method === 'CONNECT') {
      reply(405, 'method_not_allowed');
      return;
    }
    const target = parseRequestTarget(req.url ?? '', this.policy);
    if (target.kind === 'ok') {
      path = target.path;
      authority = target.authority ?? authority;
    }
    const host = target.kind === 'ok' ? this.normalizedHost(authority, conn) : '';
    if (target.kind !== 'ok' || host === '') {
      reply(400, 'bad_request');
      return;
    }
    const m = matchRoute(this.index, conn.listener, {
      host, path: target.path, query: target.query, method: req.method ?? 'GET', header: (n) => headerValue(req, n),
    });
    if (m.route === undefined) {
      reply(404, 'no_route');
      return;
    }
    // Only WebSocket is ever tunnelled (h2c and any other upgrade never are), and only where the route allows it.
    const allowsWS = m.route.ir.allowUpgrade.some((u) => u.toLowerCase() === 'websocket');
    const wantsWS = (req.headers.upgrade ?? '').trim().toLowerCase() === 'websocket';
    if (!allowsWS || !wantsWS) {
      reply(wantsWS ? 404 : 501, wantsWS ? 'no_route' : 'upgrade_not_supported', m.route.ir.id);
      return;
    }
    if (!isWebSocketHandshake(req) || req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) {
      reply(400, 'bad_request', m.route.ir.id);
      return;
    }
    const g = this.ir.global;
    const scan = scanRequestHeaders(req.rawHeaders, req.httpVersionMinor, g);
    if (scan.error !== undefined) {
      reply(400, 'bad_request', m.route.ir.id);
      return;
    }
    if (conn.tls || g.clientCertDetails !== undefined) this.decideClientCert(req, conn, scan);
    const listener = this.listeners.get(conn.listener);
    const sec = requestSecurity(listener, g, conn.tls, scan.xfp);
    const peer = req.socket.remoteAddress ?? '';
    const fwd = forwardedFor(peer, scan.xff, sec.trusted, g.useRemoteAddress);
    if (!sec.secure && m.vhost?.ir.insecureAction !== 'Route') {
      // A Host that rejects or redirects cleartext gets no tunnel over it either.
      reply(404, 'no_route', m.route.ir.id);
      return;
    }
    const route = m.route;
    const u: UpgradeRequest = { req, socket, head, conn, start, requestId, path, authority, query: target.query, route, scan, xfp: sec.xfp, fwd };
    const chain = route.action.policies;
    if (chain === undefined || chain.steps.length === 0) {
      this.openTunnel(u, undefined);
      return;
    }
    // The handshake waits for the policies like any request; the client going away stops them.
    const r = new PolicyRequest(req, route.ir, true);
    r.method = 'GET';
    r.path = path;
    r.query = target.query;
    r.host = host;
    r.authority = authority;
    r.scheme = sec.xfp;
    r.clientAddress = fwd.client;
    r.peerAddress = peer;
    r.forwardedFor = g.useRemoteAddress || scan.xff !== undefined ? fwd.xff : undefined;
    r.requestId = requestId;
    this.active++;
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      socket.off('close', gone);
      this.active--;
      if (this.draining && this.active === 0) this.release();
      return true;
    };
    const gone = (): void => {
      r.abort();
      if (!settle()) return;
      this.report({
        generation: this.generation, listener: conn.listener, method: 'GET', path, authority, status: 499, route: route.ir.id,
        durationMs: performance.now() - start, bytesIn: 0, bytesOut: 0, clientAddress: fwd.client, requestId, policies: r.decisions,
      });
    };
    socket.once('close', gone);
    runPolicyChain(chain, r, (d) => {
      if (!settle()) return;
      if (d === undefined) {
        this.openTunnel(u, r);
        return;
      }
      const rep = d.reply ?? { status: 500, code: 'internal_error' as const };
      sendLocalReplyOnSocket(socket, rep.status, rep.code, requestId, rep.headers, rep.body);
      this.report({
        generation: this.generation, listener: conn.listener, method: 'GET', path, authority, status: rep.status, route: route.ir.id,
        durationMs: performance.now() - start, bytesIn: 0, bytesOut: 0, clientAddress: fwd.client, requestId, localReply: rep.code,
        upstreamError: d.detail, policies: r.decisions,
      });
    });
  }

  /** A WebSocket handshake its route's policies let through: to the upstream, and a tunnel on its 101. */
  private openTunnel(u: UpgradeRequest, policy: PolicyRequest | undefined): void {
    const { req, socket, head, conn, start, requestId, path, authority, route, scan, fwd } = u;
    const decisions = policy?.decisions;
    const backend = route.action.backends.length > 0 ? pickBackend(route.action, this.random) : undefined;
    if (backend?.cluster === undefined) {
      const redirect = route.action.redirect !== undefined;
      const code: LocalReplyCode = redirect ? 'bad_request' : 'upstream_unavailable';
      sendLocalReplyOnSocket(socket, redirect ? 400 : 503, code, requestId);
      this.report({
        generation: this.generation, listener: conn.listener, method: 'GET', path, authority, status: redirect ? 400 : 503, route: route.ir.id,
        durationMs: performance.now() - start, bytesIn: 0, bytesOut: 0, clientAddress: fwd.client, requestId, localReply: code, policies: decisions,
      });
      return;
    }
    const g = this.ir.global;
    const headers = upstreamRequestHeaders({
      raw: req.rawHeaders, scan, dropUnderscore: this.env.dropUnderscore, remove: backend.requestRemove, adds: backend.requestAdd,
      addValues: backend.requestAddValues,
      facts: backend.requestAddValues === undefined ? undefined : {
        req, conn, start, method: 'GET', path, query: u.query, authority, clientAddress: fwd.client, clientViaXff: fwd.viaXff,
      },
      xff: g.useRemoteAddress || scan.xff !== undefined ? fwd.xff : undefined,
      xfp: u.xfp, requestId, policy: policy?.edits,
    });
    headers[1] = backend.hostRewrite ?? authority;
    const routeId = route.ir.id;
    const cluster = backend.cluster;
    this.active++;
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      this.active--;
      if (this.draining && this.active === 0) this.release();
    };
    openWebSocketTunnel({
      req, socket, head, cluster, path: rewritePath(backend, route.ir, path) + u.query, headers,
      connectTimeoutMs: cluster.ir.connectTimeoutMs || this.env.connectTimeoutMs,
      idleTimeoutMs: backend.idleTimeoutMs > 0 ? backend.idleTimeoutMs : g.listenerIdleTimeoutMs,
      onDone: (o) => {
        settle();
        this.report({
          generation: this.generation, listener: conn.listener, method: 'GET', path, authority, status: o.status, route: routeId, cluster: cluster.name,
          upstreamAddress: o.upstreamAddress, durationMs: performance.now() - start, bytesIn: o.bytesIn, bytesOut: o.bytesOut,
          clientAddress: fwd.client, requestId, upstreamError: o.error, policies: decisions,
        });
      },
      onFailure: (status, error) => {
        settle();
        sendLocalReplyOnSocket(socket, status, status === 503 ? 'upstream_unavailable' : 'bad_upstream_response', requestId);
        this.report({
          generation: this.generation, listener: conn.listener, method: 'GET', path, authority, status, route: routeId, cluster: cluster.name,
          durationMs: performance.now() - start, bytesIn: 0, bytesOut: 0, clientAddress: fwd.client, requestId, upstreamError: error,
          localReply: status === 503 ? 'upstream_unavailable' : 'bad_upstream_response', policies: decisions,
        });
      },
      resumeHTTP: (s) => resumeHTTPParsing(s, head),
    }, (t) => {
      this.tunnels.add(t);
      return () => this.tunnels.delete(t);
    });
  }

  private report(info: RequestInfo): void {
    if (this.onDone === undefined) return;
    try {
      this.onDone(info);
    } catch {
      // a failing access logger must not take the request path down with it
    }
  }

  handleTCP(socket: Socket, conn: ConnectionInfo): void {
    const listener = this.listeners.get(conn.listener);
    if (listener === undefined || this.draining) {
      socket.destroy();
      return;
    }
    const start = performance.now();
    const clientAddress = socket.remoteAddress ?? '';
    this.active++;
    this.tcp.handle(socket, listener, (o) => {
      this.active--;
      this.report({
        generation: this.generation, listener: conn.listener, method: 'TCP', path: '', authority: o.sni ?? '', status: o.error === undefined ? 200 : 503,
        route: o.route, cluster: o.cluster, upstreamAddress: o.upstreamAddress, durationMs: performance.now() - start, bytesIn: o.bytesIn, bytesOut: o.bytesOut,
        clientAddress, requestId: '', upstreamError: o.error,
      });
      if (this.draining && this.active === 0) this.release();
    }, (s) => {
      this.tcpSessions.add(s);
      return () => this.tcpSessions.delete(s);
    });
  }

  drain(deadlineMs: number): Promise<void> {
    this.draining = true;
    // Open WebSockets are told "going away" (1001) at once rather than cut at the deadline.
    for (const t of [...this.tunnels]) t.goAway();
    // Accept both a duration and an absolute time (ms since epoch) for the deadline.
    const wait = deadlineMs > 1e12 ? deadlineMs - Date.now() : deadlineMs;
    return new Promise<void>((resolve) => {
      if (this.active === 0) {
        this.close();
        resolve();
        return;
      }
      const timer = setTimeout(() => this.release(), Math.max(0, wait));
      timer.unref();
      this.drained.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private release(): void {
    // Whatever TCP sessions are still open at the deadline end with the generation.
    for (const s of [...this.tcpSessions]) s.close();
    this.close();
    const waiters = this.drained;
    this.drained = [];
    for (const w of waiters) w();
  }

  upstreamHealth(): ClusterHealth[] {
    const now = Date.now();
    return [...this.clusters.values()].map((c) => clusterHealth(c, now));
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.chains?.close();
    this.tracer?.release();
    for (const c of this.clusters.values()) {
      closeH2Sessions(c);
      c.close();
    }
  }
}

export const buildRuntime: BuildRuntime = (ir, secrets, options) => new RequestPathRuntime(ir, secrets, options);

export { matchRoute, explainMatch, buildRuntimeIndex } from './route-index.js';
