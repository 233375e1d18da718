// Structural difference of two IRs, keyed by stable identities (listener name, listener/hostname,
// listener/hostname/route id, cluster name): what `plan` reports and the audit history can reuse.
//
// Provenance (origins: file, line, revision) is left out, so moving text between files or commits
// changes nothing; who owns a route (Mapping names) is kept. Output order is deterministic.

import { canonicalJSON } from './canonical.js';
import type { IR, IRCluster, IRListener, IRRoute, IRTCPRoute, IRTLSContext, IRVirtualHost } from './types.js';

/** One changed field: `before` absent = the field was added, `after` absent = it was removed. */
export interface FieldChange {
  readonly path: string;
  readonly before?: unknown;
  readonly after?: unknown;
}

export interface ChangedEntity {
  readonly key: string;
  readonly changes: readonly FieldChange[];
}

export interface EntityDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly ChangedEntity[];
}

export interface IRDiff {
  readonly global: readonly FieldChange[];
  readonly listeners: EntityDiff;
  /** Keyed "listener/hostname". */
  readonly virtualHosts: EntityDiff;
  /** Keyed "listener/hostname/route id". */
  readonly routes: EntityDiff;
  /** Keyed "listener/tcp route id". */
  readonly tcpRoutes: EntityDiff;
  readonly clusters: EntityDiff;
  readonly tlsContexts: EntityDiff;
  readonly resolvers: EntityDiff;
}

export function routeKey(listener: string, hostname: string, routeId: string): string {
  return `${listener}/${hostname}/${routeId}`;
}

/** Drops provenance at any depth: `origin` objects. */
function stripProvenance(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripProvenance);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (k !== 'origin' && x !== undefined) out[k] = stripProvenance(x);
    return out;
  }
  return v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Arrays of objects with a unique identity field are compared by that identity, not by index. */
function identityField(a: readonly unknown[], b: readonly unknown[]): string | undefined {
  // By name first: an AuthService names the cluster it calls, and several may share one.
  for (const field of ['name', 'cluster']) {
    const ok = (xs: readonly unknown[]): boolean => {
      const seen = new Set<string>();
      for (const x of xs) {
        if (!isPlainObject(x) || typeof x[field] !== 'string') return false;
        if (seen.has(x[field] as string)) return false;
        seen.add(x[field] as string);
      }
      return true;
    };
    if (a.length + b.length > 0 && ok(a) && ok(b)) return field;
  }
  return undefined;
}

/** Field-level difference of two JSON values; paths like `backends[orders-v1].weight`, `timeouts.requestMs`. */
export function diffValues(before: unknown, after: unknown, path = ''): FieldChange[] {
  const out: FieldChange[] = [];
  walk(before, after, path, out);
  return out;
}

function walk(a: unknown, b: unknown, path: string, out: FieldChange[]): void {
  if (a === undefined && b === undefined) return;
  if (a !== undefined && b !== undefined && canonicalJSON(a) === canonicalJSON(b)) return;
  const join = (k: string): string => (path === '' ? k : `${path}.${k}`);
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) walk(a[k], b[k], join(k), out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const id = identityField(a, b);
    if (id !== undefined) {
      const ma = new Map(a.map((x) => [(x as Record<string, string>)[id] as string, x]));
      const mb = new Map(b.map((x) => [(x as Record<string, string>)[id] as string, x]));
      const keys = [...new Set([...ma.keys(), ...mb.keys()])].sort();
      for (const k of keys) walk(ma.get(k), mb.get(k), `${path}[${k}]`, out);
      return;
    }
    if (a.length === b.length && a.every(isPlainObject) && b.every(isPlainObject)) {
      for (let i = 0; i < a.length; i++) walk(a[i], b[i], `${path}[${i}]`, out);
      return;
    }
  }
  out.push({ path: path === '' ? '.' : path, ...(a !== undefined ? { before: a } : {}), ...(b !== undefined ? { after: b } : {}) });
}

/** JSON.stringify replacers that leave provenance out (and, for containers, what is diffed on its own). */
const vhostOwn = (key: string, value: unknown): unknown => (key === 'origin' || key === 'routes' ? undefined : value);
const listenerOwn = (key: string, value: unknown): unknown => (key === 'origin' || key === 'virtualHosts' || key === 'tcpRoutes' ? undefined : value);

/**
 * Equal once provenance is left out, as diffValues(stripProvenance(a), stripProvenance(b)) finding
 * nothing; members that are undefined count as absent. Shared objects (a compile that reused them)
 * are equal at once.
 */
function sameWithoutProvenance(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameWithoutProvenance(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k in x) {
    if (k === 'origin' || x[k] === undefined) continue;
    if (!sameWithoutProvenance(x[k], y[k])) return false;
    n++;
  }
  for (const k in y) if (k !== 'origin' && y[k] !== undefined) n--;
  return n === 0;
}

