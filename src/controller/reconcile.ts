// The one decision of what is served: last-known-good set + newest snapshots + central policy →
// the served set, its compiled configuration, and each candidate accepted or refused with why.
//
// Pure: no I/O, no clock, no randomness. What it needs from git (is the served commit an ancestor,
// are the new commits signed) comes in as facts; when a fact is missing the source is left pending
// and the request is returned, so the caller gathers it and calls again. `serve`, `plan`, `validate`,
// `render`, `routes`, `explain`, `test` and `history` all decide through this function.
//
// Order, and why: sources are considered one at a time, git roots first (name order), then folder
// roots, then team sources (name order). A candidate is compiled with everything accepted so far. It
// is refused when it brings an error on itself, or on a source considered before it or of the same
// rank; errors it brings on a lower rank (a team, when the central repository narrows its claim) are
// that source's resources withdrawn. So the central repository is the authority, a folder next to
// git can never take git's routes away, and two teams never break each other.

import { compareProblems, problem, type Problem } from '../api/problems.js';
import { formatOrigin } from '../api/origin.js';
import type { Resource } from '../api/resource.js';
import type { Claim, CompileOptions } from '../compile/options.js';
import { compile, RANKS_ABOVE, type CompileResult } from '../compile/index.js';
import { sha256 } from '../ir/canonical.js';
import { LOAD_LIMITS, loadFiles, type LoadFile, type LoadOptions, type LoadResult } from '../load/index.js';
import type { ParseCache } from '../load/parse-cache.js';
import type { CompileMemo } from '../compile/compile-memo.js';
import type { SignatureCheck } from '../sources/commit-signatures.js';
import type { CommitInfo } from '../sources/git-source.js';
import { declareSources, historyPolicyKey, sameLocation, type DeclaredSource } from './source-kind.js';

/** What a source yields: the configuration files of one revision, read whole. */
export interface Snapshot {
  readonly source: string;
  /** A commit id, or a folder's content hash ("sha256:…"). */
  readonly revision: string;
  readonly files: readonly LoadFile[];
  /** Hostile or oversized content found while reading; any error refuses the revision. */
  readonly problems: readonly Problem[];
  readonly commit?: CommitInfo;
}

/** A snapshot read by the loader, kept with the served set so that unchanged sources are not re-read. */
export interface LoadedSnapshot {
  readonly resources: readonly Resource[];
  /** Source resources (roots only declare; in a team they are errors). */
  readonly declarations: readonly DeclaredSource[];
  readonly problems: readonly Problem[];
}

export interface ServedSource {
  readonly decl: DeclaredSource;
  readonly snapshot: Snapshot;
  readonly loaded: LoadedSnapshot;
}

/** Git facts about one candidate under one policy, gathered by the caller (see FactRequest). */
export interface RevisionFacts {
  /** The served revision is not an ancestor of the candidate (a force-push). */
  readonly rewritten: boolean;
  /** The rewrite is covered by the declaration's anchor (the candidate descends from it, the served revision does not). */
  readonly anchored: boolean;
  /** Signature verdict under the policy (strict when a rewrite is accepted with strict checking). */
  readonly signature?: SignatureCheck;
  /** Git could not answer (a broken cache): the candidate waits, it is not judged. */
  readonly error?: string;
}

export interface FactRequest {
  readonly key: string;
  readonly source: string;
  readonly revision: string;
  /** The revision served now, if any: ancestry and the strict range start there. */
  readonly served?: string;
  readonly decl: DeclaredSource;
}

/** The name decisions on the secrets directory carry (no source can be named so). */
export const SECRETS_SOURCE = '@secrets';

/** Compile inputs from outside the sources (the secrets directory), with a key that changes when they do. */
export interface CompileInputs {
  readonly compile: Omit<CompileOptions, 'ambassadorId' | 'ambassadorNamespace' | 'claims'>;
  readonly key: string;
}

