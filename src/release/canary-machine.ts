// The canary of one candidate configuration, as a pure state machine: given the policy, the figures
// counted so far and the time, it says what share of requests the candidate serves, and when it is
// promoted or rolled back, with the figures that decided it. No clock, no I/O: the controller reads
// the figures, passes the time, and applies what the state says.
//
// What can happen:
//   start → running at the first step's share
//   running: the step's candidate requests reach minRequests and its error rate or p95 latency is
//            worse than the current revision's by more than the policy allows → rolled back (at once,
//            without waiting for the window)
//   running: the step's window has passed → with minRequests seen and nothing worse: the next step,
//            or promoted after the last; with fewer: Promote (next step), Hold (keep watching) or
//            Rollback, as onInsufficientTraffic says
//   promoted, rolled back: final.

import type { IRReleasePolicy } from '../ir/types.js';
import { latencyQuantile, subtractTallies, type CanaryFigures, type RevisionTally } from './revision-tally.js';

/** How often a running canary is judged between the ends of its windows (early rollback). */
export const CANARY_CHECK_MS = 1000;

export type CanaryPolicy = Pick<IRReleasePolicy, 'steps' | 'windowMs' | 'minRequests' | 'maxErrorRateIncrease' | 'maxLatencyIncrease' | 'latencyToleranceMs' | 'onInsufficientTraffic'>;

/** One revision's figures over a step, as history and status show them. */
export interface TallySummary {
  readonly requests: number;
  readonly errors: number;
  /** Percent of requests. */
  readonly errorRate: number;
  /** p95 latency in ms (the upper bound of its bucket); null without requests. */
  readonly p95Ms: number | null;
}

export interface StepRecord {
  /** 1-based. */
  readonly step: number;
  /** Percent of requests the candidate served. */
  readonly share: number;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly seconds: number;
  readonly current: TallySummary;
  readonly candidate: TallySummary;
  /** How the step ended; `unjudged`: a newer revision superseded the candidate during it. */
  readonly result: 'passed' | 'passed-without-traffic' | 'failed' | 'unjudged';
}

export type CanaryReason = 'passed' | 'error-rate' | 'latency' | 'insufficient-traffic';

export interface CanaryVerdict {
  readonly outcome: 'promoted' | 'rolled-back';
  readonly reason: CanaryReason;
  readonly at: string;
  /** One line, with the figures: what status and history say. */
  readonly message: string;
}

export interface CanaryState {
  readonly phase: 'running' | 'promoted' | 'rolled-back';
  readonly policy: CanaryPolicy;
  readonly startedAt: number;
  /** Index into policy.steps. */
  readonly step: number;
  /** Percent of requests the candidate serves now (100 once promoted, 0 once rolled back). */
  readonly share: number;
  readonly stepStartedAt: number;
  /** The figures when the step started: the step's own are the difference. */
  readonly baseline: CanaryFigures;
  readonly steps: readonly StepRecord[];
  readonly verdict?: CanaryVerdict;
}

export function startCanary(policy: CanaryPolicy, now: number, figures: CanaryFigures): CanaryState {
  return { phase: 'running', policy, startedAt: now, step: 0, share: policy.steps[0]!, stepStartedAt: now, baseline: figures, steps: [] };
}

export function summarise(t: RevisionTally): TallySummary {
  const p95 = latencyQuantile(t, 0.95);
  return {
    requests: t.requests,
    errors: t.errors,
    errorRate: t.requests === 0 ? 0 : Math.round((t.errors / t.requests) * 10_000) / 100,
    p95Ms: p95 === undefined ? null : Number.isFinite(p95) ? p95 : 30_000,
  };
}

function pct(x: number): string {
  return `${x.toFixed(1)} %`;
}

function stepRecord(state: CanaryState, current: TallySummary, candidate: TallySummary, now: number, result: StepRecord['result']): StepRecord {
  return {
    step: state.step + 1,
    share: state.share,
    startedAt: new Date(state.stepStartedAt).toISOString(),
    endedAt: new Date(now).toISOString(),
    seconds: Math.round((now - state.stepStartedAt) / 100) / 10,
    current,
    candidate,
    result,
  };
}

