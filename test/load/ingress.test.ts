// Ingress resources of class ambassador, read as Emissary reads them (its fetch/ingress.py): each
// path a Mapping to `service.namespace:port`, Exact paths before prefixes, a wildcard rule host as
// one DNS label, the default backend at "/", each `tls` host a Host with its secret that the
// Ingress's host-less paths attach to. Other classes are not ours; what cannot be served is said.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadFiles } from '../../src/load/index.js';
import { compile, type CompileResult } from '../../src/compile/index.js';
import type { IRRoute } from '../../src/ir/types.js';
import { makeTestPKI, type TestPKI } from '../support/test-pki.js';

function build(yaml: string): CompileResult {
  const loaded = loadFiles([{ path: 'ingress.yaml', content: yaml }]);
  return compile(loaded.resources, {}, loaded.problems);
}

const INGRESS = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
  labels: { team: shop }
  annotations:
    kubernetes.io/ingress.class: ambassador
spec:
  defaultBackend:
    service: { name: fallback, port: { number: 80 } }
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /cart
        pathType: Prefix
        backend:
          service: { name: cart, port: { number: 8080 } }
      - path: /cart/health
        pathType: Exact
        backend:
          service: { name: health, port: { number: 9000 } }
      - path: /named
        pathType: Prefix
        backend:
          service: { name: cart, port: { name: http } }
  - host: "*.example.com"
    http:
      paths:
      - backend:
          service: { name: web, port: { number: 80 } }
`;

/** The routes of the cleartext listener, as "match → service (Mapping)". */
function routes(r: CompileResult): string[] {
  const l = r.ir.listeners.find((x) => !x.tls)!;
  const show = (rt: IRRoute): string => {
    const host = rt.match.headers.find((h) => h.name === ':authority');
    const authority = host ? ` ${host.exact ?? `~${host.regex}`}` : '';
    const path = rt.match.path !== undefined ? `exact:${rt.match.path}` : `prefix:${rt.match.prefix}`;
    return `${path}${authority} → ${rt.backends.map((b) => r.ir.clusters.find((c) => c.name === b.cluster)!.service).join()} (${rt.mappings[0]!.name})`;
  };
  return l.virtualHosts.flatMap((v) => v.routes.map(show));
}

describe('Ingress of class ambassador', () => {
  let pki: TestPKI;
  before(() => {
    pki = makeTestPKI();
  });
  after(() => pki.cleanup());

  it('each path is a Mapping to service.namespace:port; Exact first; the wildcard host is one DNS label; the default backend takes the rest', () => {
    const r = build(INGRESS);
    assert.deepEqual(routes(r), [
      'exact:/cart/health shop.example.com → health.shop:9000 (web-0-1)',
      'prefix:/cart shop.example.com → cart.shop:8080 (web-0-0)',
      'prefix:/ ~^[a-z0-9]([-a-z0-9]*[a-z0-9])?\\.example\\.com$ → web.shop:80 (web-1-0)',
      'prefix:/ → fallback.shop:80 (web-default-backend)',
    ]);
    // The Mappings are the Ingress's namespace's, with its labels; their origin is the path they come from.
    const made = r.report.conditions.filter((c) => c.kind === 'Mapping');
    assert.deepEqual(made.map((c) => `${c.namespace}/${c.name}:${c.origin.line}`).sort(), ['shop/web-0-0:16', 'shop/web-0-1:20', 'shop/web-1-0:31', 'shop/web-default-backend:11']);
    // A named port needs the Service object to find its number: said at the path, nothing served for it.
    assert.deepEqual(r.report.problems.map((p) => `${p.code} ${p.origin.line}:${p.origin.col} ${p.field}`), ['NotImplemented 24:9 spec.rules[0].http.paths[2].backend']);
    assert.match(r.report.problems[0]!.message, /^Ingress shop\/web: spec\.rules\[0\]\.http\.paths\[2\] is not served: backend port "http" is named; .* write the port's number$/);
  });

  it('one label in front, as Ingress means it: a.example.com is served by the wildcard rule, a.b.example.com and example.com are not', () => {
    const r = build(INGRESS);
    const wildcard = r.ir.listeners[0]!.virtualHosts.flatMap((v) => v.routes).find((rt) => rt.mappings[0]!.name === 'web-1-0')!;
    const re = new RegExp(wildcard.match.headers[0]!.regex!);
    assert.equal(re.test('a.example.com'), true);
    assert.equal(re.test('a.b.example.com'), false);
    assert.equal(re.test('example.com'), false);
  });

  it('a tls entry makes a Host per host with its secret; paths without a host attach to those Hosts only', () => {
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const r = build(`apiVersion: v1
kind: Secret
metadata: { name: shop-cert, namespace: shop }
type: kubernetes.io/tls
data: { tls.crt: ${b64(pki.a.certPem)}, tls.key: ${b64(pki.a.keyPem)} }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: secure, namespace: shop }
spec:
  ingressClassName: ambassador
  tls:
  - hosts: [a.example.test]
    secretName: shop-cert
  rules:
  - http:
      paths:
      - path: /api
        pathType: Prefix
        backend:
          service: { name: api, port: { number: 8443 } }
`);
    assert.deepEqual(r.report.problems.filter((p) => p.severity === 'error'), []);
    const vhosts = r.ir.listeners.flatMap((l) => l.virtualHosts.map((v) => `${l.tls ? 'tls' : 'plain'} ${v.hostname} ${v.tlsContext ?? '-'} ${v.insecureAction} ${v.routes.map((rt) => rt.mappings[0]!.name).join()}`));
    assert.deepEqual(vhosts, [
      'plain a.example.test host-shop-secure-0-0 Route secure-0-0',
      'tls a.example.test host-shop-secure-0-0 Route secure-0-0',
    ]);
    assert.equal(r.ir.tlsContexts.find((c) => c.name === 'host-shop-secure-0-0')?.certificate?.secret, 'shop/shop-cert');
    const host = r.report.conditions.find((c) => c.kind === 'Host')!;
    assert.equal(`${host.namespace}/${host.name} ${host.status}`, 'shop/secure-0-0 Valid');
  });

  it('an Ingress of another class, or none, is not ours: skipped with the usual word', () => {
    const other = build(INGRESS.replace('kubernetes.io/ingress.class: ambassador', 'kubernetes.io/ingress.class: nginx'));
    assert.deepEqual(other.report.problems.map((p) => p.code), ['NonEmissaryKind']);
    assert.equal(other.ir.listeners.flatMap((l) => l.virtualHosts.flatMap((v) => v.routes)).length, 0);
  });

  it('the older shape (serviceName, servicePort, spec.backend) is read too; an ambassador-id annotation keeps it for that instance', () => {
    const old = `apiVersion: extensions/v1beta1
kind: Ingress
metadata:
  name: legacy
  annotations: { kubernetes.io/ingress.class: ambassador }
spec:
  backend: { serviceName: fallback, servicePort: 8080 }
  rules:
  - host: legacy.example.com
    http:
      paths:
      - path: /v1
        backend: { serviceName: v1, servicePort: "81" }
`;
    assert.deepEqual(routes(build(old)), ['prefix:/v1 legacy.example.com → v1.default:81 (legacy-0-0)', 'prefix:/ → fallback.default:8080 (legacy-default-backend)']);
    const elsewhere = build(old.replace('annotations: {', 'annotations: { getambassador.io/ambassador-id: other,'));
    assert.deepEqual(routes(elsewhere), []);
  });
});
