// Shared state of one compile run: the problems found and the per-resource conditions.
// Processors report through it; nothing here does I/O.

import { compareProblems, problem, type Problem, type ProblemCode } from '../api/problems.js';
import { fieldOrigin, refOf, resourceKey, type Resource } from '../api/resource.js';
import type { ResourceCondition } from './report.js';
import { parseService, qualifiedService, type ParsedService } from './service.js';
import { canonicalHostname } from './hostname-globs.js';
import { SharedHeaderRules, type CredentialRules, type HeaderRuleFields } from './mapping-policy.js';
import { HeaderCredentials } from './header-credentials.js';
import { DEFAULT_REGEX_MAX_SIZE } from '../ir/re2-regex.js';
import type { LabelContext } from './policies/rate-limits.js';

export class CompileContext {
  readonly problems: Problem[] = [];
  /** Resources dropped because of an error (by resourceKey). */
  private readonly invalid = new Set<string>();
  /** Vhost labels per resourceKey, in attachment order without repeats. */
  private readonly attached = new Map<string, string[]>();
  /** parseService results of this run, without and with forced TLS: thousands of Mappings name the same few services. */
  private readonly services = [new Map<string, ParsedService | string>(), new Map<string, ParsedService | string>()] as const;
  /** Services as qualified for a namespace (`NAMESPACE\0SERVICE` → the qualified service) in this run. */
  private readonly qualified = new Map<string, string>();
  /** canonicalHostname results of this run: thousands of Mappings name the same few hostnames. */
  private readonly hostnames = new Map<string, string>();
  /** Header rules shared by the Mappings of this run. */
  readonly headerRules = new SharedHeaderRules();
  /** The header rules of the ambassador Module's `defaults`, for Mappings that do not set their own. */
  mappingDefaults: HeaderRuleFields | undefined;
  /** The Module's `defaults.tls_secret_namespacing`: TLSContext secret_namespacing when unset. */
  tlsSecretNamespacing: boolean | undefined;
  /** Credentials in header rules, moved to the SecretStore. */
  readonly credentials: HeaderCredentials;
  /** The rate limiter's label domain and default labels, when one is configured (compile/policies/rate-limits.ts). */
  rateLimitLabels: LabelContext | undefined;
  /** The largest RE2 program a configured regex may compile to (the Module's `regex_max_size`). */
  regexMaxSize = DEFAULT_REGEX_MAX_SIZE;
  /** The namespace Portico runs in (CompileOptions.ambassadorNamespace): where a bare service name resolves. */
  ambassadorNamespace = 'default';
  /** The Module's `use_ambassador_namespace_for_service_resolution`: no bare service name is qualified. */
  useAmbassadorNamespaceForServices = false;
  /** Resolver names that are not Kubernetes' (Consul's built-ins, Portico's own Resolvers): their services stay as written. */
  nonKubernetesResolvers: ReadonlySet<string> = new Set();

  constructor(initial: readonly Problem[] = [], credentials = new HeaderCredentials(undefined, undefined)) {
    this.problems.push(...initial);
    this.credentials = credentials;
  }

  /** CredentialRules for the header rules of `r` (fields under `field`); problems are reported on `r`. */
  credentialRules(r: Resource<unknown>, field: string): CredentialRules {
    return {
      credentials: this.credentials,
      team: this.credentials.isTeam(r.origin.source),
      field,
      report: (code, message, at) => this.report(r, code, message, at),
    };
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
    return this.invalid.size === 0 || !this.invalid.has(resourceKey(r));
  }

  /** isValid by resourceKey. */
  isValidKey(k: string): boolean {
    return this.invalid.size === 0 || !this.invalid.has(k);
  }

  attach(r: Resource<unknown>, vhost: string): void {
    this.attachKey(resourceKey(r), vhost);
  }

  /** attach by resourceKey. */
  attachKey(k: string, vhost: string): void {
    const list = this.attached.get(k);
    if (!list) this.attached.set(k, [vhost]);
    else if (!list.includes(vhost)) list.push(vhost);
  }

