// The secrets directory in compile: Hosts and TLSContexts name its entries as they name Secrets (in
// every namespace, ahead of a Secret of the same name), path fields stay inside it, header values
// come from it, and credential header values leave the IR for the SecretStore.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadFiles } from '../../src/load/index.js';
import { compile, type CompileResult } from '../../src/compile/index.js';
import type { Claim, SecretFiles } from '../../src/compile/options.js';
import { canonicalJSON, sha256 } from '../../src/ir/canonical.js';
import { REDACTED } from '../../src/ir/secrets.js';
import type { IRHeaderValue, IRTLSContext } from '../../src/ir/types.js';
import { makeTestPKI, type TestPKI } from '../support/test-pki.js';

let pki: TestPKI;
before(() => {
  pki = makeTestPKI();
});
after(() => pki.cleanup());

const ROOT = '/run/portico/secrets';
const TOKEN = 'Bearer tok-5f1d9c-upstream';

function files(extra: Record<string, string> = {}, skipped: SecretFiles['skipped'] = {}): SecretFiles {
  return {
    roots: [ROOT, '/var/lib/real-secrets'],
    files: {
      'edge-cert/tls.crt': pki.a.certPem,
      'edge-cert/tls.key': pki.a.keyPem,
      'edge-ca/ca.crt': pki.caPem,
      'api-token/token': `${TOKEN}\n`,
      ...extra,
    },
    skipped,
  };
}

const LISTENER = `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: https, namespace: default }
spec: { port: 8443, protocol: HTTPS, securityModel: XFP, hostBinding: { namespace: { from: ALL } } }
---
`;

function host(spec: string, namespace = 'default'): string {
  return `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: a, namespace: ${namespace} }
spec:
  hostname: a.example.test
${spec}
---
`;
}

function build(yaml: string, secretFiles?: SecretFiles, opts: { source?: string; revision?: string; claims?: Record<string, Claim> } = {}): CompileResult {
  const loaded = loadFiles([{ path: 'edge.yaml', content: yaml }], { ...(opts.source ? { source: opts.source } : {}), ...(opts.revision ? { revision: opts.revision } : {}) });
  return compile(loaded.resources, { ...(secretFiles ? { secretFiles } : {}), ...(opts.claims ? { claims: opts.claims } : {}) }, loaded.problems);
}

function contextOf(r: CompileResult): IRTLSContext | undefined {
  const name = r.ir.listeners.flatMap((l) => l.virtualHosts).find((v) => v.hostname === 'a.example.test')?.tlsContext;
  return r.ir.tlsContexts.find((c) => c.name === name);
}

function errors(r: CompileResult): { code: string; message: string; field?: string }[] {
  return r.report.problems.filter((p) => p.severity === 'error').map((p) => ({ code: p.code, message: p.message, ...(p.field ? { field: p.field } : {}) }));
}

/** No PEM and no credential anywhere in what render, the admin API and plan print. */
function assertNothingSecretIn(r: CompileResult): void {
  const text = canonicalJSON({ ir: r.ir, report: r.report });
  assert.doesNotMatch(text, /-----BEGIN/);
  assert.ok(!text.includes(TOKEN) && !text.includes('tok-5f1d9c'), 'no header credential in the IR or report');
  assert.ok(!text.includes(pki.a.keyPem.split('\n')[1]!), 'no key line in the IR or report');
}