export type RefusalReason =
  | 'InvalidSecrets'
  | 'InvalidContent'
  | 'InvalidConfiguration'
  | 'ClaimViolation'
  | 'Conflict'
  | 'HistoryRewritten'
  | 'SignatureMissing'
  | 'SignatureUntrusted'
  | 'SignatureInvalid'
  | 'TooManyCommits'
  | 'VerificationError'
  | 'GitError'
  | 'CanaryFailed';

export interface Decision {
  readonly source: string;
  readonly revision: string;
  /** The revision the source served before (absent for a first revision). */
  readonly previous?: string;
  readonly verdict: 'accepted' | 'refused' | 'pending';
  readonly reason?: RefusalReason;
  /** One line: the first problem with its origin, or what the history check found. */
  readonly message?: string;
  /** The git action that clears a refusal. */
  readonly remedy?: string;
  readonly problems: readonly Problem[];
  readonly signature?: SignatureCheck;
  readonly rewritten?: boolean;
  readonly commit?: CommitInfo;
  /** The candidate as loaded, and compiled before and with it (absent when refused before loading). */
  readonly loaded?: LoadedSnapshot;
  readonly before?: CompileResult;
  readonly candidate?: CompileResult;
  /** A refusal repeated from `memo` (same revision, policy and surroundings): nothing new to record. */
  readonly remembered?: boolean;
}

export interface ReconcileOptions {
  readonly ambassadorId?: string;
  /** The namespace Portico runs in (AMBASSADOR_NAMESPACE), for load and compile alike; default "default". */
  readonly ambassadorNamespace?: string;
  readonly defaultIntervalMs: number;
  /**
   * The compile inputs accepted so far (TLS material from outside git), with a key that changes when
   * they do. Newer inputs come as ReconcileInput.inputs and are decided like a revision.
   */
  readonly compile?: Omit<CompileOptions, 'ambassadorId' | 'ambassadorNamespace' | 'claims'>;
  readonly compileKey?: string;
  /** Team sources pinned from the command line: name → ref or commit (fetched there instead of the branch). */
  readonly pins?: Readonly<Record<string, string>>;
  /** Team sources whose files come from a folder on this machine instead of their repository. */
  readonly localTeams?: Readonly<Record<string, string>>;
  /** A root whose origins carry no source name (paths given to validate and friends). */
  readonly anonymous?: string;
}

export interface ReconcileInput {
  /** Root sources, from the command line. */
  readonly roots: readonly DeclaredSource[];
  /** The last-known-good set. */
  readonly served: ReadonlyMap<string, ServedSource>;
  /** The newest snapshot of each source (equal to the served one when nothing moved). */
  readonly snapshots: ReadonlyMap<string, Snapshot>;
  readonly facts: ReadonlyMap<string, RevisionFacts>;
  /** Restoring a persisted set: its revisions were verified when first applied. */
  readonly trusted?: boolean;
  /** Errors (by problemKey) the served set already carried when it was persisted: not new on a restore. */
  readonly tolerated?: ReadonlySet<string>;
  /** Refusals of earlier calls by key; reused while revision, policy and surroundings are the same. */
  readonly memo?: ReadonlyMap<string, Decision>;
  /** The compile of `served` from the last call, reused when the served set did not move. */
  readonly previous?: { readonly key: string; readonly compiled: CompileResult };
  /**
   * The newest compile inputs (the secrets directory as read now). Decided first, against what is
   * served: refused when they would break it (a key that does not match its certificate half-way
   * through a rotation, an entry that a Host still names removed), so that the previous inputs stay.
   */
  readonly inputs?: CompileInputs;
  /** Files read before, by content: a one-file change re-reads that file only (results are the same). */
  readonly parseCache?: ParseCache;
  /** Per-Mapping and per-vhost compile work kept from earlier passes (output is the same without it). */
  readonly compileMemo?: CompileMemo;
  readonly options: ReconcileOptions;
}

