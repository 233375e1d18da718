// Small typed builder for hand-made IRs in data-plane tests: one listener, vhosts, routes and
// clusters with the compiler's own defaults, so tests state only what they are about.

import { defaultGlobal } from '../../src/compile/global-policy.js';
import type {
  IR, IRBackend, IRCluster, IRGlobal, IRListener, IRRoute, IRRouteMatch, IRSourceRef, IRTLSContext, IRVirtualHost,
} from '../../src/ir/types.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export function sourceRef(name: string): IRSourceRef {
  return { kind: 'Mapping', name, namespace: 'default', origin: { path: `${name}.yaml`, line: 1, col: 1 } } as IRSourceRef;
}

/** A TLS context with the compiler's defaults (no hosts, no certificate, no client certificates). */
export function tlsContext(name: string, over: Partial<IRTLSContext> = {}): IRTLSContext {
  return { name, hosts: [], certRequired: false, cipherSuites: [], alpnProtocols: [], ...over };
}

/** A TLS context that serves `host` with the certificate in `secret`. */
export function servingContext(name: string, host: string, secret: string, over: Partial<IRTLSContext> = {}): IRTLSContext {
  return tlsContext(name, { hosts: [host], certificate: { secret, sha256: '' }, ...over });
}

export function cluster(name: string, port: number, over: Partial<IRCluster> = {}): IRCluster {
  return {
    name,
    service: `127.0.0.1:${port}`,
    namespace: 'default',
    scheme: 'http',
    endpoints: [{ host: '127.0.0.1', port }],
    dns: false,
    http2: false,
    connectTimeoutMs: 3000,
    idleTimeoutMs: 0,
    loadBalancer: { policy: 'round_robin' },
    circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
    outlierDetection: { consecutiveFailures: 0, baseEjectionMs: 30000 },
    ...over,
  };
}

export function backend(clusterName: string, over: Partial<IRBackend> = {}): IRBackend {
  return {
    cluster: clusterName,
    weight: 100,
    rewrite: { prefix: '/' },
    autoHostRewrite: false,
    headers: { requestAdd: [], requestRemove: [], responseAdd: [], responseRemove: [] },
    timeouts: { requestMs: 3000, idleMs: 0 },
    mapping: sourceRef(clusterName),
    ...over,
  };
}

export function route(id: string, match: Partial<IRRouteMatch>, backends: readonly IRBackend[], over: Partial<IRRoute> = {}): IRRoute {
  return {
    id,
    match: { caseSensitive: true, headers: [], query: [], ...match },
    precedence: 0,
    backends,
    allowUpgrade: [],
    grpc: false,
    bypassAuth: false,
    mappings: [sourceRef(id)],
    ...over,
  };
}

export function vhost(hostname: string, routes: readonly IRRoute[], over: Partial<IRVirtualHost> = {}): IRVirtualHost {
  return { name: `http-${hostname}`, hostname, hosts: [], insecureAction: 'Route', routes, ...over };
}

export interface IRSpec {
  readonly routes?: readonly IRRoute[];
  readonly vhosts?: readonly IRVirtualHost[];
  readonly clusters: readonly IRCluster[];
  readonly global?: Partial<IRGlobal>;
  readonly listener?: Partial<IRListener>;
}

export const LISTENER = 'http-8080';

export function buildIR(spec: IRSpec): IR {
  const g: Mutable<IRGlobal> = { ...defaultGlobal(), ...spec.global };
  const listener: IRListener = {
    name: LISTENER,
    bindAddress: '127.0.0.1',
    port: 8080,
    protocolStack: ['HTTP', 'TCP'],
    l7: true,
    tls: false,
    securityModel: 'XFP',
    l7Depth: 0,
    virtualHosts: spec.vhosts ?? [vhost('*', spec.routes ?? [])],
    tcpRoutes: [],
    ...spec.listener,
  };
  return { version: 1, ambassadorId: 'default', global: g, listeners: [listener], clusters: spec.clusters, tlsContexts: [], resolvers: [] };
}
