// compile(): Resources → IR (master configuration) + Report. Pure: no I/O, clock or randomness;
// the same resources in any order give byte-identical output.
//
// Processors run in this order, each for one concern:
//  1. duplicates   — the same kind/namespace/name twice invalidates every copy (neither wins silently)
//  2. claims       — team resources outside their source's claim are dropped before they can conflict
//  3. global       — the `ambassador` Module, because every later default comes from it; the
//                    TracingService beside it (it needs nothing else)
//  4. TLS          — Secrets, then TLSContexts, because Hosts and Mappings reference them
//     policies     — edge policies (compile/policies/): after the Module and TLS they read, before the
//                    Mappings, whose own policy fields routePolicies reads per Mapping
//  5. listeners    — ports and protocols; then Hosts, then Listener→Host binding (vhosts are Host roots)
//  6. mappings     — per-Mapping validation, then attachment, canary groups and conflicts across all vhosts,
//                    then route order within each vhost
//  7. TCP mappings — after listeners, since they may imply new ones and must not collide with L7 ports
//  8. clusters     — last, from the backends that survived

import type { Resource } from '../api/resource.js';
import { resourceKey } from '../api/resource.js';
import type { Problem } from '../api/problems.js';
import { IR_VERSION, type IR, type IRBackend, type IRCluster, type IRHeaderMatch, type IRListener, type IRResolver, type IRRoute, type IRRouteMatch, type IRTCPRoute, type IRTLSContext, type IRVirtualHost, type IREndpoint, type IRSourceRef } from '../ir/types.js';
import type { SecretEntry, SecretStore } from '../ir/secrets.js';
import { HeaderCredentials } from './header-credentials.js';
import { canonicalJSON, hashIR, sha256 } from '../ir/canonical.js';
import { CompileContext, cmpStr } from './context.js';
import type { CompileOptions } from './options.js';
import type { Report } from './report.js';
import { checkClaims } from './claims.js';
import { compileGlobal } from './global-policy.js';
import { compileTracing } from './tracing.js';
import { compileSecrets, compileTLSContexts } from './tls.js';
import { bindHosts, compileHosts, compileListeners, defaultHost, defaultListeners, fallbackTLSContext, FALLBACK_TLS_CONTEXT, type HostPlan, type ListenerPlan } from './listeners-hosts.js';
import { ClusterNeedsTable, cmpHeader, compileMapping, matchKey, type ClusterNeeds, type MappingPlan } from './mappings.js';
import { globToRegex, isGlob } from './hostname-globs.js';
import { attaches, groupLabels, notAttachedReason, type AttachmentScene } from './mapping-attachment.js';
import { clusterBaseName, parseService, type ParsedService } from './service.js';
import { compileFleet } from './release-policies.js';
import { compilePolicies } from './policies/index.js';
import type { BuiltRoutes } from './compile-memo.js';

export type { CompileOptions } from './options.js';

export interface CompileResult {
  readonly ir: IR;
  readonly report: Report;
  readonly secrets: SecretStore;
  /**
   * hashIR(ir), computed on first read and kept: hashing serialises the whole IR (about 9 MB for
   * 10,000 routes), which `validate` never needs. The IR must not be changed before it is read.
   */
  readonly hash: string;
}

type Obj = Record<string, unknown>;

/**
 * The words of a collision lost to a better-ranked source's copy (a team's route under the central
 * repository's, a folder's under git's): the reconcile reads such a refusal as a Conflict.
 */
export const RANKS_ABOVE = 'which ranks above';

