// Composition of sources into one configuration: each source's loaded resources (by name order) plus
// the claims its root granted, compiled together. Also decides which errors a candidate introduced.

import type { Problem } from '../api/problems.js';
import type { Resource } from '../api/resource.js';
import type { Claim } from '../compile/options.js';
import { compile, type CompileResult } from '../compile/index.js';
import type { CommitInfo } from '../sources/git-source.js';
import type { GitSourceSpec } from '../sources/source-spec.js';
import type { DeclaredSource } from './source-kind.js';

/** A source revision that passed the per-source checks and is (or may become) part of what is served. */
export interface SourceRevision {
  readonly name: string;
  readonly spec: GitSourceSpec;
  readonly revision: string;
  readonly commit: CommitInfo;
  /** Configuration files as read from the commit (Source objects included). */
  readonly files: readonly { readonly path: string; readonly content: string }[];
  /** Root source that declared it; absent for roots. */
  readonly declaredBy?: string;
  /** Team sources this revision declares (roots only). */
  readonly declarations: readonly DeclaredSource[];
  readonly resources: readonly Resource[];
  /** Load problems and problems with Source objects. */
  readonly problems: readonly Problem[];
}

export type Working = ReadonlyMap<string, SourceRevision>;

function byName<T>(m: ReadonlyMap<string, T>): T[] {
  return [...m.keys()].sort().map((k) => m.get(k)!);
}

/** Claims for every team source in the set, taken from the declarations of the roots in the set. */
export function claimsOf(working: Working): Record<string, Claim> {
  const claims: Record<string, Claim> = {};
  for (const r of byName(working)) {
    if (r.declaredBy !== undefined) continue;
    for (const d of r.declarations) if (d.claim && claims[d.spec.name] === undefined) claims[d.spec.name] = d.claim;
  }
  return claims;
}

export function compileWorking(working: Working, ambassadorId: string | undefined): CompileResult {
  const resources: Resource[] = [];
  const problems: Problem[] = [];
  for (const r of byName(working)) {
    resources.push(...r.resources);
    problems.push(...r.problems);
  }
  return compile(resources, { ...(ambassadorId ? { ambassadorId } : {}), claims: claimsOf(working) }, problems);
}

function problemKey(p: Problem): string {
  // Revision left out: the same error at the same place in an older revision is not a new one.
  return `${p.code}|${p.origin.source ?? ''}|${p.origin.path}|${p.origin.line}|${p.origin.col}|${p.message}`;
}

/**
 * Errors in `candidate` that `baseline` did not have. The candidate is refused when there is any:
 * whatever source they are reported on, the candidate revision is what introduced them.
 */
export function introducedErrors(baseline: CompileResult | undefined, candidate: CompileResult, candidateSource: string): Problem[] {
  const seen = new Set((baseline?.report.problems ?? []).filter((p) => p.severity === 'error').map(problemKey));
  const fresh = candidate.report.problems.filter((p) => p.severity === 'error' && !seen.has(problemKey(p)));
  // The candidate's own problems first, then what it broke elsewhere (e.g. the other side of a conflict).
  return [...fresh.filter((p) => p.origin.source === candidateSource), ...fresh.filter((p) => p.origin.source !== candidateSource)];
}
