// A Mapping that names its host in `headers: {":authority": ...}`, as older Emissary configuration
// does. Emissary reads an exact :authority match as the Mapping's host (irhttpmapping.py): it attaches
// the Mapping to Hosts of that name and matches the request's host, unless `host` or `hostname` is set,
// which override it. Cases follow Emissary's python/tests/src/tests/unit/test_mapping.py.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileYAML, routesOf, codes } from './compile-support.js';
import type { CompileResult } from '../../src/compile/index.js';

const LISTENER = `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: l, namespace: default }
spec: { port: 8080, protocol: HTTP, securityModel: XFP, hostBinding: { namespace: { from: ALL } } }
---
`;
const H = (name: string, hostname: string, extra = ''): string => `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: ${name}, namespace: default }
spec: { hostname: "${hostname}", requestPolicy: { insecure: { action: Route } }${extra} }
---
`;
const M = (name: string, spec: string, meta = '', version = 'v3alpha1'): string => `apiVersion: getambassador.io/${version}
kind: Mapping
metadata: { name: ${name}, namespace: default${meta} }
spec: { ${spec} }
---
`;

/** The header matches of a route on the vhost of that hostname. */
function headersOn(r: CompileResult, vhost: string, id: string): unknown {
  const v = r.ir.listeners[0]!.virtualHosts.find((x) => x.hostname === vhost);
  return v?.routes.find((x) => x.id === id)?.match.headers;
}

