// Route tests as code: YAML files of request → expected route, upstream, status, path, redirect and
// headers, checked offline with the explain engine or against a live gateway with --target.

import http from 'node:http';
import https from 'node:https';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { systemReason } from '../api/system-error.js';
import { parseDocuments, type TextPosition } from '../load/yaml-documents.js';
import type { ExplainedBackend, Explainer } from './explain-engine.js';
import { qualifiedService } from '../compile/service.js';
import { requestSpec, RequestSpecError, type RequestSpec } from './request-spec.js';

export interface RouteTestExpect {
  /** Route id ("namespace/mapping"), or null: no route serves it. */
  readonly route?: string | null;
  /** Cluster name, service as written, or its host part. */
  readonly upstream?: string;
  readonly status?: number;
  /** Path (and query, when given with one) the upstream receives. */
  readonly path?: string;
  /** Location of a redirect. */
  readonly redirect?: string;
  /** Request headers the upstream receives; null = must be absent. */
  readonly headers?: Readonly<Record<string, string | null>>;
}

export interface RouteTest {
  readonly name: string;
  readonly file: string;
  readonly line: number;
  readonly request: RequestSpec;
  readonly listener?: string;
  readonly port?: number;
  readonly expect: RouteTestExpect;
}

export interface TestFileProblem {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
}

export interface Mismatch {
  readonly field: string;
  readonly expected: unknown;
  readonly actual: unknown;
}

export interface RouteTestResult {
  readonly test: RouteTest;
  readonly ok: boolean;
  readonly mismatches: readonly Mismatch[];
  /** What was observed, in one line (status, route, upstream, path). */
  readonly observed: string;
  /** Set when the test could not run (connection refused, timeout). */
  readonly error?: string;
  /**
   * What could not be checked offline and why: a status decided by a policy at serve time (an auth
   * service's answer, the client's address). `--target` checks it against a live gateway.
   */
  readonly unchecked?: string;
}

/**
 * Optional header of a test file. With it, a test file can sit next to the Mappings it tests: the
 * loader skips objects of groups it does not serve (with a NonEmissaryKind warning).
 */
export const ROUTE_TESTS_API_VERSION = 'review.portico.dev/v1alpha1';
export const ROUTE_TESTS_KIND = 'RouteTests';

const TEST_KEYS = new Set(['name', 'request', 'expect', 'listener', 'port']);
const REQUEST_KEYS = new Set(['method', 'url', 'headers']);
const EXPECT_KEYS = new Set(['route', 'upstream', 'status', 'path', 'redirect', 'headers']);