/** Why the candidate is worse than the current revision over the step, if it is. */
function breach(policy: CanaryPolicy, current: TallySummary, candidate: TallySummary): { reason: CanaryReason; what: string } | undefined {
  if (candidate.errorRate - current.errorRate > policy.maxErrorRateIncrease) {
    return {
      reason: 'error-rate',
      what: `error rate ${pct(candidate.errorRate)} (${candidate.errors} of ${candidate.requests} requests) against ${pct(current.errorRate)} (${current.errors} of ${current.requests}) on the current revision: more than ${policy.maxErrorRateIncrease} points above`,
    };
  }
  if (candidate.p95Ms !== null && current.p95Ms !== null) {
    const limit = current.p95Ms * (1 + policy.maxLatencyIncrease / 100);
    if (candidate.p95Ms > limit && candidate.p95Ms - current.p95Ms > policy.latencyToleranceMs) {
      return {
        reason: 'latency',
        what: `p95 latency ${candidate.p95Ms} ms (${candidate.requests} requests) against ${current.p95Ms} ms (${current.requests}) on the current revision: more than ${policy.maxLatencyIncrease} % above`,
      };
    }
  }
  return undefined;
}

/** The next state, given the figures counted since the canary started and the time now. */
export function judgeCanary(state: CanaryState, figures: CanaryFigures, now: number): CanaryState {
  if (state.phase !== 'running') return state;
  const { policy } = state;
  const current = summarise(subtractTallies(figures.stable, state.baseline.stable));
  const candidate = summarise(subtractTallies(figures.canary, state.baseline.canary));
  const enough = candidate.requests >= policy.minRequests;
  const at = new Date(now).toISOString();
  const where = `step ${state.step + 1} of ${policy.steps.length}, ${state.share} % of requests, ${Math.round((now - state.stepStartedAt) / 100) / 10} s`;

  if (enough) {
    const worse = breach(policy, current, candidate);
    if (worse) {
      return {
        ...state,
        phase: 'rolled-back',
        share: 0,
        steps: [...state.steps, stepRecord(state, current, candidate, now, 'failed')],
        verdict: { outcome: 'rolled-back', reason: worse.reason, at, message: `rolled back at ${where}: ${worse.what}` },
      };
    }
  }
  if (now < state.stepStartedAt + policy.windowMs) return state;
  if (!enough) {
    if (policy.onInsufficientTraffic === 'Hold') return state;
    if (policy.onInsufficientTraffic === 'Rollback') {
      return {
        ...state,
        phase: 'rolled-back',
        share: 0,
        steps: [...state.steps, stepRecord(state, current, candidate, now, 'failed')],
        verdict: { outcome: 'rolled-back', reason: 'insufficient-traffic', at, message: `rolled back at ${where}: ${candidate.requests} requests, fewer than minRequests ${policy.minRequests} (onInsufficientTraffic: Rollback)` },
      };
    }
  }
  const record = stepRecord(state, current, candidate, now, enough ? 'passed' : 'passed-without-traffic');
  const steps = [...state.steps, record];
  if (state.step + 1 < policy.steps.length) {
    return { ...state, step: state.step + 1, share: policy.steps[state.step + 1]!, stepStartedAt: now, baseline: figures, steps };
  }
  const quiet = steps.filter((s) => s.result === 'passed-without-traffic').length;
  const served = steps.reduce((n, s) => n + s.candidate.requests, 0);
  const failed = steps.reduce((n, s) => n + s.candidate.errors, 0);
  return {
    ...state,
    phase: 'promoted',
    share: 100,
    steps,
    verdict: {
      outcome: 'promoted',
      reason: quiet > 0 ? 'insufficient-traffic' : 'passed',
      at,
      message: `promoted after ${steps.length} step(s) (${policy.steps.join(' → ')} → 100 % of requests) in ${Math.round((now - state.startedAt) / 100) / 10} s: ${served} requests on the new revision, ${failed} failed${quiet > 0 ? `; ${quiet} step(s) saw fewer than minRequests ${policy.minRequests} requests (onInsufficientTraffic: Promote)` : ''}`,
    },
  };
}

/** When the state should be judged again (the end of the step's window, or sooner for an early rollback). */
export function nextCheckAt(state: CanaryState, now: number): number | undefined {
  if (state.phase !== 'running') return undefined;
  return Math.min(state.stepStartedAt + state.policy.windowMs, now + CANARY_CHECK_MS);
}
