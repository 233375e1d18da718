// The fleet in one place, from heartbeats at given times (a fake clock: plain numbers): who agrees
// with the majority, since when a replica does not, and which are flagged past the bound; what the
// bus accepts as an event; what the metrics count.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { fleetView, servingKey } from '../../src/fleet/fleet-view.js';
import { parseFleetEvent, type ReplicaReport } from '../../src/fleet/fleet-messages.js';
import { FleetMetrics } from '../../src/fleet/fleet-metrics.js';

const T = Date.parse('2025-01-01T00:00:00Z');
const at = (ms: number): string => new Date(T + ms).toISOString();

function report(replica: string, revisions: Record<string, string>, o: { heartbeatAt?: number; since?: number; canary?: ReplicaReport['canary'] } = {}): ReplicaReport {
  return {
    replica,
    version: 'portico 0.1.0',
    startedAt: at(-60_000),
    at: at(o.heartbeatAt ?? 0),
    heartbeatMs: 1000,
    ready: true,
    generation: 3,
    irHash: 'sha256:x',
    revisions,
    verdicts: {},
    servingSince: at(o.since ?? -50_000),
    ...(o.canary ? { canary: o.canary } : {}),
    bus: { transport: 'redis', connected: true },
  };
}

const OPTS = { now: T, staleAfterMs: 5000, disagreementBoundMs: 30_000, forgetAfterMs: 120_000 };
const A = { ops: 'a'.repeat(40), shop: '1'.repeat(40) };
const B = { ops: 'a'.repeat(40), shop: '2'.repeat(40) };

describe('the fleet view', () => {
  it('three replicas serving the same revisions agree', () => {
    const v = fleetView([report('r1', A), report('r2', A), report('r3', A)], OPTS);
    assert.equal(v.agreed, true);
    assert.equal(v.live, 3);
    assert.deepEqual(v.consensus?.revisions, A);
    assert.deepEqual(v.replicas.map((r) => [r.replica, r.agrees, r.flagged]), [
      ['r1', true, false],
      ['r2', true, false],
      ['r3', true, false],
    ]);
  });

  it('a replica behind the majority disagrees since the majority moved, and is flagged past the bound', () => {
    // r1 and r2 moved to B 10 s ago; r3 still serves A.
    const soon = fleetView([report('r1', B, { since: -10_000 }), report('r2', B, { since: -9_000 }), report('r3', A)], OPTS);
    const r3 = soon.replicas.find((r) => r.replica === 'r3')!;
    assert.equal(r3.agrees, false);
    assert.equal(r3.disagreeingSince, at(-10_000));
    assert.equal(r3.disagreeingSeconds, 10);
    assert.equal(r3.flagged, false);
    assert.deepEqual(r3.differences, [`shop: 111111111111 (majority 222222222222)`]);
    assert.equal(soon.agreed, false);
    assert.equal(soon.flagged, 0);
    const later = fleetView([report('r1', B, { since: -40_000 }), report('r2', B, { since: -40_000 }), report('r3', A)], OPTS);
    assert.equal(later.replicas.find((r) => r.replica === 'r3')!.flagged, true);
    assert.equal(later.flagged, 1);
  });

  it('a replica ahead of the others disagrees from when it moved', () => {
    const v = fleetView([report('r1', B, { since: -3_000 }), report('r2', A), report('r3', A)], OPTS);
    assert.equal(v.replicas[0]!.disagreeingSince, at(-3_000));
    assert.deepEqual(v.consensus?.revisions, A);
  });

  it('without a strict majority, no replica agrees', () => {
    const v = fleetView([report('r1', A, { since: -60_000 }), report('r2', B, { since: -45_000 })], OPTS);
    assert.equal(v.consensus, null);
    assert.deepEqual(v.replicas.map((r) => [r.agrees, r.disagreeingSince, r.flagged]), [
      [false, at(-45_000), true],
      [false, at(-45_000), true],
    ]);
  });

  it('a replica that missed three heartbeats is stale: shown, not counted; a long-gone one is forgotten', () => {
    const v = fleetView([report('r1', A), report('r2', A), report('r3', B, { heartbeatAt: -4_500 }), report('gone', B, { heartbeatAt: -200_000 })], OPTS);
    assert.deepEqual(v.replicas.map((r) => [r.replica, r.stale]), [
      ['r1', false],
      ['r2', false],
      ['r3', true],
    ]);
    assert.equal(v.agreed, true);
    assert.equal(v.live, 2);
    assert.equal(v.stale, 1);
    assert.equal(v.replicas[2]!.agrees, undefined);
  });

  it('keeps the newest report of each replica', () => {
    const v = fleetView([report('r1', A, { heartbeatAt: -2_000 }), report('r1', B, { heartbeatAt: -1_000 })], OPTS);
    assert.equal(v.replicas.length, 1);
    assert.deepEqual(v.replicas[0]!.revisions, B);
  });

  it('replicas in the same canary agree whatever step each is at; one without it does not', () => {
    const canary = (share: number, step: number) => ({ revisions: { shop: '2'.repeat(40) }, share, step, steps: 2 });
    assert.equal(servingKey(report('r1', A, { canary: canary(10, 1) })), servingKey(report('r2', A, { canary: canary(50, 2) })));
    const v = fleetView([report('r1', A, { canary: canary(10, 1) }), report('r2', A, { canary: canary(50, 2) }), report('r3', A)], OPTS);
    assert.deepEqual(v.replicas.map((r) => r.agrees), [true, true, false]);
    assert.deepEqual(v.replicas[2]!.differences, ['canary: none (majority shop@222222222222)']);
  });
});

