// The protocols behind one HTTP port: sniff the first bytes of each connection (0x16 → TLS, the
// HTTP/2 preface → h2c, else HTTP/1.1), pick h2 or HTTP/1.1 by ALPN after TLS, and guard H2 sessions.

import type { IncomingMessage, ServerResponse } from 'node:http';
import http2 from 'node:http2';
import net, { type Socket } from 'node:net';
import tls, { type SecureContext, type TLSSocket } from 'node:tls';
import type { IRGlobal } from '../ir/types.js';
import type { FrontHandlers } from './http1-front.js';
import { createHttp1Front, type Http1Serving } from './http1-front-choice.js';
import { CONNECTIONS_CHECKING_INTERVAL_MS, frontLimits, headersDeadlineMs } from './http-limits.js';
import { guardSession, h2ServerOptions, type SessionGuard } from './h2-session-guard.js';
import { alpnProtocolsOf } from './tls-termination.js';
import { SESSION_SOCKET, streamExchange } from './h2-front.js';
import { MAX_HELLO_BYTES, peekClientHello } from '../dataplane/client-hello.js';
import { carryProxiedPeer } from '../dataplane/proxied-peer.js';

const TLS_HANDSHAKE_RECORD = 0x16;
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export interface EdgeTLS {
  /** Context for an SNI name (undefined → handshake failure). */
  secureContext(servername: string | undefined): SecureContext | undefined;
  /** Whether the host chosen by this SNI requires a verified client certificate. */
  clientCertRequired(servername: string | undefined): boolean;
  /** Whether any host on the port verifies client certificates (then certificates are asked for). */
  requestCert(): boolean;
}

export interface EdgeProtocolOptions {
  readonly global: IRGlobal;
  /** Where requests go: HTTP/1.x ones from the front, HTTP/2 ones from h2-front.ts over the core stream API. */
  readonly handlers: FrontHandlers;
  /** Present on HTTPS listeners: TLS is served, and cleartext on the same port too (as Emissary does). */
  readonly tls?: EdgeTLS;
}

/** The server that takes an HTTP port's connections before TLS or protocol detection (also each duplicate acceptor's, port-listener.ts). */
export const OUTER_SERVER_OPTIONS: net.ServerOpts = { noDelay: true, pauseOnConnect: true };

/**
 * One accepted socket is handed to exactly one inner server. The inner servers never listen; the
 * outer net.Server owns the port, so connection counting, close and drain work as for one server.
 */
export class EdgeProtocols {
  readonly outer: net.Server;
  readonly http1: Http1Serving;
  readonly h2: http2.Http2Server;
  private readonly tlsServer: tls.Server | undefined;
  private readonly guards = new Set<SessionGuard>();
  private global: IRGlobal;
  private draining = false;
  private keepAliveOff = false;
  /** The port reads the PROXY protocol's header first (port-listener.ts); TLS sockets take its client. */
  private proxyProtocol = false;
  private emptyCreds: SecureContext | undefined;
  /** Streams opened this turn, as (stream, headers, raw headers) triples, dispatched by the next setImmediate. */
  private pending: unknown[] = [];
  /** The socket being handed to the H2 server: its 'session' event, synchronous, keeps it (see SESSION_SOCKET). */
  private arriving: Socket | undefined;

