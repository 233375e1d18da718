// The Redis store sends the requests of one turn in one script call: against a real redis-server,
// a batch decides exactly as the process store does one request at a time, two replicas' batches
// share one count, and a Redis that hangs fails every request within its timeout (mock timers).

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  MAX_BATCH, ProcessCounterStore, REDIS_KEY_PREFIX, RedisCounterStore, type CounterCheck, type CounterResult, type CounterStoreError,
} from '../../src/dataplane/policies/rate-limit-counters.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

const MINUTE = 60_000;
/** Far from "now", so that keys never collide across runs (they carry their window's start). */
const T0 = Date.UTC(2031, 2, 3, 4, 5, 0);

let seq = 0;
function check(o: Partial<CounterCheck> = {}): CounterCheck {
  return { key: `batch-${process.pid}-${seq++}-${Math.random()}`, limit: 3, windowMs: MINUTE, sliding: false, enforce: true, ...o };
}

/** One turn of the event loop (setImmediate is never mocked here). */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** One command over a raw connection; resolves the reply as Redis sends it (an integer, bulk string or nil). */
function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    s.setEncoding('utf8');
    s.once('connect', () => s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    s.on('data', (d: string) => {
      buf += d;
      const bulk = /^\$(-?\d+)\r\n/.exec(buf);
      if (bulk !== null && Number(bulk[1]) >= 0 && Buffer.byteLength(buf) < bulk[0].length + Number(bulk[1]) + 2) return;
      if (!buf.endsWith('\r\n')) return;
      s.destroy();
      resolve(bulk === null ? buf.slice(0, -2) : Number(bulk[1]) < 0 ? '' : buf.slice(bulk[0].length, -2));
    });
    s.once('error', reject);
  });
}

/** Script calls Redis has run so far (EVAL and EVALSHA). */
async function scriptCalls(port: number): Promise<number> {
  let calls = 0;
  for (const x of (await redisCommand(port, 'INFO', 'commandstats')).matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)) calls += Number(x[1]);
  return calls;
}

/**
 * A mixed run of requests: per client a fixed limit, a LogOnly limit, a sliding limit (burstFactor)
 * and a tight one, each request matching some of them, with times that cross a minute's end (so a
 * sliding window's previous count is one the same batch added to).
 */
function mixedRequests(): { checks: CounterCheck[]; now: number }[] {
  const clients = [0, 1].map(() => ({
    fixed: check({ limit: 6 }),
    logOnly: check({ limit: 4, enforce: false }),
    sliding: check({ limit: 5, sliding: true }),
    tight: check({ limit: 2 }),
  }));
  let x = 7;
  const next = (): number => (x = (x * 1103515245 + 12345) % 2147483648);
  const out: { checks: CounterCheck[]; now: number }[] = [];
  for (let i = 0; i < 120; i++) {
    const c = clients[next() % 2]!;
    const all = [c.fixed, c.logOnly, c.sliding, c.tight];
    const checks = all.filter(() => next() % 3 !== 0);
    if (checks.length === 0) checks.push(c.sliding);
    out.push({ checks, now: T0 + 40_000 + 400 * i });
  }
  return out;
}

