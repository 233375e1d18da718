// The counts behind the built-in limiter: fixed wall-clock windows, or sliding windows when a limit
// has a burstFactor, kept in Redis (one count for every replica) or, without Redis, in this process.
//
// Both stores take the same decision: a request is admitted when no enforced limit would pass its
// count, and only an admitted request is counted (against every limit that matched it). Redis
// takes it inside one Lua script, so replicas never interleave a read and an increment; the
// process store takes it synchronously. The clock is the caller's (windows are named by their
// start), as Envoy's rate limit service does with its Redis.

import type { Redis } from 'ioredis';
import { onDemand } from '../on-demand-module.js';

/** ioredis, loaded with the first Redis client: a gateway counting in this process never loads it. */
const ioredis = onDemand<typeof import('ioredis')>(import.meta.url, 'ioredis');

/** One limit that matched one descriptor of a request. */
export interface CounterCheck {
  /** Names the count: domain, limit and the descriptor entries the pattern matched. */
  readonly key: string;
  /** Requests allowed per window (rate × burstFactor for a sliding window). */
  readonly limit: number;
  /** The window: one unit, or burstFactor units when sliding. */
  readonly windowMs: number;
  readonly sliding: boolean;
  /** False for LogOnly: its being over never refuses the request. */
  readonly enforce: boolean;
}

export interface CounterResult {
  /** This request would pass the limit (for an enforced limit: it was refused). */
  readonly over: boolean;
  /** Requests left in the window after this one (0 when over). */
  readonly remaining: number;
  /** Time until the limit admits a request again (0 when not over). */
  readonly retryAfterMs: number;
}

/** Why a store could not answer: the limiter applies its failure mode. */
export class CounterStoreError extends Error {
  constructor(readonly reason: 'timeout' | 'unavailable' | 'error', message: string) {
    super(message);
  }
}

export interface CounterStore {
  /** 'redis' counts for every replica; 'process' for this serving process only. */
  readonly kind: 'redis' | 'process';
  /** Count one request against `checks` (see the module comment); rejects with a CounterStoreError. */
  hit(checks: readonly CounterCheck[], now: number): Promise<readonly CounterResult[]>;
  close(): void;
}

// ───────────────────────── the decision, shared by both stores ─────────────────────────

/** The start of the window `now` falls in. */
export function windowStart(now: number, windowMs: number): number {
  return now - (now % windowMs);
}

/**
 * A sliding window's estimate: the previous window's count weighted by how much of it still lies
 * within one window of now, plus the current window's count (requests assumed evenly spread).
 */
function estimate(check: CounterCheck, current: number, previous: number, elapsed: number): number {
  return check.sliding ? (previous * (check.windowMs - elapsed)) / check.windowMs + current : current;
}

/** Whether one more request passes the limit, given the counts read. */
function wouldPass(check: CounterCheck, current: number, previous: number, elapsed: number): boolean {
  return estimate(check, current, previous, elapsed) + 1 > check.limit;
}

/** Time until one more request fits, for a limit it does not fit now. */
function retryAfter(check: CounterCheck, current: number, previous: number, elapsed: number): number {
  const w = check.windowMs;
  const toWindowEnd = w - elapsed;
  if (!check.sliding) return toWindowEnd;
  // Within this window: the previous window's weight decays until the estimate leaves room for one.
  if (current + 1 <= check.limit && previous > 0) {
    const at = w * (1 - (check.limit - 1 - current) / previous);
    return Math.max(1, Math.ceil(at - elapsed));
  }
  // Only in the next window, whose previous count is this window's.
  const next = current + 1 <= check.limit || current === 0 ? 0 : Math.max(0, w * (1 - (check.limit - 1) / current));
  return Math.ceil(toWindowEnd + next);
}

/** Results for counts read before the request was (or was not) counted. */
function results(checks: readonly CounterCheck[], counts: readonly number[], now: number, admitted: boolean): CounterResult[] {
  const out: CounterResult[] = [];
  for (let i = 0; i < checks.length; i++) {
    const c = checks[i]!;
    const current = counts[2 * i] ?? 0;
    const previous = counts[2 * i + 1] ?? 0;
    const elapsed = now - windowStart(now, c.windowMs);
    const over = wouldPass(c, current, previous, elapsed);
    const used = estimate(c, current, previous, elapsed) + (admitted ? 1 : 0);
    out.push({
      over,
      remaining: over ? 0 : Math.max(0, Math.floor(c.limit - used)),
      retryAfterMs: over ? retryAfter(c, current, previous, elapsed) : 0,
    });
  }
  return out;
}