export interface ReconcileOutput {
  /** Facts to gather before the sources waiting on them can be decided; call again with them. */
  readonly needs: readonly FactRequest[];
  readonly served: ReadonlyMap<string, ServedSource>;
  readonly compiled: CompileResult;
  /** Identity of the served set and compile inputs (pass back as `previous`). */
  readonly key: string;
  readonly decisions: readonly Decision[];
  /** Team sources declared by the served roots (with pins and local folders applied). */
  readonly declared: ReadonlyMap<string, DeclaredSource>;
  /** Teams served before and no longer declared. */
  readonly removed: readonly string[];
  /** Errors on the served resources of each source: those resources are not served. */
  readonly notServed: ReadonlyMap<string, readonly Problem[]>;
  readonly memo: ReadonlyMap<string, Decision>;
  /** The compile inputs `compiled` used: the newest when accepted, else those of `options` (pass back as options). */
  readonly inputs?: CompileInputs;
}

type Working = Map<string, ServedSource>;

/**
 * 0 git (and cluster) roots, 1 their teams, 2 folder roots, 3 the teams a folder root declares: a
 * source may never break one of a lower number. A folder beside git ranks below every source git
 * declares, so an edit in it can add routes but never remove or override any of git's.
 */
export function rank(d: DeclaredSource): number {
  if (d.declaredBy !== undefined) return d.declaredByFolder ? 3 : 1;
  return d.kind === 'directory' ? 2 : 0;
}

function byRankAndName(a: DeclaredSource, b: DeclaredSource): number {
  return rank(a) - rank(b) || (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : 0);
}