describe('TLS material by name', () => {
  test('a Host in git names an entry of the directory: the IR holds its id and digest, the store its material', () => {
    const r = build(LISTENER + host('  tlsSecret: { name: edge-cert }'), files());
    assert.deepEqual(errors(r), []);
    assert.deepEqual(contextOf(r)?.certificate, { secret: 'secrets:edge-cert', sha256: sha256(pki.a.certPem) });
    assert.equal(r.secrets['secrets:edge-cert']?.keyPem, pki.a.keyPem);
    assertNothingSecretIn(r);
  });

  const namespaces: Record<string, string> = {
    'from another namespace': host('  tlsSecret: { name: edge-cert }', 'prod'),
    'with an explicit namespace': host('  tlsSecret: { name: edge-cert, namespace: shop }'),
  };
  for (const [name, yaml] of Object.entries(namespaces)) {
    test(`the directory has no namespaces: a reference ${name} resolves to the entry`, () => {
      const r = build(LISTENER + yaml, files());
      assert.deepEqual(errors(r), []);
      assert.equal(contextOf(r)?.certificate?.secret, 'secrets:edge-cert');
    });
  }

  test('an entry wins over a Secret resource of the same name, which is reported SecretShadowed', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const secret = `apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: { name: edge-cert, namespace: default }
data: { tls.crt: ${b64(pki.b.certPem)}, tls.key: ${b64(pki.b.keyPem)} }
---
`;
    const r = build(LISTENER + host('  tlsSecret: { name: edge-cert }') + secret, files(), { source: 'ops', revision: 'c0ffee' });
    assert.deepEqual(errors(r), []);
    assert.equal(contextOf(r)?.certificate?.sha256, sha256(pki.a.certPem), 'the directory certificate is served');
    const warnings = r.report.problems.filter((p) => p.severity === 'warning').map((p) => [p.code, p.field]);
    assert.deepEqual(warnings.sort(), [
      ['PrivateKeyInGit', 'data.tls.key'],
      ['SecretShadowed', 'metadata.name'],
    ]);
    const keyInGit = r.report.problems.find((p) => p.code === 'PrivateKeyInGit')!;
    assert.match(keyInGit.message, /holds a private key in git; .*secrets directory as edge-cert\/tls\.crt and edge-cert\/tls\.key/);
    assertNothingSecretIn(r);
  });

  test('a certificate and key that do not match (half-way through a rotation) are an error on the Host, not a crash', () => {
    const r = build(LISTENER + host('  tlsSecret: { name: edge-cert }'), files({ 'edge-cert/tls.key': pki.b.keyPem }));
    assert.deepEqual(errors(r), [{ code: 'SecretInvalid', message: "TLS secret 'default/edge-cert': edge-cert/tls.key in the secrets directory does not match the certificate in edge-cert/tls.crt", field: 'spec.tlsSecret.name' }]);
    assertNothingSecretIn(r);
  });

  test('TLSContext secret and ca_secret: Emissary name.namespace references reach the entry; a dotted entry needs secret_namespacing: false', () => {
    const ctx = (spec: string) => `apiVersion: getambassador.io/v3alpha1
kind: TLSContext
metadata: { name: ctx, namespace: default }
spec:
  hosts: [a.example.test]
${spec}
---
`;
    const ok = build(LISTENER + host('  tlsContext: { name: ctx }') + ctx('  secret: edge-cert.prod\n  ca_secret: edge-ca\n  cert_required: true'), files());
    assert.deepEqual(errors(ok), []);
    assert.deepEqual([contextOf(ok)?.certificate?.secret, contextOf(ok)?.ca?.secret], ['secrets:edge-cert', 'secrets:edge-ca']);
    const dotted = files({ 'wild.card/tls.crt': pki.a.certPem, 'wild.card/tls.key': pki.a.keyPem });
    const miss = build(LISTENER + host('  tlsContext: { name: ctx }') + ctx('  secret: wild.card'), dotted);
    const notFound = errors(miss).find((e) => e.field === 'spec.secret');
    assert.equal(notFound?.code, 'SecretNotFound');
    assert.match(notFound!.message, /has an entry 'wild\.card': .*set secret_namespacing: false/);
    const hit = build(LISTENER + host('  tlsContext: { name: ctx }') + ctx('  secret: wild.card\n  secret_namespacing: false'), dotted);
    assert.deepEqual(errors(hit), []);
  });
});

