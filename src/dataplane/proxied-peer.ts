// A connection behind the PROXY protocol (serve/proxy-protocol.ts reads the header): its client is the
// one the header names, for every reader of the client address, on the raw socket and on the TLS
// socket Node's TLS server makes over it. The connection's own peer and the header's destination
// stay readable for the few that want them (Envoy's %DOWNSTREAM_DIRECT_REMOTE_ADDRESS%,
// %DOWNSTREAM_LOCAL_ADDRESS%).

import net, { type Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

/** One end of the proxied connection, as the header names it. */
export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

/** Set on a connection whose PROXY header was read (whether or not it named a client). */
const PROXIED = Symbol('portico.proxied');
/** The header's destination, on a connection whose header named its client. */
const DESTINATION = Symbol('portico.proxied.destination');

type Proxied = Socket & { [PROXIED]?: true; [DESTINATION]?: ProxyEndpoint };

/**
 * The connection's client is the header's source from now on: `remoteAddress`, `remotePort` and
 * `remoteFamily` read it, so every reader of the client address (the request path, logs, caps) takes
 * it with no change. The socket's own addresses stay what Node's prototype getters return.
 */
export function adoptProxiedPeer(socket: Socket, source: ProxyEndpoint | undefined, destination?: ProxyEndpoint): void {
  (socket as Proxied)[PROXIED] = true;
  if (source === undefined) return;
  if (destination !== undefined) (socket as Proxied)[DESTINATION] = destination;
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
  const destination = raw[DESTINATION];
  if (destination !== undefined) (secure as unknown as Proxied)[DESTINATION] = destination;
  for (const key of ['remoteAddress', 'remotePort', 'remoteFamily'] as const) {
    const own = Object.getOwnPropertyDescriptor(raw, key);
    if (own !== undefined) Object.defineProperty(secure, key, own);
  }
  return true;
}

/**
 * The socket a request arrived on. For HTTP/2 the compat request's `socket` is a new proxy per
 * stream; the session's socket is one per connection.
 */
export function connectionSocket(req: IncomingMessage): TLSSocket {
  const stream = (req as unknown as { stream?: { session?: { socket?: TLSSocket } } }).stream;
  return stream?.session?.socket ?? (req.socket as TLSSocket);
}

const OWN_REMOTE_ADDRESS = Object.getOwnPropertyDescriptor(net.Socket.prototype, 'remoteAddress')!.get!;
const OWN_REMOTE_PORT = Object.getOwnPropertyDescriptor(net.Socket.prototype, 'remotePort')!.get!;

/** The connection's own peer: the balancer in front, when a PROXY header named another client. */
export function directPeer(socket: Socket): { readonly address: string | undefined; readonly port: number | undefined } {
  if ((socket as Proxied)[PROXIED] !== true) return { address: socket.remoteAddress, port: socket.remotePort };
  return { address: OWN_REMOTE_ADDRESS.call(socket) as string | undefined, port: OWN_REMOTE_PORT.call(socket) as number | undefined };
}

/** The address the client connected to: the PROXY header's destination when it named one, else the socket's own. */
export function localEnd(socket: Socket): { readonly address: string | undefined; readonly port: number | undefined } {
  const d = (socket as Proxied)[DESTINATION];
  return d !== undefined ? { address: d.address, port: d.port } : { address: socket.localAddress, port: socket.localPort };
}
