// Whether a new served set goes live at once or through a canary, decided from the configuration
// served now and the candidate (pure): the policy in force is the one the served configuration holds,
// so a commit cannot release itself by removing its policy.

import { canonicalJSON, sha256 } from '../ir/canonical.js';
import type { SecretStore } from '../ir/secrets.js';
import type { IR, IRFleet, IRReleasePolicy } from '../ir/types.js';

/** The policy that releases `source`: one that names it, else the global one. */
export function policyFor(fleet: IRFleet | undefined, source: string): IRReleasePolicy | undefined {
  const policies = fleet?.releasePolicies ?? [];
  return policies.find((p) => p.sources?.includes(source)) ?? policies.find((p) => p.sources === undefined);
}

/**
 * JSON of a part of the IR without the origins of its elements: where a route was written (and at
 * which revision, which every commit changes) is nothing traffic can notice. Compile is
 * deterministic, so equal content gives equal text.
 */
function withoutOrigins(value: unknown): string {
  return JSON.stringify(value, (key, v: unknown) => (key === 'origin' && typeof v === 'object' && v !== null ? undefined : v));
}

/** The hash of what traffic can notice: the IR without origins and without its fleet section (peers, policies). */
export function observableHash(ir: IR): string {
  const { fleet: _fleet, ...rest } = ir;
  return sha256(withoutOrigins(rest));
}

/**
 * What a connection meets before a request picks a revision: listeners, their TLS and connection
 * limits, certificates. A canary splits requests, not connections, so a candidate that changes any
 * of this cannot be tried on a share of them.
 */
export function frontKey(ir: IR, secrets: SecretStore): string {
  const listeners = ir.listeners.map((l) => ({
    name: l.name,
    bindAddress: l.bindAddress,
    port: l.port,
    protocolStack: l.protocolStack,
    l7: l.l7,
    tls: l.tls,
    securityModel: l.securityModel,
    vhosts: l.virtualHosts.map((v) => [v.hostname, v.tlsContext ?? null]),
  }));
  // TLS material only: header credentials are read per request, by whichever revision serves it.
  const material = Object.keys(secrets)
    .filter((k) => secrets[k]!.value === undefined)
    .sort()
    .map((k) => [k, sha256(canonicalJSON(secrets[k]))]);
  return sha256(withoutOrigins({ listeners, tls: ir.tlsContexts, limits: ir.global.limits, material }));
}

export type GateDecision =
  | { readonly release: 'now'; readonly why: string }
  | { readonly release: 'canary'; readonly policy: IRReleasePolicy; readonly governed: readonly string[] };

/**
 * `changed`: the sources whose new revisions the candidate serves. A first configuration, a change
 * no policy governs, a change nothing can observe and a change of listeners or TLS go live at once.
 */
export function releaseGate(
  served: { readonly ir: IR; readonly secrets: SecretStore } | undefined,
  candidate: { readonly ir: IR; readonly secrets: SecretStore },
  changed: readonly string[],
): GateDecision {
  if (!served) return { release: 'now', why: 'first configuration' };
  const governed = [...changed].sort().filter((s) => policyFor(served.ir.fleet, s) !== undefined);
  if (governed.length === 0) return { release: 'now', why: 'no ReleasePolicy governs the change' };
  if (observableHash(served.ir) === observableHash(candidate.ir) && frontKey(served.ir, served.secrets) === frontKey(candidate.ir, candidate.secrets)) {
    return { release: 'now', why: 'the new revision changes nothing traffic can observe' };
  }
  if (frontKey(served.ir, served.secrets) !== frontKey(candidate.ir, candidate.secrets)) {
    return { release: 'now', why: 'the change touches listeners, TLS or connection limits, which a share of requests cannot try' };
  }
  // Several governed sources in one change: the first one's policy (by name) releases all of it.
  return { release: 'canary', policy: policyFor(served.ir.fleet, governed[0]!)!, governed };
}

/**
 * What explain says about releases of the sources a request's route comes from: which policy would
 * take a new revision of each, and on what share of requests first. Undefined when none governs them.
 */
export function releaseNote(fleet: IRFleet | undefined, sources: readonly string[]): string | undefined {
  const parts: string[] = [];
  for (const s of [...new Set(sources)].sort()) {
    const p = policyFor(fleet, s);
    if (p) parts.push(`a new revision of source '${s}' first serves ${p.steps[0]} % of requests (ReleasePolicy ${p.namespace}/${p.name}: ${[...p.steps, 100].join(' → ')} %, ${p.windowMs / 1000} s per step); until it is promoted, ${100 - p.steps[0]!} % of requests like this one get the revision explained here`);
  }
  return parts.length > 0 ? parts.join('; ') : undefined;
}
