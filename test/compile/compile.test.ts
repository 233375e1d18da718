// Emissary semantics users rely on (COMPAT.md) and the places Portico deliberately does better,
// as table tests keyed by a sentence.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileYAML, routesOf, codes, M } from './compile-support.js';
import { normaliseWeights } from '../../src/compile/index.js';

const L = (name: string, port: number, extra = ''): string => `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: ${name}, namespace: default }
spec: { port: ${port}, protocol: HTTP, securityModel: XFP${extra} }
---
`;

const cases: Record<string, () => void> = {
  'a canary Mapping with weight 10 leaves 90 to the unweighted one': () => {
    const r = compileYAML(M('a', 'hostname: "*", prefix: /x/, service: a') + M('b', 'hostname: "*", prefix: /x/, service: b, weight: 10'));
    assert.deepEqual(routesOf(r)[0]!.backends, [['a', 90], ['b', 10]]);
    assert.equal(r.report.errors, 0);
  },
  'three unweighted-but-one canaries split the remainder evenly, odd units to the first': () => {
    assert.deepEqual(normaliseWeights([undefined, 10, undefined, undefined]), [30, 10, 30, 30]);
    assert.deepEqual(normaliseWeights([undefined, undefined, undefined]), [34, 33, 33]);
    assert.deepEqual(normaliseWeights([20, 20]), [50, 50]);
  },
  // Emissary splits unweighted Mappings of one group evenly (irhttpmappinggroup.py normalises the
  // weights of a group; docs "Canary releases": "the remainder is split evenly").
  'same-match Mappings without weights split traffic evenly, with a warning naming both': () => {
    const r = compileYAML(M('a', 'hostname: "*", prefix: /x/, service: a') + M('b', 'hostname: "*", prefix: /x/, service: b') + M('c', 'hostname: "*", prefix: /y/, service: c'));
    assert.deepEqual(codes(r), ['RouteSplit:a', 'RouteSplit:b']);
    assert.equal(r.report.errors, 0);
    assert.deepEqual(routesOf(r).map((x) => [x.id, x.backends]), [['default/a', [['a', 50], ['b', 50]]], ['default/c', [['c', 100]]]]);
    const p = r.report.problems[0]!;
    assert.equal(p.severity, 'warning');
    assert.match(p.message, /default\/a and default\/b/);
    assert.equal(p.origin.path, 'policy.yaml');
    assert.ok(p.origin.line > 0);
  },
  'same-match Mappings without weights from two sources are a conflict on both: neither takes the other\'s traffic': () => {
    const a = lf([{ path: 'a.yaml', content: M('a', 'hostname: "*", prefix: /x/, service: a') }], { source: 'team-a' });
    const b = lf([{ path: 'b.yaml', content: M('b', 'hostname: "*", prefix: /x/, service: b') + M('c', 'hostname: "*", prefix: /y/, service: c') }], { source: 'team-b' });
    const r = compile([...a.resources, ...b.resources]);
    assert.deepEqual(codes(r), ['RouteConflict:a', 'RouteConflict:b']);
    assert.deepEqual(routesOf(r).map((x) => x.id), ['default/c']);
    assert.match(r.report.problems[0]!.message, /different sources \(team-a, team-b\)/);
  },
  'unweighted TCPMappings on one port split connections evenly, with a warning': () => {
    const T = (name: string, service: string): string => `apiVersion: getambassador.io/v3alpha1\nkind: TCPMapping\nmetadata: { name: ${name}, namespace: default }\nspec: { port: 9000, service: "${service}" }\n---\n`;
    const r = compileYAML(T('t1', '127.0.0.1:7001') + T('t2', '127.0.0.1:7002'));
    assert.deepEqual(codes(r), ['RouteSplit:t1', 'RouteSplit:t2']);
    const route = r.ir.listeners.find((l) => l.port === 9000)!.tcpRoutes[0]!;
    assert.deepEqual(route.backends.map((b) => b.weight), [50, 50]);
  },
  'weights above 100 reject the whole canary group': () => {
    const r = compileYAML(M('a', 'hostname: "*", prefix: /x/, service: a, weight: 70') + M('b', 'hostname: "*", prefix: /x/, service: b, weight: 40'));
    assert.deepEqual(codes(r), ['WeightOverflow:a', 'WeightOverflow:b']);
    assert.equal(routesOf(r).length, 0);
  },
  'routes are ordered by precedence, then prefix length, then header constraints, then query': () => {
    const r = compileYAML(
      M('root', 'hostname: "*", prefix: /, service: root') +
        M('long', 'hostname: "*", prefix: /a/b/, service: long') +
        M('short', 'hostname: "*", prefix: /a/, service: short') +
        M('hdr', 'hostname: "*", prefix: /a/, service: hdr, headers: { x-v: "2" }') +
        M('qry', 'hostname: "*", prefix: /a/, service: qry, query_parameters: { v: "2" }') +
        M('first', 'hostname: "*", prefix: /, service: first, precedence: 5'),
    );
    assert.deepEqual(routesOf(r).map((x) => x.id), ['default/first', 'default/long', 'default/hdr', 'default/qry', 'default/short', 'default/root']);
  },
  'a Mapping hostname narrower than its vhost becomes an :authority match': () => {
    const r = compileYAML(M('a', 'hostname: api.example.com, prefix: /, service: a'));
    const route = r.ir.listeners[0]!.virtualHosts[0]!.routes[0]!;
    assert.deepEqual(route.match.headers, [{ name: ':authority', exact: 'api.example.com' }]);
  },
  'rewrite defaults to "/" and rewrite: "" disables it; timeouts default to 3000 ms': () => {
    const r = compileYAML(M('a', 'hostname: "*", prefix: /a/, service: a') + M('b', 'hostname: "*", prefix: /b/, service: b, rewrite: "", timeout_ms: 100'));
    const routes = r.ir.listeners[0]!.virtualHosts[0]!.routes;
    const a = routes.find((x) => x.id === 'default/a')!.backends[0]!;
    const b = routes.find((x) => x.id === 'default/b')!.backends[0]!;
    assert.equal(a.rewrite.prefix, '/');
    assert.equal(b.rewrite.prefix, null);
    assert.equal(a.timeouts.requestMs, 3000);
    assert.equal(b.timeouts.requestMs, 100);
    assert.equal(r.ir.clusters.find((c) => c.service === 'a')!.connectTimeoutMs, 3000);
  },
  'the ambassador Module overrides defaults for every route': () => {
    const r = compileYAML(`apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: { name: ambassador, namespace: default }
spec: { config: { cluster_request_timeout_ms: 7000, xff_num_trusted_hops: 2 } }
---
` + M('a', 'hostname: "*", prefix: /a/, service: a'));
    assert.equal(r.ir.global.requestTimeoutMs, 7000);
    assert.equal(r.ir.global.xffNumTrustedHops, 2);
    assert.equal(r.ir.listeners[0]!.virtualHosts[0]!.routes[0]!.backends[0]!.timeouts.requestMs, 7000);
  },
  'Module use_proxy_proto: true is told that Emissary 2 moved the PROXY protocol to the Listener; false says nothing': () => {
    const module = (v: boolean): string => `apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: { name: ambassador, namespace: default }
spec: { config: { use_proxy_proto: ${v} } }
`;
    const on = compileYAML(module(true));
    assert.deepEqual(codes(on), ['Deprecated:ambassador']);
    assert.equal(on.report.problems[0]!.field, 'spec.config.use_proxy_proto');
    assert.match(on.report.problems[0]!.message, /no effect since Emissary 2\.0.*HTTPPROXY or HTTPSPROXY, or PROXY in its protocolStack/);
    assert.deepEqual(on.ir.listeners.map((l) => l.protocolStack.includes('PROXY')), [false, false], 'the default Listeners are not changed by it');
    assert.deepEqual(codes(compileYAML(module(false))), []);
  },
  'a Module with another name is an error, not silently ignored': () => {
    const r = compileYAML(`apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: { name: ambasador, namespace: default }
spec: { config: { cluster_request_timeout_ms: 7000 } }
`);
    assert.deepEqual(codes(r), ['ModuleNameInvalid:ambasador']);
    assert.equal(r.ir.global.requestTimeoutMs, 3000);
  },
  // Emissary's Helm chart (createDefaultListeners): 8080 HTTP and 8443 HTTPS, XFP, hostBinding ALL;
  // irhost.py HostFactory.finalize: with no Host, a default Host "*" with the fallback certificate.
  'with no Listener, 8080 HTTP and 8443 HTTPS; with no Host, a default Host "*" that redirects cleartext and terminates TLS with the fallback certificate': () => {
    const r = compileYAML(M('a', 'hostname: "*", prefix: /a/, service: a'));
    assert.deepEqual(r.ir.listeners.map((l) => [l.name, l.port, l.tls, l.securityModel]), [['default-8080', 8080, false, 'XFP'], ['default-8443', 8443, true, 'XFP']]);
    for (const l of r.ir.listeners) {
      assert.equal(l.virtualHosts[0]!.hostname, '*');
      assert.equal(l.virtualHosts[0]!.insecureAction, 'Redirect');
      assert.equal(l.virtualHosts[0]!.tlsContext, 'fallback');
    }
    // the IR names the fallback and holds no certificate; the serving process generates one
    assert.deepEqual(r.ir.tlsContexts, [{ name: 'fallback', hosts: ['*'], fallback: true, certRequired: false, cipherSuites: [], alpnProtocols: [] }]);
    assert.deepEqual(Object.keys(r.secrets), []);
    assert.equal(r.report.warnings, 0);
  },
  'a v3alpha1 Mapping with neither hostname nor selector serves nothing, with a warning saying why': () => {
    const r = compileYAML(M('a', 'prefix: /a/, service: a'));
    assert.deepEqual(codes(r), ['MappingNotAttached:a']);
    assert.equal(routesOf(r).length, 0);
    assert.equal(r.report.conditions[0]!.status, 'Warnings');
  },
  'a v2 Mapping without host serves every hostname': () => {
    const r = compileYAML(`apiVersion: getambassador.io/v2
kind: Mapping
metadata: { name: legacy, namespace: default }
spec: { prefix: /legacy/, service: legacy }
`);
    assert.equal(r.report.errors, 0);
    assert.deepEqual(routesOf(r).map((x) => [x.vhost, x.id]), [['*', 'default/legacy']]);
  },
  'a Host mappingSelector and a Mapping hostname must both hold when both exist': () => {
    const r = compileYAML(
      L('l', 8080, ', hostBinding: { namespace: { from: ALL } }') +
        `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: h, namespace: default }
spec: { hostname: a.example.com, mappingSelector: { matchLabels: { team: x } } }
---
` +
        M('labelled-right-host', 'hostname: a.example.com, prefix: /1/, service: s1', ', labels: { team: x }') +
        M('labelled-wrong-host', 'hostname: b.example.com, prefix: /2/, service: s2', ', labels: { team: x }') +
        M('unlabelled-right-host', 'hostname: a.example.com, prefix: /3/, service: s3') +
        M('labelled-no-host', 'prefix: /4/, service: s4', ', labels: { team: x }'),
    );
    assert.deepEqual(routesOf(r).map((x) => x.id).sort(), ['default/labelled-no-host', 'default/labelled-right-host']);
  },
  'matchExpressions are evaluated, not ignored': () => {
    const r = compileYAML(
      L('l', 8080, ', hostBinding: { namespace: { from: ALL } }') +
        `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: h, namespace: default }
spec: { hostname: "*", mappingSelector: { matchExpressions: [ { key: tier, operator: NotIn, values: [internal] } ] } }
---
` +
        M('public', 'prefix: /p/, service: p', ', labels: { tier: public }') +
        M('internal', 'prefix: /i/, service: i', ', labels: { tier: internal }'),
    );
    assert.deepEqual(routesOf(r).map((x) => x.id), ['default/public']);
  },
  'a Listener binds only Hosts of its own namespace unless hostBinding says ALL': () => {
    const host = `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: h, namespace: elsewhere }
spec: { hostname: "*" }
---
`;
    const self = compileYAML(L('l', 8080) + host + M('a', 'hostname: "*", prefix: /a/, service: a'));
    assert.equal(self.ir.listeners[0]!.virtualHosts.length, 0);
    assert.ok(codes(self).includes('HostNotAttached:h'));
    const all = compileYAML(L('l', 8080, ', hostBinding: { namespace: { from: ALL } }') + host + M('a', 'hostname: "*", prefix: /a/, service: a'));
    assert.equal(all.ir.listeners[0]!.virtualHosts.length, 1);
  },
  'hostBinding.namespace.from: SELECTOR is an error, never ignored': () => {
    const r = compileYAML(L('l', 8080, ', hostBinding: { namespace: { from: SELECTOR } }'));
    assert.deepEqual(codes(r), ['UnsupportedSelector:l']);
  },
  'two Listeners on one port are a conflict on both': () => {
    const r = compileYAML(L('a', 8080) + L('b', 8080));
    assert.deepEqual(codes(r), ['ListenerConflict:a', 'ListenerConflict:b']);
    assert.equal(r.ir.listeners.length, 0);
  },
  'a PROXY-protocol Listener is served with it: its stack says so, and nothing is reported': () => {
    const proxied = compileYAML(L('edge', 8080).replace('protocol: HTTP', 'protocol: HTTPPROXY'));
    assert.deepEqual(codes(proxied), []);
    assert.deepEqual(proxied.ir.listeners.map((l) => [l.name, l.protocolStack, l.l7, l.tls]), [['edge', ['PROXY', 'HTTP', 'TCP'], true, false]]);
    const tls = compileYAML(L('edge', 8443).replace('protocol: HTTP', 'protocol: HTTPSPROXY'));
    assert.deepEqual(tls.ir.listeners.map((l) => [l.protocolStack, l.l7, l.tls]), [[['TLS', 'PROXY', 'HTTP', 'TCP'], true, true]]);
    const stack = compileYAML(L('edge', 8080).replace('protocol: HTTP', 'protocolStack: [PROXY, TCP]'));
    assert.deepEqual(codes(stack), []);
    assert.deepEqual(stack.ir.listeners.map((l) => [l.protocolStack, l.l7]), [[['PROXY', 'TCP'], false]]);
  },
  'a TCPMapping on a port without a Listener implies one, TLS when host is set': () => {
    const r = compileYAML(`apiVersion: getambassador.io/v3alpha1
kind: TCPMapping
metadata: { name: db, namespace: default }
spec: { port: 5432, service: "10.0.0.1:5432" }
---
apiVersion: getambassador.io/v3alpha1
kind: TCPMapping
metadata: { name: sni, namespace: default }
spec: { port: 6443, host: kube.example.com, service: "10.0.0.2:6443" }
`);
    const byPort = new Map(r.ir.listeners.map((l) => [l.port, l]));
    assert.deepEqual(byPort.get(5432)!.protocolStack, ['TCP']);
    assert.equal(byPort.get(6443)!.tls, true);
    assert.equal(byPort.get(6443)!.tcpRoutes[0]!.sni, 'kube.example.com');
  },
  'a TCPMapping on an HTTP Listener port is a ListenerConflict': () => {
    const r = compileYAML(L('l', 8080) + `apiVersion: getambassador.io/v3alpha1
kind: TCPMapping
metadata: { name: db, namespace: default }
spec: { port: 8080, service: "10.0.0.1:5432" }
`);
    assert.deepEqual(codes(r), ['ListenerConflict:db']);
  },
  'a resolver provides endpoints for a service outside Kubernetes': () => {
    const r = compileYAML(`apiVersion: portico.dev/v1alpha1
kind: Resolver
metadata: { name: static, namespace: default }
spec: { services: { billing: ["127.0.0.1:9001", "127.0.0.1:9002"] } }
---
` + M('a', 'hostname: "*", prefix: /a/, service: billing, resolver: static') + M('b', 'hostname: "*", prefix: /b/, service: other, resolver: missing'));
    assert.deepEqual(r.ir.clusters.find((c) => c.service === 'billing')!.endpoints, [{ host: '127.0.0.1', port: 9001 }, { host: '127.0.0.1', port: 9002 }]);
    assert.deepEqual(codes(r), ['ResolverNotFound:b']);
  },
  'the same name defined in two sources is an error naming both; neither wins': () => {
    const yaml = M('dup', 'hostname: "*", prefix: /a/, service: a');
    const { loadFiles } = awaitLoad();
    const a = loadFiles([{ path: 'a.yaml', content: yaml }], { source: 'team-a' });
    const b = loadFiles([{ path: 'b.yaml', content: yaml }], { source: 'team-b' });
    const r = compileFn()([...a.resources, ...b.resources]);
    assert.deepEqual(codes(r), ['DuplicateResource:dup', 'DuplicateResource:dup']);
    assert.match(r.report.problems[0]!.message, /team-a:a\.yaml:\d+ and team-b:b\.yaml:\d+/);
    assert.equal(routesOf(r).length, 0);
  },
  'a Mapping whose regex RE2 refuses (a backreference) is dropped at compile time; the others serve': () => {
    const r = compileYAML(M('bad', 'hostname: "*", prefix: "/(a+)\\\\1", prefix_regex: true, service: a') + M('ok', 'hostname: "*", prefix: /ok/, service: b'));
    assert.deepEqual(codes(r), ['InvalidRegex:bad']);
    assert.match(r.report.problems[0]!.message, /^prefix: backreference `\\1` is not RE2 syntax/);
    assert.equal(r.report.problems[0]!.field, 'spec.prefix');
    assert.deepEqual(routesOf(r).map((x) => x.id), ['default/ok']);
    assert.equal(r.report.conditions.find((c) => c.name === 'bad')!.status, 'Invalid');
    assert.equal(r.report.conditions.find((c) => c.name === 'ok')!.status, 'Valid');
  },
  'CORS with origin "*" and credentials is rejected at load': () => {
    const r = compileYAML(M('c', 'hostname: "*", prefix: /c/, service: c, cors: { origins: "*", credentials: true }'));
    assert.deepEqual(codes(r), ['InvalidCORS:c']);
  },
};

import { loadFiles as lf } from '../../src/load/index.js';
import { compile } from '../../src/compile/index.js';
function awaitLoad(): { loadFiles: typeof lf } {
  return { loadFiles: lf };
}
function compileFn(): typeof compile {
  return compile;
}

for (const [name, fn] of Object.entries(cases)) test(name, fn);
