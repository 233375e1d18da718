// WebSocket upgrades on routes that allow them: check the client handshake, ask the upstream for
// the upgrade, and tunnel bytes only after a valid 101; any other answer is relayed as plain HTTP.

import http, { type IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { UpstreamCluster } from './upstream-pool.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A non-101 answer body is relayed with a length when it is at most this big; larger ones close the connection. */
const MAX_BUFFERED_REPLY = 64 * 1024;

/** RFC 6455 §4.2.1: what makes a client request a WebSocket opening handshake. */
export function isWebSocketHandshake(req: IncomingMessage): boolean {
  if (req.method !== 'GET' || req.httpVersion !== '1.1') return false;
  const upgrade = req.headers.upgrade;
  if (typeof upgrade !== 'string' || upgrade.trim().toLowerCase() !== 'websocket') return false;
  const connection = req.headers.connection;
  if (typeof connection !== 'string' || !connection.split(',').some((t) => t.trim().toLowerCase() === 'upgrade')) return false;
  // Any version is passed on (the upstream answers 426 to one it does not speak), but one must be given.
  if (!/^\d{1,3}$/.test(String(req.headers['sec-websocket-version'] ?? '').trim())) return false;
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !/^[A-Za-z0-9+/]{22}==$/.test(key.trim())) return false;
  return Buffer.from(key.trim(), 'base64').length === 16;
}

export function webSocketAccept(key: string): string {
  return createHash('sha1').update(key.trim() + WS_GUID).digest('base64');
}

export interface TunnelOutcome {
  readonly status: number;
  readonly upstreamAddress?: string;
  readonly error?: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface WebSocketTunnelInput {
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  readonly head: Buffer;
  readonly cluster: UpstreamCluster;
  readonly path: string;
  /** Upstream request headers (hop-by-hop already stripped, Host slot filled). */
  readonly headers: readonly string[];
  readonly connectTimeoutMs: number;
  /** Both directions silent this long → both sides closed. */
  readonly idleTimeoutMs: number;
  /** Called once when the exchange or the tunnel is over. */
  readonly onDone: (o: TunnelOutcome) => void;
  /** Called when there was no upgrade and the client may send its next request on this connection. */
  readonly resumeHTTP: (socket: Duplex) => void;
  /** Called when the upstream failed before any answer (the caller writes a local reply). */
  readonly onFailure: (status: number, error: string) => void;
}

/** An open tunnel, so that drain can close it with 1001 (going away). */
export interface OpenTunnel {
  goAway(): void;
}

/** Server→client close frame, code 1001: unmasked, two-byte payload. */
const CLOSE_GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9]);
/** Client→server close frame, code 1001: masked with a zero key (RFC 6455 allows any key). */
const CLOSE_GOING_AWAY_MASKED = Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe9]);

export function openWebSocketTunnel(x: WebSocketTunnelInput, register: (t: OpenTunnel) => () => void): void {
  const ep = x.cluster.pick(undefined, Date.now());
  if (ep === undefined) {
    x.onFailure(503, 'no_endpoints');
    return;
  }
  const headers = x.headers.slice();
  headers.push('connection', 'Upgrade', 'upgrade', 'websocket');
  const key = (x.req.headers['sec-websocket-key'] as string).trim();
  let finished = false;
  const done = (o: TunnelOutcome): void => {
    if (finished) return;
    finished = true;
    x.onDone(o);
  };
  const ureq = http.request({
    // an upgrade gets a connection of its own: it leaves with the tunnel or closes on refusal
    agent: false,
    ...x.cluster.tlsOptions,
    protocol: x.cluster.secure ? 'https:' : 'http:',
    host: ep.address,
    port: ep.port,
    method: 'GET',
    path: x.path,
    headers,
    setHost: false,
  });
  let answered = false;
  const connectTimer = setTimeout(() => {
    if (answered) return;
    answered = true;
    ureq.destroy();
    x.onFailure(503, 'PORTICO_CONNECT_TIMEOUT');
  }, x.connectTimeoutMs);
  const clientGone = (): void => {
    if (answered) return;
    answered = true;
    clearTimeout(connectTimer);
    ureq.destroy();
    done({ status: 499, upstreamAddress: ep.key, bytesIn: 0, bytesOut: 0 });
  };
  x.socket.once('close', clientGone);
  ureq.on('error', (err: NodeJS.ErrnoException) => {
    if (answered) return;
    answered = true;
    clearTimeout(connectTimer);
    x.socket.off('close', clientGone);
    x.onFailure(err.code === 'ECONNREFUSED' ? 503 : 502, err.code ?? 'upstream_error');
  });
  ureq.on('response', (ures) => {
    if (answered) {
      ures.destroy();
      return;
    }
    answered = true;
    clearTimeout(connectTimer);
    x.socket.off('close', clientGone);
    // The upstream connection carried a refused upgrade: never hand it back to the pool.
    ures.once('end', () => ureq.destroy());
    relayPlainResponse(x, ures, ep.key, done);
  });
  ureq.on('upgrade', (ures: IncomingMessage, usock: Socket, uhead: Buffer) => {
    if (answered) {
      usock.destroy();
      return;
    }
    answered = true;
    clearTimeout(connectTimer);
    x.socket.off('close', clientGone);
    const upgrade = ures.headers.upgrade;
    const accept = ures.headers['sec-websocket-accept'];
    if (typeof upgrade !== 'string' || upgrade.trim().toLowerCase() !== 'websocket' || accept !== webSocketAccept(key)) {
      // A 101 the handshake does not explain (wrong protocol or accept) is never tunnelled.
      usock.destroy();
      x.onFailure(502, 'PORTICO_INVALID_UPGRADE');
      return;
    }
    const lines = ['HTTP/1.1 101 Switching Protocols'];
    for (let i = 0; i < ures.rawHeaders.length; i += 2) {
      const name = ures.rawHeaders[i] as string;
      const value = ures.rawHeaders[i + 1] as string;
      if (/[\r\n\0]/.test(value)) continue;
      lines.push(`${name}: ${value}`);
    }
    x.socket.write(lines.join('\r\n') + '\r\n\r\n');
    splice(x, usock, uhead, ep.key, done, register);
  });
  ureq.end();
}

