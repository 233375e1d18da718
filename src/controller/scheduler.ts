// When each source is fetched next: its interval with jitter (so replicas do not poll in step), and
// exponential backoff after failures. The clock and randomness are injected, so tests drive time.

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // A pending poll never keeps the process alive on its own.
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface ScheduleOptions {
  /** ± fraction of the interval added at random (default 0.1). */
  readonly jitter?: number;
  /** The longest wait after failures (default max(5 min, interval)). */
  readonly maxBackoffMs?: number;
  /**
   * The shortest time between two fetches of one source (default 1 s): a burst of webhooks or
   * signals is one fetch now and at most one more when the interval has passed.
   */
  readonly minFetchIntervalMs?: number;
  readonly random?: () => number;
}

interface Entry {
  intervalMs: number;
  /** When the last fetch was taken (due or forced). */
  lastTakenAt?: number;
  /** When the source was last fetched successfully, for a changed interval to apply at once. */
  lastSuccessAt?: number;
  failures: number;
  dueAt: number;
  forced: boolean;
}

export class FetchSchedule {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly clock: Clock,
    private readonly opts: ScheduleOptions = {},
  ) {}

  /** Adds a source (due at once) or updates its interval; a shorter interval takes effect now. */
  ensure(name: string, intervalMs: number): void {
    const e = this.entries.get(name);
    if (!e) {
      this.entries.set(name, { intervalMs, failures: 0, dueAt: 0, forced: true });
      return;
    }
    if (e.intervalMs === intervalMs) return;
    e.intervalMs = intervalMs;
    if (e.failures === 0 && e.lastSuccessAt !== undefined) e.dueAt = Math.min(e.dueAt, e.lastSuccessAt + this.jittered(intervalMs));
  }

  remove(name: string): void {
    this.entries.delete(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  force(name?: string): void {
    for (const [n, e] of this.entries) if (name === undefined || n === name) e.forced = true;
  }

  /** Sources to fetch now, their forced flags cleared; a forced source fetched too recently waits. */
  takeDue(): string[] {
    const now = this.clock.now();
    const min = this.opts.minFetchIntervalMs ?? 1000;
    const out: string[] = [];
    for (const [n, e] of this.entries) {
      if (!(e.forced || e.dueAt <= now)) continue;
      if (e.lastTakenAt !== undefined && now - e.lastTakenAt < min) {
        // Stays forced, and due when the minimum interval has passed: one more fetch, not one per trigger.
        if (e.forced) e.dueAt = Math.min(e.dueAt, e.lastTakenAt + min);
        continue;
      }
      e.forced = false;
      e.lastTakenAt = now;
      out.push(n);
    }
    return out.sort();
  }

  succeeded(name: string): void {
    const e = this.entries.get(name);
    if (!e) return;
    const now = this.clock.now();
    e.failures = 0;
    e.lastSuccessAt = now;
    e.dueAt = now + this.jittered(e.intervalMs);
  }

  /** Records a failure; returns the wait before the next try. */
  failed(name: string): number {
    const e = this.entries.get(name);
    if (!e) return 0;
    e.failures++;
    const max = this.opts.maxBackoffMs ?? Math.max(300_000, e.intervalMs);
    const wait = this.jittered(Math.min(max, e.intervalMs * 2 ** Math.min(e.failures, 20)));
    e.dueAt = this.clock.now() + wait;
    return wait;
  }

  failures(name: string): number {
    return this.entries.get(name)?.failures ?? 0;
  }

  dueAt(name: string): number | undefined {
    return this.entries.get(name)?.dueAt;
  }

  /** The earliest due time, if any source is scheduled. */
  next(): number | undefined {
    let next = Infinity;
    const min = this.opts.minFetchIntervalMs ?? 1000;
    for (const e of this.entries.values()) next = Math.min(next, e.forced ? Math.max(0, (e.lastTakenAt ?? -Infinity) + min) : e.dueAt);
    return Number.isFinite(next) ? next : undefined;
  }

  private jittered(ms: number): number {
    if (!Number.isFinite(ms)) return ms;
    const j = this.opts.jitter ?? 0.1;
    const r = (this.opts.random ?? Math.random)();
    return Math.round(ms * (1 + j * (r * 2 - 1)));
  }
}
