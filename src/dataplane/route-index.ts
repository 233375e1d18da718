// Route lookup built once per IR: listener → virtual host → candidate routes from a prefix trie,
// an exact-path map and the regex list, then the full match on those few candidates in IR order.

import type { IR, IRHeaderMatch, IRQueryMatch, IRRoute, IRVirtualHost } from '../ir/types.js';
import { compileRegex, RuntimeBuildError } from './build-errors.js';
import { FullMatch, FullMatchSet } from '../ir/re2-regex.js';

/** What matching needs to know about a request (also built by `explain` from a request line). */
export interface RouteRequest {
  /** Normalised host (lower case, no trailing dot, matching port stripped). */
  readonly host: string;
  /** Normalised path, without the query. */
  readonly path: string;
  /** Raw query string, '' or starting with '?'. */
  readonly query: string;
  readonly method: string;
  /** Header value by lower-case name (multiple values joined by ", "). */
  header(name: string): string | undefined;
}

export interface TraceEntry {
  readonly route: string;
  readonly reason: string;
}

export interface CompiledHeaderMatch {
  readonly name: string;
  readonly exact: string | undefined;
  readonly regex: FullMatch | undefined;
  readonly invert: boolean;
}

export interface CompiledRoute<A> {
  /** Position in the virtual host's route list (compiled order). */
  readonly order: number;
  readonly ir: IRRoute;
  readonly method: string | undefined;
  readonly methodRegex: FullMatch | undefined;
  readonly pathRegex: FullMatch | undefined;
  readonly headers: readonly CompiledHeaderMatch[];
  readonly query: readonly CompiledHeaderMatch[];
  /** Whatever the caller attached at build time (the proxy's per-route action). */
  readonly action: A;
}

/** Compressed (radix) trie node: few nodes even for 10,000 prefixes, one Map per branching point. */
interface TrieNode {
  /** The edge label from the parent ('' for the root). */
  label: string;
  /** Children keyed by the first character of their label. */
  next: Map<number, TrieNode> | null;
  /** Routes whose prefix ends exactly here. */
  routes: number[] | null;
}

export interface VhostIndex<A> {
  readonly ir: IRVirtualHost;
  readonly routes: readonly CompiledRoute<A>[];
  readonly sensitiveTrie: TrieNode;
  readonly insensitiveTrie: TrieNode | null;
  readonly exact: Map<string, number[]>;
  readonly exactInsensitive: Map<string, number[]> | null;
  /** Regex routes without a literal prefix to file them under: candidates for every path. */
  readonly always: readonly number[];
  /** With more than one of those: their regexes in one automaton, so a path is read once for all of them. */
  readonly alwaysSet: FullMatchSet | null;
}

export interface ListenerIndex<A> {
  readonly name: string;
  readonly port: number;
  readonly exact: Map<string, VhostIndex<A>>;
  readonly wildcards: readonly { readonly suffix: string; readonly prefix: string; readonly vhost: VhostIndex<A> }[];
  readonly star: VhostIndex<A> | undefined;
}

export interface RuntimeIndex<A> {
  readonly listeners: Map<string, ListenerIndex<A>>;
}

export interface MatchResult<A> {
  readonly vhost: VhostIndex<A> | undefined;
  readonly route: CompiledRoute<A> | undefined;
}

/** Regexes in the IR are RE2 and match the whole value, as Envoy's safe_regex does. */
export function compileFullMatch(source: string): FullMatch {
  return compileRegex(source, () => new FullMatch(source));
}

function compileRegexSet(sources: readonly string[]): FullMatchSet {
  return compileRegex(sources.join(' | '), () => new FullMatchSet(sources));
}

function compileHeaderMatch(m: IRHeaderMatch | IRQueryMatch): CompiledHeaderMatch {
  return {
    name: m.name.toLowerCase(),
    exact: m.exact,
    regex: m.regex !== undefined ? compileFullMatch(m.regex) : undefined,
    invert: 'invert' in m ? m.invert === true : false,
  };
}

function newNode(label: string): TrieNode {
  return { label, next: null, routes: null };
}

function trieInsert(root: TrieNode, key: string, order: number): void {
  let node = root;
  let i = 0;
  for (;;) {
    if (i === key.length) {
      (node.routes ??= []).push(order);
      return;
    }
    const c = key.charCodeAt(i);
    const child = node.next?.get(c);
    if (child === undefined) {
      const leaf = newNode(key.slice(i));
      leaf.routes = [order];
      (node.next ??= new Map()).set(c, leaf);
      return;
    }
    const l = child.label;
    let j = 0;
    while (j < l.length && i + j < key.length && l.charCodeAt(j) === key.charCodeAt(i + j)) j++;
    if (j < l.length) {
      // split the edge where the new key departs from it
      const mid = newNode(l.slice(0, j));
      child.label = l.slice(j);
      mid.next = new Map([[child.label.charCodeAt(0), child]]);
      (node.next as Map<number, TrieNode>).set(c, mid);
      node = mid;
    } else {
      node = child;
    }
    i += j;
  }
}

