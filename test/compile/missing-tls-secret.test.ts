// A Host whose TLS Secret does not exist yet (a cert-manager Certificate not yet issued) does not
// hold back the rest of its source, as Emissary marks such a Host inactive and serves the rest; the
// Host is kept without a certificate so that it fails closed. A route with the ACME challenge prefix
// is routed for cleartext requests whatever the Host's insecure action, as Emissary's hole-puncher is.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileYAML } from './compile-support.js';
import { strictProblems } from '../../src/api/problems.js';
import { routeTable } from '../../src/ir/route-table.js';
import { makeTestPKI, type TestPKI } from '../support/test-pki.js';
import type { CompileResult } from '../../src/compile/index.js';

const LISTENER = `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: https, namespace: default }
spec: { port: 8443, protocol: HTTPS, securityModel: XFP, hostBinding: { namespace: { from: ALL } } }
---
`;

const host = (spec: string, name = 'shop'): string => `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: ${name}, namespace: default }
spec: { hostname: shop.example.com, ${spec} }
---
`;

const MAPPINGS = `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: shop, namespace: default }
spec: { hostname: shop.example.com, prefix: /, service: shop }
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: acme-challenge, namespace: default }
spec: { hostname: "*", prefix: /.well-known/acme-challenge/, service: cm-acme-http-solver }
`;

const problemsOf = (r: CompileResult): string[] => r.report.problems.map((p) => `${p.severity} ${p.code} ${p.resource?.kind}/${p.resource?.name} ${p.field ?? ''}`);

function vhostOf(r: CompileResult) {
  const vh = r.ir.listeners[0]!.virtualHosts.find((v) => v.hostname === 'shop.example.com');
  assert.ok(vh, 'the Host is served');
  return vh;
}

describe('a Host whose tlsSecret does not exist', () => {
  it('is a warning, not a refusal: the Host and its routes are served, without a certificate', () => {
    const r = compileYAML(LISTENER + host('tlsSecret: { name: shop-cert }') + MAPPINGS);
    assert.deepEqual(problemsOf(r), ['warning TLSSecretMissing Host/shop spec.tlsSecret.name']);
    const p = r.report.problems[0]!;
    assert.match(p.message, /TLS secret 'default\/shop-cert' does not exist .*Host shop\.example\.com is served without a certificate until it does/);
    assert.equal(p.origin.line, 9, 'the problem points at the Host\'s tlsSecret');
    const vh = vhostOf(r);
    assert.deepEqual(vh.routes.map((rt) => rt.id).sort(), ['default/acme-challenge', 'default/shop']);
    assert.equal(vh.insecureAction, 'Redirect', 'its insecure action stays its own');
    const ctx = r.ir.tlsContexts.find((c) => c.name === vh.tlsContext);
    assert.ok(ctx, 'the Host keeps a TLS context of its own, so requests for it over another name are misdirected');
    assert.equal(ctx.certificate, undefined, 'with no certificate: handshakes for its name fail');
  });

  it('keeps the Host\'s TLS settings for when the Secret arrives', () => {
    const r = compileYAML(LISTENER + host('tlsSecret: { name: shop-cert }, tls: { min_tls_version: v1.3 }') + MAPPINGS);
    const ctx = r.ir.tlsContexts.find((c) => c.name === vhostOf(r).tlsContext)!;
    assert.equal(ctx.minVersion, 'TLSv1.3');
    assert.equal(ctx.certificate, undefined);
  });

  it('with a TLSContext that has no secret of its own: served with that context, still without a certificate', () => {
    const context = `apiVersion: getambassador.io/v3alpha1
kind: TLSContext
metadata: { name: strict, namespace: default }
spec: { min_tls_version: v1.2 }
---
`;
    const r = compileYAML(LISTENER + context + host('tlsSecret: { name: shop-cert }, tlsContext: { name: strict }') + MAPPINGS);
    assert.deepEqual(problemsOf(r), ['warning TLSSecretMissing Host/shop spec.tlsSecret.name']);
    const vh = vhostOf(r);
    assert.equal(vh.tlsContext, 'strict');
    assert.equal(r.ir.tlsContexts.find((c) => c.name === 'strict')!.certificate, undefined);
  });

  it('is an error under --strict, for CI', () => {
    const r = compileYAML(LISTENER + host('tlsSecret: { name: shop-cert }') + MAPPINGS);
    assert.deepEqual(strictProblems(r.report.problems).map((p) => `${p.severity} ${p.code}`), ['error TLSSecretMissing']);
  });

  it('a Secret that exists but holds no certificate is still an error, as is a missing ca_secret', () => {
    const opaque = `apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: { name: shop-cert, namespace: default }
stringData: { other: x }
---
`;
    const exists = compileYAML(LISTENER + opaque + host('tlsSecret: { name: shop-cert }') + MAPPINGS);
    assert.ok(problemsOf(exists).includes('error SecretNotFound Host/shop spec.tlsSecret.name'), problemsOf(exists).join('\n'));
    const ca = compileYAML(LISTENER + host('tlsSecret: { name: shop-cert }, tls: { ca_secret: shop-ca, cert_required: true }') + MAPPINGS);
    assert.deepEqual(
      problemsOf(ca).filter((p) => p.startsWith('error')),
      ['error SecretNotFound Host/shop spec.tls.ca_secret'],
      'a Host that verifies client certificates with a CA that is not there is not served',
    );
  });
});

