// The counts behind the built-in limiter: fixed wall-clock windows, or sliding windows when a limit
// has a burstFactor, kept in Redis (one count for every replica) or, without Redis, in this process.
//
// Both stores take the same decision: a request is admitted when no enforced limit would pass its
// count, and only an admitted request is counted (against every limit that matched it). Redis
// takes it inside one Lua script, so replicas never interleave a read and an increment; the
// process store takes it synchronously. The clock is the caller's (windows are named by their
// start), as Envoy's rate limit service does with its Redis.
//
// The Redis store sends the requests of one turn of the event loop (and those that come while a
// call is unanswered) in one script call, which decides them one after another in the order they
// came, exactly as one call each would: a round trip per request cost more CPU than the rest of
// the request (bench section 7).

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

/** Results for counts read before the request was (or was not) counted: per check, its current and previous window's counts. */
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
 * One call decides a batch of requests, in order, as one call each would. KEYS: every count the
 * batch reads, once. ARGV[1]: integers separated by spaces —
 *   the number of slots, and per slot (a window of one count) the index in KEYS of its current
 *   window's key and of its previous window's (0 when it does not slide), its window (ms) and
 *   whether it slides (1/0);
 *   the number of limits, and per limit its slot, its limit and whether it is enforced (1/0);
 *   the number of requests, and per request the number of its checks, and per check its limit,
 *   followed by the time into the window (ms) when the slot slides.
 * Returns the admissions (a string of 1 and 0, one per request), then the count each key held
 * before the batch: the caller replays the batch to give each request the counts it met. Each
 * count is read once and kept here, so a request sees the ones before it in the batch; what the
 * batch added goes to each key at the end.
 */
