// The decoded, normalised form of one policy object (Mapping, Host, ...), whatever shape it was
// written in (Kubernetes object, flattened, Service annotation; v2 or v3alpha1). Compile reads only this.

import type { Origin } from './origin.js';
import type { ResourceRef } from './problems.js';

export const KINDS = [
  'Mapping',
  'Host',
  'Listener',
  'TLSContext',
  'TCPMapping',
  'Module',
  'AuthService',
  'Secret',
  'Resolver',
  'Source',
  'ReleasePolicy',
  'Filter',
  'FilterPolicy',
  'RateLimitService',
  'RateLimit',
  'TracingService',
] as const;
export type Kind = (typeof KINDS)[number];

export interface Position {
  readonly line: number;
  readonly col: number;
}

export interface Resource<S = Record<string, unknown>> {
  readonly kind: Kind;
  /** The apiVersion as written (v2 resources are normalised to v3alpha1 in `spec`). */
  readonly apiVersion: string;
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  /** ambassador_id list after normalisation (string → [string]); empty = ["default"]. */
  readonly ambassadorIds: readonly string[];
  /** The spec, normalised to v3alpha1 field names, validated against the kind's schema. */
  readonly spec: S;
  /** Where the object starts. */
  readonly origin: Origin;
  /** Positions of fields by path ("spec.prefix", "spec.headers.x-user"), for precise problems. */
  readonly positions: Readonly<Record<string, Position>>;
}

export function refOf(r: Resource<unknown>): ResourceRef {
  return { kind: r.kind, name: r.name, namespace: r.namespace };
}

/** The origin of a field of a resource, falling back to the resource's own origin. */
export function fieldOrigin(r: Resource<unknown>, field: string): Origin {
  const p = r.positions[field];
  return p ? { ...r.origin, line: p.line, col: p.col } : r.origin;
}

export function resourceKey(r: { kind: string; namespace: string; name: string }): string {
  return `${r.kind}/${r.namespace}/${r.name}`;
}