export function reconcile(input: ReconcileInput): ReconcileOutput {
  let options = input.options;
  const roots = [...input.roots].sort(byRankAndName);
  const rootNames = new Set(roots.map((r) => r.spec.name));
  const memo = new Map<string, Decision>();
  const needs: FactRequest[] = [];
  const decisions: Decision[] = [];
  const working: Working = new Map(input.served);
  const removed: string[] = [];

  // Roots that are no longer named on the command line, or moved, are dropped (a restart with other flags).
  for (const [name, s] of [...working]) {
    if (s.decl.declaredBy !== undefined) continue;
    const root = roots.find((r) => r.spec.name === name);
    if (!root || !sameLocation(root, s.decl)) working.delete(name);
    else if (root !== s.decl) working.set(name, { ...s, decl: root });
  }
  dropUndeclared(working, roots, options, removed);

  const setKey = (w: Working): string => workingKey(w, options);
  let baselineKey = setKey(working);
  let baseline: CompileResult | undefined = input.previous?.key === baselineKey ? input.previous.compiled : undefined;
  const compiled = (): CompileResult => (baseline ??= compileSet(working, roots, options, input.compileMemo).result);

  // The secrets directory first: the sources below are then judged with the material that is served.
  const inputs = input.inputs;
  if (inputs !== undefined && inputs.key !== (options.compileKey ?? '')) {
    const contextKey = sha256(JSON.stringify([SECRETS_SOURCE, inputs.key, baselineKey, input.trusted === true]));
    const remembered = input.memo?.get(contextKey);
    const base = { source: SECRETS_SOURCE, revision: inputs.key, ...(options.compileKey ? { previous: options.compileKey } : {}) };
    if (remembered) {
      memo.set(contextKey, remembered);
      decisions.push({ ...remembered, remembered: true });
    } else {
      const withInputs: ReconcileOptions = { ...options, compile: inputs.compile, compileKey: inputs.key };
      const before = compiled();
      const after = compileSet(working, roots, withInputs, input.compileMemo, servedCertificates(before)).result;
      const fresh = introducedErrors(before, after).filter((p) => !input.tolerated?.has(problemKey(p)));
      if (fresh.length === 0) {
        options = withInputs;
        baseline = after;
        baselineKey = setKey(working);
        decisions.push({ ...base, verdict: 'accepted', problems: [], before, candidate: after });
      } else {
        const decision: Decision = {
          ...base,
          verdict: 'refused',
          reason: 'InvalidSecrets',
          message: problemLine(fresh[0]!),
          remedy: 'fix the files in the secrets directory (a certificate and its key change together: write both, or swap a link to a folder holding both), or change the configuration that names them; the previous material stays in use until then',
          problems: fresh,
        };
        memo.set(contextKey, decision);
        decisions.push({ ...decision, before, candidate: after });
      }
    }
  }

  const consider = (decl: DeclaredSource): void => {
    const name = decl.spec.name;
    const snap = input.snapshots.get(name);
    const prev = working.get(name);
    if (!snap || (prev && prev.snapshot.revision === snap.revision)) return;
    const contextKey = sha256(JSON.stringify([name, snap.revision, historyPolicyKey(decl), decl.claim ?? null, baselineKeyWithout(working, name, options), input.trusted === true]));
    const remembered = input.memo?.get(contextKey);
    if (remembered) {
      memo.set(contextKey, remembered);
      decisions.push({ ...remembered, remembered: true });
      return;
    }
    const base = { source: name, revision: snap.revision, ...(prev ? { previous: prev.snapshot.revision } : {}), ...(snap.commit ? { commit: snap.commit } : {}) };
    const refuse = (d: Omit<Decision, 'source' | 'revision' | 'verdict'>): void => {
      const decision: Decision = { ...base, verdict: 'refused', ...d };
      // Remembered without its compiles: a refused candidate must not hold a second configuration in memory.
      const { loaded: _l, before: _b, candidate: _c, ...light } = decision;
      memo.set(contextKey, light);
      decisions.push(decision);
    };

    let signature: SignatureCheck | undefined;
    let rewritten = false;
    if (decl.kind === 'git' && !input.trusted && (decl.verify !== undefined || prev !== undefined)) {
      const req = factRequest(decl, snap.revision, prev?.snapshot.revision);
      const facts = input.facts.get(req.key);
      if (!facts) {
        needs.push(req);
        decisions.push({ ...base, verdict: 'pending', problems: [] });
        return;
      }
      if (facts.error !== undefined) {
        // Not a verdict on the commit: it is tried again on the next pass.
        decisions.push({ ...base, verdict: 'pending', reason: 'GitError', message: facts.error, problems: [] });
        return;
      }
      rewritten = facts.rewritten;
      signature = facts.signature;
      if (facts.rewritten && !facts.anchored && decl.onForcePush === 'refuse') {
        refuse({
          reason: 'HistoryRewritten',
          message: `${short(snap.revision)} does not descend from the served ${short(prev?.snapshot.revision)} (force-push); refused by policy onForcePush: refuse`,
          remedy: remedyFor('HistoryRewritten', decl, prev?.snapshot.revision),
          problems: [],
          rewritten: true,
        });
        return;
      }
      if (signature && !signature.ok) {
        const reason = (signature.reason ?? 'SignatureUntrusted') as RefusalReason;
        refuse({ reason, message: signature.detail, remedy: remedyFor(reason, decl), problems: [], signature, rewritten });
        return;
      }
    }

    const loaded = loadSnapshot(decl, snap, options, input.parseCache);
    const candidate: Working = new Map(working);
    candidate.set(name, { decl, snapshot: snap, loaded });
    const movedRoot = decl.declaredBy === undefined;
    if (movedRoot) dropUndeclared(candidate, roots, options, []);
    const before = compiled();
    const after = compileSet(candidate, roots, options, input.compileMemo, servedCertificates(before)).result;
    // Hostile or oversized files refuse the revision whatever else it holds (compiled all the same, for the report).
    const contentErrors = snap.problems.filter((p) => p.severity === 'error');
    if (contentErrors.length > 0) {
      refuse({ reason: 'InvalidContent', message: problemLine(contentErrors[0]!), problems: snap.problems, remedy: remedyFor('InvalidContent', decl), loaded, before, candidate: after });
      return;
    }
    const fresh = introducedErrors(before, after).filter((p) => !input.tolerated?.has(problemKey(p)));
    const mine = rank(decl);
    const blame = (p: Problem): 'own' | 'peer' | 'lower' => {
      const src = p.origin.source ?? options.anonymous;
      if (src === undefined || src === name) return 'own';
      const other = candidate.get(src)?.decl ?? (rootNames.has(src) ? roots.find((r) => r.spec.name === src) : undefined);
      // A source that is gone from the candidate (a team the root stopped declaring) cannot be broken.
      if (!other) return 'lower';
      return rank(other) <= mine ? 'peer' : 'lower';
    };
    const own = fresh.filter((p) => blame(p) === 'own');
    const peer = fresh.filter((p) => blame(p) === 'peer');
    if (own.length > 0 || peer.length > 0) {
      // A collision reported on this revision's own copy because another source ranks above it (git
      // over a folder beside it) is a conflict with that source, as when the other copy is reported.
      const withOther = (p: Problem): boolean => p.message.includes(RANKS_ABOVE);
      const reason: RefusalReason =
        peer.length > 0 ? 'Conflict' : own.every((p) => p.code === 'ClaimViolation') ? 'ClaimViolation' : own.every(withOther) ? 'Conflict' : 'InvalidConfiguration';
      refuse({ reason, message: problemLine([...own, ...peer][0]!), remedy: remedyFor(reason, decl), problems: [...own, ...peer], ...(signature ? { signature } : {}), rewritten, loaded, before, candidate: after });
      return;
    }
    for (const n of [...working.keys()]) if (!candidate.has(n)) removed.push(n);
    working.clear();
    for (const [n, s] of candidate) working.set(n, s);
    baseline = after;
    baselineKey = setKey(working);
    decisions.push({ ...base, verdict: 'accepted', problems: after.report.problems.filter((p) => (p.origin.source ?? options.anonymous) === name), ...(signature ? { signature } : {}), rewritten, loaded, before, candidate: after });
  };

  for (const root of roots) consider(root);
  let teams = declaredTeams(working, roots, options).teams;
  for (const name of [...teams.keys()].sort()) consider(teams.get(name)!);
  teams = declaredTeams(working, roots, options).teams;

  const result = compiled();
  const notServed = new Map<string, Problem[]>();
  for (const p of result.report.problems) {
    if (p.severity !== 'error') continue;
    const src = p.origin.source ?? options.anonymous;
    if (src === undefined || !working.has(src)) continue;
    const list = notServed.get(src) ?? [];
    list.push(p);
    notServed.set(src, list);
  }
  const usedInputs = options.compileKey !== undefined && options.compile !== undefined ? { inputs: { compile: options.compile, key: options.compileKey } } : {};
  return { needs, served: working, compiled: result, key: baselineKey, decisions, declared: teams, removed: [...new Set(removed)].filter((n) => !working.has(n)), notServed, memo, ...usedInputs };
}

