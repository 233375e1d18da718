// The canary state machine, as tables keyed by a sentence: figures fed at given times (a fake clock:
// plain numbers), the phase, share and verdict that follow. No process, no timer.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { judgeCanary, nextCheckAt, startCanary, summarise, CANARY_CHECK_MS, type CanaryPolicy, type CanaryState } from '../../src/release/canary-machine.js';
import { addFigures, emptyFigures, latencyQuantile, subtractTallies, TallyRecorder, type CanaryFigures, type RevisionTally } from '../../src/release/revision-tally.js';

const POLICY: CanaryPolicy = { steps: [10, 50], windowMs: 30_000, minRequests: 20, maxErrorRateIncrease: 2, maxLatencyIncrease: 50, latencyToleranceMs: 25, onInsufficientTraffic: 'Promote' };

/** A tally of `requests` requests, `errors` of them 5xx, each taking `ms`. */
function tally(requests: number, errors = 0, ms = 5): RevisionTally {
  const t = new TallyRecorder();
  for (let i = 0; i < requests; i++) t.observe(i < errors ? 503 : 200, ms);
  return t.reading();
}

function figures(stable: RevisionTally, canary: RevisionTally): CanaryFigures {
  return { stable, canary };
}

/** Feeds readings (cumulative since the start) at times (ms after the start); returns every state. */
function run(policy: CanaryPolicy, readings: readonly [number, CanaryFigures][]): CanaryState[] {
  const t0 = 1_000_000;
  let s = startCanary(policy, t0, emptyFigures());
  const out = [s];
  for (const [at, f] of readings) {
    s = judgeCanary(s, f, t0 + at);
    out.push(s);
  }
  return out;
}

interface Case {
  readonly policy?: Partial<CanaryPolicy>;
  readonly readings: readonly [number, CanaryFigures][];
  readonly phase: CanaryState['phase'];
  readonly share: number;
  readonly reason?: string;
  readonly steps?: readonly (readonly [number, string])[];
  readonly message?: RegExp;
}

const CASES: Record<string, Case> = {
  'starts at the first step and stays there inside its window': {
    readings: [[10_000, figures(tally(200), tally(22))]],
    phase: 'running',
    share: 10,
  },
  'a healthy candidate moves to the next step when the window ends, then is promoted': {
    readings: [
      [30_000, figures(tally(900), tally(100))],
      [60_000, figures(tally(1400), tally(600))],
    ],
    phase: 'promoted',
    share: 100,
    reason: 'passed',
    steps: [
      [10, 'passed'],
      [50, 'passed'],
    ],
    message: /^promoted after 2 step\(s\) \(10 → 50 → 100 % of requests\) in 60 s: 600 requests on the new revision, 0 failed$/,
  },
  'a candidate failing 30 % of its requests is rolled back before its window ends': {
    readings: [[4_000, figures(tally(180), tally(20, 6))]],
    phase: 'rolled-back',
    share: 0,
    reason: 'error-rate',
    steps: [[10, 'failed']],
    message: /^rolled back at step 1 of 2, 10 % of requests, 4 s: error rate 30\.0 % \(6 of 20 requests\) against 0\.0 % \(0 of 180\) on the current revision: more than 2 points above$/,
  },
  'errors before minRequests are not judged yet': {
    readings: [[2_000, figures(tally(100), tally(10, 5))]],
    phase: 'running',
    share: 10,
  },
  'an error rate as high as the current revision’s is no reason to roll back': {
    readings: [[30_000, figures(tally(1000, 100), tally(100, 11))]],
    phase: 'running',
    share: 50,
    steps: [[10, 'passed']],
  },
  'each step is judged on its own figures, not the whole canary’s': {
    // Step 1 clean; in step 2 the candidate fails 20 of its 100 new requests.
    readings: [
      [30_000, figures(tally(900), tally(100))],
      [35_000, figures(tally(1000), addFigures(figures(tally(0), tally(100)), figures(tally(0), tally(100, 20))).canary)],
    ],
    phase: 'rolled-back',
    share: 0,
    reason: 'error-rate',
    steps: [
      [10, 'passed'],
      [50, 'failed'],
    ],
  },
  'a candidate much slower than the current revision is rolled back': {
    readings: [[5_000, figures(tally(200, 0, 20), tally(30, 0, 400))]],
    phase: 'rolled-back',
    share: 0,
    reason: 'latency',
    message: /p95 latency 500 ms \(30 requests\) against 20 ms \(200\) on the current revision: more than 50 % above/,
  },
  'a small latency difference within the tolerance passes': {
    readings: [[30_000, figures(tally(200, 0, 2), tally(30, 0, 7.5))]],
    phase: 'running',
    share: 50,
  },
  'too little traffic with onInsufficientTraffic Promote: the window alone moves it on': {
    readings: [
      [30_000, figures(tally(20), tally(2))],
      [60_000, figures(tally(30), tally(5))],
    ],
    phase: 'promoted',
    share: 100,
    reason: 'insufficient-traffic',
    steps: [
      [10, 'passed-without-traffic'],
      [50, 'passed-without-traffic'],
    ],
    message: /2 step\(s\) saw fewer than minRequests 20 requests \(onInsufficientTraffic: Promote\)/,
  },
  'too little traffic with Hold: the step waits for its requests, then is judged': {
    policy: { onInsufficientTraffic: 'Hold' },
    readings: [
      [30_000, figures(tally(20), tally(2))],
      [90_000, figures(tally(30), tally(5))],
      [120_000, figures(tally(300), tally(40))],
    ],
    phase: 'running',
    share: 50,
    steps: [[10, 'passed']],
  },
  'too little traffic with Rollback: rolled back when the window ends': {
    policy: { onInsufficientTraffic: 'Rollback' },
    readings: [[30_000, figures(tally(20), tally(2))]],
    phase: 'rolled-back',
    share: 0,
    reason: 'insufficient-traffic',
    message: /2 requests, fewer than minRequests 20 \(onInsufficientTraffic: Rollback\)/,
  },
  'minRequests 0: a single failure is enough to roll back': {
    policy: { minRequests: 0 },
    readings: [[1_000, figures(tally(9), tally(1, 1))]],
    phase: 'rolled-back',
    share: 0,
    reason: 'error-rate',
  },
  'a worker restarted mid-canary (a reading lower than the last) counts nothing negative': {
    readings: [
      [30_000, figures(tally(900), tally(100))],
      [40_000, figures(tally(50), tally(5))],
    ],
    phase: 'running',
    share: 50,
  },
};