const cases: Record<string, () => void> = {
  'an exact :authority header is the Mapping\'s host: it attaches by that name, and matches it where the vhost is wider': () => {
    const r = compileYAML(LISTENER + H('foo', 'foo.example.com') + H('other', 'other.example.com') + H('star', '*') + M('a', 'prefix: /a/, service: a, headers: { ":authority": foo.example.com }'));
    assert.deepEqual(codes(r), []);
    assert.deepEqual(routesOf(r).map((x) => [x.vhost, x.id]), [['foo.example.com', 'default/a'], ['*', 'default/a']]);
    assert.deepEqual(headersOn(r, 'foo.example.com', 'default/a'), []);
    assert.deepEqual(headersOn(r, '*', 'default/a'), [{ name: ':authority', exact: 'foo.example.com' }]);
  },
  'it is read as a DNS name: lower case, and the same group as hostname with that name': () => {
    const r = compileYAML(LISTENER + H('star', '*') + M('a', 'prefix: /a/, service: a, headers: { ":Authority": Foo.Example.COM }, weight: 10') + M('b', 'prefix: /a/, service: b, hostname: foo.example.com'));
    assert.deepEqual(codes(r), []);
    assert.deepEqual(routesOf(r).map((x) => x.backends), [[['a', 10], ['b', 90]]]);
    assert.deepEqual(r.ir.listeners[0]!.virtualHosts[0]!.routes[0]!.match.headers, [{ name: ':authority', exact: 'foo.example.com' }]);
  },
  'other headers stay header matches beside it': () => {
    const r = compileYAML(LISTENER + H('star', '*') + M('a', 'prefix: /a/, service: a, headers: { ":authority": foo.example.com, x-team: blue }'));
    assert.deepEqual(headersOn(r, '*', 'default/a'), [{ name: ':authority', exact: 'foo.example.com' }, { name: 'x-team', exact: 'blue' }]);
  },
  'an exact :authority with "*" refuses the Mapping, as Emissary does ("cannot match anything")': () => {
    const r = compileYAML(LISTENER + H('star', '*') + M('bad', 'prefix: /star/, service: star, headers: { ":authority": "*" }') + M('glob', 'prefix: /g/, service: g, hostname: "*", headers: { ":authority": "*.example.com" }'));
    assert.deepEqual(codes(r), ['SchemaViolation:bad', 'SchemaViolation:glob']);
    const p = r.report.problems.find((x) => x.resource?.name === 'bad')!;
    assert.match(p.message, /:authority exact match '\*' contains \*, which cannot match anything/);
    assert.equal(p.field, 'spec.headers.:authority');
    assert.deepEqual(routesOf(r), []);
  },
  'a v3alpha1 host with "*" refuses the Mapping too: host is an exact match there, as in Emissary': () => {
    const r = compileYAML(LISTENER + H('star', '*') + M('glob', 'prefix: /g/, service: g, host: "*.example.com"') + M('any', 'prefix: /a/, service: a, host: "*"') + M('re', 'prefix: /r/, service: r, host: ".*\\\\.example\\\\.com", host_regex: true'));
    assert.deepEqual(codes(r), ['Deprecated:re', 'SchemaViolation:any', 'SchemaViolation:glob']);
    const p = r.report.problems.find((x) => x.resource?.name === 'glob')!;
    assert.match(p.message, /host "\*\.example\.com" is an exact match in v3alpha1 and contains \*, which cannot match anything .*hostname: "\*\.example\.com"/);
    assert.equal(p.field, 'spec.host');
    assert.deepEqual(routesOf(r).map((x) => x.id), ['default/re'], 'a regex host is not an exact match');
  },
  'a v2 host with "*" is a DNS glob: Emissary converts v2 host to hostname': () => {
    const r = compileYAML(LISTENER + H('wild', '*.example.com') + M('glob', 'prefix: /g/, service: g, host: "*.example.com"', '', 'v2'));
    assert.deepEqual(codes(r), []);
    assert.deepEqual(routesOf(r).map((x) => [x.vhost, x.id]), [['*.example.com', 'default/glob']]);
  },
  'hostname overrides it, as in Emissary: the header is dropped, with a warning naming both': () => {
    const r = compileYAML(LISTENER + H('star', '*') + M('a', 'prefix: /a/, service: a, hostname: "*.example.com", headers: { ":authority": foo.example.com }'));
    assert.deepEqual(codes(r), ['Deprecated:a']);
    const p = r.report.problems[0]!;
    assert.equal(p.field, 'spec.headers.:authority');
    assert.match(p.message, /headers\[":authority"\] \("foo\.example\.com"\) is ignored because "hostname" \("\*\.example\.com"\) is set/);
    assert.deepEqual(headersOn(r, '*', 'default/a'), [{ name: ':authority', regex: '.+\\.example\\.com' }]);
  },
  'host overrides it too': () => {
    const r = compileYAML(LISTENER + H('star', '*') + M('a', 'prefix: /a/, service: a, host: foo.example.com, headers: { ":authority": bar.example.com }'));
    assert.deepEqual(codes(r), ['Deprecated:a', 'Deprecated:a']);
    assert.ok(r.report.problems.some((p) => /"host" \("foo\.example\.com"\) is set/.test(p.message)));
    assert.deepEqual(headersOn(r, '*', 'default/a'), [{ name: ':authority', exact: 'foo.example.com' }]);
  },
  'a v2 Mapping without host gets hostname "*", which overrides the header as Emissary\'s conversion makes it: every host is served, and said': () => {
    const r = compileYAML(LISTENER + H('star', '*') + M('legacy', 'prefix: /legacy/, service: legacy, headers: { ":authority": foo.example.com }', '', 'v2'));
    assert.deepEqual(codes(r), ['Deprecated:legacy']);
    assert.match(r.report.problems[0]!.message, /v2 Mapping without host is converted with hostname "\*".*serves every host; write host: "foo\.example\.com"/);
    assert.deepEqual(headersOn(r, '*', 'default/legacy'), []);
    // written as v2 host, it serves that host only
    const kept = compileYAML(LISTENER + H('star', '*') + M('legacy', 'prefix: /legacy/, service: legacy, host: foo.example.com', '', 'v2'));
    assert.deepEqual(codes(kept), []);
    assert.deepEqual(headersOn(kept, '*', 'default/legacy'), [{ name: ':authority', exact: 'foo.example.com' }]);
  },
  'a regex :authority is a match on the request\'s host, not a host for attachment': () => {
    const r = compileYAML(LISTENER + H('star', '*') + M('a', 'prefix: /a/, service: a, hostname: "*", regex_headers: { ":authority": "foo[0-9]+\\\\.example\\\\.com" }') + M('b', 'prefix: /b/, service: b, regex_headers: { ":authority": ".*" }'));
    assert.deepEqual(codes(r), ['MappingNotAttached:b']);
    assert.deepEqual(headersOn(r, '*', 'default/a'), [{ name: ':authority', regex: 'foo[0-9]+\\.example\\.com' }]);
  },
  // Emissary: python/tests/src/tests/unit/testdata/canary_groups/mapping_selector_and_authority_in.yaml
  'with Host mappingSelectors, each :authority Mapping attaches to the Host of its name and labels': () => {
    const r = compileYAML(
      LISTENER +
        H('foo-host', 'foo.example.com', ', mappingSelector: { matchLabels: { host: foo } }') +
        H('bar-host', 'bar.example.com', ', mappingSelector: { matchLabels: { host: bar } }') +
        M('star-backend-foo', 'prefix: /test/, service: star, headers: { ":authority": foo.example.com }', ', labels: { host: foo }') +
        M('star-backend-bar', 'prefix: /test/, service: star, headers: { ":authority": bar.example.com }', ', labels: { host: bar }'),
    );
    assert.deepEqual(codes(r), []);
    assert.deepEqual(routesOf(r).map((x) => [x.vhost, x.id]), [['bar.example.com', 'default/star-backend-bar'], ['foo.example.com', 'default/star-backend-foo']]);
  },
};

for (const [name, fn] of Object.entries(cases)) test(name, fn);