export function compile(input: readonly Resource[], options: CompileOptions = {}, loadProblems: readonly Problem[] = []): CompileResult {
  const ctx = new CompileContext(loadProblems, new HeaderCredentials(options.secretFiles, options.claims));
  // Inputs are sorted first so that nothing below can depend on file or repository order.
  const { resources, keys } = sortResources(input);

  // 1. duplicates: after sorting, copies of one resource are neighbours
  for (let i = 0; i < resources.length; ) {
    const k = keys[i]!;
    let end = i + 1;
    while (end < resources.length && keys[end] === k) end++;
    if (end - i > 1) {
      const rs = resources.slice(i, end);
      const rankOf = (r: Resource): number => (r.origin.source !== undefined ? (options.sourceRanks?.[r.origin.source] ?? 0) : 0);
      const best = Math.min(...rs.map(rankOf));
      const top = rs.filter((r) => rankOf(r) === best);
      const where = (list: readonly Resource[]) => list.map((r) => `${r.origin.source ? r.origin.source + ':' : ''}${r.origin.path}:${r.origin.line}`).join(' and ');
      // A copy from a better-ranked source (the central repository over a team, git over a folder) wins.
      if (top.length === 1) {
        const winner = top[0]!;
        for (const r of rs) if (r !== winner) ctx.report(r, 'DuplicateResource', `${r.kind} ${r.namespace}/${r.name} is already defined by source '${winner.origin.source ?? ''}' (${where([winner])}), ${RANKS_ABOVE} this one; this copy is not used`, 'metadata.name');
      } else {
        for (const r of rs) ctx.report(r, 'DuplicateResource', `${r.kind} ${r.namespace}/${r.name} is defined more than once (${where(rs)}); none of the copies is used`, 'metadata.name');
      }
    }
    i = end;
  }

  // 2. claims
  if (options.claims) checkClaims(resources, options.claims, ctx);

  // Each pass takes its kind's resources that are still valid at that point, as before; the
  // resources are split by kind once instead of scanning all of them for every kind.
  const ofKind = new Map<Resource['kind'], number[]>();
  for (let i = 0; i < resources.length; i++) {
    const kind = resources[i]!.kind;
    const l = ofKind.get(kind);
    if (l) l.push(i);
    else ofKind.set(kind, [i]);
  }
  /** Positions in `resources` (and `keys`) of the kind's resources that are still valid. */
  const validOfKind = (k: Resource['kind']): number[] => (ofKind.get(k) ?? []).filter((i) => ctx.isValidKey(keys[i]!));
  const byKind = (k: Resource['kind']): Resource[] => validOfKind(k).map((i) => resources[i]!);

  // 3. global policy
  const moduleGlobal = compileGlobal(byKind('Module'), ctx);
  const tracing = compileTracing(byKind('TracingService'), ctx);
  const global = tracing ? { ...moduleGlobal, tracing } : moduleGlobal;

  // 4. TLS
  const secretTable = compileSecrets(byKind('Secret'), ctx, options.secretFiles);
  const tlsContexts = compileTLSContexts(byKind('TLSContext'), secretTable, ctx, options.servedCertificates);

  // edge policies
  const policies = compilePolicies({
    module: byKind('Module').find((m) => m.name === 'ambassador'),
    authServices: byKind('AuthService'),
    rateLimitServices: byKind('RateLimitService'),
    rateLimits: byKind('RateLimit'),
    global,
    tlsContexts,
    filters: byKind('Filter'),
    filterPolicies: byKind('FilterPolicy'),
    secrets: byKind('Secret'),
    secretFiles: options.secretFiles,
  }, ctx);

  // resolvers (static endpoint lists for services outside Kubernetes)
  const resolvers = compileResolvers(byKind('Resolver'), ctx);
  // What decides whether a Mapping's bare service name is qualified with its namespace (see
  // CompileContext.upstreamService); needed before the Mappings and TCPMappings are read.
  ctx.ambassadorNamespace = options.ambassadorNamespace ?? 'default';
  ctx.nonKubernetesResolvers = nonKubernetesResolvers(resolvers);

  // the fleet's peers and release policies (read by the controller and the fleet, not the data plane)
  const fleet = compileFleet(byKind('Module'), byKind('ReleasePolicy'), ctx, options.sourceRanks ? Object.keys(options.sourceRanks).sort() : undefined);

  // 5. listeners and hosts
  // The defaults stand in only when no resource of the kind exists at all: an invalid Listener or
  // Host must not be silently replaced by one that serves everything.
  const listeners = compileListeners(byKind('Listener'), ctx);
  if (!ofKind.has('Listener')) listeners.push(...defaultListeners());
  let hosts = compileHosts(byKind('Host'), secretTable, tlsContexts, ctx, options.servedCertificates);
  if (!ofKind.has('Host')) {
    hosts = [defaultHost()];
    // A TLSContext the user named 'fallback' is theirs; the default Host then terminates with it.
    if (!tlsContexts.has(FALLBACK_TLS_CONTEXT)) tlsContexts.set(FALLBACK_TLS_CONTEXT, fallbackTLSContext());
    // Only a Host terminates with a TLSContext's `hosts`; without one Emissary posts an error and
    // ignores them. (One that failed to compile has its error already; 'fallback' is the default Host's.)
    for (const r of byKind('TLSContext')) {
      const names = (r.spec as Obj)['hosts'];
      if (r.name === FALLBACK_TLS_CONTEXT || !Array.isArray(names) || names.length === 0) continue;
      ctx.report(r, 'TLSContextNotUsed', `TLSContext '${r.name}' names hosts (${names.join(', ')}) but no Host is defined: only a Host terminates TLS with a TLSContext, so it is ignored, as in Emissary ("No Hosts defined, but TLSContexts exist that terminate TLS"), and the default Host serves the fallback certificate; define a Host for each hostname with tlsContext: {name: ${r.name}}`, 'spec.hosts');
    }
  }
  for (const l of listeners) if (l.l7) l.hosts = bindHosts(l, hosts, ctx);
  for (const h of hosts) {
    if (h.resource && !listeners.some((l) => l.hosts.includes(h))) {
      ctx.report(h.resource, 'HostNotAttached', `no Listener binds Host '${h.hostname}' (check the Listeners' hostBinding namespace and selector)`, 'metadata.namespace');
    }
  }

  // 6. mappings
  const plans: MappingPlan[] = [];
  // Indexed loops in the passes that run once per Mapping: in code not yet optimised, for-of
  // allocates an iterator result per step.
  const clusterNeeds = new ClusterNeedsTable();
  const mappings = validOfKind('Mapping');
  const builtinResolverUse = new Map<string, { first: Resource; count: number }>();
  // Plans whose backend object a route has taken (see MappingPlan.backend). A plan from the memo
  // counts as taken: its backend belongs to the routes of an earlier IR, which must not change.
  const takenBackends = new Set<MappingPlan>();
  const memo = options.memo;
  // Everything compileMapping reads besides the Mapping itself (credential rules aside, which are never memoised).
  memo?.begin(canonicalJSON([global, ctx.regexMaxSize, ctx.mappingDefaults ?? null, [...ctx.credentials.names].sort(), ctx.ambassadorNamespace, ctx.useAmbassadorNamespaceForServices, [...ctx.nonKubernetesResolvers].sort()]));
  for (let m = 0; m < mappings.length; m++) {
    const r = resources[mappings[m]!]!;
    let p = memo?.plan(r);
    if (p !== undefined) takenBackends.add(p);
    else {
      const problemsBefore = ctx.problems.length;
      const credentialsBefore = ctx.credentials.store.size;
      p = compileMapping(r, keys[mappings[m]!]!, global, ctx, clusterNeeds);
      if (!p) continue;
      if (memo && ctx.problems.length === problemsBefore && ctx.credentials.store.size === credentialsBefore) memo.keepPlan(r, p);
    }
    if (p.cluster?.resolver && !resolvers.has(p.cluster.resolver)) {
      const builtin = BUILTIN_RESOLVERS.get(p.cluster.resolver);
      if (builtin === undefined) {
        ctx.report(r, 'ResolverNotFound', `resolver '${p.cluster.resolver}' was not found (Emissary's built-in resolvers: ${[...BUILTIN_RESOLVERS.keys()].join(', ')})`, 'spec.resolver');
        continue;
      }
      if (builtin === 'consul' && p.cluster.parsed.host.includes('.')) {
        // Emissary refuses these too: a Consul service name has no namespace part.
        ctx.report(r, 'InvalidService', `the Consul resolver does not allow dots in service names ('${p.cluster.service}')`, 'spec.service');
        continue;
      }
      const seen = builtinResolverUse.get(p.cluster.resolver);
      if (seen) seen.count++;
      else builtinResolverUse.set(p.cluster.resolver, { first: r, count: 1 });
    }
    if (p.cluster?.tlsContext && !tlsContexts.has(p.cluster.tlsContext)) {
      ctx.report(r, 'TLSContextNotFound', `TLSContext '${p.cluster.tlsContext}' (named by tls) was not found or is invalid`, 'spec.tls');
      continue;
    }
    plans.push(p);
  }
  for (const [name, use] of builtinResolverUse) reportBuiltinResolver(name, use.first, use.count, ctx);
  const vhostPlans = planVirtualHosts(listeners, ctx);
  // Groups are found across every vhost first, so that a conflict or weight error invalidates its
  // Mappings everywhere before any route is built.
  const attachedPlans = attachMappings(vhostPlans, plans, hosts, ctx);
  // A vhost whose routes the memo kept from exactly these plans, built with no group of two or
  // more (nothing for validateGroups to say), needs no groups at all.
  const keptRoutes = new Map<VHostPlan, BuiltRoutes>();
  const attachments = new Map<VHostPlan, MatchGroups>();
  for (const vp of vhostPlans) {
    const attached = attachedPlans.get(vp) ?? [];
    const kept = memo?.routes(vp.label, attached);
    if (kept !== undefined) keptRoutes.set(vp, kept);
    if (kept === undefined || kept.grouped) attachments.set(vp, groupAttached(vp, attached));
  }
  validateGroups(attachments, ctx, options.sourceRanks ?? {});
  const groupsOf = (vp: VHostPlan): MatchGroups => {
    let g = attachments.get(vp);
    if (g === undefined) attachments.set(vp, (g = groupAttached(vp, attachedPlans.get(vp) ?? [])));
    return g;
  };

  const irListeners: IRListener[] = [];
  const tcpByPort = compileTCP(byKind('TCPMapping'), listeners, tlsContexts, global.connectTimeoutMs, ctx, clusterNeeds);
  // With a memo, a vhost whose attached plans are the very ones an earlier compile built its routes
  // from reuses those routes (once the cluster names are known to be unchanged, below).
  const reused: { vhost: Mutable<IRVirtualHost>; vp: VHostPlan; built: BuiltRoutes }[] = [];
  const fresh: { vp: VHostPlan; built: Omit<BuiltRoutes, 'names'> }[] = [];

  for (const l of listeners) {
    const vhosts: IRVirtualHost[] = [];
    if (l.l7) {
      for (const vp of vhostPlans.filter((v) => v.listener === l)) {
        const attached = attachedPlans.get(vp) ?? [];
        const memoised = memo !== undefined && attached.every((p) => ctx.isValidKey(p.key));
        const kept = memoised ? keptRoutes.get(vp) : undefined;
        let routes: readonly IRRoute[];
        if (kept !== undefined) {
          for (let i = 0; i < kept.registered.length; i++) clusterNeeds.register(kept.registered[i]!);
          routes = kept.routes;
        } else {
          const log: RegisterLog | undefined = memoised ? { needs: [], keys: [] } : undefined;
          const groups = groupsOf(vp);
          routes = buildRoutes(groups, ctx, clusterNeeds, takenBackends, log);
          if (log) fresh.push({ vp, built: { plans: attached, routes, registered: log.needs, keys: log.keys, grouped: hasGroup(groups) } });
        }
        const vhost: Mutable<IRVirtualHost> = {
          name: `${l.name}-${vp.hostname}`,
          hostname: vp.hostname,
          hosts: vp.hosts.filter((h) => h.source).map((h) => h.source!),
          ...(vp.primary.tlsContext ? { tlsContext: vp.primary.tlsContext } : {}),
          insecureAction: vp.primary.insecureAction,
          routes,
        };
        if (kept !== undefined) reused.push({ vhost, vp, built: kept });
        vhosts.push(vhost);
      }
    }
    const tcp = tcpByPort.get(l.port);
    irListeners.push(listenerIR(l, vhosts, tcp?.routes ?? []));
    tcpByPort.delete(l.port);
  }
  for (const [port, t] of [...tcpByPort].sort((a, b) => a[0] - b[0])) {
    irListeners.push({ name: `implied-${port}`, bindAddress: '0.0.0.0', port, protocolStack: t.tls ? ['TLS', 'TCP'] : ['TCP'], l7: false, tls: t.tls, securityModel: 'SECURE', l7Depth: 0, virtualHosts: [], tcpRoutes: t.routes });
  }
  irListeners.sort((a, b) => a.port - b.port || cmpStr(a.name, b.name));

  // 8. clusters
  const clusterNames = nameClusters(clusterNeeds.byKey);
  const clusters = withPolicyClusters(buildClusters(clusterNeeds.byKey, clusterNames, resolvers), policies.clusters);
  const kept = new Set<readonly IRRoute[]>();
  for (const { vhost, vp, built } of reused) {
    if (built.keys.every((k, i) => clusterNames.get(k) === built.names[i])) {
      kept.add(built.routes);
      memo!.keepRoutes(vp.label, built);
      continue;
    }
    // A cluster of these routes is named otherwise now (another variant of its service appeared or went).
    const log: RegisterLog = { needs: [], keys: [] };
    const groups = groupsOf(vp);
    vhost.routes = buildRoutes(groups, ctx, clusterNeeds, takenBackends, log);
    fresh.push({ vp, built: { plans: built.plans, routes: vhost.routes, registered: log.needs, keys: log.keys, grouped: hasGroup(groups) } });
  }
  const finalListeners = renameClusters(irListeners, clusterNames, kept);
  if (memo) {
    for (const { vp, built } of fresh) memo.keepRoutes(vp.label, { ...built, names: built.keys.map((k) => clusterNames.get(k) ?? k) });
    memo.retain(new Set(vhostPlans.map((v) => v.label)));
    memo.lastCompile.vhostsReused = kept.size;
    memo.lastCompile.vhostsBuilt = fresh.length;
  }
  const usedContexts = new Set<string>();
  for (const l of finalListeners) {
    for (const v of l.virtualHosts) if (v.tlsContext) usedContexts.add(v.tlsContext);
    for (const t of l.tcpRoutes) if (t.tlsContext) usedContexts.add(t.tlsContext);
  }
  for (const c of clusters) if (c.tls?.context) usedContexts.add(c.tls.context);
  const tls: IRTLSContext[] = [...tlsContexts.values()].filter((c) => usedContexts.has(c.name) || c.hosts.length > 0).sort((a, b) => cmpStr(a.name, b.name));

  const secrets: Record<string, SecretEntry> = Object.create(null);
  for (const c of tls) {
    for (const ref of [c.certificate?.secret, c.ca?.secret]) {
      const e = ref ? secretTable.resolved.get(ref) : undefined;
      if (e) secrets[ref!] = e;
    }
  }
  for (const [id, e] of ctx.credentials.store) secrets[id] = e;

  const ir: IR = {
    version: IR_VERSION,
    ambassadorId: options.ambassadorId ?? 'default',
    global: policies.policies ? { ...global, policies: policies.policies } : global,
    listeners: finalListeners,
    clusters,
    tlsContexts: tls,
    resolvers: [...resolvers.values()].sort((a, b) => cmpStr(a.name, b.name)),
    ...(fleet ? { fleet } : {}),
  };
  const problems = ctx.sortedProblems();
  const report: Report = {
    conditions: ctx.conditions(resources, keys, memo?.conditions),
    problems,
    errors: problems.filter((p) => p.severity === 'error').length,
    warnings: problems.filter((p) => p.severity === 'warning').length,
  };
  let hash: string | undefined;
  return {
    ir,
    report,
    secrets,
    get hash(): string {
      hash ??= hashIR(ir);
      return hash;
    },
  };
}

