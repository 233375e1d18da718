// Emissary configuration that Portico used to refuse or serve differently, served through a real
// gateway to real upstreams: built-in resolvers, canary groups per hostname, unweighted duplicates,
// the default Host, prefix_regex rewriting, X-Forwarded-Host, https redirects and CORS preflights.
//
// YAML snippets marked "Emissary" are small excerpts of Emissary-ingress test data and documentation
// (github.com/emissary-ingress/emissary, Apache License 2.0, see test/testdata/emissary/LICENSE),
// with service names pointed at local upstreams.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { loadFiles } from '../../src/load/index.js';
import { compile, type CompileResult } from '../../src/compile/index.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import { Gateway } from '../../src/serve/gateway.js';
import { canonicalJSON } from '../../src/ir/canonical.js';
import { compileYaml } from '../support/compile-yaml.js';
import { echoedHeader, startEcho, type EchoUpstream, type Echoed } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { json, request } from '../support/http-client.js';
import { freePort } from '../support/free-port.js';
import { cleartextHostYaml, listenerYaml } from '../support/policy-yaml.js';
import { makeTestPKI, type TestPKI } from '../support/test-pki.js';

function compileLoose(yaml: string): CompileResult {
  const loaded = loadFiles([{ path: 'emissary.yaml', content: yaml }]);
  return compile(loaded.resources, {}, loaded.problems);
}

const codes = (r: CompileResult): string[] => r.report.problems.map((p) => `${p.code}:${p.resource?.name ?? ''}`).sort();

