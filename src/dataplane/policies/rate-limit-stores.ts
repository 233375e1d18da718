// Where the built-in limiter's counts live for this process: one Redis client per URL and timeout,
// or one in-process store, shared by every IR generation so that a configuration change neither
// reconnects nor resets the counts.

import { ProcessCounterStore, RedisCounterStore, type CounterStore } from './rate-limit-counters.js';

interface Held {
  readonly store: CounterStore;
  users: number;
}

const held = new Map<string, Held>();
let warnedPerProcess = false;

/** The Redis URL counts go to: the configuration's, else REDIS_URL, else none (this process counts). */
export function redisUrlFor(configured: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (configured !== undefined) return configured;
  const u = env['REDIS_URL'];
  return u !== undefined && u.trim() !== '' ? u.trim() : undefined;
}

/** The URL without credentials, for logs. */
export function redactedRedisUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/)[^@/]*@/, '$1[redacted]@');
}

/**
 * Takes a store for a runtime; `release` gives it back. A Redis client whose last runtime let it go
 * is closed; the in-process store keeps its counts for the life of the process.
 */
export function acquireCounterStore(
  redisUrl: string | undefined, timeoutMs: number, warn: (message: string) => void,
): { readonly store: CounterStore; release(): void } {
  const key = redisUrl === undefined ? 'process' : `${timeoutMs} ${redisUrl}`;
  let h = held.get(key);
  if (h === undefined) {
    let store: CounterStore;
    if (redisUrl === undefined) {
      store = new ProcessCounterStore();
    } else {
      const shown = redactedRedisUrl(redisUrl);
      store = new RedisCounterStore(redisUrl, timeoutMs, (state, detail) => {
        if (state === 'down') warn(`rate limits: Redis at ${shown} is unreachable (${detail}); requests get the configured failure mode until it is back`);
        else warn(`rate limits: Redis at ${shown} is connected; limits are shared by every replica`);
      });
    }
    h = { store, users: 0 };
    held.set(key, h);
  }
  if (redisUrl === undefined && !warnedPerProcess) {
    warnedPerProcess = true;
    warn('rate limits: no Redis configured (REDIS_URL or the Module\'s portico_rate_limit.redis_url): RateLimit counts are kept per serving process, so every replica and worker allows the full rate');
  }
  h.users++;
  const entry = h;
  let released = false;
  return {
    store: entry.store,
    release: () => {
      if (released) return;
      released = true;
      entry.users--;
      if (entry.users === 0 && entry.store.kind === 'redis') {
        entry.store.close();
        held.delete(key);
      }
    },
  };
}