/** By resourceKey, then origin, then content: a total order, whatever order the sources gave. */
function sortResources(input: readonly Resource[]): { resources: Resource[]; keys: string[] } {
  const keyed = input.map((r) => ({ r, k: resourceKey(r) }));
  keyed.sort(
    (a, b) =>
      cmpStr(a.k, b.k) ||
      cmpStr(a.r.origin.source ?? '', b.r.origin.source ?? '') ||
      cmpStr(a.r.origin.path, b.r.origin.path) ||
      a.r.origin.line - b.r.origin.line ||
      cmpStr(canonicalJSON(a.r.spec), canonicalJSON(b.r.spec)),
  );
  return { resources: keyed.map((x) => x.r), keys: keyed.map((x) => x.k) };
}

function listenerIR(l: ListenerPlan, virtualHosts: IRVirtualHost[], tcpRoutes: IRTCPRoute[]): IRListener {
  return {
    name: l.name,
    bindAddress: l.bindAddress,
    port: l.port,
    protocolStack: l.protocolStack,
    l7: l.l7,
    tls: l.tls,
    securityModel: l.securityModel,
    l7Depth: l.l7Depth,
    virtualHosts,
    tcpRoutes,
    ...(l.source ? { source: l.source } : {}),
  };
}

// ───────────────────────── resolvers ─────────────────────────

