// `portico explain` over the Emissary corpus and the shop fixtures: insecure handling per Host,
// where each setting came from, nearest candidates for a request nothing serves, and exit codes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Explainer } from '../../src/review/explain-engine.js';
import { offlineState } from '../../src/controller/offline.js';
import { parseRequestLine } from '../../src/review/request-spec.js';
import { loadFiles } from '../../src/load/index.js';
import { compile } from '../../src/compile/index.js';
import { formatExplainText } from '../../src/review/explain-format.js';
import { parseRouteTests, runOffline } from '../../src/review/route-tests.js';
import { compileYaml } from '../support/compile-yaml.js';
import { cleartextHostYaml } from '../support/policy-yaml.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'bin/portico.js');
// Emissary's own test data, beside the repository as the other corpus tests expect it.
const HOSTSEM = fileURLToPath(new URL('../../../test/testdata/emissary/hostsem', import.meta.url));
const SHOP = join(ROOT, 'test/testdata/review/shop');

function portico(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT, timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function explainer(path: string): Promise<Explainer> {
  const c = await offlineState({ paths: [path] });
  return new Explainer(c.result.ir, c.resources);
}

test('Emissary hostsem cleartextonly: insecure h2 is redirected to https, insecure h1 is routed', async () => {
  const e = await explainer(join(HOSTSEM, 'cleartextonly.yaml'));
  const h2 = e.explain(parseRequestLine('GET http://h2.example.com/quote/x?a=1'));
  assert.equal(h2.outcome, 'https_redirect');
  assert.equal(h2.status, 301);
  assert.equal(h2.location, 'https://h2.example.com/quote/x?a=1');
  assert.equal(h2.secure?.value, false);
  assert.match(h2.secure?.why ?? '', /securityModel INSECURE/);
  assert.match(h2.reason, /requestPolicy\.insecure\.action Redirect/);
  const h1 = e.explain(parseRequestLine('GET http://h1.example.com/quote/x'));
  assert.equal(h1.outcome, 'forward');
  assert.equal(h1.route?.id, 'default/qotm-mapping');
  assert.equal(h1.backends[0]?.service, 'quote.ambassador');
  assert.equal(h1.backends[0]?.path, '/x');
  assert.match(h1.backends[0]?.mapping.at ?? '', /cleartextonly\.yaml:\d+:\d+$/);
});

test('Emissary hostsem basic: TLS listeners route https for both Hosts; an unselected Mapping serves nothing', async () => {
  const e = await explainer(join(HOSTSEM, 'basic.yaml'));
  for (const host of ['h1.example.com', 'h2.example.com']) {
    const r = e.explain(parseRequestLine(`GET https://${host}/quote/`));
    assert.equal(r.outcome, 'forward', host);
    assert.equal(r.listener?.tls, true);
    assert.equal(r.secure?.value, true);
  }
  const ignored = e.explain(parseRequestLine('GET https://h1.example.com/ignore-this-mapping/'));
  assert.equal(ignored.outcome, 'no_route');
  assert.equal(ignored.status, 404);
});

test('explain says where settings came from: Mapping, Module default, built-in default', async () => {
  const e = await explainer(SHOP);
  const r = e.explain(parseRequestLine('GET http://api.example.com/orders/42'));
  const s = new Map(r.backends[0]?.settings.map((x) => [x.setting, x]));
  assert.equal(s.get('request timeout (ms)')?.from, 'module');
  assert.equal(s.get('request timeout (ms)')?.value, '5000');
  assert.match(s.get('request timeout (ms)')?.origin ?? '', /listeners\.yaml:\d+/);
  assert.equal(s.get('prefix rewrite')?.from, 'mapping');
  assert.match(s.get('prefix rewrite')?.origin ?? '', /orders\.yaml:11:3$/);
  assert.equal(s.get('connect timeout (ms)')?.from, 'built-in');
  const admin = e.explain(parseRequestLine('POST http://api.example.com/orders/admin/7'));
  const t = admin.backends[0]?.settings.find((x) => x.setting === 'request timeout (ms)');
  assert.deepEqual([t?.from, t?.value], ['mapping', '10000']);
  // forwarded headers: the Mapping's add_request_headers and the gateway's own
  const sent = new Map(r.backends[0]?.headers.map(([n, v]) => [n, v]));
  assert.equal(sent.get('x-team'), 'shop');
  assert.equal(sent.get('x-forwarded-proto'), 'http');
  assert.equal(sent.get('host'), 'api.example.com');
});

test('a request nothing serves lists the nearest candidates and why each did not match', async () => {
  const e = await explainer(SHOP);
  const hdr = e.explain(parseRequestLine('GET http://api.example.com/carts/1', [['x-tenant', 'other']]));
  assert.equal(hdr.outcome, 'no_route');
  const carts = hdr.candidates.find((c) => c.route === 'shop/carts');
  assert.match(carts?.reason ?? '', /header x-tenant must be = acme \(request has 'other'\)/);
  const method = e.explain(parseRequestLine('GET http://api.example.com/orders/admin/1'));
  // GET falls through to the broader orders route; the admin route was rejected on method
  assert.equal(method.route?.id, 'shop/orders');
  const path = e.explain(parseRequestLine('GET http://api.example.com/order/42'));
  assert.equal(path.status, 404);
  assert.ok(path.candidates.some((c) => c.route === 'shop/orders' && /prefix \/orders\/ does not match \/order\/42/.test(c.reason)));
  const host = e.explain(parseRequestLine('GET http://nowhere.example.com/orders/1'));
  assert.match(host.reason, /no virtual host on listener http serves 'nowhere\.example\.com'/);
  assert.ok(host.candidates.some((c) => c.route === 'shop/orders' && /on virtual host api\.example\.com/.test(c.reason)));
});

test('explain follows the data plane on paths: normalisation, escaped slashes, refused paths', async () => {
  const e = await explainer(SHOP);
  const dots = e.explain(parseRequestLine('GET http://api.example.com/carts/../orders/9'));
  assert.equal(dots.route?.id, 'shop/orders');
  assert.equal(dots.backends[0]?.path, '/9');
  const escaped = e.explain(parseRequestLine('GET http://api.example.com/orders%2F9'));
  assert.equal(escaped.status, 307);
  const bad = e.explain(parseRequestLine('GET http://api.example.com/a\\b'));
  assert.equal(bad.outcome, 'invalid_path');
});

test('explain CLI: text and json, exit 0 served, 1 not served, 2 usage', () => {
  const ok = portico('explain', SHOP, 'GET http://api.example.com/legacy/a?b=1');
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /→ 302 redirect to http:\/\/www\.example\.com\/archive\?b=1/);
  assert.match(ok.stdout, /defined by {3}Mapping shop\/legacy at .*orders\.yaml:\d+/);
  const miss = portico('explain', SHOP, 'GET http://api.example.com/nothing', '--format', 'json');
  assert.equal(miss.code, 1);
  assert.equal((JSON.parse(miss.stdout) as { status: number }).status, 404);
  const corpus = portico('explain', join(HOSTSEM, 'cleartextonly.yaml'), 'GET http://h2.example.com/quote/');
  assert.equal(corpus.code, 0);
  assert.match(corpus.stdout, /→ 301 redirect to https:\/\/h2\.example\.com\/quote\//);
  assert.equal(portico('explain', SHOP).code, 2);
  const badHeader = portico('explain', SHOP, 'GET http://api.example.com/', '-H', 'no colon');
  assert.equal(badHeader.code, 2);
  assert.match(badHeader.stderr, /expected 'name: value'/);
  const badListener = portico('explain', SHOP, 'GET http://api.example.com/', '--listener', 'nope');
  assert.equal(badListener.code, 1);
  assert.match(badListener.stdout, /no HTTP listener named 'nope'/);
});

test('insecure action Reject finds no route; SECURE and XFP-with-trusted-proxy listeners decide security', async () => {
  const yaml = `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: edge }
spec: { port: 8080, protocol: HTTP, securityModel: XFP, l7Depth: 1, hostBinding: { namespace: { from: ALL } } }
---
apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: inside }
spec: { port: 9090, protocol: HTTP, securityModel: SECURE, hostBinding: { namespace: { from: ALL } } }
---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: pay }
spec: { hostname: pay.example.com, requestPolicy: { insecure: { action: Reject } } }
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: pay, namespace: pay }
spec: { hostname: pay.example.com, prefix: /, service: pay }
`;
  const l = loadFiles([{ path: 'pay.yaml', content: yaml }]);
  const c = compile(l.resources, {}, l.problems);
  assert.equal(c.report.errors, 0, JSON.stringify(c.report.problems));
  const e = new Explainer(c.ir, l.resources);
  const plain = e.explain(parseRequestLine('GET http://pay.example.com/charge'), { listener: 'edge' });
  assert.equal(plain.outcome, 'insecure_rejected');
  assert.equal(plain.status, 404);
  assert.match(plain.reason, /insecure\.action Reject/);
  const viaProxy = e.explain(parseRequestLine('GET http://pay.example.com/charge', [['X-Forwarded-Proto', 'https']]), { listener: 'edge' });
  assert.equal(viaProxy.outcome, 'forward');
  assert.match(viaProxy.secure?.why ?? '', /trusts 1 proxy hop\(s\): X-Forwarded-Proto is 'https'/);
  const inside = e.explain(parseRequestLine('GET http://pay.example.com/charge'), { port: 9090 });
  assert.equal(inside.outcome, 'forward');
  assert.match(inside.secure?.why ?? '', /securityModel SECURE/);
});

test("escaped slashes: a 307 to the unescaped path by default, 400 with reject_requests_with_escaped_slashes: true, forwarded as received with false (Emissary's default)", () => {
  const mapping = 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: { name: repo }\nspec: { hostname: "*", prefix: /repos/, service: repo }\n';
  const withModule = (v: string | undefined): Explainer => {
    const yaml = mapping + (v === undefined ? '' : `---\napiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata: { name: ambassador }\nspec: { config: { reject_requests_with_escaped_slashes: ${v} } }\n`);
    const l = loadFiles([{ path: 'p.yaml', content: yaml }]);
    const c = compile(l.resources, {}, l.problems);
    assert.equal(c.report.errors, 0, JSON.stringify(c.report.problems));
    return new Explainer(c.ir, l.resources);
  };
  const req = parseRequestLine('GET https://a.example.com/repos/group%2Fproject');
  const byDefault = withModule(undefined).explain(req);
  assert.equal(byDefault.status, 307);
  const rejected = withModule('true').explain(req);
  assert.equal(rejected.status, 400);
  const kept = withModule('false').explain(req);
  assert.equal(kept.outcome, 'forward');
  assert.equal(kept.backends[0]?.path, '/group%2Fproject', 'the prefix rewritten, the escape kept');
});

async function explainYaml(yaml: string): Promise<Explainer> {
  const l = loadFiles([{ path: 'hosts.yaml', content: yaml }]);
  const c = compile(l.resources, {}, l.problems);
  assert.equal(c.report.errors, 0, JSON.stringify(c.report.problems));
  return new Explainer(c.ir, l.resources);
}

const ROUTE_LISTENER = `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: http }
spec: { port: 8080, protocol: HTTP, securityModel: INSECURE, hostBinding: { namespace: { from: ALL } } }
`;

test('a Mapping with both hostname and host is served by hostname alone, as Emissary does', async () => {
  const e = await explainYaml(`${ROUTE_LISTENER}---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: any }
spec: { hostname: "*", requestPolicy: { insecure: { action: Route } } }
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: both }
spec: { hostname: "*", host: api.example.com, prefix: /both/, service: both }
`);
  for (const host of ['other.example.com', 'api.example.com']) {
    const r = e.explain(parseRequestLine(`GET http://${host}/both/x`));
    assert.equal(r.outcome, 'forward', host);
    assert.equal(r.route?.id, 'default/both', host);
    assert.equal(r.backends[0]?.service, 'both', host);
  }
});

test('explain picks among wildcard Hosts in Envoy order: exact, suffix wildcards, prefix wildcards (longest first), then "*"', async () => {
  // Each Host selects its own Mapping by label, so the service a request reaches names the Host that took it.
  const hosts: [string, string][] = [
    ['star', '*'],
    ['short-prefix', 'host.*'],
    ['long-prefix', 'host.example.*'],
    ['short-suffix', '*.com'],
    ['long-suffix', '*.example.com'],
    ['exact', 'api.example.com'],
  ];
  const yaml = hosts
    .map(
      ([name, hostname]) => `---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: ${name} }
spec: { hostname: "${hostname}", mappingSelector: { matchLabels: { host: ${name} } }, requestPolicy: { insecure: { action: Route } } }
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: ${name}, labels: { host: ${name} } }
spec: { hostname: "*", prefix: /, service: ${name} }
`,
    )
    .join('');
  const e = await explainYaml(ROUTE_LISTENER + yaml);
  const served = (host: string): [string | undefined, string | undefined] => {
    const r = e.explain(parseRequestLine(`GET http://${host}/x`));
    return [r.virtualHost?.hostname, r.backends[0]?.service];
  };
  assert.deepEqual(served('api.example.com'), ['api.example.com', 'exact']);
  // A suffix wildcard wins over a longer prefix wildcard that matches too.
  assert.deepEqual(served('host.example.com'), ['*.example.com', 'long-suffix']);
  assert.deepEqual(served('host.other.com'), ['*.com', 'short-suffix']);
  assert.deepEqual(served('host.example.org'), ['host.example.*', 'long-prefix']);
  assert.deepEqual(served('host.other.org'), ['host.*', 'short-prefix']);
  assert.deepEqual(served('example.org'), ['*', 'star']);
});

test("Envoy's dynamic values: explain shows them as written and says the gateway fills them in; a route test cannot check them offline", () => {
  // Emissary's docs: topics/using/headers/add-request-headers.md, the Mapping example
  const r = compileYaml(`${cleartextHostYaml()}---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: quote-backend }
spec:
  hostname: "*"
  prefix: /backend/
  add_request_headers:
    x-test-proto: "%PROTOCOL%"
    x-test-ip: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"
    x-test-share: "100%%"
    x-test-static: This is a test header
  service: quote
`);
  const e = new Explainer(r.ir, []);
  const x = e.explain(parseRequestLine('GET http://example.com/backend/a'));
  const b = x.backends[0]!;
  const sent = new Map(b.headers.map(([n, v]) => [n, v]));
  assert.equal(sent.get('x-test-proto'), '%PROTOCOL%');
  assert.equal(sent.get('x-test-ip'), '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%');
  assert.equal(sent.get('x-test-share'), '100%', 'a constant value is shown as sent');
  assert.deepEqual([...b.filledPerRequest].sort(), ['x-test-ip', 'x-test-proto']);
  const text = formatExplainText(x);
  assert.match(text, /^ {4}x-test-proto: %PROTOCOL% {2}← filled in per request$/m);
  assert.match(text, /^ {4}x-test-static: This is a test header$/m);

  const { tests } = parseRouteTests('headers.test.yaml', `tests:
  - name: the protocol and the static header
    request: { url: "http://example.com/backend/a" }
    expect: { status: 200, headers: { x-test-proto: HTTP/1.1, x-test-static: This is a test header } }
  - name: a wrong static header still fails
    request: { url: "http://example.com/backend/a" }
    expect: { headers: { x-test-static: other } }
`);
  const [filled, wrong] = tests.map((t) => runOffline(e, t));
  assert.equal(filled!.ok, true);
  assert.equal(filled!.unchecked, 'headers.x-test-proto: filled in per request from "%PROTOCOL%" — check with --target');
  assert.equal(wrong!.ok, false);
  assert.deepEqual(wrong!.mismatches, [{ field: 'headers.x-test-static', expected: 'other', actual: 'This is a test header' }]);
});
