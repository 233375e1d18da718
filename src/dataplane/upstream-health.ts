// What the serving process knows about its upstreams' health, as the admin page and status show it:
// per endpoint passive ejection, active-check verdict, last error; per cluster the circuit breaker.

import type { UpstreamCluster } from './upstream-pool.js';
import type { ActiveHealth } from './health-checker.js';

export interface EndpointHealth {
  readonly address: string;
  readonly port: number;
  readonly hostname: string;
  /** Passive ejection (consecutive failures of real requests) until `ejectedUntil`. */
  readonly ejected: boolean;
  readonly ejectedUntil?: string;
  readonly ejections: number;
  readonly consecutiveFailures: number;
  /** The last real request's outcome, when one was sent. */
  readonly lastOutcome?: 'ok' | 'failed';
  readonly lastError?: { readonly message: string; readonly at: string };
  /** Active checks' verdict, when the cluster has checks. */
  readonly active?: ActiveHealth;
  /** Taken by the balancer now: not ejected and not held out by a check. */
  readonly usable: boolean;
}

export type ClusterState = 'Healthy' | 'Degraded' | 'Unhealthy' | 'Unknown';

export interface ClusterHealth {
  readonly name: string;
  readonly service: string;
  /** Healthy: every endpoint usable and its last outcome good; Degraded: some not; Unhealthy: none; Unknown: no traffic and no checks yet. */
  readonly state: ClusterState;
  readonly endpoints: readonly EndpointHealth[];
  readonly circuitBreaker: {
    /** Open: the cluster refuses new requests now (503 circuit_open). */
    readonly state: 'closed' | 'open';
    readonly active: number;
    readonly retriesActive: number;
    readonly maxConnections: number;
    readonly maxPendingRequests: number;
    readonly maxRequests: number;
    readonly maxRetries: number;
  };
  readonly healthChecks: readonly string[];
}

/** An endpoint counts as failing while it is ejected, held out, or its last request or probe failed. */
function failing(e: EndpointHealth): boolean {
  return !e.usable || e.lastOutcome === 'failed' || e.active?.state === 'unhealthy';
}

function clusterState(endpoints: readonly EndpointHealth[]): ClusterState {
  if (endpoints.length === 0) return 'Unhealthy';
  const bad = endpoints.filter(failing).length;
  if (bad === endpoints.length) return 'Unhealthy';
  if (bad > 0) return 'Degraded';
  const known = endpoints.some((e) => e.lastOutcome !== undefined || (e.active !== undefined && e.active.state !== 'unknown'));
  return known ? 'Healthy' : 'Unknown';
}

function describeCheck(c: NonNullable<UpstreamCluster['ir']['healthChecks']>[number]): string {
  const what = c.grpc ? `gRPC ${c.grpc.service || '(server)'}` : `HTTP GET ${c.http!.path} expecting ${c.http!.expectedStatuses.map((s) => (s.min === s.max ? `${s.min}` : `${s.min}-${s.max}`)).join(',')}`;
  return `${what} every ${c.intervalMs}ms, timeout ${c.timeoutMs}ms, out after ${c.unhealthyThreshold} failure(s), back after ${c.healthyThreshold} pass(es)`;
}

export function clusterHealth(c: UpstreamCluster, now: number): ClusterHealth {
  const endpoints = c.endpoints.map((e): EndpointHealth => {
    const ejected = e.ejectedUntil > now;
    return {
      address: e.address,
      port: e.port,
      hostname: e.hostname,
      ejected,
      ...(ejected ? { ejectedUntil: new Date(e.ejectedUntil).toISOString() } : {}),
      ejections: e.ejections,
      consecutiveFailures: e.consecutiveFailures,
      ...(e.lastOutcome ? { lastOutcome: e.lastOutcome } : {}),
      ...(e.lastError ? { lastError: { message: e.lastError.message, at: new Date(e.lastError.at).toISOString() } } : {}),
      ...(c.checker ? { active: c.checker.health(e) } : {}),
      usable: !ejected && !e.unhealthy,
    };
  });
  const cb = c.ir.circuitBreakers;
  return {
    name: c.name,
    service: c.ir.service,
    state: clusterState(endpoints),
    endpoints,
    circuitBreaker: { state: c.admit() ? 'closed' : 'open', active: c.active, retriesActive: c.retriesActive, ...cb },
    healthChecks: (c.ir.healthChecks ?? []).map(describeCheck),
  };
}

