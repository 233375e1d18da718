// Listeners and Hosts: which ports exist, what they speak, and which Hosts (virtual hosts) each
// Listener binds — Emissary's hostBinding rules, with matchExpressions implemented, not ignored.

import type { Resource } from '../api/resource.js';
import type { InsecureAction, IRTLSContext, SecurityModel, IRSourceRef } from '../ir/types.js';
import type { CompileContext } from './context.js';
import { canonicalHostname } from './hostname-globs.js';
import { reportMissingSecret, resolveSecret, secretAbsent, secretId, storeIdOf, tlsContextFrom, type SecretTable } from './tls.js';
import { sha256 } from '../ir/canonical.js';

type Obj = Record<string, unknown>;

export interface ListenerPlan {
  readonly name: string;
  readonly bindAddress: string;
  readonly port: number;
  readonly protocolStack: string[];
  readonly l7: boolean;
  readonly tls: boolean;
  readonly securityModel: SecurityModel;
  readonly l7Depth: number;
  readonly source?: IRSourceRef;
  readonly resource?: Resource;
  /** Hosts bound to this listener (L7 only). */
  hosts: HostPlan[];
}

export interface HostPlan {
  readonly resource?: Resource;
  readonly hostname: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly namespace: string;
  readonly insecureAction: InsecureAction;
  readonly tlsContext?: string;
  /** mappingSelector.matchLabels / matchExpressions, when set. */
  readonly mappingSelector?: Selector;
  /** A mappingSelector was written without requirements: it selects nothing (said when a Mapping attaches nowhere). */
  readonly emptyMappingSelector?: true;
  readonly source?: IRSourceRef;
}

export interface Selector {
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly { key: string; operator: string; values: readonly string[] }[];
}

const STACKS: Record<string, string[]> = {
  HTTP: ['HTTP', 'TCP'],
  HTTPS: ['TLS', 'HTTP', 'TCP'],
  HTTPPROXY: ['PROXY', 'HTTP', 'TCP'],
  HTTPSPROXY: ['TLS', 'PROXY', 'HTTP', 'TCP'],
  TCP: ['TCP'],
  TLS: ['TLS', 'TCP'],
};

function refOf(r: Resource): IRSourceRef {
  return { kind: r.kind, name: r.name, namespace: r.namespace, origin: r.origin };
}

export function selectorFrom(v: unknown): Selector | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Obj;
  const ml = (o['matchLabels'] ?? {}) as Record<string, string>;
  const me = Array.isArray(o['matchExpressions']) ? (o['matchExpressions'] as Obj[]) : [];
  return {
    matchLabels: ml,
    matchExpressions: me.map((e) => ({ key: String(e['key']), operator: String(e['operator']), values: Array.isArray(e['values']) ? (e['values'] as unknown[]).map(String) : [] })),
  };
}

export function hasRequirements(sel: Selector): boolean {
  return Object.keys(sel.matchLabels).length > 0 || sel.matchExpressions.length > 0;
}