/** The request for facts about `revision` of a git source under its current policy. */
export function factRequest(decl: DeclaredSource, revision: string, served: string | undefined): FactRequest {
  const key = sha256(JSON.stringify([decl.spec.name, decl.spec.url, revision, served ?? null, historyPolicyKey(decl)]));
  return { key, source: decl.spec.name, revision, ...(served ? { served } : {}), decl };
}

/** Loads one snapshot; a root's Source resources become declarations, a team's are refused. */
export function loadSnapshot(decl: DeclaredSource, snap: Snapshot, options: ReconcileOptions, cache?: ParseCache): LoadedSnapshot {
  const name = decl.spec.name;
  const anonymous = options.anonymous === name;
  const loadOptions = {
    ...(anonymous ? {} : { source: name }),
    ...(decl.kind === 'git' ? { revision: snap.revision } : {}),
    ...(options.ambassadorId ? { ambassadorId: options.ambassadorId } : {}),
    ...(options.ambassadorNamespace ? { ambassadorNamespace: options.ambassadorNamespace } : {}),
  };
  const loaded = decl.kind === 'kubernetes' ? loadObjectFiles(snap.files, loadOptions) : loadFiles(snap.files, loadOptions, cache);
  const sources = loaded.resources.filter((r) => r.kind === 'Source');
  const resources = loaded.resources.filter((r) => r.kind !== 'Source');
  const problems = [...snap.problems, ...loaded.problems];
  let declarations: DeclaredSource[] = [];
  if (decl.declaredBy === undefined) {
    const d = declareSources(sources, { source: name, declaringUrl: decl.spec.url, ...(decl.folders ? { declaringFolders: decl.folders } : {}), ...(decl.kind === 'directory' ? { declaringFolder: true } : {}), defaultIntervalMs: options.defaultIntervalMs });
    declarations = d.declarations;
    problems.push(...d.problems);
  } else {
    for (const r of sources) {
      problems.push(
        problem('ClaimViolation', `Source ${r.name}: only a root source (the central repository) may declare sources; '${name}' is a team source`, r.origin, {
          resource: { kind: 'Source', name: r.name, namespace: r.namespace },
          field: 'kind',
        }),
      );
    }
  }
  return { resources, declarations, problems };
}

