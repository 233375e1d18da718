// A Mapping's `health_checks` (Emissary's active health checking) → the cluster's IR checks: HTTP
// (path, Host, headers, expected statuses) or gRPC (grpc.health.v1), with Emissary's defaults.

import type { Resource } from '../api/resource.js';
import type { IRHealthCheck } from '../ir/types.js';
import type { CompileContext } from './context.js';
import { headerRulesFrom } from './mapping-policy.js';
import { parseDurationMs } from './service.js';

type Obj = Record<string, unknown>;

/** Emissary's defaults (its IRHealthChecks): 3 s timeout, 5 s interval, 1 healthy, 2 unhealthy. */
const DEFAULTS = { timeoutMs: 3000, intervalMs: 5000, healthyThreshold: 1, unhealthyThreshold: 2 } as const;
/** A check more often than this would be a load test of the upstream, not a health check. */
const MIN_INTERVAL_MS = 100;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function duration(v: unknown, fallback: number, field: string, r: Resource, ctx: CompileContext): number | undefined {
  if (v === undefined) return fallback;
  const ms = typeof v === 'string' || typeof v === 'number' ? parseDurationMs(v) : `expected a duration such as "5s", got ${JSON.stringify(v)}`;
  if (typeof ms === 'string') {
    ctx.report(r, 'SchemaViolation', `${field}: ${ms}`, `spec.${field}`);
    return undefined;
  }
  return ms;
}

/**
 * The checks of one Mapping, or undefined when it asks for none. An invalid check is an error on
 * the Mapping (Emissary drops it with an error; serving without the check it asked for would send
 * traffic to endpoints it meant to exclude).
 */
export function healthChecksFrom(v: unknown, r: Resource, ctx: CompileContext): IRHealthCheck[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) {
    ctx.report(r, 'SchemaViolation', 'health_checks must be a list', 'spec.health_checks');
    return undefined;
  }
  const out: IRHealthCheck[] = [];
  v.forEach((hc: unknown, i) => {
    const at = `health_checks[${i}]`;
    if (!isObj(hc) || !isObj(hc['health_check'])) {
      ctx.report(r, 'SchemaViolation', `${at}.health_check is required (with http or grpc)`, `spec.${at}.health_check`);
      return;
    }
    const kind = hc['health_check'];
    const http = kind['http'];
    const grpc = kind['grpc'];
    if ((http === undefined) === (grpc === undefined)) {
      ctx.report(r, 'SchemaViolation', `${at}.health_check needs exactly one of http and grpc`, `spec.${at}.health_check`);
      return;
    }
    const timeoutMs = duration(hc['timeout'], DEFAULTS.timeoutMs, `${at}.timeout`, r, ctx);
    const intervalMs = duration(hc['interval'], DEFAULTS.intervalMs, `${at}.interval`, r, ctx);
    if (timeoutMs === undefined || intervalMs === undefined) return;
    if (intervalMs < MIN_INTERVAL_MS) {
      ctx.report(r, 'SchemaViolation', `${at}.interval must be at least ${MIN_INTERVAL_MS}ms`, `spec.${at}.interval`);
      return;
    }
    if (timeoutMs <= 0) {
      ctx.report(r, 'SchemaViolation', `${at}.timeout must be more than 0`, `spec.${at}.timeout`);
      return;
    }
    const threshold = (x: unknown, d: number): number => (typeof x === 'number' && Number.isInteger(x) && x > 0 ? x : d);
    const base = {
      timeoutMs,
      intervalMs,
      healthyThreshold: threshold(hc['healthy_threshold'], DEFAULTS.healthyThreshold),
      unhealthyThreshold: threshold(hc['unhealthy_threshold'], DEFAULTS.unhealthyThreshold),
    };
    if (isObj(http)) {
      if (typeof http['path'] !== 'string' || !http['path'].startsWith('/')) {
        ctx.report(r, 'SchemaViolation', `${at}.health_check.http.path must be a path starting with /`, `spec.${at}.health_check.http.path`);
        return;
      }
      const statuses: { min: number; max: number }[] = [];
      if (Array.isArray(http['expected_statuses'])) {
        for (const [j, s] of http['expected_statuses'].entries()) {
          const min = isObj(s) ? s['min'] : undefined;
          const max = isObj(s) ? s['max'] : undefined;
          if (typeof min !== 'number' || typeof max !== 'number' || min < 100 || max > 599 || min > max) {
            ctx.report(r, 'SchemaViolation', `${at}.health_check.http.expected_statuses[${j}] needs 100 <= min <= max <= 599`, `spec.${at}.health_check.http.expected_statuses[${j}]`);
            return;
          }
          statuses.push({ min, max });
        }
      }
      // Header values go through the same credential handling as a Mapping's: a credential is moved
      // to the SecretStore, so that no view of the IR shows it.
      const fields = { add_request_headers: http['add_request_headers'], remove_request_headers: http['remove_request_headers'] };
      const rules = headerRulesFrom(fields, undefined, ctx.credentialRules(r, `spec.${at}.health_check.http.`));
      if (rules === undefined) return;
      out.push({
        ...base,
        http: {
          path: http['path'],
          ...(typeof http['hostname'] === 'string' && http['hostname'] !== '' ? { hostname: http['hostname'] } : {}),
          addHeaders: rules.requestAdd,
          removeHeaders: rules.requestRemove,
          // Envoy's default: only 200 is healthy.
          expectedStatuses: statuses.length > 0 ? statuses : [{ min: 200, max: 200 }],
        },
      });
      return;
    }
    if (isObj(grpc)) {
      if (typeof grpc['upstream_name'] !== 'string') {
        ctx.report(r, 'SchemaViolation', `${at}.health_check.grpc.upstream_name is required`, `spec.${at}.health_check.grpc.upstream_name`);
        return;
      }
      out.push({ ...base, grpc: { service: grpc['upstream_name'], ...(typeof grpc['authority'] === 'string' ? { authority: grpc['authority'] } : {}) } });
    }
  });
  return out.length > 0 ? out : undefined;
}