export const RATE_LIMIT_BATCH_SCRIPT = `
local t = {}
for v in string.gmatch(ARGV[1], '%S+') do t[#t + 1] = tonumber(v) end
local count, before = {}, {}
local function read(k)
  local c = count[k]
  if c == nil then
    c = tonumber(redis.call('GET', KEYS[k]) or '0')
    count[k] = c
    before[k] = c
  end
  return c
end
local p = 2
local cur, prev, window, sliding = {}, {}, {}, {}
for s = 1, t[1] do
  cur[s], prev[s], window[s], sliding[s] = t[p], t[p + 1], t[p + 2], t[p + 3] == 1
  p = p + 4
end
local lslot, llimit, lenforce = {}, {}, {}
local nlimits = t[p]
p = p + 1
for l = 1, nlimits do
  lslot[l], llimit[l], lenforce[l] = t[p], t[p + 1], t[p + 2] == 1
  p = p + 3
end
local nreq = t[p]
p = p + 1
local admitted, added = {}, {}
for r = 1, nreq do
  local m = t[p]
  p = p + 1
  local first = p
  local ok = true
  for i = 1, m do
    local l = t[p]
    local s = lslot[l]
    p = p + 1
    local used = read(cur[s])
    if sliding[s] then
      used = read(prev[s]) * (window[s] - t[p]) / window[s] + used
      p = p + 1
    end
    if lenforce[l] and used + 1 > llimit[l] then ok = false end
  end
  if ok then
    admitted[r] = '1'
    local q = first
    for i = 1, m do
      local s = lslot[t[q]]
      q = q + 1
      if sliding[s] then q = q + 1 end
      local k = cur[s]
      count[k] = count[k] + 1
      added[k] = (added[k] or 0) + 1
    end
  else
    admitted[r] = '0'
  end
end
for s = 1, t[1] do
  local k = cur[s]
  local n = added[k]
  if n ~= nil then
    added[k] = nil
    local ttl = window[s]
    if sliding[s] then ttl = 2 * ttl end
    if redis.call('INCRBY', KEYS[k], n) == n then redis.call('PEXPIRE', KEYS[k], ttl) end
  end
end
local out = { table.concat(admitted) }
for k = 1, #KEYS do out[k + 1] = before[k] or 0 end
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
  porticoRateLimitBatch(numKeys: number, keys: readonly string[], spec: string): Promise<(string | number)[]>;
}

/** One request waiting for its counts. */
interface Waiting {
  readonly checks: readonly CounterCheck[];
  readonly now: number;
  readonly resolve: (r: readonly CounterResult[]) => void;
  readonly reject: (e: CounterStoreError) => void;
}

/** Requests that go in one script call, under one timer (started by the first of them). */
interface Batch {
  readonly items: Waiting[];
  timer: NodeJS.Timeout | undefined;
  /** Handed to the client: the count of unanswered requests drops only when it answers. */
  sent: boolean;
  /** Answered, failed or timed out: a later answer is dropped (its counts stand, as any late count would). */
  settled: boolean;
}

/** One window of one count in a batch: several requests (and limits) may share it. */
interface Slot {
  readonly start: number;
  readonly windowMs: number;
  readonly sliding: boolean;
  /** Indexes (from 1) in the call's keys: current window, previous window (0 when not sliding). */
  readonly current: number;
  readonly previous: number;
  readonly limits: BatchLimit[];
  /** Another window of the same count (a batch that crosses a window's end). */
  next: Slot | undefined;
}

interface BatchLimit {
  readonly slot: Slot;
  readonly limit: number;
  readonly enforce: boolean;
  readonly index: number;
}

/** A batch as the script takes it, and the limit of each check in request order (for the replay). */
export interface EncodedBatch {
  readonly keys: string[];
  readonly spec: string;
  readonly order: readonly BatchLimit[];
}

/** The script call's keys and its one argument for a batch (see RATE_LIMIT_BATCH_SCRIPT). */
export function encodeBatch(items: readonly { readonly checks: readonly CounterCheck[]; readonly now: number }[]): EncodedBatch {
  const byCount = new Map<string, Slot>();
  const keyIndex = new Map<string, number>();
  const keys: string[] = [];
  const slots: Slot[] = [];
  const limits: BatchLimit[] = [];
  const order: BatchLimit[] = [];
  const indexOf = (key: string): number => {
    let i = keyIndex.get(key);
    if (i === undefined) {
      i = keys.push(key);
      keyIndex.set(key, i);
    }
    return i;
  };
  let requests = '';
  for (const it of items) {
    requests += ` ${it.checks.length}`;
    for (const c of it.checks) {
      const start = windowStart(it.now, c.windowMs);
      const first = byCount.get(c.key);
      let slot = first;
      while (slot !== undefined && (slot.start !== start || slot.windowMs !== c.windowMs || slot.sliding !== c.sliding)) slot = slot.next;
      if (slot === undefined) {
        slot = {
          start, windowMs: c.windowMs, sliding: c.sliding,
          current: indexOf(`${REDIS_KEY_PREFIX}${c.key}:${start}`),
          previous: c.sliding ? indexOf(`${REDIS_KEY_PREFIX}${c.key}:${start - c.windowMs}`) : 0,
          limits: [], next: first,
        };
        byCount.set(c.key, slot);
        slots.push(slot);
      }
      let limit: BatchLimit | undefined;
      for (const l of slot.limits) if (l.limit === c.limit && l.enforce === c.enforce) limit = l;
      if (limit === undefined) {
        limit = { slot, limit: c.limit, enforce: c.enforce, index: limits.length + 1 };
        slot.limits.push(limit);
        limits.push(limit);
      }
      order.push(limit);
      requests += c.sliding ? ` ${limit.index} ${it.now - start}` : ` ${limit.index}`;
    }
  }
  const slotIndex = new Map<Slot, number>();
  let spec = String(slots.length);
  for (const s of slots) {
    slotIndex.set(s, slotIndex.size + 1);
    spec += ` ${s.current} ${s.previous} ${s.windowMs} ${s.sliding ? 1 : 0}`;
  }
  spec += ` ${limits.length}`;
  for (const l of limits) spec += ` ${slotIndex.get(l.slot)!} ${l.limit} ${l.enforce ? 1 : 0}`;
  return { keys, spec: `${spec} ${items.length}${requests}`, order };
}

/**
 * Each request's results from the script's reply: the admissions and the counts before the batch,
 * replayed in order (an admitted request adds one to the current count of each of its limits).
 */
export function decodeBatch(
  items: readonly { readonly checks: readonly CounterCheck[]; readonly now: number }[],
  order: readonly BatchLimit[],
  reply: readonly (string | number)[],
): CounterResult[][] {
  const admissions = String(reply[0]);
  // reply[k] is the count of key k (keys are numbered from 1, as in Lua)
  const counts = reply.map(Number);
  const out: CounterResult[][] = [];
  let j = 0;
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    const admitted = admissions.charCodeAt(i) === 49;
    const met: number[] = [];
    const from = j;
    for (const c of it.checks) {
      const s = order[j++]!.slot;
      met.push(counts[s.current] ?? 0, c.sliding ? counts[s.previous] ?? 0 : 0);
    }
    if (admitted) for (let k = from; k < j; k++) counts[order[k]!.slot.current]!++;
    out.push(results(it.checks, met, it.now, admitted));
  }
  return out;
}

/**
 * Counts in Redis. The requests of one turn of the event loop go in one call (see the module
 * comment); while a call is unanswered, the requests that come meanwhile wait to go together in the
 * next one, when it is answered (or times out): under load a batch grows to what comes in one round
 * trip, and each write to Redis is shared by that many requests.
 *
 * The request path never waits longer than `timeoutMs`: a batch's one timer starts when its first
 * request comes, so no request in it waits longer, whether for the call before it or its own;
 * while the connection is down a call fails at once (no queue of commands that would count late);
 * while the first connection is being made, a batch waits for it within the same budget.
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
  /** The batch requests join, until it is sent. */
  private open: Batch | undefined;
  /** The batch sent last, until it is answered, fails or times out: the open one waits for it. */
  private unansweredBatch: Batch | undefined;
  /** A flush of the open batch is due at the end of this turn. */
  private flushDue = false;
  private readonly flushOpen = (): void => {
    this.flushDue = false;
    const b = this.open;
    if (b !== undefined && this.unansweredBatch === undefined) this.flush(b);
  };
  /** Settles when the first connection is ready: every batch waiting for it shares this one listener. */
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
    this.flushSoon();
    return b;
  }

  /** Flush the open batch after this turn's I/O callbacks (and the microtasks they ran), unless a call is unanswered. */
  private flushSoon(): void {
    if (this.flushDue || this.unansweredBatch !== undefined) return;
    this.flushDue = true;
    setImmediate(this.flushOpen);
  }

  /** A batch is answered, failed or timed out: the requests that waited for it go now. */
  private done(b: Batch): void {
    if (this.unansweredBatch !== b) return;
    this.unansweredBatch = undefined;
    if (this.open !== undefined) this.flushSoon();
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
    this.unansweredBatch = b;
    const { keys, spec, order } = encodeBatch(b.items);
    const n = b.items.length;
    this.client.porticoRateLimitBatch(keys.length, keys, spec).then(
      (reply) => {
        this.unanswered -= n;
        this.timeouts = 0;
        if (b.settled) return;
        b.settled = true;
        clearTimeout(b.timer);
        this.done(b);
        const each = decodeBatch(b.items, order, reply);
        for (let i = 0; i < n; i++) b.items[i]!.resolve(each[i]!);
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
    this.done(b);
    for (const it of b.items) it.reject(err);
  }

  private expire(b: Batch): void {
    if (b.settled) return;
    if (this.open === b) this.open = undefined;
    const before = this.timeouts;
    this.timeouts += b.items.length;
    this.fail(b, new CounterStoreError('timeout', b.sent || this.everReady
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