function compileResolvers(rs: readonly Resource[], ctx: CompileContext): Map<string, IRResolver> {
  const out = new Map<string, IRResolver>();
  for (const r of rs) {
    const services = ((r.spec as Obj)['services'] ?? {}) as Record<string, unknown>;
    const list: { service: string; endpoints: IREndpoint[] }[] = [];
    let ok = true;
    for (const [svc, eps] of Object.entries(services).sort((a, b) => cmpStr(a[0], b[0]))) {
      const endpoints: IREndpoint[] = [];
      for (const [i, ep] of (Array.isArray(eps) ? eps : []).entries()) {
        const p = parseService(String(ep));
        if (typeof p === 'string' || !p.explicitPort) {
          ctx.report(r, 'InvalidService', `endpoint '${String(ep)}' of service '${svc}' must be host:port${typeof p === 'string' ? ` (${p})` : ''}`, `spec.services.${svc}.${i}`);
          ok = false;
          continue;
        }
        endpoints.push({ host: p.host, port: p.port });
      }
      list.push({ service: svc, endpoints });
    }
    if (!ok) continue;
    if (out.has(r.name)) {
      ctx.report(r, 'DuplicateResource', `another Resolver named '${r.name}' exists in another namespace`, 'metadata.name');
      continue;
    }
    out.set(r.name, { name: r.name, services: list, source: { kind: r.kind, name: r.name, namespace: r.namespace, origin: r.origin } });
  }
  return out;
}

/**
 * The resolvers Emissary defines when no resolver of that name exists, by what they ask: the
 * Kubernetes API (Service address or endpoints) or a Consul catalog (ConsulResolver, datacenter dc1).
 */
const BUILTIN_RESOLVERS: ReadonlyMap<string, 'kubernetes' | 'consul'> = new Map([
  ['kubernetes-service', 'kubernetes'],
  ['kubernetes-endpoint', 'kubernetes'],
  ['endpoint', 'kubernetes'],
  ['consul', 'consul'],
  ['consul-endpoint', 'consul'],
]);

/** Built-in resolvers outside Kubernetes and Consul, said once per name (on the first Mapping using it). */
function reportBuiltinResolver(name: string, first: Resource, count: number, ctx: CompileContext): void {
  const others = count > 1 ? ` (and ${count - 1} other Mapping${count > 2 ? 's' : ''})` : '';
  const how =
    BUILTIN_RESOLVERS.get(name) === 'consul'
      ? `Portico has no Consul catalog to ask, so the service has no endpoints and its requests get 503, as in Emissary when Consul knows no instance of it; list its endpoints in a portico.dev/v1alpha1 Resolver named '${name}'`
      : `outside Kubernetes the service's address is resolved through DNS, as with no resolver; balancing across individual endpoints (load_balancer, sticky sessions) needs Kubernetes' endpoint list, or a portico.dev/v1alpha1 Resolver named '${name}' listing the endpoints`;
  ctx.report(first, 'BuiltinResolver', `resolver '${name}'${others} is Emissary's built-in: ${how}`, 'spec.resolver');
}

/**
 * The resolver names whose services are not Kubernetes Service names, so never qualified with a
 * namespace: Portico's own Resolvers (endpoint lists by service name) and the built-in Consul ones.
 * Any other name is Kubernetes' (the built-ins, or a resolver not found, which Emissary qualifies too).
 */
function nonKubernetesResolvers(resolvers: Map<string, IRResolver>): Set<string> {
  const out = new Set(resolvers.keys());
  for (const [name, kind] of BUILTIN_RESOLVERS) if (kind === 'consul') out.add(name);
  return out;
}

function isBuiltinConsul(name: string | undefined, resolvers: Map<string, IRResolver>): boolean {
  return name !== undefined && !resolvers.has(name) && BUILTIN_RESOLVERS.get(name) === 'consul';
}

// ───────────────────────── virtual hosts and attachment ─────────────────────────

interface VHostPlan {
  readonly listener: ListenerPlan;
  readonly hostname: string;
  /** "listener/hostname", as conditions and problems name the vhost. */
  readonly label: string;
  /** Hosts merged into this vhost, first = the one whose TLS and insecure policy apply. */
  readonly hosts: HostPlan[];
  readonly primary: HostPlan;
}

/** The order Envoy searches virtual hosts in: exact, suffix wildcards, prefix wildcards (longest first), "*". */
function vhostOrder(a: string, b: string): number {
  const rank = (h: string): number => (h === '*' ? 3 : !isGlob(h) ? 0 : h.startsWith('*') ? 1 : 2);
  const ra = rank(a);
  return ra - rank(b) || (ra === 1 || ra === 2 ? b.length - a.length : 0) || cmpStr(a, b);
}

function planVirtualHosts(listeners: readonly ListenerPlan[], ctx: CompileContext): VHostPlan[] {
  const out: VHostPlan[] = [];
  for (const l of listeners) {
    if (!l.l7) continue;
    const byName = new Map<string, HostPlan[]>();
    for (const h of l.hosts) {
      const list = byName.get(h.hostname) ?? [];
      list.push(h);
      byName.set(h.hostname, list);
    }
    for (const name of [...byName.keys()].sort(vhostOrder)) {
      const hs = byName.get(name)!.slice().sort((a, b) => cmpStr(a.resource ? resourceKey(a.resource) : '', b.resource ? resourceKey(b.resource) : ''));
      const primary = hs[0]!;
      for (const other of hs.slice(1)) {
        if (other.resource && (other.tlsContext !== primary.tlsContext || other.insecureAction !== primary.insecureAction)) {
          ctx.report(other.resource, 'HostnameConflict', `Host shares hostname '${name}' with ${primary.resource ? resourceKey(primary.resource) : 'the default Host'} on listener ${l.name}; that Host's TLS and insecure policy apply`, 'spec.hostname');
        }
      }
      out.push({ listener: l, hostname: name, label: `${l.name}/${name}`, hosts: hs, primary });
    }
  }
  return out;
}

