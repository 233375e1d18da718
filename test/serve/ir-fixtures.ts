// Hand-made IRs for the serving tests: listeners with prefix routes and edge defaults, so the
// Gateway can be driven without the loader and compiler.

import type { IR, IRGlobal, IRListener, IRRoute } from '../../src/ir/types.js';
import { defaultGlobal } from '../../src/compile/global-policy.js';

export const ORIGIN = { path: 'test.yaml', line: 1, col: 1 };

/** The compiler's own defaults, with the few values these tests rely on pinned, then `over`. */
export function testGlobal(over: Partial<IRGlobal> = {}): IRGlobal {
  const base = defaultGlobal();
  return {
    ...base,
    clusterIdleTimeoutMs: 0,
    requestHeadersTimeoutMs: 10_000,
    escapedSlashesAction: 'KEEP_UNCHANGED',
    limits: { ...base.limits, maxConnections: 10_000 },
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
