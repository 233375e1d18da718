// Portico's own ReleasePolicy kind (portico.dev/v1alpha1): how a new accepted revision reaches
// traffic — a share of requests first, compared with the current revision over a window, then
// promoted in steps or rolled back. Declared in the central repository only; defaults in RELEASE_DEFAULTS.

import { Type, type Static } from '@sinclair/typebox';
import { AmbassadorId, Closed, DurationString } from './shared-fields.js';

export const ReleasePolicySpecSchema = Closed({
  ambassador_id: Type.Optional(AmbassadorId),
  /** The sources whose new revisions this policy releases; absent: every source (the global policy). */
  sources: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', description: 'a source name' }), { minItems: 1 })),
  /** Percent of requests the new revision serves at each step, ascending, before it serves all. */
  steps: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 99, description: 'a percentage of requests, 1 to 99' }), { minItems: 1, maxItems: 10 })),
  /** How long each step is watched before it is promoted. */
  window: Type.Optional(DurationString),
  /** Requests the new revision must serve in a step before the step can be judged. */
  minRequests: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  /** Percentage points the new revision's error rate may exceed the current one's by. */
  maxErrorRateIncrease: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: 'percentage points, 0 to 100' })),
  /** Percent the new revision's p95 latency may exceed the current one's by. */
  maxLatencyIncrease: Type.Optional(Type.Number({ minimum: 0, maximum: 10_000, description: 'a percentage' })),
  /** A p95 difference below this never fails a step (small latencies are noisy). */
  latencyTolerance: Type.Optional(DurationString),
  /** What a step that saw fewer than minRequests requests by the end of its window does. */
  onInsufficientTraffic: Type.Optional(Type.Union([Type.Literal('Promote'), Type.Literal('Hold'), Type.Literal('Rollback')])),
});
export type ReleasePolicySpec = Static<typeof ReleasePolicySpecSchema>;

export const RELEASE_DEFAULTS = {
  steps: [10, 50] as readonly number[],
  windowMs: 30_000,
  minRequests: 50,
  maxErrorRateIncrease: 2,
  maxLatencyIncrease: 50,
  latencyToleranceMs: 25,
  onInsufficientTraffic: 'Promote' as const,
};

export const RELEASE_POLICY_NOT_IMPLEMENTED = [] as const;