interface Attached {
  readonly plan: MappingPlan;
  /** The full match inside this vhost, authority constraints included. */
  readonly headers: readonly IRHeaderMatch[];
}

/** Attached Mappings of one vhost by match (the group key): a group with several members is a canary group or a conflict. */
type MatchGroups = Map<string, Attached[]>;

function groupKeyOf(m: MappingPlan, headers: readonly IRHeaderMatch[]): string {
  return matchKey(m.prefix, m.path, m.regex, m.caseSensitive, m.method, m.methodRegex, headers, m.query, m.precedence);
}

/** Each vhost's match groups, and its attached plans in attachment order (what its routes are built from). */
function attachMappings(vhosts: readonly VHostPlan[], plans: readonly MappingPlan[], hosts: readonly HostPlan[], ctx: CompileContext): Map<VHostPlan, MappingPlan[]> {
  const attachedTo = new Map<VHostPlan, MappingPlan[]>();
  const attachedAnywhere = new Set<MappingPlan>();
  // Only a selector reads labels: without one, no group's labels need merging.
  const merged = vhosts.some((v) => v.hosts.some((h) => h.mappingSelector)) ? groupLabels(plans) : undefined;
  const labelsOf = (m: MappingPlan): Readonly<Record<string, string>> => merged?.get(m) ?? m.resource.labels;
  // Index Mappings by hostname so that a vhost only looks at Mappings that could attach to it:
  // with 10,000 Mappings over 50 Hosts a full scan per vhost dominated compile time.
  const exact = new Map<string, number[]>();
  const rest: number[] = [];
  plans.forEach((m, i) => {
    if (m.hostname !== undefined && !isGlob(m.hostname)) {
      const l = exact.get(m.hostname);
      if (l) l.push(i);
      else exact.set(m.hostname, [i]);
    } else rest.push(i);
  });
  for (const v of vhosts) {
    const attached: MappingPlan[] = [];
    let candidates: readonly number[];
    if (v.hosts.some((h) => h.mappingSelector || isGlob(h.hostname))) candidates = plans.map((_, i) => i);
    else {
      const set = new Set<number>(rest);
      for (const h of v.hosts) for (const i of exact.get(h.hostname) ?? []) set.add(i);
      candidates = [...set].sort((a, b) => a - b);
    }
    for (let c = 0; c < candidates.length; c++) {
      const m = plans[candidates[c]!]!;
      const labels = labelsOf(m);
      let any = false;
      for (let i = 0; i < v.hosts.length && !any; i++) any = attaches(m, labels, v.hosts[i]!);
      if (!any) continue;
      attachedAnywhere.add(m);
      attached.push(m);
      ctx.attachKey(m.key, v.label);
    }
    attachedTo.set(v, attached);
  }
  let scene: AttachmentScene | undefined;
  for (let i = 0; i < plans.length; i++) {
    const m = plans[i]!;
    if (attachedAnywhere.has(m)) continue;
    if (scene === undefined) {
      const bound = new Set<HostPlan>();
      for (const v of vhosts) for (const h of v.hosts) bound.add(h);
      scene = { bound: [...bound], unbound: hosts.filter((h) => h.resource !== undefined && !bound.has(h)) };
    }
    const why = notAttachedReason(m, labelsOf(m), !merged?.has(m), scene);
    ctx.report(m.resource, 'MappingNotAttached', why.message, why.field);
  }
  return attachedTo;
}

/** The match groups of one vhost's attached Mappings. */
function groupAttached(v: VHostPlan, attached: readonly MappingPlan[]): MatchGroups {
  const groups: MatchGroups = new Map();
  for (let c = 0; c < attached.length; c++) {
    const m = attached[c]!;
    // A Mapping narrower than its vhost keeps its hostname as an :authority match.
    const narrower = m.hostname !== undefined && m.hostname !== '*' && m.hostname !== v.hostname;
    let headers: readonly IRHeaderMatch[] = m.headers;
    let groupKey: string;
    if (narrower || m.authority) {
      const more = m.headers.slice();
      if (narrower) more.push(isGlob(m.hostname!) ? { name: ':authority', regex: globToRegex(m.hostname!) } : { name: ':authority', exact: m.hostname! });
      if (m.authority) more.push(m.authority);
      more.sort(cmpHeader);
      headers = more;
      groupKey = groupKeyOf(m, headers);
      // Emissary's group id includes the Mapping's own hostname: `hostname: foo` and `hostname: "*"`
      // with one prefix are two routes (the longer authority first), never one canary group.
      if (m.hostname !== undefined) groupKey += m.hostname;
    } else groupKey = m.hostGroupKey;
    const g = groups.get(groupKey);
    if (g) g.push({ plan: m, headers });
    else groups.set(groupKey, [{ plan: m, headers }]);
  }
  return groups;
}