/** Per-file loads of cluster objects, by file (the driver hands the same file for an unchanged object) and load options. */
const objectLoads = new WeakMap<LoadFile, Map<string, LoadResult>>();

/**
 * Loads a cluster source's files, one object per file, each as loadFiles would and with origins that
 * name the object, not a line. Each file's result is kept while the driver keeps the file, so a change
 * of one object in ten thousand reads one file, not all of them; the result is the same either way.
 * The cap is on objects (LOAD_LIMITS.maxObjects), not on files: here a file is one object.
 */
function loadObjectFiles(files: readonly LoadFile[], opts: LoadOptions): LoadResult {
  if (files.length > LOAD_LIMITS.maxObjects) {
    return { resources: [], problems: [problem('TooManyFiles', `more than ${LOAD_LIMITS.maxObjects} objects; nothing loaded`, { ...(opts.source !== undefined ? { source: opts.source } : {}), path: files[LOAD_LIMITS.maxObjects]!.path, line: 0, col: 0, object: true })] };
  }
  const key = `${opts.source ?? ''}\0${opts.ambassadorId ?? ''}\0${opts.ambassadorNamespace ?? ''}`;
  const resources: Resource[] = [];
  const problems: Problem[] = [];
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const f of sorted) {
    let byOptions = objectLoads.get(f);
    if (!byOptions) objectLoads.set(f, (byOptions = new Map()));
    let r = byOptions.get(key);
    if (!r) {
      const one = loadFiles([f], opts);
      r = { resources: one.resources.map((x) => ({ ...x, origin: { ...x.origin, object: true } })), problems: one.problems.map((p) => ({ ...p, origin: { ...p.origin, object: true } })) };
      byOptions.set(key, r);
    }
    resources.push(...r.resources);
    problems.push(...r.problems);
  }
  return { resources, problems: problems.sort(compareProblems) };
}

/** Team declarations of the roots in `working`, in rank and name order; a name declared twice is an error on the later one. */
function declaredTeams(working: Working, roots: readonly DeclaredSource[], options: ReconcileOptions): { teams: Map<string, DeclaredSource>; problems: Problem[] } {
  const teams = new Map<string, DeclaredSource>();
  const problems: Problem[] = [];
  const rootNames = new Set(roots.map((r) => r.spec.name));
  for (const root of roots) {
    const served = working.get(root.spec.name);
    if (!served) continue;
    for (const d of served.loaded.declarations) {
      const name = d.spec.name;
      const ref = { resource: { kind: 'Source', name, namespace: 'default' }, field: 'metadata.name' };
      const at = d.origin ?? { source: root.spec.name, path: '', line: 0, col: 0 };
      if (rootNames.has(name)) problems.push(problem('DuplicateResource', `Source ${name}: a source with this name is already named on the command line`, at, ref));
      else if (teams.has(name)) problems.push(problem('DuplicateResource', `Source ${name} is declared more than once (first at ${formatOrigin(teams.get(name)!.origin ?? at)})`, at, ref));
      else teams.set(name, withLocalOptions(d, options));
    }
  }
  return { teams, problems };
}

function withLocalOptions(d: DeclaredSource, options: ReconcileOptions): DeclaredSource {
  const name = d.spec.name;
  const dir = options.localTeams?.[name];
  if (dir !== undefined) {
    // A folder stands in for the team's repository, under the same claims; git history rules do not apply.
    const { verify: _v, anchor: _a, ...rest } = d;
    return { ...rest, kind: 'directory', spec: { name, url: dir, branch: '', path: '' } };
  }
  const pin = options.pins?.[name];
  return pin !== undefined ? { ...d, pin } : d;
}

