import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildRuntimeIndex, candidates, matchRoute, normalizeHost, type RouteRequest, type TraceEntry } from '../../src/dataplane/route-index.js';
import { backend, buildIR, cluster, LISTENER, route, vhost } from '../support/ir-builder.js';
import type { IRRoute } from '../../src/ir/types.js';

function req(path: string, over: Partial<RouteRequest> & { headers?: Record<string, string> } = {}): RouteRequest {
  const h = over.headers ?? {};
  const q = path.indexOf('?');
  return {
    host: over.host ?? 'example.com',
    path: q === -1 ? path : path.slice(0, q),
    query: q === -1 ? '' : path.slice(q),
    method: over.method ?? 'GET',
    header: (n) => h[n],
  };
}

const c = [cluster('c', 1)];
const r = (id: string, m: Partial<IRRoute['match']>): IRRoute => route(id, m, [backend('c')]);

function indexOf(routes: IRRoute[]) {
  return buildRuntimeIndex(buildIR({ clusters: c, routes }), () => undefined);
}

function routeId(idx: ReturnType<typeof indexOf>, rq: RouteRequest, trace?: TraceEntry[]): string | undefined {
  return matchRoute(idx, LISTENER, rq, trace).route?.ir.id;
}

describe('route index', () => {
  it('keeps compiled order: the first matching route wins even when a longer prefix comes later', () => {
    const idx = indexOf([r('short', { prefix: '/a/' }), r('long', { prefix: '/a/b/' })]);
    assert.equal(routeId(idx, req('/a/b/c')), 'short');
  });

  it('prefix is a literal prefix (/man matches /mankind)', () => {
    const idx = indexOf([r('man', { prefix: '/man' })]);
    assert.equal(routeId(idx, req('/mankind')), 'man');
    assert.equal(routeId(idx, req('/ma')), undefined);
  });

  it('exact path, regex and case-insensitive prefix routes', () => {
    const idx = indexOf([
      r('exact', { path: '/health' }),
      r('regex', { regex: '/users/[0-9]+' }),
      r('ci', { prefix: '/CaSe/', caseSensitive: false }),
    ]);
    assert.equal(routeId(idx, req('/health')), 'exact');
    assert.equal(routeId(idx, req('/health/x')), undefined);
    assert.equal(routeId(idx, req('/users/42')), 'regex');
    assert.equal(routeId(idx, req('/users/42/x')), undefined, 'regex is a full match');
    assert.equal(routeId(idx, req('/case/x')), 'ci');
  });

  it('matches method, headers (exact, regex, presence, absence) and query parameters', () => {
    const idx = indexOf([
      r('post', { prefix: '/', method: 'POST' }),
      r('hdr', { prefix: '/', headers: [{ name: 'x-canary', exact: 'yes' }] }),
      r('re', { prefix: '/', headers: [{ name: 'x-ver', regex: 'v[0-9]' }] }),
      r('absent', { prefix: '/', headers: [{ name: 'x-block', invert: true }] }),
      r('query', { prefix: '/', query: [{ name: 'debug', exact: '1' }] }),
      r('fallback', { prefix: '/' }),
    ]);
    assert.equal(routeId(idx, req('/', { method: 'POST' })), 'post');
    assert.equal(routeId(idx, req('/', { headers: { 'x-canary': 'yes', 'x-block': '1' } })), 'hdr');
    assert.equal(routeId(idx, req('/', { headers: { 'x-ver': 'v2', 'x-block': '1' } })), 're');
    assert.equal(routeId(idx, req('/', { headers: { 'x-ver': 'v22', 'x-block': '1' } })), 'fallback');
    assert.equal(routeId(idx, req('/')), 'absent');
    assert.equal(routeId(idx, req('/?debug=1', { headers: { 'x-block': '1' } })), 'query');
  });

  it('method_regex and case-insensitive exact paths', () => {
    const idx = indexOf([r('writes', { prefix: '/', method: 'PUT|PATCH', methodRegex: true }), r('exact-ci', { path: '/Status', caseSensitive: false }), r('rest', { prefix: '/' })]);
    assert.equal(routeId(idx, req('/x', { method: 'PATCH' })), 'writes');
    assert.equal(routeId(idx, req('/x', { method: 'POST' })), 'rest');
    assert.equal(routeId(idx, req('/STATUS')), 'exact-ci');
  });

  it('matches :authority against the normalised host', () => {
    const idx = indexOf([r('host', { prefix: '/', headers: [{ name: ':authority', exact: 'api.example.com' }] }), r('other', { prefix: '/' })]);
    assert.equal(routeId(idx, req('/', { host: 'api.example.com' })), 'host');
    assert.equal(routeId(idx, req('/', { host: 'www.example.com' })), 'other');
  });

  it('explains why earlier candidates did not match', () => {
    const idx = indexOf([r('post', { prefix: '/x', method: 'POST' }), r('hdr', { prefix: '/x', headers: [{ name: 'x-a', exact: '1' }] }), r('any', { prefix: '/' })]);
    const trace: TraceEntry[] = [];
    assert.equal(routeId(idx, req('/x'), trace), 'any');
    assert.deepEqual(trace, [{ route: 'post', reason: 'method' }, { route: 'hdr', reason: 'header x-a' }]);
  });

  it('selects vhosts: exact host, then wildcard, then "*"', () => {
    const ir = buildIR({
      clusters: c,
      vhosts: [
        vhost('api.example.com', [r('exact', { prefix: '/' })]),
        vhost('*.example.com', [r('wild', { prefix: '/' })]),
        vhost('*', [r('star', { prefix: '/' })]),
      ],
    });
    const idx = buildRuntimeIndex(ir, () => undefined);
    assert.equal(routeId(idx, req('/', { host: 'api.example.com' })), 'exact');
    assert.equal(routeId(idx, req('/', { host: 'www.example.com' })), 'wild');
    assert.equal(routeId(idx, req('/', { host: 'example.com' })), 'star');
    assert.equal(routeId(idx, req('/', { host: normalizeHost('API.EXAMPLE.COM.:8080', 8080, false) })), 'exact');
  });

  it('searches wildcards as Envoy does: suffix wildcards before prefix ones, the longest first, whatever the IR order', () => {
    const ir = buildIR({
      clusters: c,
      vhosts: [
        vhost('*', [r('star', { prefix: '/' })]),
        vhost('host.*', [r('short-prefix', { prefix: '/' })]),
        vhost('host.example.*', [r('long-prefix', { prefix: '/' })]),
        vhost('*.com', [r('short-suffix', { prefix: '/' })]),
        vhost('*.example.com', [r('long-suffix', { prefix: '/' })]),
        vhost('api.example.com', [r('exact', { prefix: '/' })]),
      ],
    });
    const idx = buildRuntimeIndex(ir, () => undefined);
    const served = (host: string) => routeId(idx, req('/', { host }));
    assert.equal(served('api.example.com'), 'exact');
    // A suffix wildcard wins over a longer prefix wildcard that matches too.
    assert.equal(served('host.example.com'), 'long-suffix');
    assert.equal(served('host.other.com'), 'short-suffix');
    assert.equal(served('host.example.org'), 'long-prefix');
    assert.equal(served('host.other.org'), 'short-prefix');
    assert.equal(served('example.org'), 'star');
  });

  it('normalises Host: case, trailing dot, listener or default port, IPv6', () => {
    assert.equal(normalizeHost('A.Example.', 8080, false), 'a.example');
    assert.equal(normalizeHost('a.example:80', 8080, false), 'a.example');
    assert.equal(normalizeHost('a.example:443', 8443, true), 'a.example');
    assert.equal(normalizeHost('a.example:9999', 8080, false), 'a.example:9999');
    assert.equal(normalizeHost('a.example:8080', 8080, false, false), 'a.example:8080', 'strip_matching_host_port: false keeps it');
    assert.equal(normalizeHost('a.example:80', 8080, false, false), 'a.example:80');
    assert.equal(normalizeHost('[::1]:8080', 8080, false), '[::1]');
    assert.equal(normalizeHost('bad host', 8080, false), '');
    assert.equal(normalizeHost('a.example:99x', 8080, false), '');
  });

  it('looks at a bounded number of candidates however many routes there are', () => {
    const routes: IRRoute[] = [];
    for (let i = 0; i < 10_000; i++) routes.push(r(`svc-${i}`, { prefix: `/svc-${i}/` }));
    routes.push(r('catchall', { prefix: '/' }));
    const idx = indexOf(routes);
    const vh = idx.listeners.get(LISTENER)?.star;
    assert.ok(vh);
    assert.deepEqual(candidates(vh, '/svc-7777/items'), [7777, 10_000]);
    assert.equal(routeId(idx, req('/svc-9999/x')), 'svc-9999');
    assert.equal(routeId(idx, req('/elsewhere')), 'catchall');
  });
});

