// Source declarations: how a root (central) source names its team sources, their claims and their
// verification policy. Source resources are loaded like any kind; this turns them into declarations.

import { dirname } from 'node:path';
import { problem, type Problem } from '../api/problems.js';
import type { Origin } from '../api/origin.js';
import { fieldOrigin, refOf, type Resource } from '../api/resource.js';
import type { SourceSpec } from '../api/schemas.js';
import type { Claim } from '../compile/options.js';
import type { VerifyPolicy } from '../sources/commit-signatures.js';
import { makeSourceSpec, normaliseUrl, validateSourceName, type GitSourceSpec } from '../sources/source-spec.js';
import { parseLabelSelector } from '../kubernetes/label-selector.js';

export const SOURCE_API_VERSION = 'portico.dev/v1alpha1';
export const SOURCE_KIND = 'Source';

export type ForcePushPolicy = 'refuse' | 'accept-with-strict';

/** Where a source's snapshots come from: a git repository, a folder on this machine, or a Kubernetes cluster. */
export type SourceKindName = 'git' | 'directory' | 'kubernetes';

/** The objects a Kubernetes source reads: one namespace, and/or objects whose labels match. */
export interface KubernetesSelection {
  /** Absent: every namespace (then a label selector is required). */
  readonly namespace?: string;
  readonly labelSelector?: string;
}

/** How a Kubernetes selection is shown where a URL would be (status, history, state file). */
export function kubernetesUrl(sel: KubernetesSelection): string {
  return `kubernetes:${sel.namespace ?? '*'}${sel.labelSelector !== undefined ? `?labelSelector=${encodeURIComponent(sel.labelSelector)}` : ''}`;
}

/** A source as the controller runs it: where to fetch, what it may configure, how it is verified. */
export interface DeclaredSource {
  /**
   * For a directory source, `url` is the folder's absolute path and branch/path are empty; for a
   * Kubernetes source, `url` is kubernetesUrl(kubernetes) and branch/path are empty.
   */
  readonly spec: GitSourceSpec;
  readonly kind: SourceKindName;
  /** What a Kubernetes source reads. */
  readonly kubernetes?: KubernetesSelection;
  readonly intervalMs: number;
  /** Absent for root sources (named on the command line): they may configure anything. */
  readonly claim?: Claim;
  readonly verify?: VerifyPolicy;
  readonly onForcePush: ForcePushPolicy;
  /** A commit the central repository vouches for (see the Source kind's `anchor`). */
  readonly anchor?: string;
  /** Pinned to a ref or commit from the command line (`--pin`): polled at that ref only. */
  readonly pin?: string;
  /** The root source that declared it; absent for roots. */
  readonly declaredBy?: string;
  /** Declared by a folder root: ranked below a folder beside git, as the folder is below git's teams. */
  readonly declaredByFolder?: boolean;
  /** Where the Source object was declared. */
  readonly origin?: Origin;
  /**
   * A root of several paths named on the command line: each path as its files are named, and where
   * it is. A relative Source url resolves next to the path its file came from, so the order the
   * paths are given in does not matter.
   */
  readonly folders?: readonly DeclaringFolder[];
}

export interface DeclaringFolder {
  /** The path as the root's files are named under it (normalised, no trailing slash). */
  readonly shown: string;
  /** Its absolute path. */
  readonly url: string;
}

export function parseDuration(d: string | number): number {
  if (typeof d === 'number') return Math.round(d * 1000);
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/.exec(d);
  if (!m) return NaN;
  const n = Number(m[1]);
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h']);
}

export const MIN_INTERVAL_MS = 1000;

/** Kinds a team may never be granted: declaring sources is the central repository's alone. */
const UNCLAIMABLE = new Set(['Source', 'ReleasePolicy']);

export interface DeclareContext {
  /** The declaring root source. */
  readonly source: string;
  /** Its location (URL or folder): relative local URLs in a Source are resolved next to it. */
  readonly declaringUrl: string;
  /** The root's paths, when it has several (DeclaredSource.folders). */
  readonly declaringFolders?: readonly DeclaringFolder[];
  /** The declaring root is a folder (its teams rank below it, and below git's teams). */
  readonly declaringFolder?: boolean;
  readonly defaultIntervalMs: number;
}

/**
 * Declarations of one root's Source resources. A Source that fails a check is reported (with its
 * field) and not declared; the reconcile refuses the root revision, so a typo never changes a claim.
 */