const RANK: Record<ClusterState, number> = { Unknown: 0, Healthy: 1, Degraded: 2, Unhealthy: 3 };

/**
 * Several workers' views of the same clusters as one: an endpoint is as bad as the worst worker
 * sees it (each worker ejects on its own traffic), counters and requests in flight add up.
 */
export function mergeClusterHealth(views: readonly (readonly ClusterHealth[])[]): ClusterHealth[] {
  if (views.length === 1) return [...views[0]!];
  const byName = new Map<string, ClusterHealth[]>();
  for (const v of views) for (const c of v) byName.set(c.name, [...(byName.get(c.name) ?? []), c]);
  const out: ClusterHealth[] = [];
  for (const [name, cs] of byName) {
    const eps = new Map<string, EndpointHealth>();
    for (const c of cs) {
      for (const e of c.endpoints) {
        const k = `${e.address}:${e.port}`;
        const o = eps.get(k);
        if (!o) {
          eps.set(k, e);
          continue;
        }
        const lastError = [o.lastError, e.lastError].filter((x) => x !== undefined).sort((a, b) => (a.at < b.at ? 1 : -1))[0];
        eps.set(k, {
          ...o,
          ejected: o.ejected || e.ejected,
          ...(o.ejectedUntil || e.ejectedUntil ? { ejectedUntil: [o.ejectedUntil ?? '', e.ejectedUntil ?? ''].sort().pop()! } : {}),
          ejections: o.ejections + e.ejections,
          consecutiveFailures: Math.max(o.consecutiveFailures, e.consecutiveFailures),
          ...(o.lastOutcome === 'failed' || e.lastOutcome === 'failed' ? { lastOutcome: 'failed' as const } : o.lastOutcome || e.lastOutcome ? { lastOutcome: 'ok' as const } : {}),
          ...(lastError ? { lastError } : {}),
          ...(o.active || e.active ? { active: o.active?.state === 'unhealthy' || !e.active ? o.active! : e.active } : {}),
          usable: o.usable && e.usable,
        });
      }
    }
    const first = cs[0]!;
    const endpoints = [...eps.values()];
    const worst = cs.reduce((a, c) => (RANK[c.state] > RANK[a] ? c.state : a), 'Unknown' as ClusterState);
    out.push({
      ...first,
      name,
      state: RANK[clusterState(endpoints)] > RANK[worst] ? clusterState(endpoints) : worst,
      endpoints,
      circuitBreaker: {
        ...first.circuitBreaker,
        state: cs.some((c) => c.circuitBreaker.state === 'open') ? 'open' : 'closed',
        active: cs.reduce((n, c) => n + c.circuitBreaker.active, 0),
        retriesActive: cs.reduce((n, c) => n + c.circuitBreaker.retriesActive, 0),
      },
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export interface UpstreamSummary {
  /** The worst cluster state. */
  readonly state: ClusterState;
  readonly clusters: number;
  /** Clusters not Healthy or Unknown, with their failing endpoints' last errors. */
  readonly failing: readonly { readonly cluster: string; readonly state: ClusterState; readonly usable: number; readonly endpoints: number; readonly lastError?: string }[];
}

/** For /api/v1/status: what is wrong upstream, in a few lines. */
export function summariseUpstreams(clusters: readonly ClusterHealth[]): UpstreamSummary {
  const failing = clusters
    .filter((c) => c.state === 'Degraded' || c.state === 'Unhealthy')
    .map((c) => {
      const err = c.endpoints.map((e) => e.active?.lastFailure ?? e.lastError).filter((x) => x !== undefined).sort((a, b) => (a.at < b.at ? 1 : -1))[0];
      return { cluster: c.name, state: c.state, usable: c.endpoints.filter((e) => e.usable).length, endpoints: c.endpoints.length, ...(err ? { lastError: err.message } : {}) };
    });
  const state = clusters.reduce((a, c) => (RANK[c.state] > RANK[a] ? c.state : a), clusters.length > 0 ? ('Unknown' as ClusterState) : ('Healthy' as ClusterState));
  return { state, clusters: clusters.length, failing };
}
