// The counts behind the built-in limiter: fixed wall-clock windows, or sliding windows when a limit
// has a burstFactor, kept in Redis (one count for every replica) or, without Redis, in this process.
//
// Both stores take the same decision: a request is admitted when no enforced limit would pass its
// count, and only an admitted request is counted (against every limit that matched it). Redis
// takes it inside one Lua script, so replicas never interleave a read and an increment; the
// process store takes it synchronously. The clock is the caller's (windows are named by their
// start), as Envoy's rate limit service does with its Redis.
//
// The Redis store sends the requests of one turn of the event loop in one script call, which
// decides them one after another in the order they came, exactly as one call each would: a round
// trip per request cost more CPU than the rest of the request (bench section 7).

import { Redis } from 'ioredis';

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

/**
 * Results for counts read before the request was (or was not) counted: per check, its current and
 * previous window's counts, from `at` in `counts`.
 */
function results(checks: readonly CounterCheck[], counts: readonly number[], now: number, admitted: boolean, at = 0): CounterResult[] {
  const out: CounterResult[] = [];
  for (let i = 0; i < checks.length; i++) {
    const c = checks[i]!;
    const current = counts[at + 2 * i] ?? 0;
    const previous = counts[at + 2 * i + 1] ?? 0;
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
 * One call decides a batch of requests, in order. KEYS: per slot (a count the batch reads), its
 * current window's key, then its previous window's. ARGV[1]: integers separated by spaces — the
 * number of slots; per slot its window (ms) and whether it slides (1/0); the number of requests;
 * per request the number of its checks, and per check its slot, limit, whether it is enforced (1/0)
 * and the time into its window (ms). Returns per request its admission (1/0), then per check the
 * current and previous counts read before counting it. Each count is read once and kept here, so a
 * request sees the ones before it in the batch; what the batch added goes to each key at the end.
 */
export const RATE_LIMIT_BATCH_SCRIPT = `
local t = {}
for v in string.gmatch(ARGV[1], '%S+') do t[#t + 1] = tonumber(v) end
local counts = {}
local function count(key)
  local c = counts[key]
  if c == nil then
    c = tonumber(redis.call('GET', key) or '0')
    counts[key] = c
  end
  return c
end
local nslots = t[1]
local window, sliding, added = {}, {}, {}
local p = 2
for s = 1, nslots do
  window[s] = t[p]
  sliding[s] = t[p + 1] == 1
  added[s] = 0
  p = p + 2
end
local out = {}
local nreq = t[p]
p = p + 1
for r = 1, nreq do
  local m = t[p]
  p = p + 1
  local head = #out + 1
  local first = p
  local admitted = 1
  out[head] = 1
  for i = 1, m do
    local s, limit, enforce, elapsed = t[p], t[p + 1], t[p + 2], t[p + 3]
    p = p + 4
    local current = count(KEYS[2 * s - 1])
    local previous = 0
    if sliding[s] then previous = count(KEYS[2 * s]) end
    out[head + 2 * i - 1] = current
    out[head + 2 * i] = previous
    local used = current
    if sliding[s] then used = previous * (window[s] - elapsed) / window[s] + current end
    if enforce == 1 and used + 1 > limit then admitted = 0 end
  end
  out[head] = admitted
  if admitted == 1 then
    for i = 1, m do
      local s = t[first + 4 * (i - 1)]
      local key = KEYS[2 * s - 1]
      counts[key] = counts[key] + 1
      added[s] = added[s] + 1
    end
  end
end
for s = 1, nslots do
  local n = added[s]
  if n > 0 then
    local ttl = window[s]
    if sliding[s] then ttl = 2 * ttl end
    if redis.call('INCRBY', KEYS[2 * s - 1], n) == n then redis.call('PEXPIRE', KEYS[2 * s - 1], ttl) end
  end
end
return out
`;

/** Requests waiting or unanswered that a store holds at most; past it, calls fail at once (the failure mode). */
const MAX_IN_FLIGHT = 10_000;
/** Requests one script call decides at most: a busier turn sends more calls. */
export const MAX_BATCH = 500;
/** Requests timed out in a row after which the connection is replaced. */
const RECONNECT_AFTER_TIMEOUTS = 50;

/** Prefix of every key Portico writes, so a shared Redis shows whose keys they are. */
export const REDIS_KEY_PREFIX = 'portico:rl:';

interface RateLimitCommands {
  porticoRateLimitBatch(numKeys: number, keys: readonly string[], spec: string): Promise<number[]>;
}

/** One request waiting for its counts. */
interface Waiting {
  readonly checks: readonly CounterCheck[];
  readonly now: number;
  readonly resolve: (r: readonly CounterResult[]) => void;
  readonly reject: (e: CounterStoreError) => void;
}

/** The requests of one turn: one script call, one timer. */
interface Batch {
  readonly items: Waiting[];
  timer: NodeJS.Timeout | undefined;
  /** Handed to the client: the count of unanswered requests drops only when it answers. */
  sent: boolean;
  /** Answered, failed or timed out: a later answer is dropped (its counts stand, as any late count would). */
  settled: boolean;
}

/** The script call's keys and its one argument for a batch (see RATE_LIMIT_BATCH_SCRIPT). */
export function encodeBatch(items: readonly { readonly checks: readonly CounterCheck[]; readonly now: number }[]): { keys: string[]; spec: string } {
  // A count read by several requests of the batch is one slot: read once, written once.
  const slots = new Map<string, number>();
  const keys: string[] = [];
  let slotSpec = '';
  let requestSpec = '';
  for (const it of items) {
    requestSpec += ` ${it.checks.length}`;
    for (const c of it.checks) {
      const start = windowStart(it.now, c.windowMs);
      const current = `${REDIS_KEY_PREFIX}${c.key}:${start}`;
      let slot = slots.get(current);
      if (slot === undefined) {
        slot = slots.size + 1;
        slots.set(current, slot);
        keys.push(current, `${REDIS_KEY_PREFIX}${c.key}:${start - c.windowMs}`);
        slotSpec += ` ${c.windowMs} ${c.sliding ? 1 : 0}`;
      }
      requestSpec += ` ${slot} ${c.limit} ${c.enforce ? 1 : 0} ${it.now - start}`;
    }
  }
  return { keys, spec: `${slots.size}${slotSpec} ${items.length}${requestSpec}` };
}

/**
 * Counts in Redis. The requests of one turn of the event loop go in one call (see the module
 * comment). The request path never waits longer than `timeoutMs`: a batch's one timer starts when
 * its first request comes, so no request in it waits longer; while the connection is down a call
 * fails at once (no queue of commands that would count late); while the first connection is being
 * made, a batch waits for it within the same budget.
 */
export class RedisCounterStore implements CounterStore {
  readonly kind = 'redis';
  private readonly client: Redis & RateLimitCommands;
  private everReady = false;
  private closed = false;
  /** Requests taken and not answered: a Redis that accepts and never answers must not hold them all. */
  private unanswered = 0;
  /** Requests that timed out since the last answer. */
  private timeouts = 0;
  /** The batch this turn's requests join, until it is sent. */
  private open: Batch | undefined;
  /** Settles when the first connection is ready: every batch waiting for it shares this one listener. */
  private readonly firstReady: Promise<void>;

  constructor(
    url: string,
    private readonly timeoutMs: number,
    onStateChange?: (state: 'ready' | 'down', detail: string) => void,
  ) {
    this.client = new Redis(url, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      // The store bounds each batch (and drops a late reply): a second timer per command here would
      // only cost. It batches by itself, so ioredis's auto-pipelining would add nothing.
      connectTimeout: Math.max(1000, timeoutMs),
      // Reconnect quickly at first, then every second at most: a restarted Redis is found soon.
      retryStrategy: (times) => Math.min(50 * times, 1000),
      lazyConnect: false,
    }) as Redis & RateLimitCommands;
    this.client.defineCommand('porticoRateLimitBatch', { lua: RATE_LIMIT_BATCH_SCRIPT });
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

  hit(checks: readonly CounterCheck[], now: number): Promise<readonly CounterResult[]> {
    const status = this.client.status;
    if (status !== 'ready' && !this.firstConnectionPending()) {
      return Promise.reject(new CounterStoreError('unavailable', `redis is ${this.closed ? 'closed' : status}`));
    }
    if (this.unanswered >= MAX_IN_FLIGHT) {
      return Promise.reject(new CounterStoreError('unavailable', `${this.unanswered} requests to Redis are unanswered`));
    }
    return new Promise<readonly CounterResult[]>((resolve, reject) => {
      let b = this.open;
      if (b === undefined) b = this.openBatch();
      b.items.push({ checks, now, resolve, reject });
      this.unanswered++;
      // A full batch goes now; the next request opens another.
      if (b.items.length >= MAX_BATCH) this.flush(b);
    });
  }

  /** Before the first connection is up, a batch may wait for it (within the timeout); after an outage, not. */
  private firstConnectionPending(): boolean {
    if (this.everReady || this.closed) return false;
    const status = this.client.status;
    return status === 'connecting' || status === 'connect' || status === 'wait';
  }

  private openBatch(): Batch {
    const b: Batch = { items: [], timer: undefined, sent: false, settled: false };
    b.timer = setTimeout(() => this.expire(b), this.timeoutMs);
    this.open = b;
    // After this turn's I/O callbacks (and the microtasks they ran), before the next poll.
    setImmediate(() => this.flush(b));
    return b;
  }

  private flush(b: Batch): void {
    if (this.open === b) this.open = undefined;
    if (b.settled || b.sent) return;
    if (this.client.status === 'ready') {
      this.send(b);
      return;
    }
    if (this.firstConnectionPending()) {
      void this.firstReady.then(() => this.flush(b));
      return;
    }
    this.fail(b, new CounterStoreError('unavailable', `redis is ${this.closed ? 'closed' : this.client.status}`));
  }

  private send(b: Batch): void {
    b.sent = true;
    const { keys, spec } = encodeBatch(b.items);
    const n = b.items.length;
    this.client.porticoRateLimitBatch(keys.length, keys, spec).then(
      (reply) => {
        this.unanswered -= n;
        this.timeouts = 0;
        if (b.settled) return;
        b.settled = true;
        clearTimeout(b.timer);
        let at = 0;
        for (const it of b.items) {
          it.resolve(results(it.checks, reply, it.now, reply[at] === 1, at + 1));
          at += 1 + 2 * it.checks.length;
        }
      },
      (err: Error) => {
        this.unanswered -= n;
        this.fail(b, new CounterStoreError(this.client.status === 'ready' ? 'error' : 'unavailable', err.message));
      },
    );
  }

  private fail(b: Batch, err: CounterStoreError): void {
    if (b.settled) return;
    b.settled = true;
    clearTimeout(b.timer);
    // Never handed to the client: nothing will answer for these.
    if (!b.sent) this.unanswered -= b.items.length;
    for (const it of b.items) it.reject(err);
  }

  private expire(b: Batch): void {
    if (b.settled) return;
    if (this.open === b) this.open = undefined;
    const before = this.timeouts;
    this.timeouts += b.items.length;
    this.fail(b, new CounterStoreError('timeout', b.sent
      ? `no answer from Redis within ${this.timeoutMs} ms`
      : 'redis connection not ready within the timeout'));
    // Redis stopped answering without closing the connection: start a new one, which fails what
    // the old one still holds, rather than queue without end.
    if (before < RECONNECT_AFTER_TIMEOUTS && this.timeouts >= RECONNECT_AFTER_TIMEOUTS && !this.closed) this.client.disconnect(true);
  }

  close(): void {
    this.closed = true;
    this.client.disconnect(false);
  }
}