export function declareSources(sources: readonly Resource[], ctx: DeclareContext): { declarations: DeclaredSource[]; problems: Problem[] } {
  const declarations: DeclaredSource[] = [];
  const problems: Problem[] = [];
  for (const r of sources) {
    const d = declareOne(r, ctx);
    if ('problem' in d) problems.push(d.problem);
    else declarations.push(d.declaration);
  }
  return { declarations, problems };
}

/** The folder (or file) of `folders` that `path` was read from: the longest that holds it. */
function folderOf(path: string, folders: readonly DeclaringFolder[] | undefined): DeclaringFolder | undefined {
  let best: DeclaringFolder | undefined;
  for (const f of folders ?? []) {
    const holds = path === f.shown || (f.shown === '.' ? !path.startsWith('../') && !path.startsWith('/') : path.startsWith(`${f.shown}/`));
    if (holds && (best === undefined || f.shown.length > best.shown.length)) best = f;
  }
  return best;
}

function declareOne(r: Resource, ctx: DeclareContext): { declaration: DeclaredSource } | { problem: Problem } {
  const s = r.spec as unknown as SourceSpec;
  const bad = (field: string, message: string) => ({ problem: problem('SchemaViolation', `Source ${r.name}: ${message}`, fieldOrigin(r, field), { resource: refOf(r), field }) });
  const nameErr = validateSourceName(r.name);
  if (nameErr) return { problem: problem('InvalidName', nameErr, fieldOrigin(r, 'metadata.name'), { resource: refOf(r), field: 'metadata.name' }) };
  if (s.kubernetes !== undefined || s.url === undefined) return declareKubernetes(r, s, ctx, bad);
  let url = s.url;
  const declaringUrl = folderOf(r.origin.path, ctx.declaringFolders)?.url ?? ctx.declaringUrl;
  const declaringLocal = declaringUrl.startsWith('/') ? declaringUrl : declaringUrl.startsWith('file://') ? declaringUrl.slice(7) : undefined;
  const isRelativePath = !/^[a-z][a-z0-9+.-]*:/i.test(url) && !url.startsWith('/');
  if (isRelativePath) {
    if (!declaringLocal) return bad('spec.url', `relative url '${url}' is only allowed when the declaring source is a local repository or folder`);
    const resolved = normaliseUrl(url, dirname(declaringLocal));
    if (typeof resolved !== 'string') return bad('spec.url', resolved.error);
    url = resolved;
  }
  let spec: GitSourceSpec;
  try {
    spec = makeSourceSpec({ name: r.name, url, branch: s.branch ?? 'main', path: s.path ?? '' }, '/', `Source ${r.name}`);
  } catch (err) {
    return { problem: problem('SchemaViolation', (err as Error).message, fieldOrigin(r, 'spec.url'), { resource: refOf(r), field: 'spec.url' }) };
  }
  const intervalMs = s.interval !== undefined ? parseDuration(s.interval) : ctx.defaultIntervalMs;
  if (!(intervalMs >= MIN_INTERVAL_MS)) return bad('spec.interval', `spec.interval must be at least 1s (got ${JSON.stringify(s.interval)})`);
  const claimProblem = checkClaims(s, bad);
  if (claimProblem) return claimProblem;
  if (s.verify && !s.verify.allowedSigners && !s.verify.gpgKeys) return bad('spec.verify', 'spec.verify needs allowedSigners or gpgKeys');
  if (s.verify?.gpgKeys && !(s.verify.gpgFingerprints && s.verify.gpgFingerprints.length > 0)) {
    return bad('spec.verify.gpgFingerprints', 'spec.verify.gpgKeys needs gpgFingerprints (the keys allowed to sign)');
  }
  const claim = claimOf(s);
  const verify: VerifyPolicy | undefined = s.verify
    ? {
        mode: s.verify.mode,
        ...(s.verify.allowedSigners ? { allowedSigners: s.verify.allowedSigners } : {}),
        ...(s.verify.gpgKeys ? { gpgKeys: s.verify.gpgKeys } : {}),
        ...(s.verify.gpgFingerprints ? { gpgFingerprints: s.verify.gpgFingerprints } : {}),
      }
    : undefined;
  return {
    declaration: {
      spec,
      kind: 'git',
      intervalMs,
      claim,
      ...(verify ? { verify } : {}),
      onForcePush: s.onForcePush ?? 'refuse',
      ...(s.anchor ? { anchor: s.anchor } : {}),
      declaredBy: ctx.source,
      ...(ctx.declaringFolder ? { declaredByFolder: true } : {}),
      origin: r.origin,
    },
  };
}