describe('Emissary fidelity through the request path', () => {
  let a: EchoUpstream;
  let b: EchoUpstream;
  const gateways: TestGateway[] = [];
  before(async () => {
    a = await startEcho('a');
    b = await startEcho('b');
  });
  after(async () => {
    for (const g of gateways) await g.close();
    await Promise.all([a.close(), b.close()]);
  });
  async function serve(yaml: string, random?: () => number): Promise<TestGateway> {
    const g = await startGateway(compileYaml(yaml).ir, random ? { random } : {});
    gateways.push(g);
    return g;
  }
  const upstreamOf = async (g: TestGateway, path: string, host: string): Promise<string> => json<Echoed>(await request(g.port, { path, headers: { host } })).name;

  it("a Host header with the listener's port is routed by its name, unless the Module's strip_matching_host_port is false (Emissary keeps the port)", async () => {
    const yaml = (module: string) => `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: shop }
spec: { hostname: shop.example.com, requestPolicy: { insecure: { action: Route } } }
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: shop }
spec: { hostname: shop.example.com, prefix: /, service: "127.0.0.1:${a.port}" }
${module}`;
    const stripped = await serve(yaml(''));
    assert.equal((await request(stripped.port, { path: '/x', headers: { host: `shop.example.com:${stripped.port}` } })).status, 200);
    const kept = await serve(yaml('---\napiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata: { name: ambassador }\nspec: { config: { strip_matching_host_port: false } }\n'));
    assert.equal((await request(kept.port, { path: '/x', headers: { host: `shop.example.com:${kept.port}` } })).status, 404, 'the port is part of the name matched');
    assert.equal((await request(kept.port, { path: '/x', headers: { host: 'shop.example.com' } })).status, 200);
  });

  // Emissary: python/tests/src/tests/kat/t_loadbalancer.py (Mapping "-4"), the sticky-session
  // pattern of the load balancing docs: resolver endpoint with a ring_hash cookie policy.
  it('resolver: endpoint with a ring_hash cookie policy loads, warns once, and serves by the service address', async () => {
    const mapping = (name: string) => `---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: ${name} }
spec:
  hostname: "*"
  prefix: /${name}/
  service: 127.0.0.1:${a.port}
  resolver: endpoint
  load_balancer:
    policy: ring_hash
    cookie:
      name: test-cookie
`;
    const yaml = cleartextHostYaml() + mapping('lb-4') + mapping('lb-4b');
    const r = compileLoose(yaml);
    assert.equal(r.report.errors, 0);
    assert.deepEqual(codes(r), ['BuiltinResolver:lb-4'], 'one warning for every Mapping using the resolver');
    assert.match(r.report.problems[0]!.message, /resolver 'endpoint' \(and 1 other Mapping\).*DNS.*needs Kubernetes/);
    const cluster = r.ir.clusters.find((c) => c.service === `127.0.0.1:${a.port}`)!;
    assert.deepEqual(cluster.loadBalancer, { policy: 'ring_hash', hash: { cookie: { name: 'test-cookie' } } });
    assert.deepEqual(cluster.endpoints, [{ host: '127.0.0.1', port: a.port }]);
    const g = await serve(yaml);
    const res = await request(g.port, { path: '/lb-4/x', headers: { host: 'example.com', cookie: 'test-cookie=abc' } });
    assert.equal(res.status, 200);
    assert.equal(json<Echoed>(res).url, '/x');
  });

  it('the other built-in names load too; consul has no catalog to ask (503), an unknown resolver is still an error', async () => {
    const M = (name: string, resolver: string, service = `127.0.0.1:${b.port}`) => `---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: ${name} }
spec: { hostname: "*", prefix: /${name}/, service: "${service}", resolver: ${resolver} }
`;
    const yaml = cleartextHostYaml() + M('ks', 'kubernetes-service') + M('ke', 'kubernetes-endpoint') + M('co', 'consul', 'qotm');
    const r = compileLoose(yaml + M('dotted', 'consul', 'qotm.default') + M('nope', 'no-such-resolver'));
    assert.deepEqual(codes(r), ['BuiltinResolver:co', 'BuiltinResolver:ke', 'BuiltinResolver:ks', 'InvalidService:dotted', 'ResolverNotFound:nope']);
    assert.match(r.report.problems.find((p) => p.resource?.name === 'co')!.message, /no Consul catalog.*503/);
    const g = await serve(yaml);
    assert.equal(await upstreamOf(g, '/ks/x', 'example.com'), 'b');
    assert.equal(await upstreamOf(g, '/ke/x', 'example.com'), 'b');
    assert.equal((await request(g.port, { path: '/co/x' })).status, 503);
  });

  // Emissary's group id (python/ambassador/src/ambassador/ir/irhttpmapping.py, _group_id) includes
  // the :authority match made from `hostname`: these are two groups, the longer authority first.
  for (const weight of ['', 'weight: 10']) {
    it(`hostname foo.example.com and hostname "*" with one prefix are two routes${weight ? ' (the "*" one weighted)' : ''}: foo gets its own, every other host the "*" one`, async () => {
      const yaml = `${listenerYaml(8080)}---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: foo }
spec: { hostname: foo.example.com, requestPolicy: { insecure: { action: Route } } }
---
${cleartextHostYaml('wildcard')}---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: foo-svc }
spec: { hostname: foo.example.com, prefix: /svc/, service: "127.0.0.1:${a.port}" }
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: any-svc }
spec: { hostname: "*", prefix: /svc/, service: "127.0.0.1:${b.port}", ${weight} }
`;
      assert.equal(compileLoose(yaml).report.problems.length, 0);
      // Draws across the whole range: a merged canary would send some of foo's requests to b.
      let k = 0;
      const g = await serve(yaml, () => (k++ % 10) / 10);
      const seen = { foo: new Set<string>(), bar: new Set<string>() };
      for (let i = 0; i < 40; i++) {
        seen.foo.add(await upstreamOf(g, '/svc/x', 'foo.example.com'));
        seen.bar.add(await upstreamOf(g, '/svc/x', 'bar.example.com'));
      }
      assert.deepEqual([...seen.foo], ['a']);
      assert.deepEqual([...seen.bar], ['b']);
    });
  }

  // Emissary normalises the weights of a group and splits what is left evenly among the Mappings
  // without one (irhttpmappinggroup.py, normalize_weights_in_mappings).
  it('two unweighted Mappings with the same match split traffic evenly, with a warning naming both', async () => {
    const M = (name: string, port: number) => `---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: ${name} }
spec: { hostname: "*", prefix: /dup/, service: "127.0.0.1:${port}" }
`;
    const yaml = cleartextHostYaml() + M('dup-a', a.port) + M('dup-b', b.port);
    const r = compileLoose(yaml);
    assert.deepEqual(codes(r), ['RouteSplit:dup-a', 'RouteSplit:dup-b']);
    assert.match(r.report.problems[0]!.message, /default\/dup-a and default\/dup-b/);
    let k = 0;
    const g = await serve(yaml, () => (k++ % 4) / 4);
    const count = { a: 0, b: 0 } as Record<string, number>;
    for (let i = 0; i < 40; i++) count[await upstreamOf(g, '/dup/x', 'example.com')]!++;
    assert.deepEqual(count, { a: 20, b: 20 });
  });

  // Envoy's regex route replaces the whole matched path with prefix_rewrite, and Emissary sets
  // prefix_rewrite to the Mapping's rewrite, "/" by default (envoy/v3/v3route.py). Emissary:
  // python/tests/src/tests/kat/t_basics.py (SafeRegexMapping) routes with prefix_regex.
  it('prefix_regex with the default rewrite sends "/" upstream, the query kept; rewrite: "" keeps the path', async () => {
    const g = await serve(`${cleartextHostYaml()}---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: items }
spec: { hostname: "*", prefix: "/items/[0-9]+", prefix_regex: true, service: "127.0.0.1:${a.port}" }
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: keep }
spec: { hostname: "*", prefix: "/keep/[a-z]+", prefix_regex: true, rewrite: "", service: "127.0.0.1:${a.port}" }
`);
    assert.equal(json<Echoed>(await request(g.port, { path: '/items/42?x=1' })).url, '/?x=1');
    assert.equal(json<Echoed>(await request(g.port, { path: '/keep/abc' })).url, '/keep/abc');
  });

  it('adds no X-Forwarded-Host and passes a client\'s unchanged, as Envoy does for Emissary', async () => {
    const g = await serve(`${cleartextHostYaml()}---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: xfh }
spec: { hostname: "*", prefix: /xfh/, service: "127.0.0.1:${a.port}", host_rewrite: internal.svc }
`);
    const none = json<Echoed>(await request(g.port, { path: '/xfh/x', headers: { host: 'example.com' } }));
    assert.equal(echoedHeader(none, 'x-forwarded-host'), undefined);
    const sent = json<Echoed>(await request(g.port, { path: '/xfh/x', headers: { host: 'example.com', 'x-forwarded-host': 'original.example' } }));
    assert.equal(echoedHeader(sent, 'x-forwarded-host'), 'original.example');
  });

  // Envoy's https_redirect keeps the Host's port unless it is the default port of the scheme the
  // request came by (RouteEntryImplBase::processRequestHost); Emissary's insecure Redirect is one.
  it('the https redirect of an insecure request keeps a non-default Host port and drops :80', async () => {
    const g = await serve(`---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: redirecting }
spec: { hostname: "*", requestPolicy: { insecure: { action: Redirect } } }
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: r }
spec: { hostname: "*", prefix: /r/, service: "127.0.0.1:${a.port}" }
`);
    const withPort = await request(g.port, { path: '/r/x?q=1', headers: { host: 'example.com:8080' } });
    assert.equal(withPort.status, 301);
    assert.equal(withPort.headers.location, 'https://example.com:8080/r/x?q=1');
    assert.equal((await request(g.port, { path: '/r/x', headers: { host: 'example.com:80' } })).headers.location, 'https://example.com/r/x');
    assert.equal((await request(g.port, { path: '/r/x', headers: { host: 'example.com' } })).headers.location, 'https://example.com/r/x');
  });

  // Emissary docs, "Cross-Origin Resource Sharing (CORS)": the Mapping example with two origins.
  // Envoy's CORS filter answers a preflight only for an allowed origin; others reach the upstream.
  it('a CORS preflight from an allowed origin is answered at the edge; from another origin it is forwarded', async () => {
    const g = await serve(`${cleartextHostYaml()}---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: cors }
spec:
  hostname: "*"
  prefix: /cors/
  service: 127.0.0.1:${a.port}
  cors:
    origins: http://foo.example,http://bar.example
    methods: POST, GET, OPTIONS
    headers: Content-Type
    credentials: true
    exposed_headers: X-Custom-Header
    max_age: "86400"
`);
    const before = a.received.length;
    const pre = (origin: string) => request(g.port, { method: 'OPTIONS', path: '/cors/x', headers: { host: 'example.com', origin, 'access-control-request-method': 'POST' } });
    const allowed = await pre('http://foo.example');
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers['access-control-allow-origin'], 'http://foo.example');
    assert.equal(a.received.length, before, 'an allowed preflight never reaches the upstream');
    const other = await pre('http://evil.example');
    assert.equal(other.status, 200);
    assert.equal(a.received.length, before + 1);
    assert.equal(a.received.at(-1)!.method, 'OPTIONS');
    assert.equal(other.headers['access-control-allow-origin'], undefined);
  });
});

