// Regex Mappings served end to end: RE2 syntax and semantics as Emissary (Envoy safe_regex) has them,
// a path built to make a backtracking engine stall, and `explain` deciding as the gateway does.
//
// The Mapping specs marked "Emissary" are small snippets from Emissary-ingress (Apache License 2.0,
// copyright the Emissary-ingress authors; see test/testdata/emissary/LICENSE), from its docs or from
// its KAT tests in github.com/emissary-ingress/emissary at commit 3ebe0f4687ff6245c5a8e7c9db114a0bb1546d3b,
// adapted to Portico's test harness (service addresses, hostnames to keep the examples apart).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileYaml } from '../support/compile-yaml.js';
import { cleartextHostYaml } from '../support/policy-yaml.js';
import { startEcho, type EchoUpstream, type Echoed } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { json, request, type Reply } from '../support/http-client.js';
import { buildRuntimeIndex, matchRoute, type RouteRequest } from '../../src/dataplane/route-index.js';
import { backend, buildIR, cluster, LISTENER, route } from '../support/ir-builder.js';
import type { IRRoute } from '../../src/ir/types.js';
import { Explainer } from '../../src/review/explain-engine.js';
import { parseRequestLine } from '../../src/review/request-spec.js';

function mapping(name: string, hostname: string, spec: string): string {
  return `---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: ${name}, namespace: default }
spec:
  hostname: ${JSON.stringify(hostname)}
${spec.trim().split('\n').map((l) => '  ' + l).join('\n')}
`;
}

