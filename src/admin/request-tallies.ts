// Per-request counters kept as plain numbers on the request path and handed to prom-client only when
// it is scraped: prom-client hashes label values on every inc/observe, which the hot path cannot afford.

import type { MetricValue } from 'prom-client';

/** One route/cluster pair: requests per status class and a latency histogram. */
interface Series {
  readonly route: string;
  readonly cluster: string;
  readonly byClass: Map<string, number>;
  /** Non-cumulative counts per bucket (the last one is +Inf). */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

type Values = MetricValue<string>[];

/** One route's requests in one process, for the diagnostics page: no label objects, no Prometheus text. */
export interface RouteTally {
  readonly route: string;
  readonly total: number;
  readonly c5xx: number;
  /** Non-cumulative counts per latency bucket (bounds as in TrafficTallies; the last one is +Inf). */
  readonly buckets: number[];
}

/** A process's request tallies by route (summed over clusters), with the latency buckets' upper bounds in seconds. */
export interface TrafficTallies {
  readonly bounds: readonly number[];
  readonly routes: RouteTally[];
}

/**
 * The shape prom-client's Registry and AggregatorRegistry read from a metric (name, help, type,
 * aggregator, get); the values are built from the tallies at each scrape.
 */
export class TalliedMetric {
  readonly aggregator = 'sum' as const;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'histogram',
    private readonly values: () => Values,
  ) {}

  get(): Promise<{ name: string; help: string; type: 'counter' | 'histogram'; aggregator: 'sum'; values: Values }> {
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.values() });
  }

  /** Registry.resetMetrics(): tallies are cumulative and owned by the traffic metrics. */
  reset(): void {}
}

export class RequestTallies {
  /** By route, then cluster: the route's and cluster's names are the same string objects on every request (their hash is kept), no key is built. */
  private readonly byRoute = new Map<string, Map<string, Series>>();
  /** Every series, in the order they were first seen. */
  private readonly series: Series[] = [];

  constructor(private readonly bounds: readonly number[]) {}

  record(route: string, cluster: string, statusClass: string, seconds: number): void {
    let byCluster = this.byRoute.get(route);
    if (byCluster === undefined) {
      byCluster = new Map();
      this.byRoute.set(route, byCluster);
    }
    let s = byCluster.get(cluster);
    if (s === undefined) {
      s = { route, cluster, byClass: new Map(), buckets: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      byCluster.set(cluster, s);
      this.series.push(s);
    }
    s.byClass.set(statusClass, (s.byClass.get(statusClass) ?? 0) + 1);
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > (b[i] as number)) i++;
    s.buckets[i] = (s.buckets[i] as number) + 1;
    s.sum += seconds;
    s.count++;
  }

  /** By route, summed over clusters: what the diagnostics page's traffic columns need, at a fraction of a scrape's cost. */
  routeTallies(): TrafficTallies {
    const routes: RouteTally[] = [];
    for (const [route, byCluster] of this.byRoute) {
      if (route === '') continue;
      let total = 0;
      let c5xx = 0;
      const buckets = new Array<number>(this.bounds.length + 1).fill(0);
      for (const s of byCluster.values()) {
        total += s.count;
        c5xx += s.byClass.get('5xx') ?? 0;
        for (let i = 0; i < buckets.length; i++) buckets[i]! += s.buckets[i] as number;
      }
      routes.push({ route, total, c5xx, buckets });
    }
    return { bounds: this.bounds, routes };
  }

  /** Counter values: one per route, cluster and status class. */
  counterValues(): Values {
    const out: Values = [];
    for (const s of this.series) {
      for (const [status_class, value] of s.byClass) out.push({ labels: { route: s.route, cluster: s.cluster, status_class }, value });
    }
    return out;
  }

  /** Histogram values in Prometheus' form: cumulative buckets, +Inf, sum and count. */
  histogramValues(name: string): Values {
    const out: Values = [];
    for (const s of this.series) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.buckets[i] as number;
        out.push({ labels: { le: this.bounds[i] as number, route: s.route, cluster: s.cluster }, value: acc, metricName: `${name}_bucket` } as MetricValue<string>);
      }
      out.push({ labels: { le: '+Inf', route: s.route, cluster: s.cluster }, value: s.count, metricName: `${name}_bucket` } as MetricValue<string>);
      out.push({ labels: { route: s.route, cluster: s.cluster }, value: s.sum, metricName: `${name}_sum` } as MetricValue<string>);
      out.push({ labels: { route: s.route, cluster: s.cluster }, value: s.count, metricName: `${name}_count` } as MetricValue<string>);
    }
    return out;
  }
}

/**
 * Edge policy decisions by step label ("<stage> <Kind> <namespace>/<name>") and outcome: two map
 * lookups per decision, no string built on the request path.
 */
export class PolicyTallies {
  private readonly byLabel = new Map<string, Map<string, number>>();

  /** `flat` is RequestInfo.policies: [label, outcome, ...]. */
  record(flat: readonly string[]): void {
    for (let i = 0; i < flat.length; i += 2) {
      const label = flat[i] as string;
      let m = this.byLabel.get(label);
      if (m === undefined) {
        m = new Map();
        this.byLabel.set(label, m);
      }
      const outcome = flat[i + 1] as string;
      m.set(outcome, (m.get(outcome) ?? 0) + 1);
    }
  }

  counterValues(): Values {
    const out: Values = [];
    for (const [label, m] of this.byLabel) {
      const space = label.indexOf(' ');
      const policy = space < 0 ? label : label.slice(0, space);
      const resource = space < 0 ? '' : label.slice(space + 1);
      for (const [outcome, value] of m) out.push({ labels: { policy, resource, outcome }, value });
    }
    return out;
  }
}