// python/ambassador/src/ambassador/ir/irhost.py, HostFactory.finalize: with no Host, Emissary
// creates a Host "*" whose tlsSecret is the generated fallback-self-signed-cert, insecure action
// Redirect. Its Helm chart's default Listeners are 8080 (HTTP) and 8443 (HTTPS), XFP.
describe('no Host at all: the default Host redirects cleartext and serves TLS with a generated fallback certificate', () => {
  let echo: EchoUpstream;
  let gateway: Gateway | undefined;
  before(async () => {
    echo = await startEcho('svc');
  });
  after(async () => {
    gateway?.forceClose();
    await echo.close();
  });

  it('cleartext gets 301 to https; TLS on the HTTPS listener is served with a self-signed certificate that is in no IR or store', async () => {
    const [plain, secure] = [await freePort(), await freePort()];
    const r = compileYaml(`${listenerYaml(plain, 'http')}---
${listenerYaml(secure, 'https', 'HTTPS')}---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: quote }
spec: { hostname: "*", prefix: /backend/, service: "127.0.0.1:${echo.port}" }
`);
    assert.equal(r.report.problems.length, 0);
    assert.deepEqual(Object.keys(r.secrets), []);
    assert.doesNotMatch(canonicalJSON(r.ir), /BEGIN|PRIVATE/);
    gateway = new Gateway({ buildRuntime, exposeGeneration: false, drainTimeoutMs: 1000 });
    const applied = await gateway.apply(r.ir, r.secrets, { source: 'test' });
    assert.equal(applied.ok, true, JSON.stringify(applied));

    const redirected = await request(plain, { path: '/backend/x?a=1', headers: { host: 'example.com' } });
    assert.equal(redirected.status, 301);
    assert.equal(redirected.headers.location, 'https://example.com/backend/x?a=1');

    const served = await new Promise<{ status: number; body: string; issuer: string; subject: string }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: secure, path: '/backend/x', servername: 'example.com', headers: { host: 'example.com' }, rejectUnauthorized: false, agent: false }, (res) => {
        const cert = (res.socket as TLSSocket).getPeerX509Certificate();
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, issuer: cert?.issuer ?? '', subject: cert?.subject ?? '' }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(served.status, 200);
    assert.equal(json<Echoed>({ body: served.body } as Parameters<typeof json>[0]).url, '/x');
    assert.match(served.subject, /portico-fallback/);
    assert.equal(served.issuer, served.subject, 'self-signed');
  });

  it('with no Listener either, the IR names 8080 HTTP and 8443 HTTPS, both with the default Host', () => {
    const r = compileYaml(`apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: quote }
spec: { hostname: "*", prefix: /backend/, service: quote }
`);
    assert.deepEqual(r.ir.listeners.map((l) => `${l.port} ${l.protocolStack.join('/')} ${l.securityModel} ${l.virtualHosts.map((v) => `${v.hostname}:${v.insecureAction}:${v.tlsContext}`).join()}`), [
      '8080 HTTP/TCP XFP *:Redirect:fallback',
      '8443 TLS/HTTP/TCP XFP *:Redirect:fallback',
    ]);
  });
});

