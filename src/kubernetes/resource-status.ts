// The status each cluster object gets: conditions Accepted and Programmed (reason = the problem codes
// `validate` prints, message = "field: message" without any file), the generation they describe, and
// the source revision that serves it. Pure: decisions and compiles in, statuses out.
//
// - Accepted: the object itself is valid. False with the first problem's code when it has errors
//   (its own, a claim it oversteps, a conflict it is part of).
// - Programmed: this generation of the object is what the gateway serves. False when the source's
//   newest revision was refused (the source keeps serving its last-known-good, possibly an older
//   generation of this object) or when the served configuration leaves it out.

import type { Problem } from '../api/problems.js';
import type { ResourceCondition } from '../compile/report.js';
import type { ObjectRecord } from './cluster.js';

export interface ConditionView {
  readonly type: 'Accepted' | 'Programmed';
  readonly status: 'True' | 'False';
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration: number;
}

export interface StatusView {
  readonly observedGeneration: number;
  readonly source: string;
  /** The source revision that serves the object (absent when no revision of it is served). */
  readonly revision?: string;
  readonly servedGeneration?: number;
  readonly conditions: readonly ConditionView[];
}

/** A compile's verdict on the objects of one source. */
export interface CompiledView {
  readonly conditions: readonly ResourceCondition[];
  readonly problems: readonly Problem[];
}

export interface SourceStatusInput {
  readonly source: string;
  /** The newest decided revision and its objects (by snapshot path). */
  readonly revision: string;
  readonly objects: ReadonlyMap<string, ObjectRecord>;
  /** The compile that judged that revision: the served one when accepted, the candidate when refused. */
  readonly judged: CompiledView;
  /** Set when the revision was refused: the reason and the one-line message of the refusal. */
  readonly refused?: { readonly reason: string; readonly message: string };
  /** The revision served now, its objects, and the served compile. */
  readonly served?: { readonly revision: string; readonly objects: ReadonlyMap<string, ObjectRecord>; readonly compiled: CompiledView };
}

const MAX_MESSAGE = 4000;

function refKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

function index(view: CompiledView, source: string): { conditions: Map<string, ResourceCondition>; problems: Map<string, Problem[]> } {
  const conditions = new Map<string, ResourceCondition>();
  for (const c of view.conditions) if (c.source === source) conditions.set(refKey(c.kind, c.namespace, c.name), c);
  const problems = new Map<string, Problem[]>();
  for (const p of view.problems) {
    if (!p.resource || p.origin.source !== source) continue;
    const k = refKey(p.resource.kind, p.resource.namespace, p.resource.name);
    const list = problems.get(k) ?? [];
    list.push(p);
    problems.set(k, list);
  }
  return { conditions, problems };
}

/** "spec.prefix: message; spec.service: message" — the object's own fields, never a file. */
function describe(problems: readonly Problem[], severity: 'error' | 'warning'): string {
  const text = problems
    .filter((p) => p.severity === severity)
    .map((p) => (p.field ? `${p.field}: ${p.message}` : p.message))
    .join('; ');
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 1)}…` : text;
}

function short(rev: string): string {
  return rev.startsWith('sha256:') ? rev.slice(7, 19) : rev.slice(0, 12);
}

/** Statuses of the objects of one Kubernetes source, keyed by snapshot path. */
export function sourceStatuses(input: SourceStatusInput): Map<string, StatusView> {
  const out = new Map<string, StatusView>();
  const judged = index(input.judged, input.source);
  const served = input.served ? index(input.served.compiled, input.source) : undefined;
  for (const [path, obj] of input.objects) {
    if (!obj.clusterKind) continue; // Secrets have no status
    const key = refKey(obj.kind, obj.namespace, obj.name);
    const gen = obj.generation;
    const problems = judged.problems.get(key) ?? [];
    const errors = problems.filter((p) => p.severity === 'error');
    const cond = judged.conditions.get(key);
    let accepted: ConditionView;
    if (errors.length > 0 || cond?.status === 'Invalid') {
      accepted = { type: 'Accepted', status: 'False', reason: errors[0]?.code ?? cond?.reason ?? 'Invalid', message: describe(problems, 'error') || cond?.message || 'invalid', observedGeneration: gen };
    } else {
      const warnings = describe(problems, 'warning');
      const reason = cond && cond.reason !== 'Accepted' ? cond.reason : 'Accepted';
      const note = input.refused ? `valid, but revision ${short(input.revision)} of source ${input.source} was refused: ${input.refused.message}` : '';
      accepted = { type: 'Accepted', status: 'True', reason, message: [warnings || (cond?.reason === 'NotAttached' ? cond.message : 'valid'), note].filter((s) => s !== '').join('; '), observedGeneration: gen };
    }
    // What is served of this object: the same uid in the served revision, not withdrawn since.
    const servedObj = input.served ? [...input.served.objects.values()].find((o) => o.uid === obj.uid && o.kind === obj.kind) : undefined;
    const servedErrors = servedObj && served ? (served.problems.get(key) ?? []).filter((p) => p.severity === 'error') : [];
    let programmed: ConditionView;
    if (servedObj && servedErrors.length === 0 && servedObj.generation === gen) {
      programmed = { type: 'Programmed', status: 'True', reason: 'Programmed', message: `served from revision ${short(input.served!.revision)} of source ${input.source}`, observedGeneration: gen };
    } else if (input.refused) {
      const keeps = servedObj && servedErrors.length === 0 ? `generation ${servedObj.generation} is served (revision ${short(input.served!.revision)})` : 'no generation of it is served';
      programmed = { type: 'Programmed', status: 'False', reason: input.refused.reason, message: `${keeps}: revision ${short(input.revision)} of source ${input.source} was refused: ${input.refused.message}`, observedGeneration: gen };
    } else if (servedErrors.length > 0) {
      programmed = { type: 'Programmed', status: 'False', reason: servedErrors[0]!.code, message: `not served: ${describe(servedErrors, 'error')}`, observedGeneration: gen };
    } else {
      programmed = { type: 'Programmed', status: 'False', reason: accepted.status === 'False' ? accepted.reason : 'Pending', message: accepted.status === 'False' ? `not served: ${accepted.message}` : 'not served yet', observedGeneration: gen };
    }
    out.set(path, {
      observedGeneration: gen,
      source: input.source,
      ...(servedObj && servedErrors.length === 0 ? { revision: input.served!.revision, servedGeneration: servedObj.generation } : {}),
      conditions: [accepted, programmed],
    });
  }
  return out;
}