  constructor(private readonly options: EdgeProtocolOptions) {
    this.global = options.global;
    this.http1 = createHttp1Front(frontLimits(options.global), options.handlers, CONNECTIONS_CHECKING_INTERVAL_MS);
    this.h2 = http2.createServer(h2ServerOptions(options.global));
    this.h2.on('session', (session) => {
      (session as unknown as { [SESSION_SOCKET]: Socket | undefined })[SESSION_SOCKET] = this.arriving;
      const guard = guardSession(session, () => this.global);
      this.guards.add(guard);
      session.once('close', () => this.guards.delete(guard));
      if (this.draining) guard.goAway();
      else session.once('stream', () => {
        if (this.keepAliveOff) setImmediate(() => guard.goAway());
      });
    });
    this.h2.on('sessionError', () => {});
    // H2 requests take the same path as HTTP/1.1 ones, over the core stream API (h2-front.ts). The
    // dispatch waits one turn of the event loop: a stream the client already reset (rapid reset) is
    // dropped before any upstream work. The streams of one turn share one setImmediate. (The session
    // guard gives every stream its error listener.)
    this.h2.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
      if (this.pending.length === 0) setImmediate(this.dispatchPending);
      this.pending.push(stream, headers, raw);
    });
    this.h2.on('error', () => {});
    const t = options.tls;
    if (t !== undefined) {
      this.tlsServer = tls.createServer({
        SNICallback: (servername, cb) => {
          try {
            const sc = t.secureContext(servername);
            if (sc === undefined) cb(new Error('no certificate for this server name'), undefined);
            else cb(null, sc);
          } catch (err) {
            cb(err as Error, undefined);
          }
        },
        // The SNI-selected context's alpn_protocols, in the server's order. No overlap → no_application_protocol
        // alert (RFC 7301); a client that sends no ALPN is never asked and gets HTTP/1.1.
        ALPNCallback: ({ servername, protocols }) => alpnProtocolsOf(t.secureContext(servername)).find((p) => protocols.includes(p)),
        handshakeTimeout: options.global.limits.tlsHandshakeTimeoutMs > 0 ? options.global.limits.tlsHandshakeTimeoutMs : 10_000,
        requestCert: t.requestCert(),
        // Verification is decided per host below: hosts without cert_required accept any client.
        rejectUnauthorized: false,
      });
      this.emptyCreds = (this.tlsServer as unknown as { _sharedCreds: SecureContext })._sharedCreds;
      this.tlsServer.on('secureConnection', (s: TLSSocket) => this.afterTLS(s));
      this.tlsServer.on('tlsClientError', (_err, s) => s.destroy());
      this.tlsServer.on('error', () => {});
    }
    // No connection listener: the port listener admits each socket first, then calls accept().
    this.outer = net.createServer(OUTER_SERVER_OPTIONS);
  }

  private readonly dispatchPending = (): void => {
    const batch = this.pending;
    this.pending = [];
    for (let i = 0; i < batch.length; i += 3) {
      const stream = batch[i] as http2.ServerHttp2Stream;
      if (stream.closed || stream.destroyed) continue;
      const headers = batch[i + 1] as http2.IncomingHttpHeaders;
      // As node:http2's compatibility layer does without a checkContinue listener: the body is welcome.
      if (headers['expect'] === '100-continue' && !stream.endAfterHeaders) stream.additionalHeaders({ ':status': 100 });
      const { req, res } = streamExchange(stream, headers, batch[i + 2] as string[]);
      this.options.handlers.request(req as unknown as IncomingMessage, res as unknown as ServerResponse);
    }
  };

  /** Serve an admitted connection: sniff its first bytes and hand it to TLS, h2c or HTTP/1.1. */
  accept(socket: Socket): void {
    this.sniff(socket);
  }

  /**
   * Keep-alive off (overload): every H2 session gets GOAWAY, and sessions opened meanwhile get it
   * after their first stream, so each connection serves what it already asked for and closes.
   */
  setKeepAlive(on: boolean): void {
    const wasOff = this.keepAliveOff;
    this.keepAliveOff = !on;
    if (this.keepAliveOff && !wasOff) for (const g of this.guards) g.goAway();
  }

  setProxyProtocol(on: boolean): void {
    this.proxyProtocol = on;
  }

  /** New limits for a kept port (the HTTP/1.1 front and H2 sessions read them per event). */
  update(global: IRGlobal): void {
    this.global = global;
    this.http1.limits = frontLimits(global);
  }

  private sniff(socket: Socket): void {
    socket.on('error', () => {});
    const deadline = headersDeadlineMs(this.global);
    const timer = setTimeout(() => socket.destroy(), deadline);
    let got: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      got = got.length === 0 ? chunk : Buffer.concat([got, chunk]);
      const first = got[0] as number;
      const isTLS = first === TLS_HANDSHAKE_RECORD;
      const maybeH2 = !isTLS && H2_PREFACE.subarray(0, Math.min(got.length, H2_PREFACE.length)).equals(got.subarray(0, Math.min(got.length, H2_PREFACE.length)));
      // Wait for the whole preface before deciding h2c, so "PRI" alone never picks a parser.
      if (maybeH2 && got.length < H2_PREFACE.length) return;
      // TLS: wait for the whole ClientHello (one record, almost always one read) to learn its server name.
      const hello = isTLS ? peekClientHello(got) : undefined;
      if (hello?.kind === 'need-more' && got.length < MAX_HELLO_BYTES) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      socket.unshift(got);
      if (isTLS && this.tlsServer !== undefined) {
        // Read per connection by Node's TLS server: the hosts of the current generation decide.
        const server = this.tlsServer as unknown as { requestCert: boolean; _sharedCreds: SecureContext };
        server.requestCert = this.options.tls?.requestCert() ?? false;
        // The handshake starts in the context of the ClientHello's server name, not the default host's:
        // OpenSSL opens a session ticket in the context the handshake starts with, so a ticket is only
        // taken by the host (the TLS context) it was sealed for, never carried into one that asks for
        // a client certificate. A client without SNI gets the default host's context (no default → the
        // empty context, and the handshake fails).
        const sni = hello?.kind === 'hello' ? hello.sni : undefined;
        server._sharedCreds = this.options.tls?.secureContext(sni) ?? this.emptyCreds!;
        this.tlsServer.emit('connection', socket);
      }
      else if (maybeH2) this.toH2(socket);
      // the front reads the sniffed bytes back through 'data' once the socket flows again
      else this.http1.accept(socket);
    };
    const onClose = (): void => clearTimeout(timer);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
  }

  private toH2(socket: Socket): void {
    this.arriving = socket;
    try {
      this.h2.emit('connection', socket);
    } finally {
      this.arriving = undefined;
    }
  }

  private afterTLS(s: TLSSocket): void {
    s.on('error', () => {});
    // Behind the PROXY protocol the client is the header's; a TLS socket that cannot be given it is
    // closed rather than served as if the balancer were the client.
    if (!carryProxiedPeer(s) && this.proxyProtocol) {
      s.destroy();
      return;
    }
    const t = this.options.tls;
    if (t !== undefined && t.clientCertRequired(s.servername || undefined) && !s.authorized) {
      // cert_required: a client without a certificate the host's CA verifies gets no HTTP at all.
      s.destroy();
      return;
    }
    if (s.alpnProtocol === 'h2') this.toH2(s);
    else this.http1.accept(s);
  }

  /** Drain: every H2 session gets GOAWAY (streams in flight finish), HTTP/1.1 is handled by the caller. */
  drain(): void {
    this.draining = true;
    this.http1.draining = true;
    for (const g of this.guards) g.goAway();
  }

  /** Deadline reached: destroy every session. */
  destroyAll(): void {
    for (const g of this.guards) g.destroy();
    this.http1.closeAllConnections();
  }

  /** Stop the front's deadline sweep (the outer server owns the port). */
  close(): void {
    this.http1.close();
  }
}