/** Canary-group rules over every vhost: weights must fit in 100; same-match Mappings without weights conflict; one shadow. */
function validateGroups(attachments: Map<VHostPlan, MatchGroups>, ctx: CompileContext, ranks: Readonly<Record<string, number>>): void {
  const reported = new Set<string>();
  for (const [v, groups] of attachments) {
    for (const g of groups.values()) {
      // A single Mapping is neither a canary group nor a conflict, and one shadow is allowed.
      if (g.length < 2) continue;
      const members = g.filter((a) => !a.plan.shadow);
      const shadows = g.filter((a) => a.plan.shadow);
      const names = members.map((a) => `${a.plan.resource.namespace}/${a.plan.resource.name}`).sort();
      const once = (a: Attached, code: string, fn: () => void): void => {
        const k = `${a.plan.key}|${code}`;
        if (!reported.has(k)) {
          reported.add(k);
          fn();
        }
      };
      if (shadows.length > 1) for (const a of shadows) once(a, 'shadow', () => ctx.report(a.plan.resource, 'MultipleShadows', `more than one shadow Mapping for the same match (${shadows.map((s) => s.plan.resource.name).sort().join(', ')}); at most one is allowed`, 'spec.shadow'));
      if (members.length < 2) continue;
      const total = members.reduce((s, a) => s + (a.plan.weight ?? 0), 0);
      if (total > 100) {
        for (const a of members) once(a, 'weight', () => ctx.report(a.plan.resource, 'WeightOverflow', `weights of the canary group ${names.join(', ')} add up to ${total}, more than 100`, 'spec.weight'));
        continue;
      }
      const unweighted = members.filter((a) => a.plan.weight === undefined).length;
      const spansSources = new Set(members.map((a) => a.plan.resource.origin.source ?? '')).size > 1;
      // Across sources, a weight is one source's say over another's traffic: the group stands only
      // when every member names its weight (each source agreed to its share). Otherwise a team
      // with `weight: 100` would take all of the requests another team routes.
      if (unweighted === members.length || (spansSources && unweighted > 0)) {
        // A better-ranked source keeps the match (the central repository over a team, git over a
        // folder); the others' Mappings are refused with the owner named, instead of both failing.
        const rankOf = (a: Attached): number => ranks[a.plan.resource.origin.source ?? ''] ?? 0;
        const best = Math.min(...members.map(rankOf));
        const top = members.filter((a) => rankOf(a) === best);
        const owner = top.map((a) => `${a.plan.resource.namespace}/${a.plan.resource.name}${a.plan.resource.origin.source ? ` of source '${a.plan.resource.origin.source}'` : ''}`).sort().join(' and ');
        for (const a of members) {
          if (rankOf(a) !== best) once(a, 'conflict', () => ctx.report(a.plan.resource, 'RouteConflict', `the same requests on ${v.label} are already routed by ${owner}, ${RANKS_ABOVE} source '${a.plan.resource.origin.source ?? ''}'; this Mapping is not used`, 'spec.prefix'));
        }
        const topNames = top.map((a) => `${a.plan.resource.namespace}/${a.plan.resource.name}`).sort();
        if (top.length < 2) continue;
        const sources = new Set(top.map((a) => a.plan.resource.origin.source ?? ''));
        for (const a of top) {
          // One owner may split its own traffic, as Emissary does; two sources may not split each
          // other's: neither named a weight, and each would silently lose half of its requests.
          if (sources.size > 1) {
            const why = unweighted === members.length ? 'none sets a weight; an even split would give each source\'s traffic to the other' : 'not every one sets a weight; the weights would give one source\'s traffic to another that named none';
            once(a, 'conflict', () =>
              ctx.report(a.plan.resource, 'RouteConflict', `Mappings ${topNames.join(' and ')} from different sources (${[...sources].sort().map((x) => x || 'local files').join(', ')}) match the same requests on ${v.label} and ${why} — give each of them a weight to make a canary, or change one match`, 'spec.prefix'),
            );
          } else if (unweighted === members.length) {
            once(a, 'split', () =>
              ctx.report(a.plan.resource, 'RouteSplit', `Mappings ${topNames.join(' and ')} match the same requests on ${v.label} and none sets a weight; traffic is split evenly among them, as in Emissary — give them weights to make the split deliberate, or change one match`, 'spec.prefix'),
            );
          }
        }
      }
    }
  }
}

interface RouteEntry {
  readonly route: IRRoute;
  /** Most specific first: precedence, then path, header and query match lengths (all descending), then the group key. */
  readonly precedence: number;
  readonly pathLen: number;
  readonly headerLen: number;
  readonly queryLen: number;
  readonly tie: string;
}

function compareRouteEntries(a: RouteEntry, b: RouteEntry): number {
  return b.precedence - a.precedence || b.pathLen - a.pathLen || b.headerLen - a.headerLen || b.queryLen - a.queryLen || cmpStr(a.tie, b.tie);
}

function hasGroup(groups: MatchGroups): boolean {
  for (const g of groups.values()) if (g.length > 1) return true;
  return false;
}

/** The cluster requirements a vhost's routes registered, in order, and their keys (for CompileMemo). */
interface RegisterLog {
  readonly needs: ClusterNeeds[];
  readonly keys: string[];
}

function register(clusterNeeds: ClusterNeedsTable, n: ClusterNeeds, log: RegisterLog | undefined): string {
  const key = clusterNeeds.register(n);
  if (log) {
    log.needs.push(n);
    log.keys.push(key);
  }
  return key;
}

function buildRoutes(groups: MatchGroups, ctx: CompileContext, clusterNeeds: ClusterNeedsTable, taken: Set<MappingPlan>, log?: RegisterLog): IRRoute[] {
  const entries: RouteEntry[] = [];
  groups.forEach((all, key) => {
    const e = routeEntry(key, all, ctx, clusterNeeds, taken, log);
    if (e) entries.push(e);
  });
  entries.sort(compareRouteEntries);
  // Unique ids within a vhost: the same first Mapping can head two groups only via distinct matches.
  const ids = new Map<string, number>();
  return entries.map(({ route }) => {
    const n = ids.get(route.id) ?? 0;
    ids.set(route.id, n + 1);
    return n === 0 ? route : { ...route, id: `${route.id}#${n}` };
  });
}

const NO_MEMBERS: readonly Attached[] = [];

/** The still-valid members of a group, by resourceKey. */
function validByKey(all: readonly Attached[], ctx: CompileContext): readonly Attached[] {
  if (all.length === 1) return ctx.isValidKey(all[0]!.plan.key) ? all : NO_MEMBERS;
  return all.filter((a) => ctx.isValidKey(a.plan.key)).sort((a, b) => cmpStr(a.plan.key, b.plan.key));
}

// Most groups are one valid Mapping without shadow, redirect or CORS: that case is built from
// object literals, which V8 creates far faster than objects grown member by member.
function routeEntry(key: string, all: readonly Attached[], ctx: CompileContext, clusterNeeds: ClusterNeedsTable, taken: Set<MappingPlan>, log: RegisterLog | undefined): RouteEntry | undefined {
  const sorted = validByKey(all, ctx);
  let members = sorted;
  let shadow: Attached | undefined;
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i]!.plan.shadow) {
      shadow = sorted[i];
      members = sorted.filter((a) => !a.plan.shadow);
      break;
    }
  }
  if (members.length === 0) return undefined;
  const primary = members[0]!.plan;
  // One member takes all the traffic, whatever weight it names (normaliseWeights gives [100]).
  const weights = members.length === 1 ? ONE_MEMBER_WEIGHTS : normaliseWeights(members.map((a) => a.plan.weight));
  // A redirect route serves no backend, but its members' clusters are still registered (and so emitted).
  const backends: IRBackend[] = [];
  for (let i = 0; i < members.length; i++) {
    const p = members[i]!.plan;
    if (!p.backend || !p.cluster) continue;
    // Kept in a set rather than marked on the plan: a member written after it is built would throw
    // away the optimised code that built it.
    const b: Mutable<IRBackend> = taken.has(p) ? { ...p.backend } : p.backend;
    taken.add(p);
    b.cluster = register(clusterNeeds, p.cluster, log);
    b.weight = weights[i]!;
    backends.push(b);
  }
  const headers = members[0]!.headers;
  const match = routeMatch(primary, headers);
  const id = `${primary.resource.namespace}/${primary.resource.name}`;
  // Kept arrays are built at their exact length; a pushed-to array keeps room for 16.
  const routeBackends = primary.redirect || backends.length === 0 ? [] : backends.length === 1 ? [backends[0]!] : backends.slice();
  const mappings = sorted.length === 1 ? [primary.ref] : sorted.map((a) => a.plan.ref);
  let route: IRRoute;
  if (!primary.redirect && !shadow?.plan.cluster && !primary.cors && !primary.policies) {
    route = { id, match, precedence: primary.precedence, backends: routeBackends, allowUpgrade: primary.allowUpgrade, grpc: primary.grpc, bypassAuth: primary.bypassAuth, mappings };
  } else {
    const r: Partial<Mutable<IRRoute>> = { id, match, precedence: primary.precedence, backends: routeBackends };
    if (primary.redirect) r.redirect = primary.redirect;
    if (shadow?.plan.cluster) r.shadow = { cluster: register(clusterNeeds, shadow.plan.cluster, log), weight: shadow.plan.weight ?? 100 };
    if (primary.cors) r.cors = primary.cors;
    r.allowUpgrade = primary.allowUpgrade;
    r.grpc = primary.grpc;
    r.bypassAuth = primary.bypassAuth;
    r.mappings = mappings;
    if (primary.policies) r.policies = primary.policies;
    route = r as IRRoute;
  }
  // Emissary's order counts the Mapping's own header matches plus its host as an :authority match,
  // whatever the vhost: on host foo, `hostname: foo` comes before `hostname: "*"` with the same prefix.
  let headerLen = primary.method ? ':method'.length + primary.method.length : 0;
  const own = primary.headers;
  for (let i = 0; i < own.length; i++) headerLen += own[i]!.name.length + (own[i]!.exact ?? own[i]!.regex ?? '').length;
  if (primary.authority) headerLen += ':authority'.length + (primary.authority.exact ?? primary.authority.regex ?? '').length;
  else if (primary.hostname !== undefined) headerLen += ':authority'.length + primary.hostname.length;
  let queryLen = 0;
  const query = primary.query;
  for (let i = 0; i < query.length; i++) queryLen += query[i]!.name.length + (query[i]!.exact ?? query[i]!.regex ?? '').length;
  return { route, precedence: primary.precedence, pathLen: (primary.prefix ?? primary.path ?? primary.regex ?? '').length, headerLen, queryLen, tie: key };
}

