// The fleet section of the IR: the peers the `ambassador` Module lists (portico_fleet_peers) and the
// ReleasePolicies, with their defaults filled in and checked against each other (one policy per
// source, one global). Runs after the global policy; nothing in the data plane reads it.

import type { Resource } from '../api/resource.js';
import { RELEASE_DEFAULTS, type ReleasePolicySpec } from '../api/kinds/release-policy.js';
import type { IRFleet, IRReleasePolicy } from '../ir/types.js';
import { parseDurationMs } from './service.js';
import { cmpStr, type CompileContext } from './context.js';

export function compileFleet(modules: readonly Resource[], policies: readonly Resource[], ctx: CompileContext, sourceNames: readonly string[] | undefined): IRFleet | undefined {
  const module = modules.find((m) => m.name === 'ambassador' && ctx.isValid(m));
  const peersField = ((module?.spec as { config?: { portico_fleet_peers?: readonly string[] } } | undefined)?.config?.portico_fleet_peers ?? []).map((u) => u.replace(/\/$/, ''));
  const peers = [...new Set(peersField)].sort(cmpStr);

  const candidates: { r: Resource; p: IRReleasePolicy }[] = [];
  for (const r of policies) {
    const p = releasePolicy(r, ctx);
    if (p) candidates.push({ r, p });
  }
  // Two policies over one source (or two global ones) would leave the release of a revision to
  // chance: every party is invalid, none wins, as with duplicate resources.
  const scopes = new Map<string, { r: Resource; p: IRReleasePolicy }[]>();
  for (const c of candidates) for (const s of c.p.sources ?? ['*']) scopes.set(s, [...(scopes.get(s) ?? []), c]);
  const conflicted = new Set<Resource>();
  for (const [scope, list] of scopes) {
    if (list.length < 2) continue;
    const names = list.map((c) => `${c.r.namespace}/${c.r.name}`).sort(cmpStr);
    for (const c of list) {
      conflicted.add(c.r);
      ctx.report(c.r, 'ReleasePolicyConflict', `${scope === '*' ? 'more than one global ReleasePolicy (no spec.sources)' : `more than one ReleasePolicy releases source '${scope}'`}: ${names.join(', ')}; none of them is used`, scope === '*' ? 'spec' : 'spec.sources');
    }
  }
  const releasePolicies = candidates.filter((c) => !conflicted.has(c.r)).map((c) => c.p);
  if (sourceNames !== undefined) {
    const known = new Set(sourceNames);
    for (const c of candidates) {
      if (conflicted.has(c.r)) continue;
      const unknown = (c.p.sources ?? []).filter((s) => !known.has(s));
      if (unknown.length > 0) ctx.report(c.r, 'ReleasePolicyUnknownSource', `ReleasePolicy ${c.r.namespace}/${c.r.name} names source(s) ${unknown.map((s) => `'${s}'`).join(', ')} that the configuration does not declare (sources: ${sourceNames.join(', ') || 'none'})`, 'spec.sources');
    }
  }
  if (peers.length === 0 && releasePolicies.length === 0) return undefined;
  releasePolicies.sort((a, b) => cmpStr(a.namespace, b.namespace) || cmpStr(a.name, b.name));
  return { peers, releasePolicies };
}

function releasePolicy(r: Resource, ctx: CompileContext): IRReleasePolicy | undefined {
  const s = r.spec as unknown as ReleasePolicySpec;
  const steps = s.steps ?? RELEASE_DEFAULTS.steps;
  for (let i = 1; i < steps.length; i++) {
    if (steps[i]! <= steps[i - 1]!) {
      ctx.report(r, 'SchemaViolation', `ReleasePolicy ${r.name}: steps must rise (${steps.join(', ')}); the last step is followed by 100 %`, 'spec.steps');
      return undefined;
    }
  }
  const windowMs = s.window !== undefined ? parseDurationMs(s.window) : RELEASE_DEFAULTS.windowMs;
  if (typeof windowMs !== 'number' || windowMs < 1000) {
    ctx.report(r, 'SchemaViolation', `ReleasePolicy ${r.name}: window must be at least 1s, got '${s.window}'`, 'spec.window');
    return undefined;
  }
  const tolerance = s.latencyTolerance !== undefined ? parseDurationMs(s.latencyTolerance) : RELEASE_DEFAULTS.latencyToleranceMs;
  if (typeof tolerance !== 'number') {
    ctx.report(r, 'SchemaViolation', `ReleasePolicy ${r.name}: latencyTolerance: ${tolerance}`, 'spec.latencyTolerance');
    return undefined;
  }
  const sources = s.sources ? [...new Set(s.sources)].sort(cmpStr) : undefined;
  return {
    name: r.name,
    namespace: r.namespace,
    ...(sources ? { sources } : {}),
    steps: [...steps],
    windowMs,
    minRequests: s.minRequests ?? RELEASE_DEFAULTS.minRequests,
    maxErrorRateIncrease: s.maxErrorRateIncrease ?? RELEASE_DEFAULTS.maxErrorRateIncrease,
    maxLatencyIncrease: s.maxLatencyIncrease ?? RELEASE_DEFAULTS.maxLatencyIncrease,
    latencyToleranceMs: tolerance,
    onInsufficientTraffic: s.onInsufficientTraffic ?? RELEASE_DEFAULTS.onInsufficientTraffic,
    source: { kind: r.kind, name: r.name, namespace: r.namespace, origin: r.origin },
  };
}