/** Kubernetes label-selector semantics: all matchLabels and all matchExpressions must hold. */
export function selectorMatches(sel: Selector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels)) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const val = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !e.values.includes(val!)) return false;
        break;
      case 'NotIn':
        if (has && e.values.includes(val!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

export function selectorProblem(sel: Selector): string | undefined {
  for (const e of sel.matchExpressions) {
    if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(e.operator)) return `matchExpressions operator '${e.operator}' is not one of In, NotIn, Exists, DoesNotExist`;
    if ((e.operator === 'In' || e.operator === 'NotIn') && e.values.length === 0) return `matchExpressions '${e.key} ${e.operator}' needs at least one value`;
  }
  return undefined;
}

export function compileListeners(listeners: readonly Resource[], ctx: CompileContext): ListenerPlan[] {
  const plans: ListenerPlan[] = [];
  const byPort = new Map<number, Resource[]>();
  for (const r of listeners) {
    if (!ctx.isValid(r)) continue;
    const spec = r.spec as Obj;
    // HTTP/3 (QUIC over UDP) is not served: the Listener is skipped, and does not take its port from
    // the TCP Listener Emissary's docs pair it with.
    if (Array.isArray(spec['protocolStack']) && (spec['protocolStack'] as string[]).some((p) => String(p).toUpperCase() === 'UDP')) {
      ctx.report(r, 'NotImplemented', 'a UDP Listener (HTTP/3) is valid Emissary configuration, but Portico does not serve HTTP/3 yet; the Listener is skipped', 'spec.protocolStack');
      continue;
    }
    const port = Number(spec['port']);
    const l = byPort.get(port) ?? [];
    l.push(r);
    byPort.set(port, l);
  }
  for (const [port, rs] of [...byPort].sort((a, b) => a[0] - b[0])) {
    if (rs.length > 1) {
      const names = rs.map((r) => `${r.namespace}/${r.name}`).sort();
      for (const r of rs) ctx.report(r, 'ListenerConflict', `Listeners ${names.join(' and ')} both claim port ${port}; none of them is served until one is removed`, 'spec.port');
      continue;
    }
    const r = rs[0]!;
    const spec = r.spec as Obj;
    let stack: string[];
    if (Array.isArray(spec['protocolStack'])) stack = (spec['protocolStack'] as string[]).map((s) => s.toUpperCase());
    else {
      const p = String(spec['protocol'] ?? 'HTTP').toUpperCase();
      const s = STACKS[p];
      if (!s) {
        ctx.report(r, 'NotImplemented', `Listener protocol '${p}' is not supported (use HTTP, HTTPS, HTTPPROXY, HTTPSPROXY, TCP or TLS)`, 'spec.protocol');
        ctx.report(r, 'SchemaViolation', `Listener protocol '${p}' cannot be served`, 'spec.protocol');
        continue;
      }
      stack = s;
    }
    plans.push({
      name: r.name,
      bindAddress: '0.0.0.0',
      port,
      protocolStack: stack,
      l7: stack.includes('HTTP'),
      tls: stack.includes('TLS'),
      securityModel: (String(spec['securityModel'] ?? 'XFP').toUpperCase() as SecurityModel),
      l7Depth: typeof spec['l7Depth'] === 'number' ? (spec['l7Depth'] as number) : 0,
      source: refOf(r),
      resource: r,
      hosts: [],
    });
  }
  return plans;
}

/**
 * With no Listener at all: the pair Emissary's Helm chart creates (createDefaultListeners), cleartext
 * on 8080 and HTTPS on 8443, both XFP and binding Hosts of every namespace. (Emissary itself creates
 * none and then listens nowhere.)
 */
export function defaultListeners(): ListenerPlan[] {
  return [
    { name: 'default-8080', bindAddress: '0.0.0.0', port: 8080, protocolStack: ['HTTP', 'TCP'], l7: true, tls: false, securityModel: 'XFP', l7Depth: 0, hosts: [] },
    { name: 'default-8443', bindAddress: '0.0.0.0', port: 8443, protocolStack: ['TLS', 'HTTP', 'TCP'], l7: true, tls: true, securityModel: 'XFP', l7Depth: 0, hosts: [] },
  ];
}

/** Name of the fallback TLS context the default Host terminates with (see IRTLSContext.fallback). */
export const FALLBACK_TLS_CONTEXT = 'fallback';

/** The fallback context: no certificate in the IR, the serving process supplies a generated one. */
export function fallbackTLSContext(): IRTLSContext {
  return { name: FALLBACK_TLS_CONTEXT, hosts: ['*'], fallback: true, certRequired: false, cipherSuites: [], alpnProtocols: [] };
}

export function compileHosts(hosts: readonly Resource[], table: SecretTable, contexts: Map<string, IRTLSContext>, ctx: CompileContext, served?: ReadonlyMap<string, string>): HostPlan[] {
  const out: HostPlan[] = [];
  for (const r of hosts) {
    if (!ctx.isValid(r)) continue;
    const spec = r.spec as Obj;
    const hostname = canonicalHostname(typeof spec['hostname'] === 'string' ? (spec['hostname'] as string) : '*');
    const rp = (spec['requestPolicy'] ?? {}) as Obj;
    const insecure = (rp['insecure'] ?? {}) as Obj;
    const action = (typeof insecure['action'] === 'string' ? insecure['action'] : 'Redirect') as InsecureAction;
    let tlsContext: string | undefined;
    const tlsSecret = spec['tlsSecret'] as Obj | undefined;
    const tlsCtxRef = spec['tlsContext'] as Obj | undefined;
    if (tlsCtxRef && typeof tlsCtxRef['name'] === 'string') {
      const name = tlsCtxRef['name'] as string;
      const linked = contexts.get(name);
      if (!linked) {
        ctx.report(r, 'TLSContextNotFound', `TLSContext '${name}' was not found (or is invalid)`, 'spec.tlsContext.name');
        continue;
      }
      tlsContext = name;
      if (tlsSecret && typeof tlsSecret['name'] === 'string') {
        const ns = typeof tlsSecret['namespace'] === 'string' ? (tlsSecret['namespace'] as string) : r.namespace;
        const id = secretId(tlsSecret['name'] as string, ns, false);
        if (linked.certificate && linked.certificate.secret !== storeIdOf(table, id)) {
          // Emissary refuses the Host ("Secret info mismatch"): which certificate to serve is ambiguous.
          ctx.report(r, 'TLSSecretMismatch', `tlsSecret '${id}' differs from the secret '${linked.certificate.secret}' of its TLSContext '${name}'; name the same Secret in both, or drop one`, 'spec.tlsSecret.name');
          continue;
        }
        if (!linked.certificate) {
          // A TLSContext without a secret takes the Host's, as in Emissary.
          const found = resolveSecret(table, id);
          if (found && 'invalid' in found) {
            ctx.report(r, 'SecretInvalid', `TLS secret '${id}': ${found.invalid}`, 'spec.tlsSecret.name');
            continue;
          }
          if (!found && secretAbsent(table, id)) {
            // Served with its TLSContext, which has no certificate: handshakes for the name fail until the Secret exists.
            if (!reportMissingSecret(ctx, r, `Host ${hostname}`, hostname, id, 'spec.tlsSecret.name', served)) continue;
          } else if (!found?.entry.certPem) {
            ctx.report(r, 'SecretNotFound', `TLS secret '${id}' was not found (or holds no tls.crt)`, 'spec.tlsSecret.name');
            continue;
          } else {
            tlsContext = `host-${r.namespace}-${r.name}`;
            contexts.set(tlsContext, { ...linked, name: tlsContext, hosts: [hostname], certificate: { secret: found.id, sha256: sha256(found.entry.certPem) }, source: refOf(r) });
          }
        }
      }
    } else if (tlsSecret && typeof tlsSecret['name'] === 'string') {
      const ns = typeof tlsSecret['namespace'] === 'string' ? (tlsSecret['namespace'] as string) : r.namespace;
      const id = secretId(tlsSecret['name'] as string, ns, false);
      const inline = (spec['tls'] ?? {}) as Obj;
      // A TLSContext listing this hostname and the same secret takes over its settings (Emissary's association).
      const storeId = storeIdOf(table, id);
      const assoc = [...contexts.values()].find((c) => c.hosts.includes(hostname) && c.certificate?.secret === storeId);
      const absent = secretAbsent(table, id) && inline['cert_chain_file'] === undefined && inline['private_key_file'] === undefined;
      if (absent && !reportMissingSecret(ctx, r, `Host ${hostname}`, hostname, id, 'spec.tlsSecret.name', served)) continue;
      if (assoc && spec['tls'] === undefined) tlsContext = assoc.name;
      else {
        // With the Secret absent, the context is the Host's settings without a certificate.
        const name = `host-${r.namespace}-${r.name}`;
        const c = tlsContextFrom(name, r, inline, absent ? undefined : id, [hostname], table, ctx, { secret: 'spec.tlsSecret.name', settings: 'spec.tls.' });
        if (!c) continue;
        contexts.set(name, c);
        tlsContext = name;
      }
    } else if (spec['tls'] !== undefined && ((spec['tls'] as Obj)['cert_chain_file'] !== undefined || (spec['tls'] as Obj)['private_key_file'] !== undefined)) {
      // Emissary's file-based certificate on the Host itself, read from the secrets directory only.
      const name = `host-${r.namespace}-${r.name}`;
      const c = tlsContextFrom(name, r, spec['tls'] as Obj, undefined, [hostname], table, ctx, { secret: 'spec.tlsSecret.name', settings: 'spec.tls.' });
      if (!c) continue;
      contexts.set(name, c);
      tlsContext = name;
    }
    // A mappingSelector with no requirements selects no Mapping, as in Emissary (irhost.py tests
    // `if mapsel`, and Kubernetes hands it `{}`): the Host attaches Mappings by hostname alone.
    const given = selectorFrom(spec['mappingSelector'] ?? spec['selector']);
    const sel = given && hasRequirements(given) ? given : undefined;
    if (sel) {
      const p = selectorProblem(sel);
      if (p) {
        ctx.report(r, 'UnsupportedSelector', p, 'spec.mappingSelector');
        continue;
      }
    }
    out.push({
      resource: r,
      hostname,
      labels: r.labels,
      namespace: r.namespace,
      insecureAction: action,
      ...(tlsContext ? { tlsContext } : {}),
      ...(sel ? { mappingSelector: sel } : given ? { emptyMappingSelector: true as const } : {}),
      source: refOf(r),
    });
  }
  return out;
}

/**
 * The Host used when no Host resource exists, as Emissary's default Host: every hostname, TLS with
 * the fallback self-signed certificate, and cleartext redirected to HTTPS (insecure action Redirect).
 */
export function defaultHost(): HostPlan {
  return { hostname: '*', labels: {}, namespace: 'default', insecureAction: 'Redirect', tlsContext: FALLBACK_TLS_CONTEXT };
}

/** Listener → Host binding: namespace (SELF default, ALL) and selector. */
export function bindHosts(listener: ListenerPlan, hosts: readonly HostPlan[], ctx: CompileContext): HostPlan[] {
  const r = listener.resource;
  if (!r) return hosts.slice();
  const spec = r.spec as Obj;
  const hb = (spec['hostBinding'] ?? {}) as Obj;
  const from = String(((hb['namespace'] ?? {}) as Obj)['from'] ?? 'SELF').toUpperCase();
  if (from === 'SELECTOR') {
    ctx.report(r, 'UnsupportedSelector', "hostBinding.namespace.from: SELECTOR needs Namespace labels, which Portico does not load; use SELF or ALL with hostBinding.selector", 'spec.hostBinding.namespace.from');
    return [];
  }
  const sel = selectorFrom(hb['selector']);
  if (sel) {
    const p = selectorProblem(sel);
    if (p) {
      ctx.report(r, 'UnsupportedSelector', p, 'spec.hostBinding.selector');
      return [];
    }
  }
  return hosts.filter((h) => {
    if (!h.resource) return true; // the default Host binds everywhere
    if (from !== 'ALL' && h.namespace !== r.namespace) return false;
    if (sel && !selectorMatches(sel, h.labels)) return false;
    return true;
  });
}
