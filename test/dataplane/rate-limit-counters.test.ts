// The built-in limiter's counts, in this process and in a real redis-server: fixed wall-clock
// windows, sliding windows (burstFactor), LogOnly limits, counts shared by two clients, and a
// Redis that stops answering.

import { test, describe, before, after } from 'node:test';
import { EventEmitter } from 'node:events';
import assert from 'node:assert/strict';
import {
  CounterStoreError, ProcessCounterStore, RedisCounterStore, type CounterCheck, type CounterStore,
} from '../../src/dataplane/policies/rate-limit-counters.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { whenTrue } from '../support/wait-until.js';

const MINUTE = 60_000;
/** A moment at the start of a wall-clock minute, far from "now" so that Redis keys never collide across runs. */
const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

let seq = 0;
function check(o: Partial<CounterCheck> = {}): CounterCheck {
  return { key: `k${process.pid}-${seq++}-${Math.random()}`, limit: 3, windowMs: MINUTE, sliding: false, enforce: true, ...o };
}

async function admitted(store: CounterStore, checks: readonly CounterCheck[], now: number): Promise<boolean> {
  const r = await store.hit(checks, now);
  return !r.some((x, i) => x.over && checks[i]!.enforce);
}

/** The behaviour both stores must share. */
function behaviour(name: string, make: () => CounterStore): void {
  describe(name, () => {
    let store: CounterStore;
    before(() => {
      store = make();
    });
    after(() => store.close());

    test('a fixed window admits `limit` requests, refuses the next, and starts again at the next wall-clock window', async () => {
      const c = check();
      const seen: boolean[] = [];
      for (let i = 0; i < 4; i++) seen.push(await admitted(store, [c], T0 + 1000 * i));
      assert.deepEqual(seen, [true, true, true, false]);
      const r = await store.hit([c], T0 + 50_000);
      assert.equal(r[0]!.over, true);
      assert.equal(r[0]!.retryAfterMs, 10_000, 'until the minute ends');
      assert.equal(await admitted(store, [c], T0 + MINUTE), true, 'a new minute');
    });

    test('remaining counts down with each admitted request', async () => {
      const c = check({ limit: 5 });
      const rem: number[] = [];
      for (let i = 0; i < 5; i++) rem.push((await store.hit([c], T0 + i))[0]!.remaining);
      assert.deepEqual(rem, [4, 3, 2, 1, 0]);
    });

    test('a refused request is not counted against the other limit it matched', async () => {
      const tight = check({ limit: 1 });
      const loose = check({ limit: 2 });
      assert.equal(await admitted(store, [tight, loose], T0), true);
      assert.equal(await admitted(store, [tight, loose], T0 + 1), false);
      assert.equal(await admitted(store, [tight, loose], T0 + 2), false);
      // loose was used once: one more fits when tight is not asked
      assert.equal(await admitted(store, [loose], T0 + 3), true);
      assert.equal(await admitted(store, [loose], T0 + 4), false);
    });

    test('a LogOnly limit reports over without refusing, and the request is counted', async () => {
      const logOnly = check({ limit: 1, enforce: false });
      assert.equal(await admitted(store, [logOnly], T0), true);
      const r = await store.hit([logOnly], T0 + 1);
      assert.equal(r[0]!.over, true);
      assert.equal(await admitted(store, [logOnly], T0 + 2), true);
    });

    test('a sliding window (burstFactor) carries the previous window over, weighted by what is left of it', async () => {
      // rate 4 per minute with burstFactor 1: a window of one minute, limit 4
      const c = check({ limit: 4, sliding: true });
      for (let i = 0; i < 4; i++) assert.equal(await admitted(store, [c], T0 + 50_000 + i), true);
      assert.equal(await admitted(store, [c], T0 + 50_010), false);
      // 15 s into the next minute, 3/4 of the previous window still counts: 4 × 0.75 = 3, one more fits
      assert.equal(await admitted(store, [c], T0 + MINUTE + 15_000), true);
      const r = await store.hit([c], T0 + MINUTE + 15_001);
      assert.equal(r[0]!.over, true);
      assert.ok(r[0]!.retryAfterMs > 0 && r[0]!.retryAfterMs <= 45_000, `retry after ${r[0]!.retryAfterMs}`);
      // a wall-clock window would have admitted all 4 again at the start of the minute
      assert.equal(await admitted(store, [c], T0 + 2 * MINUTE + 30_000), true);
    });
  });
}

