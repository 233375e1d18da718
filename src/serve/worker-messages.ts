// The IPC protocol between the primary (which compiles and owns the sockets) and its workers
// (which serve). Secrets cross only here, never through argv, the environment or logs.

import type { IR } from '../ir/types.js';
import type { SecretStore } from '../ir/secrets.js';
import type { ApplyMeta, ApplyResult } from './gateway.js';
import type { MetricsJSON } from '../admin/metrics.js';
import type { TrafficTallies } from '../admin/request-tallies.js';
import type { ClusterHealth } from '../dataplane/upstream-health.js';
import type { CanaryFigures } from '../release/revision-tally.js';
import type { TicketKeysWire } from './session-tickets.js';

export interface WorkerSettings {
  readonly exposeGeneration: boolean;
  readonly drainTimeoutMs?: number;
  /** '-' stdout, a path, or undefined for no access log. */
  readonly accessLog?: string;
}

export interface ConfigPayload {
  readonly generation: number;
  readonly ir: IR;
  readonly secrets: SecretStore;
  readonly meta: ApplyMeta;
}

/** Besides these, 'portico:acceptors' / 'portico:acceptor' carry listening handles (listen-acceptors.ts). */
export type ToWorker =
  | { readonly t: 'portico:init'; readonly settings: WorkerSettings }
  /** The TLS session ticket keys (after init, and at each rotation): one set for every worker. */
  | { readonly t: 'portico:ticket-keys'; readonly keys: TicketKeysWire }
  /** Build and bind, do not serve yet. */
  | { readonly t: 'portico:prepare'; readonly id: number; readonly config: ConfigPayload }
  | { readonly t: 'portico:commit'; readonly id: number }
  | { readonly t: 'portico:abort'; readonly id: number }
  /** Prepare and commit at once: a (re)started worker catching up with the current configuration. */
  | { readonly t: 'portico:load'; readonly id: number; readonly config: ConfigPayload }
  | { readonly t: 'portico:metrics'; readonly id: number }
  | { readonly t: 'portico:traffic'; readonly id: number }
  | { readonly t: 'portico:upstreams'; readonly id: number }
  /** A canary: the candidate's runtime beside the served one, on `share` % of requests. */
  | { readonly t: 'portico:canary-start'; readonly id: number; readonly config: ConfigPayload; readonly share: number }
  | { readonly t: 'portico:canary-share'; readonly share: number }
  | { readonly t: 'portico:canary-end'; readonly id: number; readonly promote: boolean }
  | { readonly t: 'portico:canary-figures'; readonly id: number }
  | { readonly t: 'portico:drain'; readonly deadlineMs: number }
  | { readonly t: 'portico:force' };

export type FromWorker =
  | { readonly t: 'portico:ready' }
  | { readonly t: 'portico:prepared'; readonly id: number; readonly result: ApplyResult }
  | { readonly t: 'portico:committed'; readonly id: number; readonly result: ApplyResult }
  | { readonly t: 'portico:loaded'; readonly id: number; readonly result: ApplyResult }
  | { readonly t: 'portico:metrics'; readonly id: number; readonly metrics: MetricsJSON }
  | { readonly t: 'portico:traffic'; readonly id: number; readonly tallies: TrafficTallies }
  | { readonly t: 'portico:upstreams'; readonly id: number; readonly clusters: ClusterHealth[] }
  | { readonly t: 'portico:canary-started'; readonly id: number; readonly result: ApplyResult }
  | { readonly t: 'portico:canary-ended'; readonly id: number; readonly result: ApplyResult }
  | { readonly t: 'portico:canary-figures'; readonly id: number; readonly figures: CanaryFigures | null };

export function isFromWorker(m: unknown): m is FromWorker {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string' && (m as { t: string }).t.startsWith('portico:');
}

export const isToWorker = isFromWorker as (m: unknown) => m is ToWorker;