describe('a TLSContext whose secret does not exist', () => {
  const context = `apiVersion: getambassador.io/v3alpha1
kind: TLSContext
metadata: { name: shop-ctx, namespace: default }
spec: { hosts: [shop.example.com], secret: shop-cert, min_tls_version: v1.2 }
---
`;
  it('is served without a certificate too, with the Host that names it', () => {
    const r = compileYAML(LISTENER + context + host('tlsContext: { name: shop-ctx }') + MAPPINGS);
    assert.deepEqual(problemsOf(r), ['warning TLSSecretMissing TLSContext/shop-ctx spec.secret']);
    assert.match(r.report.problems[0]!.message, /TLSContext shop-ctx is served without a certificate until it does — TLS handshakes for shop\.example\.com fail/);
    const vh = vhostOf(r);
    assert.equal(vh.tlsContext, 'shop-ctx');
    const ctx = r.ir.tlsContexts.find((c) => c.name === 'shop-ctx')!;
    assert.equal(ctx.certificate, undefined);
    assert.equal(ctx.minVersion, 'TLSv1.2');
  });

  it('served now with that certificate, it does not lose it: an error', () => {
    const r = compileYAML(LISTENER + context + host('tlsContext: { name: shop-ctx }') + MAPPINGS, { servedCertificates: new Map([['TLSContext default/shop-ctx', 'default/shop-cert']]) });
    assert.ok(problemsOf(r).includes('error SecretNotFound TLSContext/shop-ctx spec.secret'), problemsOf(r).join('\n'));
  });
});

describe('a Host served now with a certificate', () => {
  it('never loses it to a Secret removed: that is an error, so the change is refused and the certificate stays', () => {
    const yaml = LISTENER + host('tlsSecret: { name: shop-cert }') + MAPPINGS;
    const lost = compileYAML(yaml, { servedCertificates: new Map([['Host default/shop', 'default/shop-cert']]) });
    const errors = (r: CompileResult): string[] => problemsOf(r).filter((p) => p.startsWith('error'));
    assert.deepEqual(errors(lost), ['error SecretNotFound Host/shop spec.tlsSecret.name']);
    assert.match(lost.report.problems[0]!.message, /TLS secret 'default\/shop-cert' was not found, and Host shop\.example\.com serves its certificate now: a change that removes it is refused/);
    const fromDirectory = compileYAML(yaml, { servedCertificates: new Map([['Host default/shop', 'secrets:shop-cert']]) });
    assert.deepEqual(errors(fromDirectory), ['error SecretNotFound Host/shop spec.tlsSecret.name'], 'an entry of the secrets directory removed, the same');
  });

  it('a Host moved to another Secret that does not exist yet (a new Certificate) is served without one, as a new Host is', () => {
    const r = compileYAML(LISTENER + host('tlsSecret: { name: shop-cert-v2 }') + MAPPINGS, { servedCertificates: new Map([['Host default/shop', 'default/shop-cert']]) });
    assert.deepEqual(problemsOf(r), ['warning TLSSecretMissing Host/shop spec.tlsSecret.name']);
  });
});

describe('the same Host once its Secret exists', () => {
  let pki: TestPKI;
  before(() => {
    pki = makeTestPKI();
  });
  after(() => pki.cleanup());

  it('in the secrets directory: the certificate is served and the warning is gone', () => {
    const secretFiles = { roots: ['/run/secrets'], files: { 'shop-cert/tls.crt': pki.a.certPem, 'shop-cert/tls.key': pki.a.keyPem }, skipped: {} };
    const r = compileYAML(LISTENER + host('tlsSecret: { name: shop-cert }') + MAPPINGS, { secretFiles });
    assert.deepEqual(problemsOf(r), []);
    const ctx = r.ir.tlsContexts.find((c) => c.name === vhostOf(r).tlsContext)!;
    assert.equal(ctx.certificate?.secret, 'secrets:shop-cert');
  });
});

describe('the ACME challenge prefix', () => {
  for (const action of ['Redirect', 'Reject'] as const) {
    it(`is routed for cleartext requests on a Host whose insecure action is ${action}; every other route keeps the action`, () => {
      const r = compileYAML(LISTENER + host(`requestPolicy: { insecure: { action: ${action} } }`) + MAPPINGS);
      const rows = routeTable(r.ir).filter((row) => row.virtualHost.hostname === 'shop.example.com');
      assert.deepEqual(
        rows.map((row) => [row.id, row.schemes.http]).sort(),
        [
          ['default/acme-challenge', 'route'],
          ['default/shop', action.toLowerCase()],
        ],
      );
    });
  }

  it('only for that prefix exactly, as in Emissary', () => {
    const r = compileYAML(
      LISTENER +
        host('requestPolicy: { insecure: { action: Reject } }') +
        MAPPINGS.replace('prefix: /.well-known/acme-challenge/,', 'prefix: /.well-known/acme-challenge/token,'),
    );
    const rows = routeTable(r.ir).filter((row) => row.virtualHost.hostname === 'shop.example.com');
    assert.deepEqual(rows.map((row) => row.schemes.http), ['reject', 'reject']);
  });
});
