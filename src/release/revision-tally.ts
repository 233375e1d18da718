// What a canary is judged on: per revision, requests, errors and a latency histogram, counted from
// the start of the canary. Tallies are plain numbers, so those of several worker processes add up and
// those of a step are the difference of two readings.

/** Upper bounds of the latency buckets (ms); one more bucket holds everything slower. */
export const LATENCY_BUCKETS_MS: readonly number[] = [1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000, 30_000];

export interface RevisionTally {
  readonly requests: number;
  /** Responses 5xx, and requests that ended without a response from the gateway. */
  readonly errors: number;
  /** Counts per bucket of LATENCY_BUCKETS_MS, plus the overflow bucket. */
  readonly latency: readonly number[];
}

/** The two revisions of a canary, counted from its start. */
export interface CanaryFigures {
  readonly stable: RevisionTally;
  readonly canary: RevisionTally;
}

export function emptyTally(): RevisionTally {
  return { requests: 0, errors: 0, latency: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0) };
}

export function addTallies(a: RevisionTally, b: RevisionTally): RevisionTally {
  return { requests: a.requests + b.requests, errors: a.errors + b.errors, latency: a.latency.map((n, i) => n + (b.latency[i] ?? 0)) };
}

/** a − b, never below zero (a reading taken from a worker restarted in between starts again at zero). */
export function subtractTallies(a: RevisionTally, b: RevisionTally): RevisionTally {
  return { requests: Math.max(0, a.requests - b.requests), errors: Math.max(0, a.errors - b.errors), latency: a.latency.map((n, i) => Math.max(0, n - (b.latency[i] ?? 0))) };
}

export function emptyFigures(): CanaryFigures {
  return { stable: emptyTally(), canary: emptyTally() };
}

export function addFigures(a: CanaryFigures, b: CanaryFigures): CanaryFigures {
  return { stable: addTallies(a.stable, b.stable), canary: addTallies(a.canary, b.canary) };
}

/**
 * The latency at quantile q (0..1), as the upper bound of the bucket it falls in: an estimate that
 * is never below the true value by more than one bucket. Undefined without requests; Infinity past
 * the last bucket.
 */
export function latencyQuantile(t: RevisionTally, q: number): number | undefined {
  const total = t.latency.reduce((s, n) => s + n, 0);
  if (total === 0) return undefined;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < t.latency.length; i++) {
    seen += t.latency[i]!;
    if (seen >= rank) return LATENCY_BUCKETS_MS[i] ?? Infinity;
  }
  return Infinity;
}

/** Counts one revision's requests as they finish (in the serving process; mutable, cheap). */
export class TallyRecorder {
  requests = 0;
  errors = 0;
  readonly latency: number[] = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);

  observe(status: number, durationMs: number): void {
    this.requests++;
    if (status >= 500 || status === 0) this.errors++;
    let i = 0;
    while (i < LATENCY_BUCKETS_MS.length && durationMs > LATENCY_BUCKETS_MS[i]!) i++;
    this.latency[i]!++;
  }

  reading(): RevisionTally {
    return { requests: this.requests, errors: this.errors, latency: [...this.latency] };
  }
}