/** Parses one test file; problems carry file:line:col and never stop the other tests. */
export function parseRouteTests(file: string, text: string): { tests: RouteTest[]; problems: TestFileProblem[] } {
  const problems: TestFileProblem[] = [];
  const tests: RouteTest[] = [];
  const fail = (at: TextPosition | undefined, message: string): void => {
    problems.push({ file, line: at?.line ?? 1, col: at?.col ?? 1, message });
  };
  const { documents, issues } = parseDocuments(text);
  if (issues.length > 0) {
    for (const e of issues.slice(0, 5)) fail(e.at, e.message);
    return { tests, problems };
  }
  const doc = documents[0];
  if (documents.length > 1) {
    fail(documents[1]?.start, 'a test file holds one YAML document');
    return { tests, problems };
  }
  const root = doc?.value;
  // An empty file (or one of comments only) holds no tests, like `tests: []`.
  if (doc === undefined || root === null || root === undefined) return { tests, problems };
  // Where a value starts: a mapping or list at its first entry, a scalar at its key or item.
  const startOf = (v: unknown, keyAt: TextPosition | undefined): TextPosition | undefined => (v !== null && typeof v === 'object' ? doc?.sources.get(v)?.start : undefined) ?? keyAt;
  const list = isObj(root) ? root['tests'] : undefined;
  if (!doc || !isObj(root) || !Array.isArray(list)) {
    fail(doc?.start, "expected a mapping with a 'tests' list");
    return { tests, problems };
  }
  const rootAt = doc.sources.get(root)?.entries;
  for (const key of Object.keys(root)) {
    const value = root[key];
    if (key === 'apiVersion' && value !== ROUTE_TESTS_API_VERSION) fail(rootAt?.get(key), `apiVersion must be ${ROUTE_TESTS_API_VERSION}`);
    else if (key === 'kind' && value !== ROUTE_TESTS_KIND) fail(rootAt?.get(key), `kind must be ${ROUTE_TESTS_KIND}`);
    else if (!['tests', 'apiVersion', 'kind'].includes(key)) fail(rootAt?.get(key), `unknown key '${key}' (expected apiVersion, kind, tests)`);
  }
  const itemsAt = doc.sources.get(list)?.entries;
  list.forEach((item: unknown, i) => {
    if (!isObj(item)) {
      fail(startOf(item, itemsAt?.get(i)), `tests[${i}]: expected a mapping with name, request and expect`);
      return;
    }
    let bad = false;
    const refuse = (at: TextPosition | undefined, message: string): void => {
      fail(at, message);
      bad = true;
    };
    const itemSrc = doc.sources.get(item);
    for (const k of Object.keys(item)) {
      if (!TEST_KEYS.has(k)) refuse(itemSrc?.entries.get(k), `tests[${i}]: unknown key '${k}' (expected ${[...TEST_KEYS].join(', ')})`);
    }
    const js = item;
    const name = typeof js['name'] === 'string' && js['name'] !== '' ? js['name'] : `tests[${i}]`;
    const req = js['request'];
    const exp = js['expect'];
    const reqAt = startOf(req, itemSrc?.entries.get('request'));
    const expAt = startOf(exp, itemSrc?.entries.get('expect'));
    if (!isObj(req)) {
      fail(reqAt ?? itemSrc?.start, `${name}: 'request' must be a mapping with method, url and headers`);
      return;
    }
    if (!isObj(exp)) {
      fail(expAt ?? itemSrc?.start, `${name}: 'expect' must be a mapping (route, upstream, status, path, redirect, headers)`);
      return;
    }
    const reqKeys = doc.sources.get(req)?.entries;
    const expKeys = doc.sources.get(exp)?.entries;
    const keyAt = (k: string): TextPosition | undefined => expKeys?.get(k) ?? expAt;
    for (const k of Object.keys(req)) if (!REQUEST_KEYS.has(k)) refuse(reqKeys?.get(k) ?? reqAt, `${name}: request: unknown key '${k}' (expected method, url, headers)`);
    for (const k of Object.keys(exp)) if (!EXPECT_KEYS.has(k)) refuse(keyAt(k), `${name}: expect: unknown key '${k}' (expected ${[...EXPECT_KEYS].join(', ')})`);
    if (typeof req['url'] !== 'string') {
      fail(reqAt, `${name}: request.url must be a string like https://api.example.com/orders/42`);
      return;
    }
    const headers: [string, string][] = [];
    if (req['headers'] !== undefined) {
      if (!isObj(req['headers'])) {
        fail(reqAt, `${name}: request.headers must be a mapping of name: value`);
        return;
      }
      for (const [hn, hv] of Object.entries(req['headers'])) headers.push([hn, String(hv)]);
    }
    let request: RequestSpec;
    try {
      request = requestSpec(typeof req['method'] === 'string' ? req['method'] : 'GET', req['url'], headers);
    } catch (err) {
      if (!(err instanceof RequestSpecError)) throw err;
      fail(reqAt, `${name}: ${err.message}`);
      return;
    }
    const e = exp;
    const expect: { -readonly [K in keyof RouteTestExpect]: RouteTestExpect[K] } = {};
    if (e['route'] !== undefined) {
      if (e['route'] !== null && typeof e['route'] !== 'string') refuse(keyAt('route'), `${name}: expect.route must be a route id or null`);
      else expect.route = e['route'];
    }
    for (const f of ['upstream', 'path', 'redirect'] as const) {
      if (e[f] === undefined) continue;
      if (typeof e[f] !== 'string') refuse(keyAt(f), `${name}: expect.${f} must be a string`);
      else expect[f] = e[f];
    }
    if (e['status'] !== undefined) {
      if (typeof e['status'] !== 'number' || !Number.isInteger(e['status']) || e['status'] < 100 || e['status'] > 599) refuse(keyAt('status'), `${name}: expect.status must be an HTTP status code`);
      else expect.status = e['status'];
    }
    if (e['headers'] !== undefined) {
      if (!isObj(e['headers'])) refuse(keyAt('headers'), `${name}: expect.headers must be a mapping of name: value (null = absent)`);
      else expect.headers = Object.fromEntries(Object.entries(e['headers']).map(([k, v]) => [k.toLowerCase(), v === null ? null : String(v)]));
    }
    if (Object.keys(expect).length === 0 && !bad) {
      refuse(expAt, `${name}: expect names nothing to check`);
    }
    if (bad) return;
    const listener = typeof js['listener'] === 'string' ? js['listener'] : undefined;
    const port = typeof js['port'] === 'number' ? js['port'] : undefined;
    tests.push({ name, file, line: itemSrc?.start.line ?? 1, request, ...(listener ? { listener } : {}), ...(port ? { port } : {}), expect });
  });
  return { tests, problems };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const TEST_FILE = /\.test\.ya?ml$/;
const MAX_TEST_FILES = 10_000;

/** Files as given; folders contribute their *.test.yaml / *.test.yml files (recursively, sorted). */
export async function expandTestPaths(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 32 || out.length >= MAX_TEST_FILES) return;
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p, depth + 1);
      else if (e.isFile() && TEST_FILE.test(e.name) && out.length < MAX_TEST_FILES) out.push(p);
    }
  };
  for (const p of paths) {
    const st = await stat(p).catch(() => undefined);
    if (st?.isDirectory()) await walk(p, 0);
    else out.push(p);
  }
  // A file named twice (a folder and a file in it, or the same folder twice) runs once.
  const seen = new Set<string>();
  return out.filter((p) => {
    const key = resolve(p);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export async function readRouteTests(paths: readonly string[]): Promise<{ tests: RouteTest[]; problems: TestFileProblem[] }> {
  const tests: RouteTest[] = [];
  const problems: TestFileProblem[] = [];
  const files = await expandTestPaths(paths);
  for (const f of files) {
    let text: string;
    try {
      text = await readFile(f, 'utf8');
    } catch (err) {
      problems.push({ file: f, line: 0, col: 0, message: `cannot read: ${systemReason(err)}` });
      continue;
    }
    const r = parseRouteTests(f, text);
    tests.push(...r.tests);
    problems.push(...r.problems);
  }
  return { tests, problems };
}

function pathMatches(expected: string, actual: string | undefined): boolean {
  if (actual === undefined) return false;
  return expected.includes('?') ? actual === expected : actual.split('?')[0] === expected;
}

/**
 * The cluster, the service, its host:port or host, or its first label; the service as the Mapping
 * wrote it counts too when the compile qualified it with the Mapping's namespace (`quote:8080` in
 * shop for `quote.shop:8080`).
 */
function upstreamMatches(expected: string, b: ExplainedBackend): boolean {
  const service = b.service;
  if (expected === b.cluster || expected === service || expected === service.replace(/:\d+$/, '') || expected === service.split('.')[0]) return true;
  return qualifiedService(expected, b.mapping.namespace) === service;
}

/** Offline: the compiled configuration answers. A forwarded request counts as status 200. */
export function runOffline(explainer: Explainer, t: RouteTest): RouteTestResult {
  const r = explainer.explain(t.request, { ...(t.listener ? { listener: t.listener } : {}), ...(t.port ? { port: t.port } : {}) });
  const mm: Mismatch[] = [];
  const e = t.expect;
  const routeId = r.route && r.outcome !== 'insecure_rejected' ? r.route.id : null;
  if (e.route !== undefined && e.route !== routeId) mm.push({ field: 'route', expected: e.route, actual: routeId });
  const usable = r.backends.filter((b) => b.weight > 0 || r.backends.length === 1);
  let chosen = usable[0];
  if (e.upstream !== undefined) {
    const hit = usable.find((b) => upstreamMatches(e.upstream as string, b));
    if (hit) chosen = hit;
    else mm.push({ field: 'upstream', expected: e.upstream, actual: r.outcome === 'forward' ? usable.map((b) => (usable.length > 1 ? `${b.service} (${b.weight}%)` : b.service)).join(', ') : `none (${r.outcome.replace(/_/g, ' ')})` });
  }
  let unchecked: string | undefined;
  if (e.status !== undefined && r.decidedAtServeTime !== undefined && e.status !== r.status) {
    // The configuration cannot say offline whether the policy lets the request through.
    unchecked = `status ${e.status}: decided at serve time by ${r.decidedAtServeTime.policy} (${r.decidedAtServeTime.reason}); ${r.status} if it lets the request through — check with --target`;
  } else if (e.status !== undefined && e.status !== r.status) mm.push({ field: 'status', expected: e.status, actual: r.status });
  if (e.path !== undefined && !pathMatches(e.path, r.outcome === 'forward' ? chosen?.path : undefined)) mm.push({ field: 'path', expected: e.path, actual: r.outcome === 'forward' ? chosen?.path : `none (${r.outcome.replace(/_/g, ' ')})` });
  if (e.redirect !== undefined && e.redirect !== r.location) mm.push({ field: 'redirect', expected: e.redirect, actual: r.location ?? null });
  if (e.headers !== undefined) {
    const sent = chosen?.headers ?? [];
    const filled: string[] = [];
    for (const [name, want] of Object.entries(e.headers)) {
      const vals = sent.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
      const got = vals.length === 0 ? null : vals.join(', ');
      if (got === want) continue;
      // Envoy's dynamic values (%PROTOCOL%, %REQ(x)%, ...): only a request through the gateway fills them in
      if (chosen?.filledPerRequest.includes(name) === true) filled.push(`headers.${name}: filled in per request from ${JSON.stringify(got)}`);
      else mm.push({ field: `headers.${name}`, expected: want, actual: got });
    }
    if (filled.length > 0) unchecked = [unchecked, `${filled.join('; ')} — check with --target`].filter((x) => x !== undefined).join('; ');
  }
  const observed = `${r.status} ${r.outcome.replace(/_/g, ' ')}${routeId ? ` route ${routeId}` : ''}${chosen && r.outcome === 'forward' ? ` → ${chosen.service} ${chosen.path}` : ''}${r.location ? ` → ${r.location}` : ''}`;
  return { test: t, ok: mm.length === 0, mismatches: mm, observed, ...(unchecked !== undefined ? { unchecked } : {}) };
}

export interface LiveTarget {
  readonly url: URL;
  readonly timeoutMs: number;
}

interface LiveReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const MAX_BODY = 1 << 20;

function send(target: LiveTarget, t: RouteTest): Promise<LiveReply> {
  const lib = target.url.protocol === 'https:' ? https : http;
  const headers: Record<string, string | string[]> = {};
  for (const [n, v] of t.request.headers) {
    const k = n.toLowerCase();
    const prev = headers[k];
    headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  headers['host'] = t.request.authority;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      {
        hostname: target.url.hostname.replace(/^\[|\]$/g, ''),
        port: target.url.port || (target.url.protocol === 'https:' ? 443 : 80),
        method: t.request.method,
        path: t.request.target,
        headers,
        agent: false,
        ...(target.url.protocol === 'https:' ? { servername: t.request.authority.replace(/:\d+$/, '') } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= MAX_BODY) chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(target.timeoutMs, () => req.destroy(new Error(`no answer within ${target.timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** What an echo upstream reports about the request it received (JSON with path/url and headers), if it is one. */
function echoed(body: string): { path?: string; headers?: [string, string][] } {
  try {
    const j = JSON.parse(body) as Record<string, unknown>;
    const path = typeof j['url'] === 'string' ? j['url'] : typeof j['path'] === 'string' ? j['path'] : undefined;
    let headers: [string, string][] | undefined;
    if (Array.isArray(j['headers'])) headers = (j['headers'] as unknown[]).filter((x): x is [string, string] => Array.isArray(x) && x.length === 2).map(([n, v]) => [String(n), String(v)]);
    else if (isObj(j['headers'])) headers = Object.entries(j['headers']).map(([n, v]) => [n, String(v)]);
    return { ...(path !== undefined ? { path } : {}), ...(headers ? { headers } : {}) };
  } catch {
    return {};
  }
}

/**
 * Live: send the request to a running gateway. Status and redirect are checked on the reply; path
 * and headers on what an echo upstream reports it received. The gateway does not tell which route or
 * upstream served a request, so `expect.route` / `expect.upstream` are checked offline (see combine).
 */
export async function runLive(target: LiveTarget, t: RouteTest): Promise<RouteTestResult> {
  let reply: LiveReply;
  try {
    reply = await send(target, t);
  } catch (err) {
    return { test: t, ok: false, mismatches: [], observed: 'no answer', error: `${target.url.origin}: ${(err as Error).message}` };
  }
  const e = t.expect;
  const mm: Mismatch[] = [];
  if (e.status !== undefined && e.status !== reply.status) mm.push({ field: 'status', expected: e.status, actual: reply.status });
  const location = typeof reply.headers.location === 'string' ? reply.headers.location : null;
  if (e.redirect !== undefined && e.redirect !== location) mm.push({ field: 'redirect', expected: e.redirect, actual: location });
  const echo = echoed(reply.body);
  if (e.path !== undefined) {
    if (echo.path === undefined) mm.push({ field: 'path', expected: e.path, actual: `unknown (the response does not echo the path; status ${reply.status})` });
    else if (!pathMatches(e.path, echo.path)) mm.push({ field: 'path', expected: e.path, actual: echo.path });
  }
  if (e.headers !== undefined) {
    for (const [name, want] of Object.entries(e.headers)) {
      if (echo.headers === undefined) {
        mm.push({ field: `headers.${name}`, expected: want, actual: 'unknown (the response does not echo headers)' });
        continue;
      }
      // Placeholders stand for values only the live gateway knows.
      if (want !== null && /^<.*>$/.test(want)) continue;
      const vals = echo.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
      const got = vals.length === 0 ? null : vals.join(', ');
      if (got !== want) mm.push({ field: `headers.${name}`, expected: want, actual: got });
    }
  }
  const observed = `${reply.status}${location ? ` → ${location}` : ''}${echo.path !== undefined ? ` upstream got ${echo.path}` : ''}`;
  return { test: t, ok: mm.length === 0, mismatches: mm, observed };
}

/** A live result completed with the offline verdict on route and upstream. */
export function combine(live: RouteTestResult, offline: RouteTestResult): RouteTestResult {
  const extra = offline.mismatches.filter((m) => m.field === 'route' || m.field === 'upstream').map((m) => ({ ...m, field: `${m.field} (configuration)` }));
  if (extra.length === 0) return live;
  return { ...live, ok: false, mismatches: [...live.mismatches, ...extra] };
}
