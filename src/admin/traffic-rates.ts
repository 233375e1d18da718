// Per-route request rate, 5xx share and p99 for the diagnostics page, from the request tallies
// Portico already keeps: two samples some seconds apart give rates; a single one gives totals.

import type { TrafficTallies } from './request-tallies.js';

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
  /** Non-cumulative counts per bucket (upper bounds in Sample.bounds, then +Inf), summed over processes. */
  readonly buckets: number[];
}

interface Sample {
  readonly at: number;
  /** The buckets' upper bounds in seconds. */
  readonly bounds: readonly number[];
  readonly routes: Map<string, RouteCounts>;
}

/** Rates are taken over at least this window when the samples allow. */
const WINDOW_MS = 10_000;
/** A sample asks every process for its tallies: pages polling at once share one. */
const MIN_SAMPLE_GAP_MS = 1000;
const KEEP_MS = 60_000;

/** Every process's tallies summed by route (processes count with the same buckets). */
function countsOf(processes: readonly TrafficTallies[]): { bounds: readonly number[]; routes: Map<string, RouteCounts> } {
  const routes = new Map<string, RouteCounts>();
  const bounds = processes[0]?.bounds ?? [];
  for (const p of processes) {
    if (p.bounds.length !== bounds.length) continue;
    for (const t of p.routes) {
      let c = routes.get(t.route);
      if (c === undefined) {
        c = { total: 0, c5xx: 0, buckets: new Array<number>(bounds.length + 1).fill(0) };
        routes.set(t.route, c);
      }
      c.total += t.total;
      c.c5xx += t.c5xx;
      for (let i = 0; i < c.buckets.length; i++) c.buckets[i]! += t.buckets[i] ?? 0;
    }
  }
  return { bounds, routes };
}

/** The upper bound (ms) of the bucket holding the window's 99th percentile; undefined past the last bound or with no requests. */
function p99(bounds: readonly number[], buckets: readonly number[], base: readonly number[] | undefined): number | undefined {
  let count = 0;
  for (let i = 0; i < buckets.length; i++) count += (buckets[i] as number) - (base?.[i] ?? 0);
  if (count <= 0) return undefined;
  const want = count * 0.99;
  let acc = 0;
  for (let i = 0; i < bounds.length; i++) {
    acc += (buckets[i] as number) - (base?.[i] ?? 0);
    if (acc >= want) return (bounds[i] as number) * 1000;
  }
  return undefined;
}

export class TrafficRates {
  private samples: Sample[] = [];
  private pending: Promise<void> | undefined;

  constructor(
    private readonly scrape: () => Promise<TrafficTallies[]>,
    private readonly now: () => number = Date.now,
  ) {}

  /** A fresh enough sample, taken once for every caller that asks meanwhile. */
  private async sample(): Promise<void> {
    const now = this.now();
    const newest = this.samples[this.samples.length - 1];
    if (newest && now - newest.at < MIN_SAMPLE_GAP_MS) return;
    this.pending ??= (async () => {
      try {
        const { bounds, routes } = countsOf(await this.scrape());
        const at = this.now();
        this.samples.push({ at, bounds, routes });
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
      const counted = base?.routes.get(id);
      // Counts that went down: a process restarted since the base; the counts since then are what there is.
      const b = counted !== undefined && (c.total < counted.total || c.c5xx < counted.c5xx) ? undefined : counted;
      const requests = c.total - (b?.total ?? 0);
      const errors = c.c5xx - (b?.c5xx ?? 0);
      const share5xx = requests > 0 ? errors / requests : 0;
      const success = 1 - share5xx;
      const latency = p99(newest.bounds, c.buckets, b?.buckets);
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
