// What one compile can hand the next: each Mapping's plan, by the Resource object it came from, and
// each virtual host's built routes, by the plans attached to it. compile()'s output is the same with
// and without a memo; with one, a change to one Mapping of 10,000 rebuilds one virtual host.

import type { Resource } from '../api/resource.js';
import type { IR, IRRoute } from '../ir/types.js';
import type { ClusterNeeds, MappingPlan } from './mappings.js';
import type { ResourceCondition } from './report.js';

/** The routes a vhost was built with last, and what building them registered. */
export interface BuiltRoutes {
  /** The plans attached to the vhost, in attachment order. */
  readonly plans: readonly MappingPlan[];
  /** Final routes (cluster names in place). Shared by every IR that reuses them: never changed. */
  readonly routes: readonly IRRoute[];
  /** Cluster requirements the build registered, in order, with the key each got. */
  readonly registered: readonly ClusterNeeds[];
  readonly keys: readonly string[];
  /** Whether two or more Mappings shared a match (a canary group, a split): the canary rules then run again. */
  readonly grouped: boolean;
  /** The final cluster name of each key above, as the build's compile named it. */
  names: readonly string[];
}

/** Entries kept per vhost label: the served build and a candidate compiled beside it. */
const KEPT_PER_VHOST = 2;

/**
 * Memo of per-Mapping and per-vhost work, owned by whoever compiles repeatedly (the controller).
 * Plans are reused only while everything else they were built from is unchanged (`environment`:
 * the global policy, Module defaults, regex limit, credential header names); a change there drops
 * everything. Resources are immutable (frozen by the loader), so the same object means the same
 * spec and origin. Plans that reported a problem or touched credentials are never kept: their
 * compile has effects beyond the plan.
 */
export class CompileMemo {
  private environment: string | undefined;
  private plans = new WeakMap<Resource, MappingPlan>();
  /** Report conditions of problem-free resources (see CompileContext.conditions). */
  conditions = new WeakMap<object, ResourceCondition>();
  private readonly vhosts = new Map<string, BuiltRoutes[]>();
  /** Counts of the last compile, for benchmarks and tests. */
  lastCompile = { plansReused: 0, plansBuilt: 0, vhostsReused: 0, vhostsBuilt: 0 };

  /** Starts a compile whose per-Mapping inputs are described by `environment`. */
  begin(environment: string): void {
    if (environment !== this.environment) {
      this.environment = environment;
      this.plans = new WeakMap();
      this.conditions = new WeakMap();
      this.vhosts.clear();
    }
    this.lastCompile = { plansReused: 0, plansBuilt: 0, vhostsReused: 0, vhostsBuilt: 0 };
  }

  plan(r: Resource): MappingPlan | undefined {
    const p = this.plans.get(r);
    if (p !== undefined) this.lastCompile.plansReused++;
    return p;
  }

  keepPlan(r: Resource, p: MappingPlan): void {
    this.plans.set(r, p);
    this.lastCompile.plansBuilt++;
  }

  /** The routes built for `label` from exactly these plans (the same objects, in order), if kept. */
  routes(label: string, plans: readonly MappingPlan[]): BuiltRoutes | undefined {
    const kept = this.vhosts.get(label);
    if (kept === undefined) return undefined;
    for (const b of kept) if (samePlans(b.plans, plans)) return b;
    return undefined;
  }

  keepRoutes(label: string, built: BuiltRoutes): void {
    const kept = this.vhosts.get(label) ?? [];
    const i = kept.indexOf(built);
    if (i >= 0) kept.splice(i, 1);
    kept.unshift(built);
    if (kept.length > KEPT_PER_VHOST) kept.length = KEPT_PER_VHOST;
    this.vhosts.set(label, kept);
  }

  /**
   * Keeps, for each vhost, only the build the IR now served uses. Without it, the build before a
   * large removal (its thousand routes) would stay beside the served one until that vhost changed
   * again, holding the memory an overloaded gateway needs back. A candidate compiled beside the
   * served set is then rebuilt on its next compile: only its vhosts that differ.
   */
  settle(served: IR): void {
    const inUse = new Set<readonly IRRoute[]>();
    for (const l of served.listeners) for (const v of l.virtualHosts) inUse.add(v.routes);
    for (const [label, kept] of this.vhosts) {
      const still = kept.filter((b) => inUse.has(b.routes));
      if (still.length === 0) this.vhosts.delete(label);
      else if (still.length !== kept.length) this.vhosts.set(label, still);
    }
  }

  /** Forgets vhosts the last compile did not have (a removed Host), so their routes can be freed. */
  retain(labels: ReadonlySet<string>): void {
    for (const label of [...this.vhosts.keys()]) if (!labels.has(label)) this.vhosts.delete(label);
  }
}

function samePlans(a: readonly MappingPlan[], b: readonly MappingPlan[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