  /**
   * One condition per resource, in a stable order; keys[i], when given, is resourceKey(resources[i])
   * and the resources are in compile's order (sortResources), which is already the conditions' order.
   * `kept` holds conditions of problem-free resources from earlier compiles (CompileMemo): one is
   * reused when the resource is the same object attached to the same vhosts, since nothing else
   * goes into it.
   */
  conditions(resources: readonly Resource<unknown>[], keys?: readonly string[], kept?: WeakMap<object, ResourceCondition>): ResourceCondition[] {
    const byKey = new Map<string, Problem[]>();
    for (const p of this.problems) {
      if (!p.resource) continue;
      const k = resourceKey(p.resource);
      let l = byKey.get(k);
      if (!l) byKey.set(k, (l = []));
      l.push(p);
    }
    const keyed: { c: ResourceCondition; k: string }[] = [];
    for (let i = 0; i < resources.length; i++) {
      const r = resources[i]!;
      const k = keys ? keys[i]! : resourceKey(r);
      const attachedTo = this.attached.get(k);
      const ps = byKey.get(k);
      if (kept !== undefined && ps === undefined) {
        const c = kept.get(r);
        if (c !== undefined && sameVhosts(c.attachedTo, attachedTo)) {
          keyed.push({ c, k });
          continue;
        }
      }
      const errors = ps ? ps.filter((p) => p.severity === 'error').sort(compareProblems) : [];
      const warnings = ps && errors.length === 0 ? ps.filter((p) => p.severity === 'warning').sort(compareProblems) : [];
      let status: ResourceCondition['status'];
      let reason: string;
      let message: string;
      if (errors.length > 0) {
        status = 'Invalid';
        reason = errors[0]!.code;
        message = errors.map((p) => p.message).join('; ');
      } else if (warnings.length > 0) {
        status = 'Warnings';
        reason = warnings[0]!.code;
        message = warnings.map((p) => p.message).join('; ');
      } else {
        status = 'Valid';
        reason = attachedTo || !isRoutable(r) ? 'Accepted' : 'NotAttached';
        message = attachedTo ? `attached to ${attachedTo.length} virtual host(s)` : 'accepted';
      }
      // Members in the order the report has always printed them; no intermediate objects per resource.
      const source = r.origin.source;
      const c: { -readonly [K in keyof ResourceCondition]: ResourceCondition[K] } = source
        ? { kind: r.kind, name: r.name, namespace: r.namespace, origin: r.origin, source, status, reason, message }
        : { kind: r.kind, name: r.name, namespace: r.namespace, origin: r.origin, status, reason, message };
      if (attachedTo) c.attachedTo = attachedTo.length > 1 ? attachedTo.slice().sort() : attachedTo;
      if (kept !== undefined && ps === undefined) kept.set(r, c);
      keyed.push({ c, k });
    }
    // compile() passes its sorted resources (with their keys): their order is already this one.
    if (keys !== undefined) return keyed.map((x) => x.c);
    keyed.sort((a, b) => cmpStr(a.k, b.k) || cmpStr(a.c.origin.source ?? '', b.c.origin.source ?? '') || cmpStr(a.c.origin.path, b.c.origin.path) || a.c.origin.line - b.c.origin.line);
    return keyed.map((x) => x.c);
  }

  /** parseService, once per distinct service string and TLS flag in this run; the result is shared. */
  parsedService(raw: string, forceTLS: boolean): ParsedService | string {
    const seen = this.services[forceTLS ? 1 : 0];
    let p = seen.get(raw);
    if (p === undefined) {
      p = parseService(raw, forceTLS);
      seen.set(raw, p);
    }
    return p;
  }

  /**
   * The service a Mapping or TCPMapping of `namespace` goes to, as Emissary reads it: a bare name is
   * qualified with the Mapping's namespace (`quote` in `shop` → `quote.shop`) unless that namespace is
   * Portico's own, the Module asks for Portico's namespace, or the resolver is not Kubernetes'. A bare
   * name would otherwise resolve through DNS in Portico's own namespace, not the Mapping's.
   */
  upstreamService(raw: string, namespace: string, resolver: string | undefined): string {
    if (namespace === this.ambassadorNamespace || this.useAmbassadorNamespaceForServices) return raw;
    if (resolver !== undefined && this.nonKubernetesResolvers.has(resolver)) return raw;
    const key = `${namespace}\u0000${raw}`;
    let q = this.qualified.get(key);
    if (q === undefined) {
      q = qualifiedService(raw, namespace);
      this.qualified.set(key, q);
    }
    return q;
  }

  /** canonicalHostname, once per distinct spelling in this run. */
  hostname(raw: string): string {
    let h = this.hostnames.get(raw);
    if (h === undefined) {
      h = canonicalHostname(raw);
      this.hostnames.set(raw, h);
    }
    return h;
  }

  sortedProblems(): Problem[] {
    return this.problems.slice().sort(compareProblems);
  }
}

/** A kept condition's vhosts (sorted) are those of `now` (attachment order). */
function sameVhosts(kept: readonly string[] | undefined, now: readonly string[] | undefined): boolean {
  if (kept === undefined || now === undefined) return kept === now;
  if (kept.length !== now.length) return false;
  if (now.length === 1) return kept[0] === now[0];
  const sorted = now.slice().sort();
  for (let i = 0; i < sorted.length; i++) if (sorted[i] !== kept[i]) return false;
  return true;
}

function isRoutable(r: Resource<unknown>): boolean {
  return r.kind === 'Mapping';
}

export function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