/** The IR match, members in the IR's order: prefix | path | regex, caseSensitive, method?, methodRegex?, headers, query. */
function routeMatch(p: MappingPlan, headers: readonly IRHeaderMatch[]): IRRouteMatch {
  if (p.prefix !== undefined && !p.method && !p.methodRegex) return { prefix: p.prefix, caseSensitive: p.caseSensitive, headers, query: p.query };
  const match: Partial<Mutable<IRRouteMatch>> = {};
  if (p.prefix !== undefined) match.prefix = p.prefix;
  if (p.path !== undefined) match.path = p.path;
  if (p.regex !== undefined) match.regex = p.regex;
  match.caseSensitive = p.caseSensitive;
  if (p.method) match.method = p.method;
  if (p.methodRegex) match.methodRegex = true;
  match.headers = headers;
  match.query = p.query;
  return match as IRRouteMatch;
}

const ONE_MEMBER_WEIGHTS: readonly number[] = [100];
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Explicit weights are kept; the rest of 100 is split evenly among unweighted members (earlier members get the odd units). */
export function normaliseWeights(ws: readonly (number | undefined)[]): number[] {
  const explicit = ws.reduce<number>((s, w) => s + (w ?? 0), 0);
  const unweighted = ws.filter((w) => w === undefined).length;
  if (unweighted === 0) {
    if (explicit === 0) return ws.map((_, i) => (i === 0 ? 100 : 0));
    if (explicit === 100) return ws.map((w) => w!);
    // Scale to 100, largest remainder first, deterministic.
    const raw = ws.map((w) => ((w ?? 0) * 100) / explicit);
    const out = raw.map(Math.floor);
    let rest = 100 - out.reduce((s, x) => s + x, 0);
    const order = raw.map((r, i) => [r - Math.floor(r), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    for (const [, i] of order) {
      if (rest <= 0) break;
      out[i]!++;
      rest--;
    }
    return out;
  }
  const remaining = Math.max(0, 100 - explicit);
  const share = Math.floor(remaining / unweighted);
  let odd = remaining - share * unweighted;
  return ws.map((w) => {
    if (w !== undefined) return w;
    const x = share + (odd > 0 ? 1 : 0);
    if (odd > 0) odd--;
    return x;
  });
}

// ───────────────────────── TCP ─────────────────────────

interface TCPPort {
  tls: boolean;
  routes: IRTCPRoute[];
}

function compileTCP(rs: readonly Resource[], listeners: readonly ListenerPlan[], contexts: Map<string, IRTLSContext>, connectTimeoutMs: number, ctx: CompileContext, clusterNeeds: ClusterNeedsTable): Map<number, TCPPort> {
  const byPort = new Map<number, Resource[]>();
  for (const r of rs) {
    const s = r.spec as Obj;
    const port = Number(s['port']);
    const l = listeners.find((x) => x.port === port);
    if (l?.l7) {
      ctx.report(r, 'ListenerConflict', `port ${port} is an HTTP listener (${l.name}); a TCPMapping needs a TCP or TLS listener or a free port`, 'spec.port');
      continue;
    }
    const service = String(s['service'] ?? '');
    const tlsOrig = s['tls'];
    const parsed = ctx.parsedService(service, tlsOrig === true || typeof tlsOrig === 'string');
    if (typeof parsed === 'string') {
      ctx.report(r, 'InvalidService', parsed, 'spec.service');
      continue;
    }
    if (typeof tlsOrig === 'string' && !contexts.has(tlsOrig)) {
      ctx.report(r, 'TLSContextNotFound', `TLSContext '${tlsOrig}' (named by tls) was not found`, 'spec.tls');
      continue;
    }
    const list = byPort.get(port) ?? [];
    list.push(r);
    byPort.set(port, list);
  }
  const out = new Map<number, TCPPort>();
  for (const [port, list] of byPort) {
    const bySni = new Map<string, Resource[]>();
    for (const r of list) {
      const h = (r.spec as Obj)['host'];
      const k = typeof h === 'string' ? h.toLowerCase() : '';
      const l = bySni.get(k) ?? [];
      l.push(r);
      bySni.set(k, l);
    }
    const routes: IRTCPRoute[] = [];
    let tls = listeners.find((x) => x.port === port)?.tls ?? false;
    for (const [sni, group] of [...bySni].sort((a, b) => (a[0] === '' ? 1 : b[0] === '' ? -1 : cmpStr(a[0], b[0])))) {
      const members = group.slice().sort((a, b) => cmpStr(resourceKey(a), resourceKey(b)));
      const ws = members.map((r) => (typeof (r.spec as Obj)['weight'] === 'number' ? ((r.spec as Obj)['weight'] as number) : undefined));
      if (members.length > 1 && ws.every((w) => w === undefined)) {
        const names = members.map((r) => `${r.namespace}/${r.name}`).join(' and ');
        const sources = new Set(members.map((r) => r.origin.source ?? ''));
        if (sources.size > 1) {
          for (const r of members) ctx.report(r, 'RouteConflict', `TCPMappings ${names} from different sources serve the same port ${port}${sni ? ` and SNI ${sni}` : ''} without weights; an even split would give each source's connections to the other`, 'spec.port');
          continue;
        }
        for (const r of members) ctx.report(r, 'RouteSplit', `TCPMappings ${names} serve the same port ${port}${sni ? ` and SNI ${sni}` : ''} without weights; connections are split evenly among them, as in Emissary`, 'spec.port');
      }
      if (ws.reduce<number>((s, w) => s + (w ?? 0), 0) > 100) {
        for (const r of members) ctx.report(r, 'WeightOverflow', `weights of the TCPMappings on port ${port} add up to more than 100`, 'spec.weight');
        continue;
      }
      const weights = normaliseWeights(ws);
      const backends = members.map((r, i) => {
        const s = r.spec as Obj;
        const tlsOrig = s['tls'];
        const resolver = typeof s['resolver'] === 'string' ? s['resolver'] : undefined;
        const service = ctx.upstreamService(String(s['service']), r.namespace, resolver);
        const parsed = ctx.parsedService(service, tlsOrig === true || typeof tlsOrig === 'string') as ParsedService;
        const needs: ClusterNeeds = {
          service,
          parsed,
          namespace: r.namespace,
          ...(resolver !== undefined ? { resolver } : {}),
          ...(typeof tlsOrig === 'string' ? { tlsContext: tlsOrig } : {}),
          http2: false,
          connectTimeoutMs,
          idleTimeoutMs: 0,
          loadBalancer: { policy: 'round_robin' },
          circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 0 },
        };
        return { cluster: clusterNeeds.register(needs), weight: weights[i]! };
      });
      const first = members[0]!;
      let tlsContext: string | undefined;
      if (sni) {
        tls = true;
        tlsContext = [...contexts.values()].find((c) => c.hosts.includes(sni) && c.certificate)?.name;
      }
      for (const r of members) ctx.attach(r, `port ${port}${sni ? ` sni ${sni}` : ''}`);
      routes.push({
        id: `${first.namespace}/${first.name}`,
        ...(sni ? { sni } : {}),
        ...(tlsContext ? { tlsContext } : {}),
        backends,
        idleTimeoutMs: typeof (first.spec as Obj)['idle_timeout_ms'] === 'number' ? ((first.spec as Obj)['idle_timeout_ms'] as number) : 3600000,
        mapping: { kind: first.kind, name: first.name, namespace: first.namespace, origin: first.origin } satisfies IRSourceRef,
      });
    }
    if (routes.length > 0) out.set(port, { tls, routes });
  }
  return out;
}

// ───────────────────────── clusters ─────────────────────────

/**
 * Emissary's name, cluster_<service>_<namespace>, when only one set of settings uses that service
 * in that namespace; otherwise every variant gets a short hash of its settings appended.
 */
function nameClusters(needs: Map<string, ClusterNeeds>): Map<string, string> {
  const byBase = new Map<string, string[]>();
  for (const [k, n] of needs) {
    const base = clusterBaseName(n.service, n.namespace);
    const l = byBase.get(base) ?? [];
    l.push(k);
    byBase.set(base, l);
  }
  const names = new Map<string, string>();
  for (const [base, keys] of byBase) {
    for (const k of keys) names.set(k, keys.length === 1 ? base : `${base}_${sha256(k).slice(0, 8)}`);
  }
  return names;
}

/**
 * Replaces cluster keys by final names in the routes built above. The objects were created by this
 * compile run and are not yet shared, so they are updated in place rather than copied; routes kept
 * from an earlier compile (`kept`) are left alone.
 */
function renameClusters(ls: IRListener[], names: Map<string, string>, kept: ReadonlySet<readonly IRRoute[]>): IRListener[] {
  const n = (k: string): string => names.get(k) ?? k;
  for (const l of ls) {
    for (const v of l.virtualHosts) {
      const routes = v.routes;
      // Routes kept from an earlier compile carry their final names already, and are shared with its IR.
      if (kept.has(routes)) continue;
      for (let i = 0; i < routes.length; i++) {
        const r = routes[i]!;
        for (let j = 0; j < r.backends.length; j++) (r.backends[j] as { cluster: string }).cluster = n(r.backends[j]!.cluster);
        if (r.shadow) (r.shadow as { cluster: string }).cluster = n(r.shadow.cluster);
      }
    }
    for (const t of l.tcpRoutes) for (const b of t.backends) (b as { cluster: string }).cluster = n(b.cluster);
  }
  return ls;
}

/** The clusters policies call (named apart from Mappings' by their own prefix), in the IR's name order. */
function withPolicyClusters(clusters: IRCluster[], extra: readonly IRCluster[]): IRCluster[] {
  if (extra.length === 0) return clusters;
  const names = new Set(clusters.map((c) => c.name));
  for (const c of extra) if (!names.has(c.name)) clusters.push(c);
  return clusters.sort((a, b) => cmpStr(a.name, b.name));
}

function buildClusters(needs: Map<string, ClusterNeeds>, names: Map<string, string>, resolvers: Map<string, IRResolver>): IRCluster[] {
  const out = new Map<string, IRCluster>();
  for (const [key, n] of needs) {
    const name = names.get(key)!;
    let endpoints: IREndpoint[] = [{ host: n.parsed.host, port: n.parsed.port }];
    let dns = !n.parsed.isIP;
    if (isBuiltinConsul(n.resolver, resolvers)) {
      endpoints = [];
      dns = false;
    }
    if (n.resolver) {
      const r = resolvers.get(n.resolver);
      const svc = r?.services.find((s) => s.service === n.parsed.host || s.service === n.service);
      if (svc) {
        endpoints = svc.endpoints.slice();
        dns = endpoints.some((e) => !/^[\d.]+$/.test(e.host) && !e.host.includes(':'));
      }
    }
    out.set(name, {
      name,
      service: n.service,
      namespace: n.namespace,
      scheme: n.parsed.scheme,
      endpoints,
      dns,
      http2: n.http2,
      ...(n.parsed.scheme === 'https' || n.tlsContext ? { tls: { ...(n.tlsContext ? { context: n.tlsContext } : {}), ...(n.sni ? { sni: n.sni } : {}) } } : {}),
      connectTimeoutMs: n.connectTimeoutMs,
      idleTimeoutMs: n.idleTimeoutMs,
      loadBalancer: n.loadBalancer,
      circuitBreakers: n.circuitBreakers,
      outlierDetection: { consecutiveFailures: 5, baseEjectionMs: 30000 },
      ...(n.healthChecks ? { healthChecks: n.healthChecks } : {}),
    });
  }
  return [...out.values()].sort((a, b) => cmpStr(a.name, b.name));
}