function admits(checks: readonly CounterCheck[], counts: readonly number[], now: number): boolean {
  for (let i = 0; i < checks.length; i++) {
    const c = checks[i]!;
    if (c.enforce && wouldPass(c, counts[2 * i] ?? 0, counts[2 * i + 1] ?? 0, now - windowStart(now, c.windowMs))) return false;
  }
  return true;
}

// ───────────────────────── this process ─────────────────────────

interface WindowCount {
  start: number;
  windowMs: number;
  count: number;
  previous: number;
}

/** Counts kept before the oldest are dropped: distinct header values must not grow memory without bound. */
export const PROCESS_STORE_MAX_KEYS = 100_000;

/** Counts in this process: every serving process (and replica) keeps its own. */
export class ProcessCounterStore implements CounterStore {
  readonly kind = 'process';
  private readonly counts = new Map<string, WindowCount>();

  hit(checks: readonly CounterCheck[], now: number): Promise<readonly CounterResult[]> {
    return Promise.resolve(this.hitNow(checks, now));
  }

  /** The synchronous core of hit(). */
  hitNow(checks: readonly CounterCheck[], now: number): CounterResult[] {
    const counts: number[] = [];
    const entries: WindowCount[] = [];
    for (const c of checks) {
      const e = this.entry(c, now);
      entries.push(e);
      counts.push(e.count, c.sliding ? e.previous : 0);
    }
    const admitted = admits(checks, counts, now);
    if (admitted) for (const e of entries) e.count++;
    return results(checks, counts, now, admitted);
  }

  private entry(c: CounterCheck, now: number): WindowCount {
    const start = windowStart(now, c.windowMs);
    let e = this.counts.get(c.key);
    if (e === undefined) {
      if (this.counts.size >= PROCESS_STORE_MAX_KEYS) this.evict(now);
      e = { start, windowMs: c.windowMs, count: 0, previous: 0 };
      this.counts.set(c.key, e);
    } else if (e.start !== start) {
      // The window moved on: the count becomes the previous window's only if that window just ended.
      e.previous = e.start === start - c.windowMs ? e.count : 0;
      e.start = start;
      e.count = 0;
    }
    return e;
  }

  /** Drop counts no window needs any more; if none are, the oldest tenth (Map order is insertion order). */
  private evict(now: number): void {
    // A sliding window still reads the window before the current one: two windows back is gone.
    for (const [k, e] of this.counts) if (e.start + 2 * e.windowMs <= now) this.counts.delete(k);
    if (this.counts.size < PROCESS_STORE_MAX_KEYS) return;
    let drop = Math.ceil(PROCESS_STORE_MAX_KEYS / 10);
    for (const k of this.counts.keys()) {
      if (drop-- <= 0) break;
      this.counts.delete(k);
    }
  }

  close(): void {
    this.counts.clear();
  }
}

// ───────────────────────── Redis ─────────────────────────

/**
 * KEYS: per check, its current window's key and its previous window's key. ARGV: per check, its
 * limit, window (ms), sliding (1/0), enforced (1/0) and time into the window (ms). Returns the
 * admission (1/0), then per check the current and previous counts read before counting.
 */
export const RATE_LIMIT_SCRIPT = `
local n = #KEYS / 2
local counts = {}
local admitted = 1
for i = 1, n do
  local a = (i - 1) * 5
  local limit = tonumber(ARGV[a + 1])
  local window = tonumber(ARGV[a + 2])
  local sliding = ARGV[a + 3] == '1'
  local current = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local previous = 0
  if sliding then previous = tonumber(redis.call('GET', KEYS[2 * i]) or '0') end
  counts[2 * i - 1] = current
  counts[2 * i] = previous
  local used = current
  if sliding then used = previous * (window - tonumber(ARGV[a + 5])) / window + current end
  if ARGV[a + 4] == '1' and used + 1 > limit then admitted = 0 end
end
if admitted == 1 then
  for i = 1, n do
    local a = (i - 1) * 5
    local window = tonumber(ARGV[a + 2])
    local ttl = window
    if ARGV[a + 3] == '1' then ttl = 2 * window end
    if redis.call('INCR', KEYS[2 * i - 1]) == 1 then redis.call('PEXPIRE', KEYS[2 * i - 1], ttl) end
  end
end
local out = { admitted }
for i = 1, 2 * n do out[i + 1] = counts[i] end
return out
`;

/** Unanswered calls a store holds at most; past it, calls fail at once (the failure mode). */
const MAX_IN_FLIGHT = 10_000;
/** Timeouts in a row after which the connection is replaced. */
const RECONNECT_AFTER_TIMEOUTS = 50;

/** Prefix of every key Portico writes, so a shared Redis shows whose keys they are. */
export const REDIS_KEY_PREFIX = 'portico:rl:';

