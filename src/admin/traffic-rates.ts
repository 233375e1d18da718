// Per-route request rate, 5xx share and p99 for the diagnostics page, from the request tallies
// Portico already keeps: two scrapes some seconds apart give rates; a single one gives totals.

import type { MetricsJSON } from './metrics.js';

export interface RouteTraffic {
  /** Requests per second over the window (undefined until two samples exist). */
  readonly rate?: number;
  readonly requests: number;
  /** Share of 5xx answers among the window's requests (0..1). */
  readonly share5xx: number;
  /** 99th percentile latency in ms: the upper bound of its histogram bucket (undefined beyond the last). */
  readonly p99ms?: number;
  /** Emissary's diag colours: red below 70 % success, yellow below 90 %. */
  readonly health: 'green' | 'yellow' | 'red' | 'idle';
}

interface RouteCounts {
  total: number;
  c5xx: number;
  /** Cumulative counts per bucket bound (seconds), summed over clusters and processes. */
  buckets: Map<number, number>;
}

interface Sample {
  readonly at: number;
  readonly routes: Map<string, RouteCounts>;
}

/** Rates are taken over at least this window when the samples allow. */
const WINDOW_MS = 10_000;
/** A scrape costs a walk over every series: pages polling at once share one. */
const MIN_SAMPLE_GAP_MS = 1000;
const KEEP_MS = 60_000;

function countsOf(registries: readonly MetricsJSON[]): Map<string, RouteCounts> {
  const routes = new Map<string, RouteCounts>();
  const at = (route: string): RouteCounts => {
    let c = routes.get(route);
    if (!c) {
      c = { total: 0, c5xx: 0, buckets: new Map() };
      routes.set(route, c);
    }
    return c;
  };
  for (const reg of registries) {
    for (const m of reg) {
      if (m.name === 'portico_requests_total') {
        for (const v of m.values) {
          const route = String(v.labels.route ?? '');
          if (route === '') continue;
          const c = at(route);
          c.total += v.value;
          if (v.labels.status_class === '5xx') c.c5xx += v.value;
        }
      } else if (m.name === 'portico_request_duration_seconds') {
        for (const v of m.values) {
          const name = (v as { metricName?: string }).metricName;
          if (name !== 'portico_request_duration_seconds_bucket') continue;
          const route = String(v.labels.route ?? '');
          if (route === '') continue;
          const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
          const b = at(route).buckets;
          b.set(le, (b.get(le) ?? 0) + v.value);
        }
      }
    }
  }
  return routes;
}

function p99(buckets: Map<number, number>, base: Map<number, number> | undefined): number | undefined {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const last = bounds[bounds.length - 1];
  if (last === undefined) return undefined;
  const count = (buckets.get(last) ?? 0) - (base?.get(last) ?? 0);
  if (count <= 0) return undefined;
  const want = count * 0.99;
  for (const le of bounds) {
    if ((buckets.get(le) ?? 0) - (base?.get(le) ?? 0) >= want) return Number.isFinite(le) ? le * 1000 : undefined;
  }
  return undefined;
}

export class TrafficRates {
  private samples: Sample[] = [];
  private pending: Promise<void> | undefined;

  constructor(
    private readonly scrape: () => Promise<MetricsJSON[]>,
    private readonly now: () => number = Date.now,
  ) {}

  /** A fresh enough sample, taken once for every caller that asks meanwhile. */
  private async sample(): Promise<void> {
    const now = this.now();
    const newest = this.samples[this.samples.length - 1];
    if (newest && now - newest.at < MIN_SAMPLE_GAP_MS) return;
    this.pending ??= (async () => {
      try {
        const routes = countsOf(await this.scrape());
        const at = this.now();
        this.samples.push({ at, routes });
        this.samples = this.samples.filter((s) => at - s.at <= KEEP_MS);
      } finally {
        this.pending = undefined;
      }
    })();
    await this.pending;
  }

  /** Traffic of the routes asked for (ids), over the newest window. */
  async forRoutes(ids: readonly string[]): Promise<Map<string, RouteTraffic>> {
    await this.sample();
    const out = new Map<string, RouteTraffic>();
    const newest = this.samples[this.samples.length - 1];
    if (!newest) return out;
    // The oldest sample at least WINDOW_MS back, or the oldest there is.
    const base = [...this.samples].reverse().find((s) => newest.at - s.at >= WINDOW_MS) ?? (this.samples.length > 1 ? this.samples[0] : undefined);
    const seconds = base ? (newest.at - base.at) / 1000 : 0;
    for (const id of ids) {
      const c = newest.routes.get(id);
      if (!c) continue;
      const b = base?.routes.get(id);
      const requests = c.total - (b?.total ?? 0);
      const errors = c.c5xx - (b?.c5xx ?? 0);
      const share5xx = requests > 0 ? errors / requests : 0;
      const success = 1 - share5xx;
      const latency = p99(c.buckets, b?.buckets);
      out.set(id, {
        ...(base && seconds > 0 ? { rate: requests / seconds } : {}),
        requests,
        share5xx,
        ...(latency !== undefined ? { p99ms: latency } : {}),
        health: requests === 0 ? 'idle' : success < 0.7 ? 'red' : success < 0.9 ? 'yellow' : 'green',
      });
    }
    return out;
  }
}