/** Removes teams that no served root declares any more (or declares elsewhere). */
function dropUndeclared(working: Working, roots: readonly DeclaredSource[], options: ReconcileOptions, removed: string[]): void {
  const { teams } = declaredTeams(working, roots, options);
  for (const [name, s] of [...working]) {
    if (s.decl.declaredBy === undefined) continue;
    const d = teams.get(name);
    if (!d || !sameLocation(d, s.decl)) {
      working.delete(name);
      removed.push(name);
    } else if (d !== s.decl) {
      // Same place, new policy (claims, signers): the served revision stays; compile applies the new claim.
      working.set(name, { ...s, decl: d });
    }
  }
}

/**
 * Compiles a set of sources: their resources, with each team held to its claim. `served` (from what
 * is served now): Hosts terminating TLS with a certificate, which a change may not take away by
 * removing its Secret (CompileOptions.servedCertificates).
 */
export function compileSet(
  working: ReadonlyMap<string, ServedSource>, roots: readonly DeclaredSource[], options: ReconcileOptions, memo?: CompileMemo, served?: ReadonlyMap<string, string>,
): { result: CompileResult } {
  const { teams, problems: declProblems } = declaredTeams(working as Working, roots, options);
  const resources: Resource[] = [];
  const problems: Problem[] = [...declProblems];
  const claims: Record<string, Claim> = {};
  const sourceRanks: Record<string, number> = {};
  for (const name of [...working.keys()].sort()) {
    const s = working.get(name)!;
    resources.push(...s.loaded.resources);
    problems.push(...s.loaded.problems);
    const t = teams.get(name);
    if (t?.claim) claims[name] = t.claim;
    sourceRanks[name] = rank(s.decl);
  }
  const result = compile(resources, { ...options.compile, ...(options.ambassadorId ? { ambassadorId: options.ambassadorId } : {}), ...(options.ambassadorNamespace ? { ambassadorNamespace: options.ambassadorNamespace } : {}), claims, sourceRanks, ...(memo ? { memo } : {}), ...(served && served.size > 0 ? { servedCertificates: served } : {}) }, problems);
  return { result };
}

const certificatesOf = new WeakMap<CompileResult, ReadonlyMap<string, string>>();

/** Each Host and TLSContext ("Kind namespace/name") that `c` serves with a certificate, and the certificate's store id. */
function servedCertificates(c: CompileResult): ReadonlyMap<string, string> {
  let out = certificatesOf.get(c);
  if (out !== undefined) return out;
  const contexts = new Map(c.ir.tlsContexts.map((t) => [t.name, t]));
  const found = new Map<string, string>();
  for (const t of c.ir.tlsContexts) if (t.certificate !== undefined && t.source?.kind === 'TLSContext') found.set(`TLSContext ${t.source.namespace}/${t.source.name}`, t.certificate.secret);
  for (const l of c.ir.listeners) {
    for (const v of l.virtualHosts) {
      const cert = v.tlsContext !== undefined ? contexts.get(v.tlsContext)?.certificate : undefined;
      if (cert !== undefined) for (const h of v.hosts) if (h.kind === 'Host') found.set(`Host ${h.namespace}/${h.name}`, cert.secret);
    }
  }
  out = found;
  certificatesOf.set(c, out);
  return out;
}

function workingKey(w: ReadonlyMap<string, ServedSource>, options: ReconcileOptions): string {
  const parts = [...w.keys()].sort().map((n) => {
    const s = w.get(n)!;
    return [n, s.snapshot.revision, s.decl.kind, s.decl.claim ?? null];
  });
  return sha256(JSON.stringify([parts, options.ambassadorId ?? 'default', options.compileKey ?? '', options.anonymous ?? '', ...(options.ambassadorNamespace && options.ambassadorNamespace !== 'default' ? [options.ambassadorNamespace] : [])]));
}

function baselineKeyWithout(w: ReadonlyMap<string, ServedSource>, name: string, options: ReconcileOptions): string {
  const copy = new Map(w);
  copy.delete(name);
  return workingKey(copy, options);
}

