// One bound port of the gateway: an HTTP, HTTPS, TCP or TLS-TCP server that hands each request or
// connection to the Gateway, tracks its connections, and drains (Connection: close, idle close, deadline).

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net, { type Socket } from 'node:net';
import tls, { type SecureContext, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { IRGlobal, IRListener } from '../ir/types.js';
import type { ConnectionInfo } from '../dataplane/runtime-types.js';
import { applyServerLimits } from './http-limits.js';
import { EdgeProtocols } from './edge-protocols.js';

export type ListenerKind = 'http' | 'https' | 'tcp' | 'tls-tcp';

export function listenerKind(l: IRListener): ListenerKind {
  if (l.l7) return l.tls ? 'https' : 'http';
  return l.tls ? 'tls-tcp' : 'tcp';
}

/** Identity of a socket: a listener whose key is unchanged keeps its socket across applies. */
export function listenerKey(l: IRListener): string {
  return `${l.bindAddress}|${l.port}|${listenerKind(l)}`;
}

/** What a bound port calls back into; the Gateway reads its current runtime inside these. */
export interface ListenerDispatch {
  request(req: IncomingMessage, res: ServerResponse, from: PortListener): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, from: PortListener): void;
  tcp(socket: Socket, from: PortListener): void;
  secureContext(from: PortListener, servername: string | undefined): SecureContext | undefined;
  /** The host chosen by this SNI has cert_required. */
  clientCertRequired?(from: PortListener, servername: string | undefined): boolean;
  /** Some host on this port verifies client certificates. */
  requestCert?(from: PortListener): boolean;
}

export type BindErrorCode = 'EADDRINUSE' | 'EACCES' | 'EADDRNOTAVAIL' | 'BindFailed';

export class ListenerBindError extends Error {
  readonly code = 'PORTICO_ERR_LISTENER_BIND';
  constructor(
    readonly reason: BindErrorCode,
    readonly listener: string,
    readonly address: string,
    readonly port: number,
    detail: string,
  ) {
    super(`listener ${listener}: cannot bind ${address}:${port}: ${reason}${detail ? ` (${detail})` : ''}`);
  }
}

type AnyServer = http.Server | https.Server | net.Server | tls.Server;

export class PortListener {
  readonly key: string;
  readonly kind: ListenerKind;
  readonly bindAddress: string;
  readonly port: number;
  /** Name of the IR listener currently served on this socket (may change across applies). */
  name: string;
  private readonly server: AnyServer;
  private readonly sockets = new Set<Socket>();
  private readonly inflight = new Set<ServerResponse>();
  private draining = false;
  private drained?: Promise<void>;
  private boundPortValue: number;
  private plainInfo: ConnectionInfo;
  /** HTTP ports: TLS / h2 / h2c / HTTP/1.1 behind one socket. */
  private edge: EdgeProtocols | undefined;

