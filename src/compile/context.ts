// Shared state of one compile run: the problems found and the per-resource conditions.
// Processors report through it; nothing here does I/O.

import { compareProblems, problem, type Problem, type ProblemCode } from '../api/problems.js';
import { fieldOrigin, refOf, resourceKey, type Resource } from '../api/resource.js';
import type { ResourceCondition } from './report.js';

export class CompileContext {
  readonly problems: Problem[] = [];
  /** Resources dropped because of an error (by resourceKey). */
  private readonly invalid = new Set<string>();
  private readonly attached = new Map<string, Set<string>>();

  constructor(initial: readonly Problem[] = []) {
    this.problems.push(...initial);
  }

  /** Report a problem on a resource (field path optional). Errors make the resource invalid. */
  report(r: Resource<unknown>, code: ProblemCode, message: string, field?: string): void {
    const p = problem(code, message, field ? fieldOrigin(r, field) : r.origin, {
      resource: refOf(r),
      ...(field ? { field } : {}),
    });
    this.problems.push(p);
    if (p.severity === 'error') this.invalid.add(resourceKey(r));
  }

  isValid(r: Resource<unknown>): boolean {
    return !this.invalid.has(resourceKey(r));
  }

  attach(r: Resource<unknown>, vhost: string): void {
    const k = resourceKey(r);
    let s = this.attached.get(k);
    if (!s) this.attached.set(k, (s = new Set()));
    s.add(vhost);
  }

  /** One condition per resource, in a stable order. */
  conditions(resources: readonly Resource<unknown>[]): ResourceCondition[] {
    const byKey = new Map<string, Problem[]>();
    for (const p of this.problems) {
      if (!p.resource) continue;
      const k = resourceKey(p.resource);
      let l = byKey.get(k);
      if (!l) byKey.set(k, (l = []));
      l.push(p);
    }
    const out: ResourceCondition[] = [];
    for (const r of resources) {
      const k = resourceKey(r);
      const ps = (byKey.get(k) ?? []).slice().sort(compareProblems);
      const errors = ps.filter((p) => p.severity === 'error');
      const warnings = ps.filter((p) => p.severity === 'warning');
      const attachedTo = this.attached.get(k);
      const base = { kind: r.kind, name: r.name, namespace: r.namespace, origin: r.origin, ...(r.origin.source ? { source: r.origin.source } : {}) };
      const att = attachedTo ? { attachedTo: [...attachedTo].sort() } : {};
      if (errors.length > 0) {
        out.push({ ...base, status: 'Invalid', reason: errors[0]!.code, message: errors.map((p) => p.message).join('; '), ...att });
      } else if (warnings.length > 0) {
        out.push({ ...base, status: 'Warnings', reason: warnings[0]!.code, message: warnings.map((p) => p.message).join('; '), ...att });
      } else {
        out.push({ ...base, status: 'Valid', reason: attachedTo || !isRoutable(r) ? 'Accepted' : 'NotAttached', message: attachedTo ? `attached to ${attachedTo.size} virtual host(s)` : 'accepted', ...att });
      }
    }
    const keyed = out.map((c) => ({ c, k: resourceKey(c) }));
    keyed.sort((a, b) => cmpStr(a.k, b.k) || cmpStr(a.c.origin.source ?? '', b.c.origin.source ?? '') || cmpStr(a.c.origin.path, b.c.origin.path) || a.c.origin.line - b.c.origin.line);
    return keyed.map((x) => x.c);
  }

  sortedProblems(): Problem[] {
    return this.problems.slice().sort(compareProblems);
  }
}

function isRoutable(r: Resource<unknown>): boolean {
  return r.kind === 'Mapping';
}

export function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