function byKey(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Routes keyed "listener/hostname/id", compared vhost by vhost: a vhost whose routes array is the
 * same object on both sides (a compile that reused it) is skipped whole, so a one-Mapping change
 * among 10,000 looks at one vhost's routes.
 */
function diffRoutes(before: IR | undefined, after: IR | undefined): EntityDiff {
  const vhostsOf = (ir: IR | undefined): Map<string, { listener: string; vhost: IRVirtualHost }[]> => {
    const m = new Map<string, { listener: string; vhost: IRVirtualHost }[]>();
    for (const l of ir?.listeners ?? []) {
      for (const v of l.virtualHosts) {
        const k = `${l.name}/${v.hostname}`;
        const list = m.get(k);
        if (list) list.push({ listener: l.name, vhost: v });
        else m.set(k, [{ listener: l.name, vhost: v }]);
      }
    }
    return m;
  };
  const a = vhostsOf(before);
  const b = vhostsOf(after);
  const added: string[] = [];
  const removed: string[] = [];
  const changed: ChangedEntity[] = [];
  // The first route of a key wins, as when all routes were indexed at once.
  const routesOf = (list: readonly { listener: string; vhost: IRVirtualHost }[] | undefined): Map<string, IRRoute> => {
    const m = new Map<string, IRRoute>();
    for (const { listener, vhost } of list ?? []) for (const r of vhost.routes) if (!m.has(routeKey(listener, vhost.hostname, r.id))) m.set(routeKey(listener, vhost.hostname, r.id), r);
    return m;
  };
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(k);
    const y = b.get(k);
    if (x !== undefined && y !== undefined && x.length === 1 && y.length === 1 && x[0]!.vhost.routes === y[0]!.vhost.routes) continue;
    const ra = routesOf(x);
    const rb = routesOf(y);
    for (const [key, r] of rb) {
      const old = ra.get(key);
      if (old === undefined) added.push(key);
      else if (!sameWithoutProvenance(old, r)) {
        const changes = diffValues(stripProvenance(old), stripProvenance(r));
        if (changes.length > 0) changed.push({ key, changes });
      }
    }
    for (const key of ra.keys()) if (!rb.has(key)) removed.push(key);
  }
  return { added: added.sort(byKey), removed: removed.sort(byKey), changed: changed.sort((x, y) => byKey(x.key, y.key)) };
}

function diffKeyed<T>(before: ReadonlyMap<string, T>, after: ReadonlyMap<string, T>, view: (x: T) => unknown, own?: (key: string, value: unknown) => unknown): EntityDiff {
  const added: string[] = [];
  const removed: string[] = [];
  const changed: ChangedEntity[] = [];
  for (const [k, v] of after) {
    const old = before.get(k);
    if (old === undefined) {
      added.push(k);
      continue;
    }
    // Most entities are unchanged, provenance included (only the changed source's revision and lines
    // move): compile builds them with a fixed key order, so equal text is an equal entity, and the
    // native serialiser tells that many times faster than the walk below.
    if (old === v || JSON.stringify(old, own) === JSON.stringify(v, own)) continue;
    const changes = diffValues(view(old), view(v));
    if (changes.length > 0) changed.push({ key: k, changes });
  }
  for (const k of before.keys()) if (!after.has(k)) removed.push(k);
  return { added: added.sort(byKey), removed: removed.sort(byKey), changed: changed.sort((x, y) => byKey(x.key, y.key)) };
}

interface Indexed {
  listeners: Map<string, IRListener>;
  vhosts: Map<string, IRVirtualHost>;
  tcpRoutes: Map<string, IRTCPRoute>;
  clusters: Map<string, IRCluster>;
  tls: Map<string, IRTLSContext>;
  resolvers: Map<string, IR['resolvers'][number]>;
}

function index(ir: IR | undefined): Indexed {
  const x: Indexed = { listeners: new Map(), vhosts: new Map(), tcpRoutes: new Map(), clusters: new Map(), tls: new Map(), resolvers: new Map() };
  if (ir === undefined) return x;
  for (const l of ir.listeners) {
    x.listeners.set(l.name, l);
    for (const v of l.virtualHosts) x.vhosts.set(`${l.name}/${v.hostname}`, v);
    for (const t of l.tcpRoutes) x.tcpRoutes.set(`${l.name}/${t.id}`, t);
  }
  for (const c of ir.clusters) x.clusters.set(c.name, c);
  for (const t of ir.tlsContexts) x.tls.set(t.name, t);
  for (const r of ir.resolvers) x.resolvers.set(r.name, r);
  return x;
}

/** Structural diff; either side may be absent (everything added / removed). */
export function diffIR(before: IR | undefined, after: IR | undefined): IRDiff {
  const a = index(before);
  const b = index(after);
  const listenerView = (l: IRListener): unknown => {
    const { virtualHosts: _v, tcpRoutes: _t, ...rest } = l;
    return stripProvenance(rest);
  };
  const vhostView = (v: IRVirtualHost): unknown => {
    const { routes: _r, ...rest } = v;
    return stripProvenance(rest);
  };
  return {
    global: before && after ? diffValues(stripProvenance(before.global), stripProvenance(after.global)) : [],
    listeners: diffKeyed(a.listeners, b.listeners, listenerView, listenerOwn),
    virtualHosts: diffKeyed(a.vhosts, b.vhosts, vhostView, vhostOwn),
    routes: diffRoutes(before, after),
    tcpRoutes: diffKeyed(a.tcpRoutes, b.tcpRoutes, stripProvenance),
    clusters: diffKeyed(a.clusters, b.clusters, stripProvenance),
    tlsContexts: diffKeyed(a.tls, b.tls, stripProvenance),
    resolvers: diffKeyed(a.resolvers, b.resolvers, stripProvenance),
  };
}

export function isEmptyDiff(d: IRDiff): boolean {
  const empty = (e: EntityDiff): boolean => e.added.length === 0 && e.removed.length === 0 && e.changed.length === 0;
  return d.global.length === 0 && empty(d.listeners) && empty(d.virtualHosts) && empty(d.routes) && empty(d.tcpRoutes) && empty(d.clusters) && empty(d.tlsContexts) && empty(d.resolvers);
}
