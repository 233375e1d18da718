// One pool per IR cluster: keep-alive connections, endpoints (IP literals, DNS names resolved and
// refreshed, resolver-provided), circuit breakers and passive ejection of failing endpoints.

import type { ConnectionOptions } from 'node:tls';
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { IRCluster, IRTLSContext } from '../ir/types.js';
import type { SecretStore } from '../ir/secrets.js';
import { makeBalancer, type BalancedEndpoint, type Balancer } from './balancer.js';
import { UpstreamConnectionPool } from './upstream-h1.js';
import { ActiveHealthChecker } from './health-checker.js';

export interface Endpoint extends BalancedEndpoint {
  /** Address to connect to. */
  readonly address: string;
  readonly port: number;
  /** Name as configured (for auto_host_rewrite). */
  readonly hostname: string;
  consecutiveFailures: number;
  ejections: number;
  /** Held out of balancing by active health checks. */
  unhealthy: boolean;
  /** The last request's outcome on this endpoint, and the last failure (for the admin page and status). */
  lastOutcome: 'ok' | 'failed' | undefined;
  lastError: { message: string; at: number } | undefined;
}

/** How often DNS names of `dns: true` clusters are re-resolved. */
const DNS_REFRESH_MS = 5000;
/** Longest an endpoint stays ejected, however often it failed. */
const MAX_EJECTION_MS = 300_000;
/**
 * Idle pooled sockets are closed a little before common upstream keep-alive timeouts (Node: 5 s),
 * so that the gateway rarely writes a request onto a socket the upstream is closing.
 */
const DEFAULT_POOL_IDLE_MS = 4000;

/** Node spells TLS 1.0 "TLSv1". */
function tlsVersion(v: IRTLSContext['minVersion']): 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3' | undefined {
  return v === 'TLSv1.0' ? 'TLSv1' : v;
}

function endpoint(address: string, port: number, hostname: string): Endpoint {
  return { key: `${address}:${port}`, address, port, hostname, active: 0, ejectedUntil: 0, consecutiveFailures: 0, ejections: 0, unhealthy: false, lastOutcome: undefined, lastError: undefined };
}

export class UpstreamCluster {
  readonly name: string;
  readonly ir: IRCluster;
  /** HTTP/1.1 keep-alive connections per endpoint. */
  readonly pool: UpstreamConnectionPool;
  /** TLS origination settings (https clusters): CA, client certificate, SNI, versions. */
  readonly tlsOptions: ConnectionOptions | undefined;
  readonly secure: boolean;
  endpoints: readonly Endpoint[];
  /** Requests in flight to this cluster (circuit breaker max_requests / max_pending_requests). */
  active = 0;
  /** Retries in flight (circuit breaker max_retries). */
  retriesActive = 0;
  private readonly balancer: Balancer<Endpoint>;
  private dnsTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Active health checks, when the cluster's Mappings ask for them. */
  readonly checker: ActiveHealthChecker | undefined;