// python/ambassador/src/ambassador/ir/irhost.py, save_context: "Secret info mismatch between Host
// ... and TLSContext ..." makes the Host inactive.
describe('Host and TLSContext details as Emissary checks them', () => {
  let pki: TestPKI;
  before(() => {
    pki = makeTestPKI();
  });
  after(() => pki.cleanup());

  const secret = (name: string, pair: { certPem: string; keyPem: string }) => `---
apiVersion: v1
kind: Secret
metadata: { name: ${name} }
type: kubernetes.io/tls
data: { tls.crt: ${Buffer.from(pair.certPem).toString('base64')}, tls.key: ${Buffer.from(pair.keyPem).toString('base64')} }
`;

  it('a Host whose tlsSecret differs from its TLSContext\'s secret is refused; the same secret is fine', () => {
    const yaml = (hostSecret: string) => `${secret('a-cert', pki.a)}${secret('b-cert', pki.b)}---
apiVersion: getambassador.io/v3alpha1
kind: TLSContext
metadata: { name: a-context }
spec: { hosts: [a.example.test], secret: a-cert, min_tls_version: v1.2 }
---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: a-host }
spec:
  hostname: a.example.test
  tlsSecret: { name: ${hostSecret} }
  tlsContext: { name: a-context }
`;
    // The Secrets hold keys in the configuration: each is also a PrivateKeyInGit warning, not the point here.
    const relevant = (r: ReturnType<typeof compileLoose>) => r.report.problems.filter((p) => p.code !== 'PrivateKeyInGit');
    const bad = compileLoose(yaml('b-cert'));
    assert.deepEqual(codes(bad).filter((c) => !c.startsWith('PrivateKeyInGit')), ['TLSSecretMismatch:a-host']);
    assert.match(relevant(bad)[0]!.message, /tlsSecret 'default\/b-cert' differs from the secret 'default\/a-cert' of its TLSContext 'a-context'/);
    assert.equal(relevant(bad)[0]!.field, 'spec.tlsSecret.name');
    const good = compileLoose(yaml('a-cert'));
    assert.equal(relevant(good).length, 0);
    assert.equal(good.ir.listeners[0]!.virtualHosts[0]!.tlsContext, 'a-context');
  });

  it('Listener l7Depth loads without a "not implemented" warning: the request path trusts that many proxies', async () => {
    const r = compileLoose(`apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: behind-lb }
spec: { port: 8080, protocol: HTTP, securityModel: XFP, l7Depth: 1, hostBinding: { namespace: { from: ALL } } }
`);
    assert.deepEqual(codes(r), []);
    assert.equal(r.ir.listeners[0]!.l7Depth, 1);
  });
});
