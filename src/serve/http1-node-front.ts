// HTTP/1.1 clients served by node:http, for a Node.js whose private parser internals are missing or
// of another shape (or when PORTICO_HTTP1_FRONT=node): the llhttp front's handlers, limits and rules.

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { RESUME_HTTP } from '../dataplane/websocket-tunnel.js';
import { frontErrorResponse, type FrontHandlers, type FrontLimits } from './http1-front.js';
import { SlotList } from '../dataplane/slot-list.js';

/** A request dispatched whose response is not over yet. */
interface OpenExchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
}

/** What this front knows of a connection, beyond what node:http tells through public events. */
interface ConnectionState {
  /** Requests dispatched whose responses are not over yet, in request order (node:http answers in that order). */
  readonly open: OpenExchange[];
  /** Run when the responses ahead of a parse error are over. */
  then: (() => void) | undefined;
  failed: boolean;
  served: number;
}

const STATE = Symbol('portico.nodeFrontConnection');

type TrackedSocket = Duplex & { [STATE]?: ConnectionState };

function stateOf(socket: Duplex): ConnectionState {
  const s = socket as TrackedSocket;
  return (s[STATE] ??= { open: [], then: undefined, failed: false, served: 0 });
}

/** Send what is queued and a FIN, then let go (a client that never closes its side cannot hold the socket). */
function endWith(socket: Duplex, bytes: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.once('finish', () => socket.destroy());
  socket.end(bytes, 'latin1');
}

/**
 * Same surface as Http1Front. node:http parses with the same llhttp in strict mode; it enforces the
 * header, request, keep-alive and idle deadlines, the header size and the per-connection request cap
 * itself (its connection tracking starts on 'listening', emitted here since the outer server owns
 * the port). This class adds what node:http leaves to its user: error replies that wait for the
 * responses already under way, an upgrade pipelined behind a response refused, and the hold of bytes
 * sent while an upgrade is pending (see Http1Front's handOver).
 */
export class NodeHttp1Front {
  private isDraining = false;
  /** Every open exchange of this front, for the drain. */
  private readonly open = new SlotList<OpenExchange>();
  private current: FrontLimits;
  private readonly server: http.Server;

  constructor(limits: FrontLimits, readonly handlers: FrontHandlers, sweepEveryMs: number) {
    this.current = limits;
    this.server = http.createServer({
      insecureHTTPParser: false,
      // the request path answers a missing Host itself, as it does behind the llhttp front
      requireHostHeader: false,
      joinDuplicateHeaders: false,
      maxHeaderSize: limits.maxHeaderBytes,
      connectionsCheckingInterval: sweepEveryMs,
      noDelay: true,
    }, (req, res) => this.request(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    // CONNECT reaches the upgrade handler too, which answers it 405 (the gateway is no forward proxy)
    this.server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.clientError(err, socket));
    this.server.emit('listening');
    this.limits = limits;
  }

  get limits(): FrontLimits {
    return this.current;
  }

  /** New limits: node:http reads them per connection and per check. */
  set limits(l: FrontLimits) {
    this.current = l;
    const s = this.server;
    // node:http refuses a headers timeout above the request timeout: raise the larger one first
    s.requestTimeout = l.requestTimeoutMs;
    s.headersTimeout = l.headersTimeoutMs;
    s.keepAliveTimeout = l.keepAliveTimeoutMs;
    s.maxRequestsPerSocket = l.maxRequestsPerConnection;
    s.timeout = l.idleTimeoutMs;
    (s as unknown as { maxHeaderSize: number }).maxHeaderSize = l.maxHeaderBytes;
  }

  /** Serve `socket` as HTTP/1.x; `head` holds bytes already read from it. */
  accept(socket: Socket, head?: Buffer): void {
    if (head !== undefined && head.length > 0) socket.unshift(head);
    this.server.emit('connection', socket);
    // bytes the sniffer read back (or an upgrade held) wait in the stream: parsed before any new read
    if (socket.isPaused()) socket.resume();
  }

  closeIdleConnections(): void {
    this.server.closeIdleConnections();
  }

  closeAllConnections(): void {
    this.server.closeAllConnections();
  }

  close(): void {
    this.server.close();
  }

  get draining(): boolean {
    return this.isDraining;
  }

  /** Draining: responses not begun yet close their connections, and connections left idle close. */
  set draining(on: boolean) {
    this.isDraining = on;
    if (!on) return;
    for (const o of this.open.snapshot()) if (!o.res.headersSent) o.res.shouldKeepAlive = false;
  }

  private request(req: IncomingMessage, res: ServerResponse): void {
    const st = stateOf(req.socket);
    const entry: OpenExchange = { req, res };
    this.open.add(entry);
    st.open.push(entry);
    res.once('close', () => {
      this.open.delete(entry);
      const i = st.open.indexOf(entry);
      if (i >= 0) st.open.splice(i, 1);
      const then = st.then;
      if (then !== undefined) then();
      if (this.isDraining) setImmediate(() => this.server.closeIdleConnections());
    });
    // node:http says close on the last response the cap allows but keeps the socket open: closing is ours
    const max = this.current.maxRequestsPerConnection;
    if (this.draining || (max > 0 && ++st.served >= max)) res.shouldKeepAlive = false;
    this.handlers.request(req, res);
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.pause();
    const st = stateOf(socket);
    if (st.open.length > 0) {
      // an upgrade pipelined behind a response cannot take the socket: the connection ends after it
      st.then = () => {
        if (st.open.length > 0) return;
        st.then = undefined;
        endWith(socket, '');
      };
      return;
    }
    (socket as unknown as Record<symbol, unknown>)[RESUME_HTTP] = (rest: Buffer): void => {
      (socket as unknown as Record<symbol, unknown>)[RESUME_HTTP] = undefined;
      (socket as TrackedSocket)[STATE] = undefined;
      this.accept(socket as Socket, rest);
    };
    this.handlers.upgrade(req, socket, head);
  }

  /**
   * A parse error or a deadline: nothing after it on the connection can be trusted. The responses
   * to requests before the broken one go out first; a request whose body broke is abandoned (its
   * upstream exchange ends with the connection); then the error reply, and the connection closes.
   */
  private clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const st = stateOf(socket);
    if (st.failed) return;
    st.failed = true;
    const reply = frontErrorResponse(err.code);
    // nothing more is read or parsed on this connection
    socket.pause();
    const brokenAt = st.open.findIndex((o) => !o.req.complete);
    const ahead = brokenAt < 0 ? st.open.length : brokenAt;
    const finish = (): void => {
      const first = st.open[0];
      if (first !== undefined && first.req.complete) return;
      st.then = undefined;
      // a broken request whose response has begun cannot be answered: the client sees a reset
      if (first !== undefined && first.res.headersSent) socket.destroy();
      else endWith(socket, reply);
    };
    if (ahead === 0) finish();
    else st.then = finish;
  }
}