describe('the canary state machine', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(name, () => {
      const states = run({ ...POLICY, ...c.policy }, c.readings);
      const last = states[states.length - 1]!;
      assert.equal(last.phase, c.phase);
      assert.equal(last.share, c.share);
      if (c.reason !== undefined) assert.equal(last.verdict?.reason, c.reason);
      else assert.equal(last.verdict, undefined);
      if (c.steps) assert.deepEqual(last.steps.map((s) => [s.share, s.result]), c.steps);
      if (c.message) assert.match(last.verdict!.message, c.message);
    });
  }

  it('is final once decided: more figures change nothing', () => {
    const [, rolled] = run(POLICY, [[4_000, figures(tally(180), tally(20, 6))]]);
    assert.equal(judgeCanary(rolled!, figures(tally(10_000), tally(10_000)), 2_000_000), rolled);
    assert.equal(nextCheckAt(rolled!, 2_000_000), undefined);
  });

  it('is checked every second for an early rollback, and exactly when the window ends', () => {
    const s = startCanary(POLICY, 0, emptyFigures());
    assert.equal(nextCheckAt(s, 0), CANARY_CHECK_MS);
    assert.equal(nextCheckAt(s, 29_500), 30_000);
  });

  it('records each step with both revisions’ figures', () => {
    const states = run(POLICY, [[30_000, figures(tally(900, 9, 10), tally(100, 1, 20))]]);
    const step = states[1]!.steps[0]!;
    assert.deepEqual(step.current, { requests: 900, errors: 9, errorRate: 1, p95Ms: 10 });
    assert.deepEqual(step.candidate, { requests: 100, errors: 1, errorRate: 1, p95Ms: 20 });
    assert.equal(step.seconds, 30);
    assert.equal(step.startedAt, new Date(1_000_000).toISOString());
  });
});

describe('revision tallies', () => {
  it('add across workers and subtract per step, never below zero', () => {
    const a = tally(10, 2, 5);
    const b = tally(5, 1, 100);
    const sum = addFigures(figures(a, a), figures(b, b));
    assert.equal(sum.stable.requests, 15);
    assert.equal(sum.stable.errors, 3);
    assert.deepEqual(subtractTallies(a, sum.stable), tally(0));
  });

  it('estimate a quantile as the upper bound of its bucket', () => {
    const t = new TallyRecorder();
    for (let i = 0; i < 95; i++) t.observe(200, 4);
    for (let i = 0; i < 5; i++) t.observe(200, 900);
    assert.equal(latencyQuantile(t.reading(), 0.95), 5);
    assert.equal(latencyQuantile(t.reading(), 0.99), 1000);
    assert.equal(latencyQuantile(tally(0), 0.95), undefined);
    assert.equal(summarise(tally(1, 0, 60_000)).p95Ms, 30_000);
  });

  it('count 5xx and requests that got no answer as errors', () => {
    const t = new TallyRecorder();
    for (const status of [200, 404, 499, 500, 503, 0]) t.observe(status, 1);
    assert.equal(t.reading().errors, 3);
  });
});