describe('regex Mappings from Emissary served by a gateway', () => {
  let regexSvc: EchoUpstream;
  let plainSvc: EchoUpstream;
  let gw: TestGateway;
  let explainer: Explainer;
  before(async () => {
    regexSvc = await startEcho('regex');
    plainSvc = await startEcho('plain');
    const rx = `127.0.0.1:${regexSvc.port}`;
    const plain = `127.0.0.1:${plainSvc.port}`;
    const yaml = [
      // the Mapping: one request with a 28-character path stalled a worker for 9.6 s
      mapping('hostile', 'hostile.example.com', `prefix: "/(a|a)*b"\nprefix_regex: true\nservice: ${rx}`),
      mapping('hostile-neighbour', 'hostile.example.com', `prefix: /ok/\nservice: ${plain}`),
      // Emissary docs, "Prefix Regex" (topics/using/prefix_regex): the entire path must match
      mapping('qotm', 'docs.example.com', `prefix: "/(v1|v2)/qotm/.*"\nprefix_regex: true\nservice: ${rx}`),
      // RE2 syntax JavaScript's RegExp refuses: named groups as (?P<name>...), inline (?i)
      mapping('named-group', 'docs.example.com', `prefix: "/users/(?P<id>[0-9]+)"\nprefix_regex: true\nservice: ${rx}`),
      mapping('inline-flag', 'docs.example.com', `prefix: /mobile/\nregex_headers:\n  user-agent: "(?i).*(iphone|android).*"\nservice: ${rx}`),
      mapping('inline-flag-fallback', 'docs.example.com', `prefix: /mobile/\nservice: ${plain}`),
      // Emissary KAT python/tests/src/tests/kat/t_basics.py: regex prefix, host_regex and regex_headers together
      mapping('basics', 'basics.example.com', `prefix: /basics/\nprefix_regex: true\nhost: "[a-zA-Z].*"\nhost_regex: true\nregex_headers:\n  X-Foo: "^[a-z].*"\nservice: ${rx}`),
      // Emissary KAT t_hosts.py: "[[:word:]] is in RE2 but not ECMAScript RegExp"
      mapping('posix-class', 'word.example.com', `prefix: "/[[:word:]]*"\nprefix_regex: true\nservice: ${rx}`),
      // Emissary KAT t_queryparameter_routing.py
      mapping('query', 'query.example.com', `prefix: /target/\nregex_query_parameters:\n  test_param: "^[a-z].*"\nservice: ${rx}`),
      // Emissary KAT t_regexrewrite_forwarding.py (two tests, one hostname each)
      mapping('rewrite-literal', 'rw1.example.com', `prefix: /foo/\nservice: ${rx}\nregex_rewrite:\n  pattern: "/foo/baz"\n  substitution: "/baz/foo"`),
      mapping('rewrite-groups', 'rw2.example.com', `prefix: /foo/\nservice: ${rx}\nregex_rewrite:\n  pattern: "/foo/([0-9]*)/list"\n  substitution: "/bar/\\\\1"`),
      // Emissary KAT t_mappingtests_plain.py: a regex prefix redirected with regex_redirect
      mapping('redirect', 'redirect.example.com', `prefix: "/m-5/assets/([a-f0-9]{12})/images"\nprefix_regex: true\nservice: foobar.com\nhost_redirect: true\nregex_redirect:\n  pattern: "/m-5/assets/([a-f0-9]{12})/images"\n  substitution: "/images/\\\\1"\nredirect_response_code: 308`),
      // method_regex: the method is an RE2 regex over the whole method
      mapping('methods', 'method.example.com', `prefix: /m/\nmethod: "GET|HEAD"\nmethod_regex: true\nservice: ${rx}`),
      // With no Host, cleartext is redirected to HTTPS (Emissary's default Host): these requests are cleartext.
      '---\n' + cleartextHostYaml(),
    ].join('');
    const compiled = compileYaml(yaml);
    gw = await startGateway(compiled.ir);
    const { loadFiles } = await import('../../src/load/index.js');
    explainer = new Explainer(compiled.ir, loadFiles([{ path: 'test.yaml', content: yaml }]).resources);
  });
  after(async () => {
    await gw.close();
    await Promise.all([regexSvc.close(), plainSvc.close()]);
  });

  const send = (host: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> =>
    request(gw.port, { path, method, headers: { host, ...headers } });
  const served = async (host: string, path: string, headers: Record<string, string> = {}): Promise<Echoed> => {
    const r = await send(host, path, headers);
    assert.equal(r.status, 200, `${host}${path}: ${r.body}`);
    return json<Echoed>(r);
  };

  it('the issue\'s hostile path is answered at once (404), and so is the next request', async () => {
    for (const n of [28, 40, 1000]) {
      const r = await send('hostile.example.com', '/' + 'a'.repeat(n));
      assert.equal(r.status, 404, `${n} characters`);
    }
    assert.equal((await served('hostile.example.com', '/ok/x')).name, 'plain');
    assert.equal((await served('hostile.example.com', '/' + 'a'.repeat(999) + 'b')).name, 'regex');
  });

  it('Emissary docs: prefix_regex matches the whole path', async () => {
    assert.equal((await served('docs.example.com', '/v1/qotm/quote')).name, 'regex');
    assert.equal((await served('docs.example.com', '/v2/qotm/')).name, 'regex');
    assert.equal((await send('docs.example.com', '/v3/qotm/quote')).status, 404);
    assert.equal((await send('docs.example.com', '/x/v1/qotm/quote')).status, 404, 'no match in the middle of the path');
  });

  it('RE2 named groups (?P<id>...) and inline (?i) work as in Emissary', async () => {
    assert.equal((await served('docs.example.com', '/users/42')).name, 'regex');
    assert.equal((await send('docs.example.com', '/users/42/orders')).status, 404);
    assert.equal((await served('docs.example.com', '/mobile/x', { 'user-agent': 'Mozilla/5.0 (iPhone; CPU OS 17)' })).name, 'regex');
    assert.equal((await served('docs.example.com', '/mobile/x', { 'user-agent': 'curl/8' })).name, 'plain');
  });

  it('Emissary KAT t_basics: regex prefix, host_regex and regex_headers; the path is normalised first', async () => {
    assert.equal((await served('basics.example.com', '/basics/', { 'x-foo': 'hello' })).name, 'regex');
    assert.equal((await served('basics.example.com', '/need-normalization/../basics/', { 'x-foo': 'hello' })).name, 'regex');
    assert.equal((await send('basics.example.com', '/basics/')).status, 404);
    assert.equal((await send('basics.example.com', '/basics/', { 'x-foo': 'Hello' })).status, 404);
  });

  it('Emissary KAT t_hosts: the POSIX class [[:word:]]', async () => {
    assert.equal((await served('word.example.com', '/abc_09')).name, 'regex');
    assert.equal((await send('word.example.com', '/abc-09')).status, 404);
  });

  it('Emissary KAT t_queryparameter_routing: regex_query_parameters', async () => {
    assert.equal((await served('query.example.com', '/target/?test_param=hello')).name, 'regex');
    assert.equal((await send('query.example.com', '/target/')).status, 404);
    assert.equal((await send('query.example.com', '/target/?test_param=HeLlO')).status, 404);
  });

  it('Emissary KAT t_regexrewrite_forwarding: regex_rewrite with and without groups', async () => {
    assert.equal((await served('rw1.example.com', '/foo/bar')).url, '/foo/bar');
    assert.equal((await served('rw1.example.com', '/foo/baz')).url, '/baz/foo');
    assert.equal((await send('rw1.example.com', '/ffoo/')).status, 404);
    assert.equal((await served('rw2.example.com', '/foo/123456789/list')).url, '/bar/123456789');
    assert.equal((await served('rw2.example.com', '/foo/987654321/list?x=1')).url, '/bar/987654321?x=1');
    assert.equal((await served('rw2.example.com', '/foo/')).url, '/foo/');
  });

  it('Emissary KAT t_mappingtests_plain: regex_redirect rewrites the Location with \\1', async () => {
    const r = await send('redirect.example.com', '/m-5/assets/abcd0000f123/images');
    assert.equal(r.status, 308);
    assert.equal(r.headers.location, 'http://foobar.com/images/abcd0000f123');
    const q = await send('redirect.example.com', '/m-5/assets/abcd0000f123/images?itworked=true');
    assert.equal(q.headers.location, 'http://foobar.com/images/abcd0000f123?itworked=true');
  });

  it('method_regex matches the method as an RE2 alternation', async () => {
    assert.equal((await send('method.example.com', '/m/x', {}, 'HEAD')).status, 200);
    assert.equal((await send('method.example.com', '/m/x', {}, 'GET')).status, 200);
    assert.equal((await send('method.example.com', '/m/x', {}, 'POST')).status, 404);
  });

  it('explain decides with the same matcher: the hostile path, a rewrite and a redirect', () => {
    const hostile = explainer.explain(parseRequestLine(`GET http://hostile.example.com/${'a'.repeat(1000)}`));
    assert.equal(hostile.outcome, 'no_route');
    const hit = explainer.explain(parseRequestLine(`GET http://hostile.example.com/${'a'.repeat(999)}b`));
    assert.equal(hit.route?.id, 'default/hostile');
    const rw = explainer.explain(parseRequestLine('GET http://rw2.example.com/foo/42/list'));
    assert.equal(rw.backends[0]?.path, '/bar/42');
    const redirect = explainer.explain(parseRequestLine('GET http://redirect.example.com/m-5/assets/abcd0000f123/images'));
    assert.equal(redirect.location, 'http://foobar.com/images/abcd0000f123');
  });
});

describe('route index: regex routes and the routes around them', () => {
  const r = (id: string, m: Partial<IRRoute['match']>): IRRoute => route(id, m, [backend('c')]);
  const index = (routes: IRRoute[]) => buildRuntimeIndex(buildIR({ clusters: [cluster('c', 1)], routes }), () => undefined);
  const req = (path: string): RouteRequest => ({ host: 'example.com', path, query: '', method: 'GET', header: () => undefined });
  const id = (idx: ReturnType<typeof index>, path: string): string | undefined => matchRoute(idx, LISTENER, req(path)).route?.ir.id;

  it('compiled order holds between regex routes (filed by literal prefix or not) and prefix routes', () => {
    const idx = index([
      r('api-regex', { regex: '/api/v[0-9]+/.*' }),
      r('folded', { regex: '(?i)/legacy/.*' }),
      r('api', { prefix: '/api/' }),
      r('late-regex', { regex: '/api/x.*' }),
      r('root', { prefix: '/' }),
    ]);
    assert.equal(id(idx, '/api/v2/users'), 'api-regex');
    assert.equal(id(idx, '/api/x1'), 'api', 'an earlier prefix route wins over a later regex route');
    assert.equal(id(idx, '/LEGACY/page'), 'folded', 'a regex without a literal prefix is still tried');
    assert.equal(id(idx, '/other'), 'root');
  });

  it('several regex routes without a literal prefix are read in one pass, and compiled order still decides', () => {
    const idx = index([
      r('a-folded', { regex: '(?i)/a/[0-9]+' }),
      r('any-digits', { regex: '.*/[0-9]+' }),
      r('b-folded', { regex: '(?i)/b/.*' }),
      r('hostile', { regex: '(a|a)*b' }),
      r('root', { prefix: '/' }),
    ]);
    assert.equal(idx.listeners.get(LISTENER)!.star!.alwaysSet !== null, true);
    assert.equal(id(idx, '/A/42'), 'a-folded');
    assert.equal(id(idx, '/x/42'), 'any-digits');
    assert.equal(id(idx, '/B/x'), 'b-folded');
    assert.equal(id(idx, '/B/7'), 'any-digits', 'the earlier of two matching regex routes wins');
    assert.equal(id(idx, 'a'.repeat(999) + 'b'), 'hostile');
    assert.equal(id(idx, '/' + 'a'.repeat(999)), 'root');
  });

  it('case_sensitive: false does not fold a regex path (Envoy ignores it for safe_regex; (?i) does)', () => {
    const idx = index([r('sensitive', { regex: '/Users/[0-9]+', caseSensitive: false }), r('folded', { regex: '(?i)/Orders/[0-9]+' })]);
    assert.equal(id(idx, '/Users/1'), 'sensitive');
    assert.equal(id(idx, '/users/1'), undefined);
    assert.equal(id(idx, '/ORDERS/1'), 'folded');
  });
});
