// A connection behind the PROXY protocol (serve/proxy-protocol.ts reads the header): its client is the
// one the header names, for every reader of the client address, on the raw socket and on the TLS
// socket Node's TLS server makes over it.

import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** One end of the proxied connection, as the header names it. */
export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

/** Set on a connection whose PROXY header was read (whether or not it named a client). */
const PROXIED = Symbol('portico.proxied');

type Proxied = Socket & { [PROXIED]?: true };

/**
 * The connection's client is the header's source from now on: `remoteAddress`, `remotePort` and
 * `remoteFamily` read it, so every reader of the client address (the request path, logs, caps) takes
 * it with no change. The socket's own addresses stay what Node's prototype getters return.
 */
export function adoptProxiedPeer(socket: Socket, source: ProxyEndpoint | undefined): void {
  (socket as Proxied)[PROXIED] = true;
  if (source === undefined) return;
  Object.defineProperties(socket, {
    remoteAddress: { value: source.address, configurable: true },
    remotePort: { value: source.port, configurable: true },
    remoteFamily: { value: source.family, configurable: true },
  });
}

/**
 * A TLS socket made by Node's TLS server over a proxied connection reports the connection's own
 * client until it is given the header's (read from the socket it wraps). False when the wrapped socket
 * cannot be found or was not proxied: on a PROXY port the caller closes the connection then, rather
 * than serve it as the balancer.
 */
export function carryProxiedPeer(secure: TLSSocket): boolean {
  const raw = (secure as unknown as { _parent?: unknown })._parent as Proxied | undefined;
  if (raw === undefined || raw === null || raw[PROXIED] !== true) return false;
  (secure as unknown as Proxied)[PROXIED] = true;
  for (const key of ['remoteAddress', 'remotePort', 'remoteFamily'] as const) {
    const own = Object.getOwnPropertyDescriptor(raw, key);
    if (own !== undefined) Object.defineProperty(secure, key, own);
  }
  return true;
}
