// TCPMapping traffic: pick the TCP route of a connection (by port, or by SNI peeked from the
// ClientHello), terminate TLS when the route has a context, then splice bytes to a weighted upstream.

import net, { type Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import type { IRListener, IRTCPRoute, IRTLSContext } from '../ir/types.js';
import type { SecretStore } from '../ir/secrets.js';
import type { UpstreamCluster } from './upstream-pool.js';
import { MAX_HELLO_BYTES, peekClientHello } from './client-hello.js';
import { carryProxiedPeer, directPeer } from './proxied-peer.js';

export interface TCPOutcome {
  readonly route?: string;
  readonly cluster?: string;
  readonly upstreamAddress?: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly error?: string;
  readonly sni?: string;
}

export interface TCPEnv {
  readonly clusters: ReadonlyMap<string, UpstreamCluster>;
  readonly tlsContexts: readonly IRTLSContext[];
  readonly secrets: SecretStore;
  readonly random: () => number;
  readonly connectTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
}

/** An open TCP session, so that drain can end it. */
export interface OpenTCPSession {
  close(): void;
}

/** A terminated connection waiting for its handshake, found again by its addresses. */
interface PendingHandshake {
  readonly route: IRTCPRoute;
  readonly sni: string | undefined;
  readonly done: (o: TCPOutcome) => void;
  readonly register: (s: OpenTCPSession) => () => void;
}

/**
 * The raw socket and the TLSSocket over it report the same addresses of the connection itself; one
 * live connection has one key (the client a PROXY header names need not be unique, so it is not used).
 */
function connectionKey(s: Socket): string {
  const peer = directPeer(s);
  return `${peer.address ?? ''}|${peer.port ?? 0}|${s.localPort ?? 0}`;
}

/**
 * Per-generation TCP routing. Terminating routes get one TLS server per context (never listening:
 * connections are handed to it), built once, not per connection. A tls.Server, not a bare TLSSocket,
 * because only the server checks the client certificate against the CA and refuses it when required.
 */
export class TCPRouter {
  private readonly terminators = new Map<string, tls.Server>();
  private readonly pending = new Map<string, PendingHandshake>();

  constructor(private readonly env: TCPEnv) {}

  private terminatorFor(name: string): tls.Server | undefined {
    let server = this.terminators.get(name);
    if (server !== undefined) return server;
    const c = this.env.tlsContexts.find((x) => x.name === name);
    const pair = c?.certificate !== undefined ? this.env.secrets[c.certificate.secret] : undefined;
    if (c === undefined || pair?.certPem === undefined || pair.keyPem === undefined) return undefined;
    const verifies = c.ca !== undefined;
    server = tls.createServer({
      cert: pair.certPem,
      key: pair.keyPem,
      ...(verifies ? { ca: this.env.secrets[c.ca!.secret]?.caPem ?? this.env.secrets[c.ca!.secret]?.certPem } : {}),
      ...(c.minVersion !== undefined ? { minVersion: c.minVersion === 'TLSv1.0' ? 'TLSv1' : c.minVersion } : {}),
      ...(c.maxVersion !== undefined ? { maxVersion: c.maxVersion === 'TLSv1.0' ? 'TLSv1' : c.maxVersion } : {}),
      ...(c.cipherSuites.length > 0 ? { ciphers: c.cipherSuites.join(':') } : {}),
      ...(c.alpnProtocols.length > 0 ? { ALPNProtocols: c.alpnProtocols.slice() } : {}),
      // A context with a CA asks for a client certificate; with cert_required a client without one
      // that chains to the CA is refused before any byte reaches the upstream.
      requestCert: verifies,
      rejectUnauthorized: verifies && c.certRequired,
      handshakeTimeout: this.env.handshakeTimeoutMs,
    });
    server.on('secureConnection', (secure: TLSSocket) => {
      secure.on('error', () => {});
      const key = connectionKey(secure);
      const p = this.pending.get(key);
      if (p === undefined) {
        secure.destroy();
        return;
      }
      this.pending.delete(key);
      carryProxiedPeer(secure);
      this.proxy(secure as unknown as Socket, p.route, Buffer.alloc(0), p.sni, p.done, p.register);
    });
    server.on('tlsClientError', (_err, secure) => secure.destroy());
    server.on('error', () => {});
    this.terminators.set(name, server);
    return server;
  }

  /** Serve one accepted connection; `done` is called exactly once when both sides are gone. */
  handle(socket: Socket, listener: IRListener, done: (o: TCPOutcome) => void, register: (s: OpenTCPSession) => () => void): void {
    socket.on('error', () => {});
    const routes = listener.tcpRoutes;
    if (routes.length === 0) {
      socket.destroy();
      done({ bytesIn: 0, bytesOut: 0, error: 'no_route' });
      return;
    }
    if (!routes.some((r) => r.sni !== undefined)) {
      this.proxy(socket, routes[0] as IRTCPRoute, Buffer.alloc(0), undefined, done, register);
      return;
    }
    // SNI routes: read just the ClientHello, choose, then either terminate or pass the bytes through untouched.
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => finish(undefined, 'hello_timeout'), this.env.handshakeTimeoutMs);
    const onData = (c: Buffer): void => {
      chunks.push(c);
      size += c.length;
      const peek = peekClientHello(Buffer.concat(chunks, size));
      if (peek.kind === 'need-more' && size < MAX_HELLO_BYTES) return;
      finish(peek.kind === 'hello' ? peek.sni : undefined, peek.kind === 'need-more' ? 'hello_too_large' : undefined);
    };
    const onEnd = (): void => finish(undefined, 'closed_before_hello');
    let settled = false;
    const finish = (sni: string | undefined, error: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.pause();
      const route = error === undefined ? pickRoute(routes, sni) : undefined;
      if (route === undefined) {
        socket.destroy();
        done({ bytesIn: size, bytesOut: 0, error: error ?? 'no_route', sni });
        return;
      }
      const hello = Buffer.concat(chunks, size);
      if (route.tlsContext === undefined) {
        this.proxy(socket, route, hello, sni, done, register);
        return;
      }
      const server = this.terminatorFor(route.tlsContext);
      if (server === undefined) {
        socket.destroy();
        done({ route: route.id, bytesIn: size, bytesOut: 0, error: 'tls_context_missing', sni });
        return;
      }
      const key = connectionKey(socket);
      const pending: PendingHandshake = { route, sni, done, register };
      this.pending.set(key, pending);
      // Until 'secureConnection' takes it, a closed connection is a failed handshake (no certificate,
      // a certificate the CA does not verify, the handshake deadline, or the client leaving).
      socket.once('close', () => {
        if (this.pending.get(key) !== pending) return;
        this.pending.delete(key);
        done({ route: route.id, bytesIn: size, bytesOut: 0, error: 'handshake_failed', sni });
      });
      socket.unshift(hello);
      server.emit('connection', socket);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    // A socket handed on paused (after a PROXY header) flows only when told to.
    socket.resume();
  }

  private proxy(
    client: Socket, route: IRTCPRoute, first: Buffer, sni: string | undefined, done: (o: TCPOutcome) => void,
    register: (s: OpenTCPSession) => () => void,
  ): void {
    const b = pickWeighted(route.backends, this.env.random);
    const cluster = b !== undefined ? this.env.clusters.get(b.cluster) : undefined;
    const ep = cluster?.pick(undefined, Date.now());
    if (cluster === undefined || ep === undefined) {
      client.destroy();
      done({ route: route.id, cluster: cluster?.name, bytesIn: first.length, bytesOut: 0, error: 'no_endpoints', sni });
      return;
    }
    let bytesIn = first.length;
    let bytesOut = 0;
    let closed = false;
    let error: string | undefined;
    const upstream: Socket = cluster.secure
      ? tls.connect({ ...cluster.tlsOptions, host: ep.address, port: ep.port, allowHalfOpen: true } as tls.ConnectionOptions)
      : net.connect({ host: ep.address, port: ep.port, allowHalfOpen: true, noDelay: true });
    const connectTimer = setTimeout(() => {
      error = 'connect_timeout';
      close();
    }, cluster.ir.connectTimeoutMs || this.env.connectTimeoutMs);
    const unregister = register({ close: () => close() });
    const close = (): void => {
      if (closed) return;
      closed = true;
      clearTimeout(connectTimer);
      if (idle !== undefined) clearInterval(idle);
      unregister();
      client.destroy();
      upstream.destroy();
      done({ route: route.id, cluster: cluster.name, upstreamAddress: ep.key, bytesIn, bytesOut, error, sni });
    };
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      error ??= err.code ?? 'upstream_error';
      close();
    });
    client.on('error', () => close());
    let ended = 0;
    // Half-close: each side's FIN is passed on; the connection is over once both directions ended.
    const onEnded = (): void => {
      if (++ended === 2) close();
    };
    upstream.once('end', onEnded);
    client.once('end', onEnded);
    upstream.once('close', close);
    client.once('close', close);
    let last = Date.now();
    client.on('data', (c: Buffer) => {
      bytesIn += c.length;
      last = Date.now();
    });
    upstream.on('data', (c: Buffer) => {
      bytesOut += c.length;
      last = Date.now();
    });
    // Nothing is read from the client until the upstream is connected and piped.
    client.pause();
    let idle: NodeJS.Timeout | undefined;
    if (route.idleTimeoutMs > 0) {
      idle = setInterval(() => {
        if (Date.now() - last >= route.idleTimeoutMs) {
          error = 'idle_timeout';
          close();
        }
      }, Math.max(50, Math.min(1000, Math.floor(route.idleTimeoutMs / 4))));
      idle.unref();
    }
    upstream.once(cluster.secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(connectTimer);
      if (first.length > 0) upstream.write(first);
      // pipe() applies backpressure both ways: a slow reader pauses the other side instead of buffering.
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  }
}

/** Exact SNI first, then the longest matching "*.suffix", then the catch-all route. */
export function pickRoute(routes: readonly IRTCPRoute[], sni: string | undefined): IRTCPRoute | undefined {
  let wildcard: IRTCPRoute | undefined;
  let catchAll: IRTCPRoute | undefined;
  for (const r of routes) {
    if (r.sni === undefined || r.sni === '*') {
      catchAll ??= r;
      continue;
    }
    if (sni === undefined) continue;
    if (r.sni === sni) return r;
    if (r.sni.startsWith('*.') && sni.endsWith(r.sni.slice(1)) && (wildcard === undefined || r.sni.length > (wildcard.sni as string).length)) wildcard = r;
  }
  return wildcard ?? catchAll;
}

function pickWeighted<T extends { readonly weight: number }>(items: readonly T[], random: () => number): T | undefined {
  if (items.length <= 1) return items[0];
  const total = items.reduce((s, i) => s + Math.max(0, i.weight), 0);
  if (total <= 0) return items[0];
  let x = random() * total;
  for (const i of items) {
    x -= Math.max(0, i.weight);
    if (x < 0) return i;
  }
  return items[items.length - 1];
}