/** Identity of a problem across revisions: the resource and field when known, else the place. */
export function problemKey(p: Problem): string {
  const msg = p.message.replace(/@[0-9a-f]{7,64}/g, '@');
  if (p.resource) return `${p.code}|${p.origin.source ?? ''}|${p.resource.kind}/${p.resource.namespace}/${p.resource.name}|${p.field ?? ''}|${msg}`;
  return `${p.code}|${p.origin.source ?? ''}|${p.origin.path}|${p.origin.line}|${p.origin.col}|${msg}`;
}

/** Errors in `after` that `before` did not have (the same error moved to another line is not new). */
export function introducedErrors(before: CompileResult | undefined, after: CompileResult): Problem[] {
  const seen = new Set((before?.report.problems ?? []).filter((p) => p.severity === 'error').map(problemKey));
  return after.report.problems.filter((p) => p.severity === 'error' && !seen.has(problemKey(p)));
}

function short(rev: string | undefined): string {
  return rev ? (rev.startsWith('sha256:') ? rev.slice(0, 19) : rev.slice(0, 12)) : 'nothing';
}

export function problemLine(p: Problem): string {
  return `${formatOrigin(p.origin)}: ${p.message}`;
}

/** The git action that clears a refusal, for status, history and plan. */
export function remedyFor(reason: RefusalReason, decl: DeclaredSource, served?: string): string {
  const name = decl.spec.name;
  const central = decl.declaredBy !== undefined ? `Source ${name} in the central repository (${decl.declaredBy})` : `the command line of the source '${name}'`;
  const where =
    decl.kind === 'directory'
      ? `the folder ${decl.spec.url}`
      : decl.kind === 'kubernetes'
        ? `the objects ${decl.kubernetes?.namespace !== undefined ? `in namespace ${decl.kubernetes.namespace}` : `the source selects (${decl.spec.url})`}`
        : `branch ${decl.pin ?? decl.spec.branch} of ${decl.spec.url}`;
  // A folder has no commits: its files are edited in place; a namespace's objects are applied or deleted.
  const commit =
    decl.kind === 'directory' ? `save the files in ${where}` : decl.kind === 'kubernetes' ? `apply (or delete) ${where}` : `push a new commit to ${where} (or revert the commit)`;
  const push = decl.kind === 'directory' ? `save the files in ${where}` : decl.kind === 'kubernetes' ? `apply ${where}` : `push to ${where}`;
  switch (reason) {
    case 'InvalidSecrets':
      return 'fix the files in the secrets directory, or change the configuration that names them';
    case 'InvalidContent':
    case 'InvalidConfiguration':
      return `fix the problems named above and ${commit}`;
    case 'ClaimViolation':
      return `move the resources inside the claim and ${push}, or have the claim widened in ${central}`;
    case 'Conflict':
      return `change the match or name so that it no longer collides with the other source's and ${push}; it is tried again whenever the other source changes`;
    case 'HistoryRewritten':
      return decl.declaredBy !== undefined
        ? `push a branch that descends from the served ${short(served)} (undo the force-push), or set spec.anchor to the new base commit in ${central} (or onForcePush: accept-with-strict)`
        : `push a branch that descends from the served ${short(served)} (undo the force-push), or restart serve with --on-force-push accept-with-strict`;
    case 'SignatureMissing':
    case 'SignatureUntrusted':
    case 'SignatureInvalid':
      return decl.verify?.mode === 'strict'
        ? `push commits signed by an allowed signer: in strict mode every commit since the served one must verify; or set spec.anchor to a trusted commit in ${central} so that checking starts after it`
        : `push a commit signed by an allowed signer to ${where}, or have the signer added in ${central}`;
    case 'TooManyCommits':
      return `set spec.anchor to a trusted recent commit in ${central} so that fewer commits need checking`;
    case 'VerificationError':
    case 'GitError':
      return 'nothing to change in git: it is tried again on the next fetch';
    case 'CanaryFailed':
      return `fix the change and ${commit}; the refused revision is not tried again, and the last-known-good serves meanwhile`;
  }
}