  constructor(l: IRListener, global: IRGlobal, private readonly dispatch: ListenerDispatch) {
    this.key = listenerKey(l);
    this.kind = listenerKind(l);
    this.bindAddress = l.bindAddress;
    this.port = l.port;
    this.name = l.name;
    this.boundPortValue = l.port;
    this.plainInfo = { listener: this.name, port: this.boundPortValue, tls: false };
    this.server = this.createServer(global);
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  private createServer(global: IRGlobal): AnyServer {
    const onTCP = (socket: Socket) => this.dispatch.tcp(socket, this);
    switch (this.kind) {
      // TCP listeners stay raw: the request path peeks the ClientHello's SNI and terminates TLS only for
      // routes with a TLS context (others pass through); allowHalfOpen lets a client's FIN be propagated.
      case 'tcp':
      case 'tls-tcp':
        return net.createServer({ noDelay: true, allowHalfOpen: true }, onTCP);
      case 'https':
      case 'http': {
        const edge = new EdgeProtocols({
          global,
          tls: this.kind === 'https'
            ? {
              secureContext: (n) => this.dispatch.secureContext(this, n),
              clientCertRequired: (n) => this.dispatch.clientCertRequired?.(this, n) ?? false,
              requestCert: () => this.dispatch.requestCert?.(this) ?? false,
            }
            : undefined,
        });
        this.edge = edge;
        this.wireHTTP(edge.http1, global);
        return edge.outer;
      }
    }
  }

  /** The HTTP(S) face of this listener; https.Server shares http.Server's methods but not its prototype. */
  private http(): http.Server | undefined {
    return this.edge?.http1;
  }

  private wireHTTP(server: http.Server, global: IRGlobal): void {
    applyServerLimits(server, global);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      // A request that arrives while draining (keep-alive or pipelined) is served, then the socket closes.
      if (this.draining) res.shouldKeepAlive = false;
      this.inflight.add(res);
      res.once('close', () => {
        this.inflight.delete(res);
        if (this.draining) setImmediate(() => server.closeIdleConnections());
      });
      this.dispatch.request(req, res, this);
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.draining) {
        socket.destroy();
        return;
      }
      this.dispatch.upgrade(req, socket, head, this);
    });
  }

  /** Apply a new IRGlobal to a kept socket. */
  update(l: IRListener, global: IRGlobal): void {
    this.name = l.name;
    this.plainInfo = { listener: this.name, port: this.boundPortValue, tls: false };
    const h = this.http();
    if (h) applyServerLimits(h, global);
    this.edge?.update(global);
    if (global.limits.maxConnections > 0) this.server.maxConnections = global.limits.maxConnections;
  }

  bind(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        this.server.off('listening', onListening);
        const code = err.code;
        const reason: BindErrorCode = code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL' ? code : 'BindFailed';
        reject(new ListenerBindError(reason, this.name, this.bindAddress, this.port, reason === 'BindFailed' ? err.message : ''));
      };
      const onListening = () => {
        this.server.off('error', onError);
        const a = this.server.address();
        if (typeof a === 'object' && a) this.boundPortValue = a.port;
        this.plainInfo = { listener: this.name, port: this.boundPortValue, tls: false };
        // Runtime errors on a bound server (EMFILE on accept) must not crash the process.
        this.server.on('error', () => {});
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen({ host: this.bindAddress, port: this.port });
    });
  }

  /** The port actually bound (differs from the IR when the IR asks for port 0). */
  boundPort(): number {
    return this.boundPortValue;
  }

  /**
   * What the request path is told about a connection. Cleartext listeners share one frozen object
   * (built per apply, not per request); TLS ones add the SNI of each connection.
   */
  connectionInfo(socket: Socket): ConnectionInfo {
    // HTTPS ports also serve cleartext: the socket, not the listener, says whether TLS was used.
    if (this.kind === 'http' || this.kind === 'tcp' || (socket as TLSSocket).encrypted !== true) return this.plainInfo;
    const sni = (socket as TLSSocket).servername;
    return sni ? { listener: this.name, port: this.boundPortValue, tls: true, sni } : { listener: this.name, port: this.boundPortValue, tls: true };
  }

  get connections(): number {
    return this.sockets.size;
  }

  /**
   * Stop accepting, close idle keep-alive connections, mark in-flight responses `Connection: close`
   * so their sockets end after the response, and destroy whatever is left at the deadline.
   */
  drain(deadlineMs: number): Promise<void> {
    if (this.drained) return this.drained;
    this.draining = true;
    this.drained = new Promise<void>((resolve) => {
      const server = this.server;
      const timer = setTimeout(() => this.forceClose(), Math.max(0, deadlineMs));
      timer.unref();
      server.close(() => {
        clearTimeout(timer);
        this.edge?.close();
        resolve();
      });
      this.edge?.drain();
      const h = this.http();
      if (h) {
        for (const res of this.inflight) {
          if (!res.headersSent) res.shouldKeepAlive = false;
        }
        h.closeIdleConnections();
      }
    });
    return this.drained;
  }

  /** Destroy every connection now (deadline reached or a second SIGTERM). */
  forceClose(): void {
    this.draining = true;
    if (this.server.listening) this.server.close();
    this.http()?.closeAllConnections();
    this.edge?.destroyAll();
    for (const s of this.sockets) s.destroy();
    this.edge?.close();
  }
}
