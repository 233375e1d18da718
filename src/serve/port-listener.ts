// One bound port of the gateway: an HTTP, HTTPS, TCP or TLS-TCP server that hands each request or
// connection to the Gateway, tracks its connections, and drains (Connection: close, idle close, deadline).

import type { IncomingMessage, ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import tls, { type SecureContext, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { IRGlobal, IRListener } from '../ir/types.js';
import type { ConnectionInfo } from '../dataplane/runtime-types.js';
import { EdgeProtocols, OUTER_SERVER_OPTIONS } from './edge-protocols.js';
import { OVERLOAD_NORMAL, OVERLOAD_SHEDDING, type OverloadLevel } from './overload-monitor.js';
import { ACCEPTORS_PER_LISTENER, listenOnDuplicate, requestDuplicateHandles } from './listen-acceptors.js';
import { headersDeadlineMs } from './http-limits.js';
import { SlotList } from '../dataplane/slot-list.js';
import { readProxyHeader } from './proxy-protocol.js';
import { adoptProxiedPeer } from '../dataplane/proxied-peer.js';

export type ListenerKind = 'http' | 'https' | 'tcp' | 'tls-tcp';

/** A TCP listener's server (and each duplicate acceptor's): raw, a client's FIN propagated (see createServer). */
const TCP_SERVER_OPTIONS: net.ServerOpts = { noDelay: true, allowHalfOpen: true };

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
  /** The process's overload level (overload-monitor.ts): 1 turns keep-alive off, 2 sheds. */
  overloadLevel?(): OverloadLevel;
  /** A connection was closed at accept: a cap was reached, or a TCP listener while shedding. */
  connectionRefused?(from: PortListener, reason: ConnectionRefusal): void;
  /** The host chosen by this SNI has cert_required. */
  clientCertRequired?(from: PortListener, servername: string | undefined): boolean;
  /** Some host on this port verifies client certificates. */
  requestCert?(from: PortListener): boolean;
}

/** Why a connection was closed at accept (the label of portico_connections_refused_total). */
export type ConnectionRefusal = 'max_connections' | 'max_connections_per_client' | 'overload' | 'proxy_protocol';

/** How long a TCP listener's PROXY port waits for the header (HTTP ports: headersDeadlineMs). */
const TCP_PROXY_HEADER_TIMEOUT_MS = 10_000;

/** One client address however it arrives: IPv4 clients on a dual-stack socket appear as ::ffff:a.b.c.d. */
function clientKey(socket: Socket): string {
  const a = socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
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

type AnyServer = net.Server | tls.Server;

export class PortListener {
  readonly key: string;
  readonly kind: ListenerKind;
  readonly bindAddress: string;
  readonly port: number;
  /** Name of the IR listener currently served on this socket (may change across applies). */
  name: string;
  private readonly server: AnyServer;
  /** More servers on duplicates of the same socket (cluster workers; listen-acceptors.ts). */
  private readonly acceptors: net.Server[] = [];
  private readonly sockets = new SlotList<Socket>();
  /** Open connections by client address, for maxConnectionsPerClient. */
  private readonly perClient = new Map<string, number>();
  private limits: IRGlobal['limits'];
  /** How long a connection has to send its PROXY header. */
  private proxyHeaderDeadlineMs: number;
  /** The Listener's protocolStack holds PROXY: every connection starts with the PROXY protocol's header. */
  private proxyProtocol: boolean;
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
    this.limits = global.limits;
    this.proxyHeaderDeadlineMs = this.headerDeadline(global);
    this.proxyProtocol = l.protocolStack.includes('PROXY');
    this.server = this.createServer(global);
    // The only 'connection' listener: admission comes before anything reads or routes the socket.
    this.server.on('connection', this.onConnection);
  }

  private readonly onConnection = (socket: Socket): void => {
    if (this.proxyProtocol) {
      this.acceptProxied(socket);
      return;
    }
    if (!this.admitToPort(socket) || !this.admitClient(socket)) return;
    this.track(socket);
    this.serve(socket);
  };

  /**
   * A PROXY port: the port's caps apply at once, the per-client cap (and shedding) once the header
   * has said who the client is; until then the connection counts toward the port's cap.
   */
  private acceptProxied(socket: Socket): void {
    if (!this.admitToPort(socket)) return;
    this.track(socket);
    readProxyHeader(socket, this.proxyHeaderDeadlineMs, (outcome) => {
      if (outcome.kind === 'closed') return;
      if (outcome.kind === 'invalid') {
        this.refuse(socket, 'proxy_protocol');
        return;
      }
      adoptProxiedPeer(socket, outcome.source, outcome.destination);
      if (this.admitClient(socket)) this.serve(socket);
    });
  }

  private headerDeadline(global: IRGlobal): number {
    return this.kind === 'tcp' || this.kind === 'tls-tcp' ? TCP_PROXY_HEADER_TIMEOUT_MS : headersDeadlineMs(global);
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private serve(socket: Socket): void {
    if (this.edge) this.edge.accept(socket);
    else this.dispatch.tcp(socket, this);
  }

  /** A server with the options of this listener's own (the edge's outer server for HTTP ports). */
  private acceptorServer(): net.Server {
    return net.createServer(this.kind === 'tcp' || this.kind === 'tls-tcp' ? TCP_SERVER_OPTIONS : OUTER_SERVER_OPTIONS);
  }

  /** In a cluster worker: accept on duplicates of the socket too, so a busy worker takes a burst of connections in a few turns. */
  private async addAcceptors(): Promise<void> {
    const handles = await requestDuplicateHandles(this.server, ACCEPTORS_PER_LISTENER - 1);
    for (const h of handles) {
      if (this.draining) {
        h.close();
        continue;
      }
      const s = this.acceptorServer();
      if (!listenOnDuplicate(s, h)) continue;
      s.on('error', () => {});
      s.on('connection', this.onConnection);
      this.acceptors.push(s);
    }
  }

  /**
   * Connection caps, counted per listener in this process (each worker counts its own). A refused
   * connection is closed at once, before a byte is read: no TLS handshake, no parser, no upstream.
   */
  private admitToPort(socket: Socket): boolean {
    const { maxConnections } = this.limits;
    if (maxConnections > 0 && this.sockets.size >= maxConnections) return this.refuse(socket, 'max_connections');
    return true;
  }

  /** The per-client cap (by the client's address), and shedding on TCP ports; counts the client's connection. */
  private admitClient(socket: Socket): boolean {
    const { maxConnectionsPerClient } = this.limits;
    const client = clientKey(socket);
    const fromClient = this.perClient.get(client) ?? 0;
    if (maxConnectionsPerClient > 0 && fromClient >= maxConnectionsPerClient) return this.refuse(socket, 'max_connections_per_client');
    // HTTP ports keep accepting while shedding, so clients read a 503 with Retry-After; TCP has no such answer.
    if (!this.edge && this.dispatch.overloadLevel?.() === OVERLOAD_SHEDDING) return this.refuse(socket, 'overload');
    this.perClient.set(client, fromClient + 1);
    socket.once('close', () => {
      const n = (this.perClient.get(client) ?? 1) - 1;
      if (n <= 0) this.perClient.delete(client);
      else this.perClient.set(client, n);
    });
    return true;
  }

  private refuse(socket: Socket, reason: ConnectionRefusal): false {
    socket.on('error', () => {});
    socket.destroy();
    this.dispatch.connectionRefused?.(this, reason);
    return false;
  }

  private createServer(global: IRGlobal): AnyServer {
    switch (this.kind) {
      // TCP listeners stay raw: the request path peeks the ClientHello's SNI and terminates TLS only for
      // routes with a TLS context (others pass through); allowHalfOpen lets a client's FIN be propagated.
      case 'tcp':
      case 'tls-tcp':
        return net.createServer(TCP_SERVER_OPTIONS);
      case 'https':
      case 'http': {
        const edge = new EdgeProtocols({
          global,
          handlers: {
            request: (req, res) => this.onRequest(req, res),
            upgrade: (req, socket, head) => {
              if (this.draining) socket.destroy();
              else this.dispatch.upgrade(req, socket, head, this);
            },
          },
          tls: this.kind === 'https'
            ? {
              secureContext: (n) => this.dispatch.secureContext(this, n),
              clientCertRequired: (n) => this.dispatch.clientCertRequired?.(this, n) ?? false,
              requestCert: () => this.dispatch.requestCert?.(this) ?? false,
            }
            : undefined,
        });
        edge.setProxyProtocol(this.proxyProtocol);
        this.edge = edge;
        return edge.outer;
      }
    }
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    // A request that arrives while draining (keep-alive or pipelined) is served, then the socket closes.
    if (this.draining || (this.dispatch.overloadLevel?.() ?? OVERLOAD_NORMAL) !== OVERLOAD_NORMAL) res.shouldKeepAlive = false;
    this.dispatch.request(req, res, this);
  }

  /** Apply a new IRGlobal to a kept socket. */
  update(l: IRListener, global: IRGlobal): void {
    this.name = l.name;
    this.plainInfo = { listener: this.name, port: this.boundPortValue, tls: false };
    this.edge?.update(global);
    this.limits = global.limits;
    this.proxyHeaderDeadlineMs = this.headerDeadline(global);
    this.proxyProtocol = l.protocolStack.includes('PROXY');
    this.edge?.setProxyProtocol(this.proxyProtocol);
  }

  /** The overload level changed: above normal, H2 sessions get GOAWAY (HTTP/1.1 reads the level per response). */
  overloadChanged(level: OverloadLevel): void {
    this.edge?.setKeepAlive(level === OVERLOAD_NORMAL);
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
        void this.addAcceptors();
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
      const timer = setTimeout(() => this.forceClose(), Math.max(0, deadlineMs));
      timer.unref();
      // Each server counts the connections it accepted: drained once every one has closed them.
      const servers = [this.server, ...this.acceptors];
      let open = servers.length;
      const closed = (): void => {
        if (--open > 0) return;
        clearTimeout(timer);
        this.edge?.close();
        resolve();
      };
      for (const server of servers) server.close(closed);
      this.edge?.drain();
      // The fronts close each connection once its response in flight is over; idle ones close now.
      this.edge?.http1.closeIdleConnections();
    });
    return this.drained;
  }

  /** Destroy every connection now (deadline reached or a second SIGTERM). */
  forceClose(): void {
    this.draining = true;
    if (this.server.listening) this.server.close();
    for (const s of this.acceptors) if (s.listening) s.close();
    this.edge?.destroyAll();
    for (const s of this.sockets.snapshot()) s.destroy();
    this.edge?.close();
  }
}