type BadField = (field: string, message: string) => { problem: Problem };

function checkClaims(s: SourceSpec, bad: BadField): { problem: Problem } | undefined {
  const unclaimable = s.claims.kinds.filter((k) => UNCLAIMABLE.has(k));
  if (unclaimable.length > 0) return bad('spec.claims.kinds', `spec.claims.kinds may not include ${unclaimable.join(', ')}: only the central repository declares sources and release policies`);
  return undefined;
}

function claimOf(s: SourceSpec): Claim {
  return {
    kinds: s.claims.kinds,
    hostnames: s.claims.hostnames ?? [],
    pathPrefixes: s.claims.pathPrefixes ?? [],
    ...(s.claims.ports ? { ports: s.claims.ports } : {}),
  };
}

/**
 * A team whose resources live in a Kubernetes cluster: a namespace (the usual case: one namespace per
 * team), objects with matching labels, or both. Git's history rules (signatures, force-push, anchor)
 * have nothing to check there: the API server's own access control decides who may write the objects.
 */
function declareKubernetes(r: Resource, s: SourceSpec, ctx: DeclareContext, bad: BadField): { declaration: DeclaredSource } | { problem: Problem } {
  if (s.url !== undefined) return bad('spec.kubernetes', `Source ${r.name} sets both spec.url and spec.kubernetes: a source is a repository or a cluster selection, not both`);
  const k = s.kubernetes;
  if (k === undefined) return bad('spec.url', `Source ${r.name} needs spec.url (a git repository) or spec.kubernetes (a namespace in the cluster)`);
  if (k.namespace === undefined && k.labelSelector === undefined) return bad('spec.kubernetes', 'spec.kubernetes needs a namespace, a labelSelector, or both');
  if (k.labelSelector !== undefined) {
    const parsed = parseLabelSelector(k.labelSelector);
    if (typeof parsed === 'string') return bad('spec.kubernetes.labelSelector', parsed);
    if (parsed.length === 0) return bad('spec.kubernetes.labelSelector', 'spec.kubernetes.labelSelector is empty');
  }
  for (const [field, present] of [
    ['spec.branch', s.branch],
    ['spec.path', s.path],
    ['spec.verify', s.verify],
    ['spec.anchor', s.anchor],
    ['spec.onForcePush', s.onForcePush],
  ] as const) {
    if (present !== undefined) return bad(field, `${field} applies to git repositories only; Source ${r.name} reads a Kubernetes cluster`);
  }
  const claimProblem = checkClaims(s, bad);
  if (claimProblem) return claimProblem;
  const intervalMs = s.interval !== undefined ? parseDuration(s.interval) : ctx.defaultIntervalMs;
  if (!(intervalMs >= MIN_INTERVAL_MS)) return bad('spec.interval', `spec.interval must be at least 1s (got ${JSON.stringify(s.interval)})`);
  const kubernetes: KubernetesSelection = { ...(k.namespace !== undefined ? { namespace: k.namespace } : {}), ...(k.labelSelector !== undefined ? { labelSelector: k.labelSelector } : {}) };
  return {
    declaration: {
      spec: { name: r.name, url: kubernetesUrl(kubernetes), branch: '', path: '' },
      kind: 'kubernetes',
      kubernetes,
      intervalMs,
      claim: claimOf(s),
      onForcePush: 'refuse',
      declaredBy: ctx.source,
      ...(ctx.declaringFolder ? { declaredByFolder: true } : {}),
      origin: r.origin,
    },
  };
}

/** The part of a declaration that decides whether a revision is accepted (claims aside: compile checks those). */
export function historyPolicyKey(d: DeclaredSource): string {
  return JSON.stringify([d.verify ?? null, d.onForcePush, d.anchor ?? null]);
}

/** Whether two declarations fetch the same thing (a change of URL, branch or path starts the source anew). */
export function sameLocation(a: DeclaredSource, b: DeclaredSource): boolean {
  return a.kind === b.kind && a.spec.url === b.spec.url && a.spec.branch === b.spec.branch && a.spec.path === b.spec.path && (a.pin ?? '') === (b.pin ?? '');
}