interface RateLimitCommands {
  porticoRateLimit(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
}

/**
 * Counts in Redis. The request path never waits longer than `timeoutMs`: while the connection is
 * down, a call fails at once (no queue of commands that would count late); while the first
 * connection is being made, a call waits for it within the same budget.
 */
export class RedisCounterStore implements CounterStore {
  readonly kind = 'redis';
  private readonly client: Redis & RateLimitCommands;
  private everReady = false;
  private closed = false;
  /** Calls sent and not answered yet: a Redis that accepts and never answers must not hold them all. */
  private inFlight = 0;
  /** Calls that timed out since the last answer. */
  private timeouts = 0;
  /** Settles when the first connection is ready: every call waiting for it shares this one listener. */
  private readonly firstReady: Promise<void>;

  constructor(
    url: string,
    private readonly timeoutMs: number,
    onStateChange?: (state: 'ready' | 'down', detail: string) => void,
  ) {
    this.client = new (ioredis().Redis)(url, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      // The caller bounds each call (and a late reply is dropped there): a second timer per
      // command here would only cost. Auto-pipelining costs more CPU per call than it saves on
      // loopback and in a cluster network alike (measured: bench section 7).
      connectTimeout: Math.max(1000, timeoutMs),
      // Reconnect quickly at first, then every second at most: a restarted Redis is found soon.
      retryStrategy: (times) => Math.min(50 * times, 1000),
      lazyConnect: false,
    }) as Redis & RateLimitCommands;
    this.client.defineCommand('porticoRateLimit', { lua: RATE_LIMIT_SCRIPT });
    let down = false;
    this.firstReady = new Promise<void>((resolve) => this.client.once('ready', () => resolve()));
    this.client.on('ready', () => {
      this.everReady = true;
      down = false;
      onStateChange?.('ready', '');
    });
    // ioredis reports every failed reconnect: one line per outage is enough.
    this.client.on('error', (err: Error) => {
      if (!down && !this.closed) onStateChange?.('down', err.message);
      down = true;
    });
    this.client.on('close', () => {
      if (!down && this.everReady && !this.closed) onStateChange?.('down', 'connection closed');
      down = true;
    });
  }

  async hit(checks: readonly CounterCheck[], now: number): Promise<readonly CounterResult[]> {
    if (this.client.status !== 'ready') await this.untilReady();
    const args: (string | number)[] = [];
    for (const c of checks) {
      const start = windowStart(now, c.windowMs);
      args.push(`${REDIS_KEY_PREFIX}${c.key}:${start}`, `${REDIS_KEY_PREFIX}${c.key}:${start - c.windowMs}`);
    }
    for (const c of checks) args.push(c.limit, c.windowMs, c.sliding ? 1 : 0, c.enforce ? 1 : 0, now - windowStart(now, c.windowMs));
    if (this.inFlight >= MAX_IN_FLIGHT) throw new CounterStoreError('unavailable', `${this.inFlight} calls to Redis are unanswered`);
    this.inFlight++;
    const reply = await new Promise<number[]>((resolve, reject) => {
      // One timer bounds the call; a reply that comes later is dropped (its count stands, as any late count would).
      const timer = setTimeout(() => {
        // Redis stopped answering without closing the connection: start a new one, which fails
        // what the old one still holds, rather than queue without end.
        if (++this.timeouts === RECONNECT_AFTER_TIMEOUTS && !this.closed) this.client.disconnect(true);
        reject(new CounterStoreError('timeout', `no answer from Redis within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.client.porticoRateLimit(2 * checks.length, ...args).then(
        (r) => {
          this.inFlight--;
          this.timeouts = 0;
          clearTimeout(timer);
          resolve(r);
        },
        (err: Error) => {
          this.inFlight--;
          clearTimeout(timer);
          reject(new CounterStoreError(this.client.status === 'ready' ? 'error' : 'unavailable', err.message));
        },
      );
    });
    return results(checks, reply.slice(1), now, reply[0] === 1);
  }

  /** Before the first connection is up, wait for it within the timeout; after an outage, fail at once. */
  private untilReady(): Promise<void> {
    const status = this.client.status;
    if (this.everReady || (status !== 'connecting' && status !== 'connect' && status !== 'wait')) {
      return Promise.reject(new CounterStoreError('unavailable', `redis is ${status}`));
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CounterStoreError('timeout', 'redis connection not ready within the timeout')), this.timeoutMs);
    });
    return Promise.race([this.firstReady, late]).finally(() => clearTimeout(timer));
  }

  close(): void {
    this.closed = true;
    this.client.disconnect(false);
  }
}