describe('explainMatch', () => {
  it('returns the route and the candidates passed over, like the proxy sees them', async () => {
    const { explainMatch } = await import('../../src/dataplane/route-index.js');
    const idx = indexOf([r('get-only', { prefix: '/a/', method: 'GET' }), r('any', { prefix: '/a/' })]);
    const e = explainMatch(idx, LISTENER, req('/a/x', { method: 'DELETE' }));
    assert.equal(e.route?.ir.id, 'any');
    assert.equal(e.vhost?.ir.hostname, '*');
    assert.deepEqual(e.trace, [{ route: 'get-only', reason: 'method' }]);
  });
});

describe('building from a faulty IR', () => {
  it('throws a coded error naming the route when a regex cannot be compiled', async () => {
    const { buildRuntime } = await import('../../src/dataplane/runtime.js');
    const ir = buildIR({ clusters: c, routes: [r('default/bad', { regex: '/a(' })] });
    assert.throws(() => buildRuntime(ir, {}, { generation: 1, hash: 'x' }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'PORTICO_ERR_IR_REGEX');
      assert.match(e.message, /route default\/bad/);
      return true;
    });
  });
});

describe('prefix index agrees with a linear scan', () => {
  it('property: candidates are exactly the prefixes the path starts with, in compiled order', async () => {
    const fc = (await import('fast-check')).default;
    const piece = fc.constantFrom('/', 'a', 'b', 'ab', '/a', '/ab', '-', 'A');
    const prefix = fc.array(piece, { minLength: 0, maxLength: 4 }).map((p) => '/' + p.join(''));
    fc.assert(fc.property(fc.array(fc.tuple(prefix, fc.boolean()), { minLength: 1, maxLength: 25 }), fc.array(piece, { maxLength: 6 }), (specs, pathParts) => {
      const routes = specs.map(([p, cs], i) => r(`r${i}`, { prefix: p, caseSensitive: cs }));
      const idx = indexOf(routes);
      const vh = idx.listeners.get(LISTENER)?.star;
      assert.ok(vh);
      const path = '/' + pathParts.join('');
      const expected = specs
        .map(([p, cs], i) => ((cs ? path.startsWith(p) : path.toLowerCase().startsWith(p.toLowerCase())) ? i : -1))
        .filter((i) => i >= 0);
      assert.deepEqual(candidates(vh, path), expected);
    }), { numRuns: 500, seed: 11 });
  });
});
