// The report: one condition per resource (valid / warnings / errors, attached Hosts, owner)
// plus every problem found while loading and compiling.

import type { Problem, ResourceRef } from '../api/problems.js';
import type { Origin } from '../api/origin.js';

export type ConditionStatus = 'Valid' | 'Warnings' | 'Invalid';

export interface ResourceCondition extends ResourceRef {
  readonly origin: Origin;
  readonly status: ConditionStatus;
  /** Reason code, documented in docs/reference/conditions.md. */
  readonly reason: string;
  readonly message: string;
  /** For Mappings and TCPMappings: the vhosts ("listener/hostname") they attached to. */
  readonly attachedTo?: readonly string[];
  /** Source that owns the resource. */
  readonly source?: string;
}

export interface Report {
  readonly conditions: readonly ResourceCondition[];
  /** All problems, sorted by origin. */
  readonly problems: readonly Problem[];
  readonly errors: number;
  readonly warnings: number;
}