function relayPlainResponse(x: WebSocketTunnelInput, ures: IncomingMessage, upstreamAddress: string, done: (o: TunnelOutcome) => void): void {
  const status = ures.statusCode ?? 502;
  const chunks: Buffer[] = [];
  let size = 0;
  let streaming = false;
  const headLines = (withLength: boolean): string => {
    const lines = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Unknown'}`];
    for (let i = 0; i < ures.rawHeaders.length; i += 2) {
      const name = ures.rawHeaders[i] as string;
      const lname = name.toLowerCase();
      const value = ures.rawHeaders[i + 1] as string;
      if (lname === 'connection' || lname === 'upgrade' || lname === 'transfer-encoding' || lname === 'content-length' || lname === 'keep-alive') continue;
      if (/[\r\n\0]/.test(value)) continue;
      lines.push(`${name}: ${value}`);
    }
    lines.push(withLength ? `content-length: ${size}` : 'connection: close');
    return lines.join('\r\n') + '\r\n\r\n';
  };
  ures.on('data', (c: Buffer) => {
    if (streaming) return;
    chunks.push(c);
    size += c.length;
    if (size > MAX_BUFFERED_REPLY) {
      // Too big to frame with a length: stream it and end the connection (read-until-close framing).
      streaming = true;
      // The connection ends with this reply: what the client sent meanwhile is never parsed.
      x.socket.resume();
      x.socket.once('finish', () => x.socket.destroy());
      x.socket.write(headLines(false));
      for (const b of chunks) x.socket.write(b);
      ures.pipe(x.socket);
    }
  });
  ures.on('error', () => x.socket.destroy());
  ures.on('end', () => {
    if (streaming) {
      done({ status, upstreamAddress, bytesIn: 0, bytesOut: size });
      return;
    }
    const body = Buffer.concat(chunks, size);
    x.socket.write(headLines(true));
    x.socket.write(body, () => {
      done({ status, upstreamAddress, bytesIn: 0, bytesOut: size });
      // The connection stays HTTP: its next request is parsed and routed like any other.
      x.resumeHTTP(x.socket);
    });
  });
}

function splice(
  x: WebSocketTunnelInput, usock: Socket, uhead: Buffer, upstreamAddress: string, done: (o: TunnelOutcome) => void,
  register: (t: OpenTunnel) => () => void,
): void {
  const client = x.socket;
  let bytesIn = x.head.length;
  let bytesOut = uhead.length;
  let closed = false;
  const unregister = register({
    goAway() {
      if (closed) return;
      client.unpipe(usock);
      usock.unpipe(client);
      client.end(CLOSE_GOING_AWAY);
      usock.end(CLOSE_GOING_AWAY_MASKED);
      const t = setTimeout(() => close(), 1000);
      t.unref();
    },
  });
  const close = (): void => {
    if (closed) return;
    closed = true;
    unregister();
    client.destroy();
    usock.destroy();
    done({ status: 101, upstreamAddress, bytesIn, bytesOut });
  };
  usock.on('error', close);
  client.on('error', close);
  usock.on('close', close);
  client.on('close', close);
  client.on('data', (c: Buffer) => {
    bytesIn += c.length;
  });
  usock.on('data', (c: Buffer) => {
    bytesOut += c.length;
  });
  if (x.idleTimeoutMs > 0) {
    let lastActivity = Date.now();
    const touch = (): void => {
      lastActivity = Date.now();
    };
    client.on('data', touch);
    usock.on('data', touch);
    const timer = setInterval(() => {
      if (Date.now() - lastActivity >= x.idleTimeoutMs) {
        clearInterval(timer);
        close();
      }
    }, Math.max(50, Math.min(1000, Math.floor(x.idleTimeoutMs / 4))));
    timer.unref();
    usock.once('close', () => clearInterval(timer));
  }
  (usock as Socket).setNoDelay?.(true);
  if (uhead.length > 0) client.write(uhead);
  if (x.head.length > 0) usock.write(x.head);
  // pipe() pauses the faster side when the slower one's buffer is full: memory stays bounded.
  usock.pipe(client);
  client.pipe(usock);
}

/** Set on a socket by the HTTP/1.1 front that handed it over: call it to have the socket parsed as HTTP again. */
export const RESUME_HTTP = Symbol.for('portico.resumeHTTP');

/**
 * Give a connection back to its HTTP server after an upgrade that did not happen, so the next
 * request on it is parsed and routed like any other (and never reaches the upstream raw).
 */
export function resumeHTTPParsing(socket: Duplex, head: Buffer): void {
  const resume = (socket as unknown as Record<symbol, ((head: Buffer) => void) | undefined>)[RESUME_HTTP];
  if (resume === undefined || socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  resume(head);
}