  constructor(ir: IRCluster, tlsContexts: readonly IRTLSContext[], secrets: SecretStore, random: () => number) {
    this.name = ir.name;
    this.ir = ir;
    this.secure = ir.scheme === 'https';
    const idle = ir.idleTimeoutMs > 0 ? ir.idleTimeoutMs : DEFAULT_POOL_IDLE_MS;
    if (this.secure) {
      const ctx = ir.tls?.context !== undefined ? tlsContexts.find((c) => c.name === ir.tls?.context) : undefined;
      const ca = ctx?.ca !== undefined ? secrets[ctx.ca.secret]?.caPem : undefined;
      const pair = ctx?.certificate !== undefined ? secrets[ctx.certificate.secret] : undefined;
      this.tlsOptions = {
        ca,
        cert: pair?.certPem,
        key: pair?.keyPem,
        servername: ir.tls?.sni ?? ctx?.sni,
        // Envoy (and so Emissary) does not verify upstream certificates unless a CA is configured.
        rejectUnauthorized: ca !== undefined,
        minVersion: tlsVersion(ctx?.minVersion),
        maxVersion: tlsVersion(ctx?.maxVersion),
      };
    }
    this.pool = new UpstreamConnectionPool({
      maxConnections: Math.max(1, ir.circuitBreakers.maxConnections),
      // As Envoy's pools: a connection stays open until its idle timeout, bounded only by
      // max_connections. A lower idle cap closed and reopened connections all the time whenever
      // more requests were in flight than the cap (500 HTTP/2 streams: a connect per request).
      maxIdle: Math.max(1, ir.circuitBreakers.maxConnections),
      idleMs: idle,
      tlsOptions: this.tlsOptions,
    });
    this.endpoints = ir.endpoints.map((e) => endpoint(e.host, e.port, e.host));
    this.balancer = makeBalancer<Endpoint>(ir.loadBalancer, random);
    if (ir.dns && ir.endpoints.some((e) => isIP(e.host) === 0)) {
      void this.refreshDns();
      this.dnsTimer = setInterval(() => void this.refreshDns(), DNS_REFRESH_MS);
      this.dnsTimer.unref();
    }
    if (ir.healthChecks && ir.healthChecks.length > 0) {
      this.checker = new ActiveHealthChecker(ir.name, ir.healthChecks, () => this.endpoints, { secure: this.secure, tlsOptions: this.tlsOptions, secrets });
      this.checker.start();
    }
  }

  /** Re-resolve DNS names; endpoints for addresses that stay keep their counters. Failures keep the old list. */
  private async refreshDns(): Promise<void> {
    const next: Endpoint[] = [];
    const byKey = new Map(this.endpoints.map((e) => [e.key, e] as const));
    for (const e of this.ir.endpoints) {
      if (isIP(e.host) !== 0) {
        next.push(byKey.get(`${e.host}:${e.port}`) ?? endpoint(e.host, e.port, e.host));
        continue;
      }
      try {
        const addrs = await lookup(e.host, { all: true });
        for (const a of addrs) next.push(byKey.get(`${a.address}:${e.port}`) ?? endpoint(a.address, e.port, e.host));
      } catch {
        for (const old of this.endpoints) if (old.hostname === e.host && old.port === e.port) next.push(old);
      }
    }
    if (!this.closed && next.length > 0) this.endpoints = next;
  }

  pick(hashKey: string | undefined, now: number): Endpoint | undefined {
    return this.balancer.pick(this.endpoints, hashKey, now);
  }

  /** Circuit breakers: can one more request start now? */
  admit(): boolean {
    const cb = this.ir.circuitBreakers;
    if (this.active >= cb.maxRequests) return false;
    const pending = this.active - cb.maxConnections;
    return pending < cb.maxPendingRequests;
  }

  canRetry(): boolean {
    return this.retriesActive < this.ir.circuitBreakers.maxRetries;
  }

  reportSuccess(e: Endpoint): void {
    e.consecutiveFailures = 0;
    e.lastOutcome = 'ok';
  }

  /** Connect failures, resets and 5xx count toward ejection. */
  reportFailure(e: Endpoint, now: number, reason = 'failed'): void {
    e.lastOutcome = 'failed';
    e.lastError = { message: reason, at: now };
    const od = this.ir.outlierDetection;
    if (od.consecutiveFailures <= 0) return;
    e.consecutiveFailures++;
    if (e.consecutiveFailures >= od.consecutiveFailures) {
      e.ejections++;
      e.consecutiveFailures = 0;
      e.ejectedUntil = now + Math.min(MAX_EJECTION_MS, od.baseEjectionMs * e.ejections);
    }
  }

  close(): void {
    this.closed = true;
    if (this.dnsTimer) clearInterval(this.dnsTimer);
    this.checker?.stop();
    this.pool.close();
  }
}