/** Routes of every prefix that `path` starts with, shortest prefix first. */
function trieCollect(root: TrieNode, path: string, out: number[]): void {
  let node = root;
  let i = 0;
  for (;;) {
    if (node.routes !== null) for (const r of node.routes) out.push(r);
    if (node.next === null || i >= path.length) return;
    const child = node.next.get(path.charCodeAt(i));
    if (child === undefined || !path.startsWith(child.label, i)) return;
    i += child.label.length;
    node = child;
  }
}

export function buildVhostIndex<A>(vh: IRVirtualHost, makeAction: (route: IRRoute, vhost: IRVirtualHost) => A): VhostIndex<A> {
  const sensitiveTrie = newNode('');
  let insensitiveTrie: TrieNode | null = null;
  const exact = new Map<string, number[]>();
  let exactInsensitive: Map<string, number[]> | null = null;
  const always: number[] = [];
  const routes: CompiledRoute<A>[] = [];
  function compileOne(r: IRRoute, order: number): void {
    const m = r.match;
    let pathRegex: FullMatch | undefined;
    if (m.prefix !== undefined) {
      if (m.caseSensitive) trieInsert(sensitiveTrie, m.prefix, order);
      else trieInsert((insensitiveTrie ??= newNode('')), m.prefix.toLowerCase(), order);
    } else if (m.path !== undefined) {
      const map = m.caseSensitive ? exact : (exactInsensitive ??= new Map());
      const key = m.caseSensitive ? m.path : m.path.toLowerCase();
      const list = map.get(key);
      if (list) list.push(order);
      else map.set(key, [order]);
    } else {
      // Envoy ignores case_sensitive for safe_regex paths; (?i) in the regex is the way to fold case.
      // A regex route is filed under the literal text its matches start with, so that only
      // requests whose path starts with it run the regex: other routes do not pay for it. A bare
      // "/" filters nothing (every path starts with it): such routes go to the one-pass set.
      pathRegex = compileFullMatch(m.regex ?? '.*');
      if (pathRegex.literalPrefix.length > 1) trieInsert(sensitiveTrie, pathRegex.literalPrefix, order);
      else always.push(order);
    }
    routes.push({
      order,
      ir: r,
      method: m.method !== undefined && !m.methodRegex ? m.method.toUpperCase() : undefined,
      methodRegex: m.method !== undefined && m.methodRegex ? compileFullMatch(m.method) : undefined,
      pathRegex,
      headers: m.headers.map(compileHeaderMatch),
      query: m.query.map(compileHeaderMatch),
      action: makeAction(r, vh),
    });
  }
  vh.routes.forEach((r, order) => {
    try {
      compileOne(r, order);
    } catch (err) {
      if (err instanceof RuntimeBuildError) throw new RuntimeBuildError(err.code, `route ${r.id} in ${vh.name}: ${err.message}`);
      throw new RuntimeBuildError('PORTICO_ERR_IR_ROUTE', `route ${r.id} in ${vh.name}: ${(err as Error).message}`);
    }
  });
  const alwaysSet = always.length > 1 ? compileRegexSet(always.map((o) => routes[o]!.pathRegex!.source)) : null;
  return { ir: vh, routes, sensitiveTrie, insensitiveTrie, exact, exactInsensitive, always, alwaysSet };
}

export function buildRuntimeIndex<A>(ir: IR, makeAction: (route: IRRoute, vhost: IRVirtualHost) => A): RuntimeIndex<A> {
  const listeners = new Map<string, ListenerIndex<A>>();
  for (const l of ir.listeners) {
    if (!l.l7) continue;
    const exact = new Map<string, VhostIndex<A>>();
    const wildcards: { suffix: string; prefix: string; vhost: VhostIndex<A> }[] = [];
    let star: VhostIndex<A> | undefined;
    for (const vh of l.virtualHosts) {
      const idx = buildVhostIndex(vh, makeAction);
      const h = vh.hostname.toLowerCase();
      if (h === '*') star ??= idx;
      else if (h.startsWith('*')) wildcards.push({ suffix: h.slice(1), prefix: '', vhost: idx });
      else if (h.endsWith('*')) wildcards.push({ suffix: '', prefix: h.slice(0, -1), vhost: idx });
      else if (!exact.has(h)) exact.set(h, idx);
    }
    // Envoy's search order, whatever the IR's: suffix wildcards ("*.example.com") before prefix
    // wildcards ("host.example.*"), the longest first within each.
    wildcards.sort((a, b) => (a.suffix === '' ? 1 : 0) - (b.suffix === '' ? 1 : 0) || b.suffix.length + b.prefix.length - (a.suffix.length + a.prefix.length));
    listeners.set(l.name, { name: l.name, port: l.port, exact, wildcards, star });
  }
  return { listeners };
}

/** Exact hostname, then suffix wildcards (longest first), then prefix wildcards (longest first), then "*". */
export function selectVhost<A>(li: ListenerIndex<A>, host: string): VhostIndex<A> | undefined {
  const e = li.exact.get(host);
  if (e !== undefined) return e;
  for (const w of li.wildcards) {
    if (w.suffix !== '' && host.length > w.suffix.length && host.endsWith(w.suffix)) return w.vhost;
    if (w.prefix !== '' && host.length > w.prefix.length && host.startsWith(w.prefix)) return w.vhost;
  }
  return li.star;
}

