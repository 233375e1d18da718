// Hand-made IRs for the serving tests: listeners with prefix routes and edge defaults, so the
// Gateway can be driven without the loader and compiler.

import type { IR, IRGlobal, IRListener, IRRoute } from '../../src/ir/types.js';
import { DEFAULT_OVERLOAD } from '../../src/compile/global-policy.js';

export const ORIGIN = { path: 'test.yaml', line: 1, col: 1 };

export function testGlobal(over: Partial<IRGlobal> = {}): IRGlobal {
  return {
    requestTimeoutMs: 3000,
    connectTimeoutMs: 3000,
    clusterIdleTimeoutMs: 0,
    listenerIdleTimeoutMs: 300_000,
    requestHeadersTimeoutMs: 10_000,
    maxRequestHeadersBytes: 60 * 1024,
    maxRequestHeadersCount: 100,
    mergeSlashes: true,
    escapedSlashesAction: 'KEEP_UNCHANGED',
    normalizePath: true,
    headersWithUnderscoresAction: 'REJECT_REQUEST',
    useRemoteAddress: true,
    xffNumTrustedHops: 0,
    preserveExternalRequestId: false,
    stripMatchingHostPort: true,
    headers: { requestAdd: [], requestRemove: [], responseAdd: [], responseRemove: [] },
    loadBalancer: { policy: 'round_robin' },
    circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
    accessLog: { enabled: true },
    limits: {
      maxConnections: 10_000,
      maxConnectionsPerClient: 1000,
      keepAliveTimeoutMs: 60_000,
      maxRequestsPerConnection: 0,
      drainTimeoutMs: 5000,
      tlsHandshakeTimeoutMs: 10_000,
      http2MaxConcurrentStreams: 100,
      overload: DEFAULT_OVERLOAD,
    },
    ...over,
  };
}

export function route(prefix: string, id = `default/${prefix.replace(/\W+/g, '') || 'root'}`): IRRoute {
  const mapping = { kind: 'Mapping', name: id.split('/')[1] ?? id, namespace: 'default', origin: ORIGIN };
  return {
    id,
    match: { prefix, caseSensitive: true, headers: [], query: [] },
    precedence: 0,
    backends: [
      {
        cluster: 'cluster_echo',
        weight: 100,
        rewrite: { prefix: '/' },
        autoHostRewrite: false,
        headers: { requestAdd: [], requestRemove: [], responseAdd: [], responseRemove: [] },
        timeouts: { requestMs: 3000, idleMs: 0 },
        mapping,
      },
    ],
    allowUpgrade: [],
    grpc: false,
    bypassAuth: false,
    mappings: [mapping],
  };
}

export interface ListenerSpec {
  readonly name?: string;
  readonly port: number;
  readonly bindAddress?: string;
  readonly routes: readonly string[];
  readonly tls?: boolean;
  readonly tlsContext?: string;
  readonly tcp?: boolean;
}

export function listener(spec: ListenerSpec): IRListener {
  const tls = spec.tls ?? false;
  const l7 = !spec.tcp;
  const name = spec.name ?? `listener-${spec.port}`;
  return {
    name,
    bindAddress: spec.bindAddress ?? '127.0.0.1',
    port: spec.port,
    protocolStack: l7 ? (tls ? ['TLS', 'HTTP', 'TCP'] : ['HTTP', 'TCP']) : tls ? ['TLS', 'TCP'] : ['TCP'],
    l7,
    tls,
    securityModel: 'XFP',
    l7Depth: 0,
    virtualHosts: l7
      ? [
          {
            name: `${name}-*`,
            hostname: '*',
            hosts: [],
            ...(spec.tlsContext ? { tlsContext: spec.tlsContext } : {}),
            insecureAction: 'Route',
            routes: spec.routes.map((p) => route(p)),
          },
        ]
      : [],
    tcpRoutes: [],
  };
}

export function makeIR(listeners: readonly ListenerSpec[], global: Partial<IRGlobal> = {}, extra: Partial<IR> = {}): IR {
  return {
    version: 1,
    ambassadorId: 'default',
    global: testGlobal(global),
    listeners: listeners.map(listener).sort((a, b) => a.port - b.port),
    clusters: [],
    tlsContexts: [],
    resolvers: [],
    ...extra,
  };
}