behaviour('process store', () => new ProcessCounterStore());

describe('redis store', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.dispose();
  });

  // Generous timeouts: this runs on a busy machine; the failure tests below use their own.
  behaviour('against redis-server', () => new RedisCounterStore(redis.url, 5000));

  test('two clients (two replicas) share one count', async () => {
    const a = new RedisCounterStore(redis.url, 5000);
    const b = new RedisCounterStore(redis.url, 5000);
    try {
      const c = check({ limit: 4 });
      const seen: boolean[] = [];
      for (let i = 0; i < 3; i++) {
        seen.push(await admitted(a, [c], T0 + i));
        seen.push(await admitted(b, [c], T0 + i));
      }
      assert.deepEqual(seen, [true, true, true, true, false, false]);
    } finally {
      a.close();
      b.close();
    }
  });

  test('concurrent requests from two clients never admit more than the limit (the script is atomic)', async () => {
    const a = new RedisCounterStore(redis.url, 5000);
    const b = new RedisCounterStore(redis.url, 5000);
    try {
      const c = check({ limit: 10 });
      const all = await Promise.all(Array.from({ length: 40 }, (_, i) => admitted(i % 2 === 0 ? a : b, [c], T0 + 5)));
      assert.equal(all.filter(Boolean).length, 10);
    } finally {
      a.close();
      b.close();
    }
  });

  test('a Redis that stops answers every call with an error at once, and counting resumes when it is back', async () => {
    const changes: string[] = [];
    const changed = new EventEmitter();
    let wentDown!: () => void;
    const downSeen = new Promise<void>((r) => (wentDown = r));
    const store = new RedisCounterStore(redis.url, 5000, (state, detail) => {
      changes.push(`${state} ${detail}`);
      changed.emit('change');
      if (state === 'down') wentDown();
    });
    try {
      const c = check({ limit: 100 });
      assert.equal(await admitted(store, [c], T0), true);
      await redis.stop();
      // Every call settles, with the store's own error: the limiter applies its failure mode, never waits.
      const settled = await Promise.allSettled(Array.from({ length: 5 }, () => store.hit([c], T0 + 1)));
      for (const s of settled) {
        assert.equal(s.status, 'rejected');
        assert.ok((s as PromiseRejectedResult).reason instanceof CounterStoreError, String((s as PromiseRejectedResult).reason));
      }
      // the outage is reported (once), as serve logs it
      await downSeen;
      await redis.restart();
      // the client reconnects by itself, and says so; then counting works again
      await whenTrue('the store ready again', () => changes.length >= 3, [[changed, 'change']], { describe: () => changes.join('; ') });
      assert.equal(await admitted(store, [c], T0 + 2), true);
      assert.deepEqual(changes.map((c) => c.split(' ')[0]), ['ready', 'down', 'ready']);
    } finally {
      store.close();
    }
  });

  test('a Redis that is never reached fails each call within the timeout', async () => {
    // A listening socket that never answers: connection accepted, no reply to anything.
    const net = await import('node:net');
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    const store = new RedisCounterStore(`redis://127.0.0.1:${port}`, 200);
    try {
      const r = await Promise.allSettled([store.hit([check()], T0), store.hit([check()], T0)]);
      for (const s of r) {
        assert.equal(s.status, 'rejected');
        assert.equal(((s as PromiseRejectedResult).reason as CounterStoreError).reason, 'timeout');
      }
    } finally {
      store.close();
      silent.close();
    }
  });
});
