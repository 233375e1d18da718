// Ownership claims and TLS material: a team outside its claim is rejected naming the claim; TLS
// secrets are checked before anything is served and never appear in the IR.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFiles } from '../../src/load/index.js';
import { compile } from '../../src/compile/index.js';
import type { Claim } from '../../src/compile/options.js';
import { canonicalJSON } from '../../src/ir/canonical.js';

const central = `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: http, namespace: edge }
spec: { port: 8080, protocol: HTTP, securityModel: XFP, hostBinding: { namespace: { from: ALL } } }
---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: shop, namespace: edge }
spec: { hostname: "*.shop.example.com", requestPolicy: { insecure: { action: Route } } }
`;

const claims: Record<string, Claim> = {
  orders: { kinds: ['Mapping'], hostnames: ['api.shop.example.com'], pathPrefixes: ['/orders/'] },
};

function compileSources(team: string): ReturnType<typeof compile> {
  const c = loadFiles([{ path: 'edge.yaml', content: central }], { source: 'ops', revision: 'c0ffee' });
  const t = loadFiles([{ path: 'mappings.yaml', content: team }], { source: 'orders', revision: 'bead' });
  return compile([...c.resources, ...t.resources], { claims }, [...c.problems, ...t.problems]);
}

const claimCases: Record<string, [string, RegExp | null]> = {
  'a team Mapping inside its claim is served': ['kind: Mapping\nmetadata: { name: ok, namespace: orders }\nspec: { hostname: api.shop.example.com, prefix: /orders/v1/, service: orders }', null],
  'a team Mapping on a hostname outside its claim is rejected naming the claim': [
    'kind: Mapping\nmetadata: { name: grab, namespace: orders }\nspec: { hostname: pay.shop.example.com, prefix: /orders/, service: orders }',
    /hostname 'pay\.shop\.example\.com' is outside its claim: source 'orders' claims .*api\.shop\.example\.com/,
  ],
  'a team Mapping with hostname "*" is outside a claim for one hostname': ['kind: Mapping\nmetadata: { name: all, namespace: orders }\nspec: { hostname: "*", prefix: /orders/, service: orders }', /outside its claim/],
  'a team Mapping on a path outside its prefixes is rejected': ['kind: Mapping\nmetadata: { name: path, namespace: orders }\nspec: { hostname: api.shop.example.com, prefix: /payments/, service: orders }', /prefix '\/payments\/' is outside its claim/],
  'a team Mapping whose host is an exact :authority header inside its claim is served': ['kind: Mapping\nmetadata: { name: authority, namespace: orders }\nspec: { headers: { ":authority": api.shop.example.com }, prefix: /orders/v1/, service: orders }', null],
  'a team Mapping whose :authority header is outside its claim is rejected naming the claim': [
    'kind: Mapping\nmetadata: { name: grab-authority, namespace: orders }\nspec: { headers: { ":authority": pay.shop.example.com }, prefix: /orders/, service: orders }',
    /hostname 'pay\.shop\.example\.com' is outside its claim/,
  ],
  'a team may not define a kind it was not granted': ['kind: Host\nmetadata: { name: mine, namespace: orders }\nspec: { hostname: api.shop.example.com }', /Host orders\/mine is outside its claim/],
};

for (const [name, [body, expected]] of Object.entries(claimCases)) {
  test(name, () => {
    const r = compileSources(`apiVersion: getambassador.io/v3alpha1\n${body}\n`);
    const violations = r.report.problems.filter((p) => p.code === 'ClaimViolation');
    if (expected === null) {
      assert.deepEqual(violations, []);
      assert.equal(r.ir.listeners[0]!.virtualHosts[0]!.routes.length, 1);
    } else {
      assert.equal(violations.length, 1);
      assert.match(violations[0]!.message, expected);
      assert.equal(violations[0]!.origin.source, 'orders');
      assert.equal(violations[0]!.origin.revision, 'bead');
      assert.equal(violations[0]!.origin.path, 'mappings.yaml');
      assert.ok(r.ir.listeners[0]!.virtualHosts.every((v) => v.routes.length === 0));
    }
  });
}

let dir = '';
const pem: Record<string, string> = {};
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'portico-tls-'));
  const gen = (name: string, cn: string): void => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-days', '2', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn}`], { stdio: 'ignore' });
    pem[`${name}.crt`] = readFileSync(join(dir, `${name}.crt`), 'utf8');
    pem[`${name}.key`] = readFileSync(join(dir, `${name}.key`), 'utf8');
  };
  gen('a', 'a.example.com');
  gen('b', 'b.example.com');
});
after(() => rmSync(dir, { recursive: true, force: true }));

const b64 = (s: string): string => Buffer.from(s).toString('base64');
function tlsConfig(cert: string, key: string): string {
  return `apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: { name: a-tls, namespace: default }
data: { tls.crt: ${b64(cert)}, tls.key: ${b64(key)} }
---
apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: https, namespace: default }
spec: { port: 8443, protocol: HTTPS, securityModel: XFP }
---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: a, namespace: default }
spec: { hostname: a.example.com, tlsSecret: { name: a-tls } }
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: a, namespace: default }
spec: { hostname: a.example.com, prefix: /, service: a }
`;
}

test('a Host with a TLS secret terminates with it, and the key never appears in the IR or report', () => {
  const l = loadFiles([{ path: 'tls.yaml', content: tlsConfig(pem['a.crt']!, pem['a.key']!) }]);
  const r = compile(l.resources, {}, l.problems);
  assert.equal(r.report.errors, 0, JSON.stringify(r.report.problems));
  const vhost = r.ir.listeners[0]!.virtualHosts[0]!;
  const ctx = r.ir.tlsContexts.find((c) => c.name === vhost.tlsContext)!;
  assert.equal(ctx.certificate!.secret, 'default/a-tls');
  assert.equal(r.secrets['default/a-tls']!.keyPem, pem['a.key']);
  const printed = canonicalJSON({ ir: r.ir, report: r.report });
  assert.ok(!printed.includes('PRIVATE KEY'));
  assert.ok(!printed.includes(b64(pem['a.key']!).slice(0, 40)));
});

test('a key that does not match its certificate is an error in validate, not a runtime surprise', () => {
  const l = loadFiles([{ path: 'tls.yaml', content: tlsConfig(pem['a.crt']!, pem['b.key']!) }]);
  const r = compile(l.resources, {}, l.problems);
  const codes = r.report.problems.map((p) => p.code);
  assert.ok(codes.includes('SecretInvalid'), codes.join(','));
  assert.ok(codes.includes('SecretNotFound'), 'the Host that names the broken secret is rejected too');
  assert.match(r.report.problems.find((p) => p.code === 'SecretInvalid')!.message, /does not match the certificate/);
});

test('cert_required without a CA secret is an error', () => {
  const text = tlsConfig(pem['a.crt']!, pem['a.key']!).replace('tlsSecret: { name: a-tls } }', 'tlsSecret: { name: a-tls }, tls: { cert_required: true } }');
  const l = loadFiles([{ path: 'tls.yaml', content: text }]);
  const r = compile(l.resources, {}, l.problems);
  assert.ok(r.report.problems.some((p) => p.code === 'SecretNotFound' && /ca_secret/.test(p.message)), JSON.stringify(r.report.problems));
});