describe('fleet events', () => {
  const heartbeat = (from: string, r: ReplicaReport) => JSON.stringify({ kind: 'heartbeat', id: 'x1', from, at: T, report: r });

  it('accepts well-formed events and refuses the rest', () => {
    assert.deepEqual(parseFleetEvent(JSON.stringify({ kind: 'fetch', id: 'a', from: 'r1', at: T, source: 'shop' })), { kind: 'fetch', id: 'a', from: 'r1', at: T, source: 'shop' });
    assert.equal(parseFleetEvent(heartbeat('r1', report('r1', A)))?.kind, 'heartbeat');
    for (const bad of [
      'not json',
      JSON.stringify({ kind: 'fetch', id: 'a', from: 'r1', at: T, source: '../etc' }),
      JSON.stringify({ kind: 'reload', id: 'a', from: 'r1', at: T }),
      JSON.stringify({ kind: 'fetch', id: 'a', from: '', at: T }),
      heartbeat('r2', report('r1', A)),
      heartbeat('r1', { ...report('r1', A), revisions: { shop: 42 } } as unknown as ReplicaReport),
      JSON.stringify({ kind: 'rollback', id: 'a', from: 'r1', at: T, source: 'shop' }),
      'x'.repeat(300_000),
    ]) {
      assert.equal(parseFleetEvent(bad), undefined, bad.slice(0, 80));
    }
  });
});

describe('fleet metrics', () => {
  it('count a replica once when it becomes flagged, and gauge the fleet as seen', async () => {
    const registry = new Registry();
    const m = new FleetMetrics(registry);
    const split = fleetView([report('r1', B, { since: -40_000 }), report('r2', B, { since: -40_000 }), report('r3', A)], OPTS);
    m.observe(split);
    m.observe(split);
    const text = await registry.metrics();
    assert.match(text, /^portico_fleet_flagged_total\{replica="r3"\} 1$/m);
    assert.match(text, /^portico_fleet_replicas_flagged 1$/m);
    assert.match(text, /^portico_fleet_replicas_disagreeing 1$/m);
    assert.match(text, /^portico_fleet_replicas\{state="live"\} 3$/m);
    m.observe(fleetView([report('r1', B), report('r2', B), report('r3', B)], OPTS));
    m.observe(split);
    assert.match(await registry.metrics(), /^portico_fleet_flagged_total\{replica="r3"\} 2$/m);
  });
});
