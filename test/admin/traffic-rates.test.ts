// The diagnostics page's traffic columns: requests per second, 5xx share, p99 and colour per route,
// from the request tallies of every serving process.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RequestTallies } from '../../src/admin/request-tallies.js';
import { TrafficRates } from '../../src/admin/traffic-rates.js';

const BOUNDS = [0.001, 0.01, 0.1];

function record(t: RequestTallies, route: string, cluster: string, statusClass: string, seconds: number, times: number): void {
  for (let i = 0; i < times; i++) t.record(route, cluster, statusClass, seconds);
}

describe('route tallies', () => {
  it('sum a route over its clusters, keep its latency buckets, and leave out requests that matched no route', () => {
    const t = new RequestTallies(BOUNDS);
    record(t, 'default/a', 'c1', '2xx', 0.0005, 3);
    record(t, 'default/a', 'c2', '5xx', 0.05, 2);
    record(t, 'default/a', 'c2', '4xx', 5, 1);
    record(t, '', '', '4xx', 0.0001, 7);
    assert.deepEqual(t.routeTallies(), {
      bounds: BOUNDS,
      routes: [{ route: 'default/a', total: 6, c5xx: 2, buckets: [3, 0, 2, 1] }],
    });
  });
});

describe('traffic rates', () => {
  it('give totals from one sample, then rate, 5xx share, p99 and colour over the window, summed over processes', async () => {
    const worker1 = new RequestTallies(BOUNDS);
    const worker2 = new RequestTallies(BOUNDS);
    let now = 0;
    let samples = 0;
    const rates = new TrafficRates(async () => {
      samples++;
      return [worker1.routeTallies(), worker2.routeTallies()];
    }, () => now);

    record(worker1, 'default/a', 'c1', '2xx', 0.0005, 10);
    record(worker2, 'default/b', 'c1', '2xx', 0.005, 4);
    const first = await rates.forRoutes(['default/a', 'default/b', 'default/idle']);
    assert.deepEqual(first.get('default/a'), { requests: 10, share5xx: 0, p99ms: 1, health: 'green' });
    assert.equal(first.get('default/idle'), undefined);

    // A second page asking within a second shares the sample.
    now = 500;
    await rates.forRoutes(['default/a']);
    assert.equal(samples, 1);

    now = 10_000;
    // a: 100 more over 10 s, 20 of them 5xx (80 % success: yellow); the slowest 1 % past the last bound.
    record(worker1, 'default/a', 'c1', '2xx', 0.05, 79);
    record(worker2, 'default/a', 'c2', '5xx', 0.05, 20);
    record(worker2, 'default/a', 'c2', '2xx', 3, 1);
    // b: 10 more, 4 of them 5xx (60 %: red).
    record(worker1, 'default/b', 'c1', '5xx', 0.005, 4);
    record(worker2, 'default/b', 'c1', '2xx', 0.005, 6);
    const second = await rates.forRoutes(['default/a', 'default/b']);
    assert.equal(samples, 2);
    assert.deepEqual(second.get('default/a'), { rate: 10, requests: 100, share5xx: 0.2, p99ms: 100, health: 'yellow' });
    assert.deepEqual(second.get('default/b'), { rate: 1, requests: 10, share5xx: 0.4, p99ms: 10, health: 'red' });

    // Past the window with no new requests: idle, and no p99.
    now = 20_000;
    const third = await rates.forRoutes(['default/b']);
    assert.deepEqual(third.get('default/b'), { rate: 0, requests: 0, share5xx: 0, health: 'idle' });
  });

  it('count from zero again when a process restarted, instead of going negative', async () => {
    let worker = new RequestTallies(BOUNDS);
    let now = 0;
    const rates = new TrafficRates(async () => [worker.routeTallies()], () => now);
    record(worker, 'default/a', 'c1', '2xx', 0.0005, 50);
    await rates.forRoutes(['default/a']);
    now = 10_000;
    worker = new RequestTallies(BOUNDS);
    record(worker, 'default/a', 'c1', '5xx', 0.0005, 5);
    const after = await rates.forRoutes(['default/a']);
    assert.deepEqual(after.get('default/a'), { rate: 0.5, requests: 5, share5xx: 1, p99ms: 1, health: 'red' });
  });
});