describe('batched calls to a real redis-server', () => {
  let redis: RedisServer;
  let store: RedisCounterStore;
  before(async () => {
    redis = await startRedis();
    // Generous: this runs on a busy machine; the hang test uses its own store and mock timers.
    store = new RedisCounterStore(redis.url, 5000);
  });
  after(async () => {
    store.close();
    await redis.dispose();
  });

  test('one turn\'s requests go in one call and each gets what one call per request would give', async () => {
    const requests = mixedRequests();
    // the process store, one request at a time, is the model
    const model = new ProcessCounterStore();
    const expected = requests.map((r) => model.hitNow(r.checks, r.now));
    const before = await scriptCalls(redis.port);
    const got = await Promise.all(requests.map((r) => store.hit(r.checks, r.now)));
    assert.equal(await scriptCalls(redis.port) - before, 1, 'one script call for the turn');
    assert.deepEqual(got, expected);
    // the run meets every outcome: admitted, refused by the tight limit, over LogOnly, over the sliding one
    const flat = got.flat();
    assert.ok(flat.some((r) => r.over) && flat.some((r) => !r.over && r.remaining > 0));
  });

  test('a turn with more requests than one call takes goes in several, and the count stays exact', async () => {
    const c = check({ limit: 2 * MAX_BATCH });
    const n = 2 * MAX_BATCH + MAX_BATCH / 2;
    const before = await scriptCalls(redis.port);
    const got = await Promise.all(Array.from({ length: n }, () => store.hit([c], T0 + 1)));
    assert.equal(await scriptCalls(redis.port) - before, 3);
    const admitted = got.filter((r) => !r[0]!.over);
    assert.equal(admitted.length, 2 * MAX_BATCH);
    // in the order the requests came: each admitted one met the count the one before left
    assert.deepEqual(admitted.map((r) => r[0]!.remaining), Array.from({ length: 2 * MAX_BATCH }, (_, i) => 2 * MAX_BATCH - 1 - i));
    assert.ok(got.slice(2 * MAX_BATCH).every((r) => r[0]!.over && r[0]!.retryAfterMs > 0));
  });

  test('two replicas\' batches in the same turn share one count: the limit is met exactly, each count once', async () => {
    const other = new RedisCounterStore(redis.url, 5000);
    try {
      const c = check({ limit: 200 });
      const hits: Promise<readonly CounterResult[]>[] = [];
      for (let i = 0; i < 150; i++) hits.push(store.hit([c], T0 + 2), other.hit([c], T0 + 2));
      const got = await Promise.all(hits);
      const admitted = got.filter((r) => !r[0]!.over);
      assert.equal(admitted.length, 200);
      assert.deepEqual(admitted.map((r) => r[0]!.remaining).sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i));
      // and the count both keep is the admitted requests, not the refused ones
      assert.equal(await redisCommand(redis.port, 'GET', `${REDIS_KEY_PREFIX}${c.key}:${T0 + 2 - ((T0 + 2) % MINUTE)}`), '200');
      // both replicas' requests were admitted, and both were refused once the count was spent
      assert.ok(got.filter((_, i) => i % 2 === 0).some((r) => !r[0]!.over) && got.filter((_, i) => i % 2 === 1).some((r) => !r[0]!.over));
    } finally {
      other.close();
    }
  });

  test('a Redis that hangs: every request fails within its timeout, one that waited behind the unanswered call too', async (t) => {
    const hung = new RedisCounterStore(redis.url, 1000);
    try {
      // connected, and the script known to this connection
      assert.equal((await hung.hit([check()], T0))[0]!.over, false);
      redis.pause();
      t.mock.timers.enable({ apis: ['setTimeout'] });
      const settled: string[] = [];
      const watch = (p: Promise<unknown>, name: string): Promise<void> => p.then(
        () => void settled.push(`${name} answered`),
        (e: CounterStoreError) => void settled.push(`${name} ${e.reason}`),
      );
      const a = watch(hung.hit([check()], T0), 'a');
      await turn();
      t.mock.timers.tick(600);
      // b comes while a's call is unanswered: it waits to go in the next call
      const b = watch(hung.hit([check()], T0), 'b');
      await turn();
      t.mock.timers.tick(399);
      await turn();
      assert.deepEqual(settled, [], 'nothing settles before its timeout');
      t.mock.timers.tick(1);
      await turn();
      assert.deepEqual(settled, ['a timeout']);
      // a timed out: b's call goes now, and b still fails within its own timeout (from when it came)
      await turn();
      t.mock.timers.tick(599);
      await turn();
      assert.deepEqual(settled, ['a timeout']);
      t.mock.timers.tick(1);
      await turn();
      assert.deepEqual(settled, ['a timeout', 'b timeout']);
      await Promise.all([a, b]);
    } finally {
      t.mock.timers.reset();
      redis.resume();
    }
    try {
      // Redis answers again: the late answers are dropped, and counting goes on
      const c = check({ limit: 1 });
      assert.equal((await hung.hit([c], T0))[0]!.over, false);
      assert.equal((await hung.hit([c], T0))[0]!.over, true);
    } finally {
      hung.close();
    }
  });

  test('Redis stopped while a call is unanswered: its requests fail at once with the store\'s error, never stall', async () => {
    const s = new RedisCounterStore(redis.url, 60_000);
    try {
      assert.equal((await s.hit([check()], T0))[0]!.over, false);
      redis.pause();
      const pending = Promise.allSettled([s.hit([check()], T0), s.hit([check()], T0)]);
      await turn();
      await redis.stop();
      // the connection closes: no need to wait the 60 s timeout
      const r = await pending;
      for (const x of r) {
        assert.equal(x.status, 'rejected');
        assert.equal(((x as PromiseRejectedResult).reason as CounterStoreError).reason, 'unavailable');
      }
      await assert.rejects(s.hit([check()], T0), (e: CounterStoreError) => e.reason === 'unavailable');
    } finally {
      s.close();
      await redis.restart();
    }
  });
});