describe('cert_chain_file, private_key_file and cacert_chain_file resolve inside the directory only', () => {
  const ctx = (fields: string) => `apiVersion: getambassador.io/v3alpha1
kind: TLSContext
metadata: { name: ctx, namespace: default }
spec:
  hosts: [a.example.test]
${fields}
---
`;
  const pair = (cert: string, key: string) => `  cert_chain_file: ${cert}\n  private_key_file: ${key}`;
  const outside = files({}, { 'escape/tls.crt': { reason: 'it leads outside the secrets directory', outside: true } });
  const cases: { name: string; fields: string; files?: SecretFiles; code?: string; field?: string; message?: RegExp; id?: string }[] = [
    { name: 'relative paths', fields: pair('edge-cert/tls.crt', 'edge-cert/tls.key'), id: 'file:edge-cert/tls.crt+edge-cert/tls.key' },
    { name: 'absolute paths under the directory as given', fields: pair(`${ROOT}/edge-cert/tls.crt`, `${ROOT}/edge-cert/tls.key`), id: 'file:edge-cert/tls.crt+edge-cert/tls.key' },
    { name: 'absolute paths under its real path', fields: pair('/var/lib/real-secrets/edge-cert/tls.crt', 'edge-cert/./tls.key'), id: 'file:edge-cert/tls.crt+edge-cert/tls.key' },
    { name: 'an absolute path elsewhere', fields: pair('/etc/ssl/private/server.crt', 'edge-cert/tls.key'), code: 'SecretFileOutside', field: 'spec.cert_chain_file', message: /cert_chain_file: '\/etc\/ssl\/private\/server\.crt' is outside the secrets directory \(\/run\/portico\/secrets\)/ },
    { name: 'a relative path that climbs out', fields: pair('edge-cert/tls.crt', '../../etc/shadow'), code: 'SecretFileOutside', field: 'spec.private_key_file', message: /private_key_file: '\.\.\/\.\.\/etc\/shadow' is outside/ },
    { name: 'an absolute path that climbs out of the directory', fields: pair(`${ROOT}/../../etc/passwd`, 'edge-cert/tls.key'), code: 'SecretFileOutside', field: 'spec.cert_chain_file' },
    { name: 'a prefix of the directory name is not inside it', fields: pair(`${ROOT}-other/tls.crt`, 'edge-cert/tls.key'), code: 'SecretFileOutside', field: 'spec.cert_chain_file' },
    { name: 'a link inside the directory that leads out of it', fields: pair('escape/tls.crt', 'edge-cert/tls.key'), files: outside, code: 'SecretFileOutside', field: 'spec.cert_chain_file', message: /escape\/tls\.crt .* is not used: it leads outside the secrets directory/ },
    { name: 'no secrets directory at all', fields: pair('/etc/passwd', '/etc/shadow'), files: undefined, code: 'SecretFileOutside', field: 'spec.cert_chain_file', message: /none is configured \(serve --secrets DIR\)/ },
    { name: 'a file that is not there', fields: pair('nope/tls.crt', 'edge-cert/tls.key'), code: 'SecretNotFound', field: 'spec.cert_chain_file' },
    { name: 'a certificate without its key', fields: '  cert_chain_file: edge-cert/tls.crt', code: 'SchemaViolation', field: 'spec.cert_chain_file', message: /private_key_file is missing/ },
    { name: 'both a secret and files', fields: `  secret: edge-cert\n${pair('edge-cert/tls.crt', 'edge-cert/tls.key')}`, code: 'SchemaViolation', field: 'spec.cert_chain_file' },
    { name: 'a key file that does not match', fields: pair('edge-cert/tls.crt', 'other/tls.key'), files: files({ 'other/tls.key': pki.b.keyPem }), code: 'SecretInvalid', field: 'spec.private_key_file', message: /other\/tls\.key in the secrets directory does not match the certificate in edge-cert\/tls\.crt/ },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = build(LISTENER + host('  tlsContext: { name: ctx }') + ctx(c.fields), 'files' in c ? c.files : files());
      if (c.id) {
        assert.deepEqual(errors(r), []);
        assert.equal(contextOf(r)?.certificate?.secret, c.id);
        assert.equal(r.secrets[c.id]?.keyPem, pki.a.keyPem);
      } else {
        const e = errors(r).find((p) => p.field?.startsWith('spec.') && p.code !== 'TLSContextNotFound');
        assert.equal(e?.code, c.code, JSON.stringify(errors(r)));
        assert.equal(e?.field, c.field);
        if (c.message) assert.match(e!.message, c.message);
        assert.equal(contextOf(r), undefined, 'nothing is served with it');
      }
      assertNothingSecretIn(r);
    });
  }

  test("a Host's own tls block: cert_chain_file, private_key_file and cacert_chain_file", () => {
    const r = build(LISTENER + host(`  tls:\n    cert_chain_file: ${ROOT}/edge-cert/tls.crt\n    private_key_file: ${ROOT}/edge-cert/tls.key\n    cacert_chain_file: edge-ca/ca.crt\n    cert_required: true`), files());
    assert.deepEqual(errors(r), []);
    assert.deepEqual(contextOf(r)?.ca, { secret: 'file:edge-ca/ca.crt', sha256: sha256(pki.caPem) });
    assert.equal(contextOf(r)?.certRequired, true);
    const bad = build(LISTENER + host('  tls:\n    cert_chain_file: /etc/ssl/cert.pem\n    private_key_file: /etc/ssl/key.pem'), files());
    assert.deepEqual(errors(bad).map((e) => [e.code, e.field]), [['SecretFileOutside', 'spec.tls.cert_chain_file']]);
  });
});