function valueMatches(m: CompiledHeaderMatch, v: string | undefined): boolean {
  let ok: boolean;
  if (v === undefined) ok = false;
  else if (m.exact !== undefined) ok = v === m.exact;
  else if (m.regex !== undefined) ok = m.regex.test(v);
  else ok = true;
  return m.invert ? !ok : ok;
}

function queryValue(query: string, name: string): string | undefined {
  if (query.length < 2) return undefined;
  // Only routes with query matches pay for parsing the query.
  const v = new URLSearchParams(query.slice(1)).get(name);
  return v === null ? undefined : v;
}

/** Why a candidate did not match, or null when it does. */
function mismatch<A>(r: CompiledRoute<A>, req: RouteRequest): string | null {
  if (r.pathRegex !== undefined && !r.pathRegex.test(req.path)) return 'path';
  if (r.method !== undefined && r.method !== req.method) return 'method';
  if (r.methodRegex !== undefined && !r.methodRegex.test(req.method)) return 'method';
  for (const h of r.headers) {
    const v = h.name === ':authority' ? req.host : req.header(h.name);
    if (!valueMatches(h, v)) return `header ${h.name}`;
  }
  for (const q of r.query) if (!valueMatches(q, queryValue(req.query, q.name))) return `query ${q.name}`;
  return null;
}

/** Candidate route positions for a path, ascending (= compiled order). */
export function candidates<A>(vh: VhostIndex<A>, path: string): number[] {
  const out: number[] = [];
  trieCollect(vh.sensitiveTrie, path, out);
  const e = vh.exact.get(path);
  if (e !== undefined) for (const r of e) out.push(r);
  if (vh.insensitiveTrie !== null || vh.exactInsensitive !== null) {
    const lower = path.toLowerCase();
    if (vh.insensitiveTrie !== null) trieCollect(vh.insensitiveTrie, lower, out);
    const ei = vh.exactInsensitive?.get(lower);
    if (ei !== undefined) for (const r of ei) out.push(r);
  }
  if (vh.alwaysSet !== null) for (const i of vh.alwaysSet.matching(path)) out.push(vh.always[i] as number);
  else for (const r of vh.always) out.push(r);
  if (out.length > 1) out.sort((a, b) => a - b);
  return out;
}

/** First route (in compiled order) of the vhost that matches; records rejected candidates in `trace`. */
export function matchInVhost<A>(vh: VhostIndex<A>, req: RouteRequest, trace?: TraceEntry[]): CompiledRoute<A> | undefined {
  const cands = candidates(vh, req.path);
  for (let i = 0; i < cands.length; i++) {
    const r = vh.routes[cands[i] as number] as CompiledRoute<A>;
    const why = mismatch(r, req);
    if (why === null) return r;
    if (trace) trace.push({ route: r.ir.id, reason: why });
  }
  return undefined;
}

/**
 * Pure lookup: listener → vhost → route. `explain` uses the same function as the proxy, so what it
 * prints is what the gateway does.
 */
export function matchRoute<A>(index: RuntimeIndex<A>, listener: string, req: RouteRequest, trace?: TraceEntry[]): MatchResult<A> {
  const li = index.listeners.get(listener);
  if (li === undefined) return { vhost: undefined, route: undefined };
  const vhost = selectVhost(li, req.host);
  if (vhost === undefined) return { vhost, route: undefined };
  return { vhost, route: matchInVhost(vhost, req, trace) };
}

/**
 * Host for vhost selection: lower case, trailing dot removed, the port dropped when it is the
 * listener's port or the scheme default (unless the Module's strip_matching_host_port is false: then
 * the port stays, as Emissary keeps it). Returns '' for a Host that is not a plausible authority.
 */
export function normalizeHost(raw: string, listenerPort: number, tls: boolean, stripMatchingPort = true): string {
  let host = raw.toLowerCase();
  let port = '';
  if (host.charCodeAt(0) === 0x5b) {
    const close = host.indexOf(']');
    if (close === -1) return '';
    port = host.charCodeAt(close + 1) === 0x3a ? host.slice(close + 2) : '';
    host = host.slice(0, close + 1);
  } else {
    const colon = host.lastIndexOf(':');
    if (colon !== -1) {
      port = host.slice(colon + 1);
      host = host.slice(0, colon);
    }
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === '' || !/^[a-z0-9._\-[\]:*]+$/.test(host)) return '';
  if (port === '') return host;
  if (!/^[0-9]{1,5}$/.test(port)) return '';
  const p = Number(port);
  if (stripMatchingPort && (p === listenerPort || p === (tls ? 443 : 80))) return host;
  return `${host}:${port}`;
}

/** For `explain`: the same lookup, with the candidates that were passed over and why. */
export function explainMatch<A>(index: RuntimeIndex<A>, listener: string, req: RouteRequest): MatchResult<A> & { readonly trace: TraceEntry[] } {
  const trace: TraceEntry[] = [];
  return { ...matchRoute(index, listener, req, trace), trace };
}