describe('credentials in header rules', () => {
  const mapping = (headers: string, name = 'm', namespace = 'default') => `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  hostname: "*"
  prefix: /${name}/
  service: 127.0.0.1:9
${headers}
---
`;
  const adds = (r: CompileResult, field: 'requestAdd' | 'responseAdd' = 'requestAdd'): IRHeaderValue[] => r.ir.listeners.flatMap((l) => l.virtualHosts.flatMap((v) => v.routes.flatMap((rt) => rt.backends.flatMap((b) => [...b.headers[field]]))));

  test('valueFrom.secretKeyRef and a literal authorization both leave the IR; a plain header stays', () => {
    const r = build(
      LISTENER + mapping(`  add_request_headers:\n    authorization: "Bearer literal-in-git"\n    x-upstream-token:\n      valueFrom: { secretKeyRef: { name: api-token, key: token } }\n      append: false\n    x-plain: hello`),
      files(),
    );
    assert.deepEqual(errors(r), []);
    const byName = Object.fromEntries(adds(r).map((h) => [h.name, h]));
    assert.deepEqual(byName['x-plain'], { name: 'x-plain', value: 'hello', append: true });
    assert.equal(byName['x-upstream-token']?.value, REDACTED);
    assert.equal(byName['x-upstream-token']?.append, false);
    assert.equal(byName['x-upstream-token']?.secret?.id, 'secrets:api-token/token');
    assert.equal(r.secrets['secrets:api-token/token']?.value, TOKEN, 'the trailing newline of the file is not part of the value');
    assert.equal(byName['authorization']?.value, REDACTED);
    assert.equal(r.secrets[byName['authorization']!.secret!.id]?.value, 'Bearer literal-in-git');
    assert.ok(!canonicalJSON(r.ir).includes('literal-in-git'));
    assertNothingSecretIn(r);
  });

  test('a changed credential changes the IR hash (plan and the gateway see a change) but not what is printed', () => {
    const yaml = LISTENER + mapping('  add_request_headers:\n    x-upstream-token: { valueFrom: { secretKeyRef: { name: api-token, key: token } } }');
    const one = build(yaml, files());
    const two = build(yaml, files({ 'api-token/token': 'Bearer rotated-token' }));
    assert.notEqual(one.hash, two.hash);
    assert.equal(adds(two)[0]?.value, REDACTED);
  });

  test('credential-bearing names are redacted in responses too, and the Module can name more', () => {
    const module = `apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: { name: ambassador, namespace: default }
spec:
  config:
    portico_credential_headers: [X-Internal-Key]
---
`;
    const r = build(LISTENER + module + mapping('  add_request_headers:\n    x-internal-key: k-123\n    X-API-Key: { value: k-456, append: false }\n  add_response_headers:\n    set-cookie: "session=s-789; HttpOnly"'), files());
    assert.deepEqual(errors(r), []);
    const text = canonicalJSON(r.ir);
    for (const v of ['k-123', 'k-456', 's-789']) assert.ok(!text.includes(v), `${v} is not in the IR`);
    assert.deepEqual(adds(r).map((h) => [h.name, h.value, h.append]), [
      ['x-api-key', REDACTED, false],
      ['x-internal-key', REDACTED, true],
    ]);
    assert.equal(adds(r, 'responseAdd')[0]?.value, REDACTED);
    assert.deepEqual(Object.values(r.secrets).map((e) => e.value).sort(), ['k-123', 'k-456', 'session=s-789; HttpOnly']);
  });

  const refused: { name: string; headers: string; files?: Record<string, string>; code: string; message: RegExp }[] = [
    { name: 'a key that is not there', headers: '    x-t: { valueFrom: { secretKeyRef: { name: api-token, key: nope } } }', code: 'SecretNotFound', message: /api-token\/nope is not in the secrets directory/ },
    { name: 'a private key as a header value', headers: '    x-t: { valueFrom: { secretKeyRef: { name: edge-cert, key: tls.key } } }', code: 'SecretInvalid', message: /holds a private key, which is never sent as a header value/ },
    { name: 'a value with a line break (header injection)', headers: '    x-t: { valueFrom: { secretKeyRef: { name: api-token, key: token } } }', files: { 'api-token/token': 'Bearer abc-secret-1\r\nx-evil: 1\n' }, code: 'SecretInvalid', message: /is not a usable header value/ },
    { name: 'a name that climbs out of the directory', headers: '    x-t: { valueFrom: { secretKeyRef: { name: "..", key: passwd } } }', code: 'SchemaViolation', message: /must be plain names/ },
  ];
  for (const c of refused) {
    test(`refused with ${c.code}: ${c.name}; the message never quotes the value`, () => {
      const r = build(LISTENER + mapping(`  add_request_headers:\n${c.headers}`), files(c.files ?? {}));
      const e = errors(r);
      assert.equal(e.length, 1, JSON.stringify(e));
      assert.equal(e[0]!.code, c.code);
      assert.match(e[0]!.message, c.message);
      assert.match(e[0]!.field!, /^spec\.add_request_headers\.x-t\.valueFrom/);
      assert.ok(!e[0]!.message.includes('abc-secret-1'));
      assert.equal(adds(r).length, 0, 'the Mapping is not served');
      assertNothingSecretIn(r);
    });
  }

  test('an added header object needs exactly one of value and valueFrom', () => {
    const neither = build(LISTENER + mapping('  add_request_headers:\n    x-t: { append: false }'), files());
    assert.deepEqual(errors(neither).map((e) => [e.code, e.field]), [['SchemaViolation', 'spec.add_request_headers.x-t']]);
    const both = build(LISTENER + mapping('  add_request_headers:\n    x-t: { value: v, valueFrom: { secretKeyRef: { name: api-token, key: token } } }'), files());
    assert.deepEqual(errors(both).map((e) => [e.code, e.field]), [['SchemaViolation', 'spec.add_request_headers.x-t.valueFrom']]);
  });

  test('a team source may not read the secrets directory into its headers; its own literal credential is redacted', () => {
    const claims: Record<string, Claim> = { shop: { kinds: ['Mapping'], hostnames: ['*'], pathPrefixes: [] } };
    const team = mapping('  add_request_headers:\n    x-t: { valueFrom: { secretKeyRef: { name: api-token, key: token } } }', 'steal', 'shop') + mapping('  add_request_headers:\n    authorization: "Basic c2hvcDpwdw=="', 'own', 'shop');
    const central = loadFiles([{ path: 'edge.yaml', content: LISTENER }], { source: 'ops', revision: 'c0ffee' });
    const loaded = loadFiles([{ path: 'shop.yaml', content: team }], { source: 'shop', revision: 'bead' });
    const r = compile([...central.resources, ...loaded.resources], { claims, secretFiles: files() }, [...central.problems, ...loaded.problems]);
    assert.deepEqual(errors(r).map((e) => [e.code, e.field]), [['ClaimViolation', 'spec.add_request_headers.x-t.valueFrom.secretKeyRef']]);
    assert.match(errors(r)[0]!.message, /a team source may not take header values from the secrets directory/);
    assert.deepEqual(adds(r).map((h) => [h.name, h.value]), [['authorization', REDACTED]]);
    assert.ok(!canonicalJSON(r.ir).includes('c2hvcDpwdw'));
  });

  test('the same compile without a secrets directory: a valueFrom is SecretNotFound, and compile output is the same for the same input', () => {
    const yaml = LISTENER + mapping('  add_request_headers:\n    authorization: "Bearer a"\n    x-t: { valueFrom: { secretKeyRef: { name: api-token, key: token } } }');
    assert.match(errors(build(yaml))[0]!.message, /needs the secrets directory \(serve --secrets DIR\)/);
    const a = build(yaml, files());
    const b = build(yaml, files());
    assert.equal(a.hash, b.hash);
    assert.equal(canonicalJSON(a.secrets), canonicalJSON(b.secrets));
  });
});
