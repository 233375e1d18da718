// The ambassador Module's documented keys never drop the Module (issue 15 item 4): keys Portico
// implements take effect, those without effect are warned once, an unknown key is a warning and a
// bad value drops only its key. Built from the examples of Emissary's Module reference and headers
// pages, and from its test YAML; the defaults are served through a real gateway.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFiles, type LoadResult } from '../../src/load/index.js';
import { compile, type CompileResult } from '../../src/compile/index.js';
import type { Problem } from '../../src/api/problems.js';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { request } from '../support/http-client.js';
import { makeTestPKI, type TestPKI } from '../support/test-pki.js';
import { cleartextHostYaml } from '../support/policy-yaml.js';

const DOCS = join(process.cwd(), 'test', 'testdata', 'emissary', 'docs');
const doc = (name: string): string => readFileSync(join(DOCS, name), 'utf8');

const moduleWith = (config: string): string =>
  `apiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata:\n  name: ambassador\nspec:\n  config:\n${config.replace(/^(?=.)/gm, '    ')}`;

function load(text: string, path = 'module.yaml'): LoadResult {
  return loadFiles([{ path, content: text }]);
}

const summary = (ps: readonly Problem[]): string[] => ps.map((p) => `${p.severity} ${p.code} ${p.field ?? ''}`.trim());

describe("every example of Emissary's Module reference (topics/running/ambassador.md) loads a Module", () => {
  // test/testdata/emissary/docs/module-config/N.yaml: the page's config fragments, in page order.
  const expected: Record<number, string[]> = {
    1: ['warning NotImplemented spec.config.envoy_log_path', 'warning NotImplemented spec.config.envoy_log_type', 'warning NotImplemented spec.config.envoy_log_format'],
    2: ['warning NotImplemented spec.config.envoy_validation_timeout'],
    3: ['warning NotImplemented spec.config.error_response_overrides'],
    // The page swaps the two values; Emissary refuses them too ("may only be set to one of ...").
    4: ['error SchemaViolation spec.config.forward_client_cert_details', 'error SchemaViolation spec.config.set_current_client_cert_details'],
    6: ['warning NotImplemented spec.config.header_case_overrides'],
    7: ['error NotEnforced spec.config.lua_scripts'],
    8: ['warning NotImplemented spec.config.buffer_limit_bytes'],
    9: ['warning NotImplemented spec.config.diagnostics'],
    10: ['warning NotImplemented spec.config.diagnostics'],
    12: [],
    13: ['warning NotImplemented spec.config.keepalive'],
    14: ['warning NotImplemented spec.config.readiness_probe'],
    15: ['warning NotImplemented spec.config.liveness_probe'],
    16: ['warning NotImplemented spec.config.readiness_probe'],
    17: [],
    18: [],
  };
  for (const [n, problems] of Object.entries(expected)) {
    it(`example ${n}: the Module loads; ${problems.length === 0 ? 'no problem' : problems.join(', ')}`, () => {
      const r = load(moduleWith(doc(`module-config/${n}.yaml`)));
      assert.equal(r.resources.length, 1, 'the Module is kept');
      assert.deepEqual(summary(r.problems), problems);
    });
  }
  it('example 5 (ambassador_id, a spec key) and example 11 (`...` for the rest: not YAML) are not config fragments', () => {
    assert.match(doc('module-config/5.yaml'), /^ambassador_id:/);
    assert.match(doc('module-config/11.yaml'), /^\s+\.\.\.$/m);
  });
});

describe('documented keys without effect, an unknown key and a bad value never drop the rest', () => {
  // Keys Emissary's Module takes (its AModTransparentKeys and `defaults`), beside a request timeout.
  const yaml = moduleWith(
    [
      'cluster_request_timeout_ms: 9000',
      'use_remote_adress: false',
      'cluster_idle_timeout_ms: forever',
      'runtime_flags:',
      '  envoy.reloadable_features.no_extension_lookup_by_name: false',
      'statsd:',
      '  enabled: true',
      'debug_mode: true',
      'auth_enabled: false',
      'defaults:',
      '  tls_secret_namespacing: false',
      '  add_response_headers: {x-default: "yes"}',
      'merge_slashes: false',
      '',
    ].join('\n'),
  );
  let r: LoadResult;
  let c: CompileResult;
  before(() => {
    r = load(yaml);
    c = compile(r.resources, {}, r.problems);
  });

  it('the request timeout 9000 stays 9000, and merge_slashes false stays false', () => {
    assert.equal(c.ir.global.requestTimeoutMs, 9000);
    assert.equal(c.ir.global.mergeSlashes, false);
  });
  it('the bad value is an error on its key alone, which falls back to the default', () => {
    assert.deepEqual(summary(c.report.problems.filter((p) => p.severity === 'error')), ['error SchemaViolation spec.config.cluster_idle_timeout_ms']);
    assert.equal(c.ir.global.clusterIdleTimeoutMs, 60000);
  });
  it('the unknown key is a warning with the key meant; each documented key without effect is warned once', () => {
    assert.deepEqual(summary(r.problems.filter((p) => p.severity === 'warning')).sort(), [
      'warning NotImplemented spec.config.auth_enabled',
      'warning NotImplemented spec.config.debug_mode',
      'warning NotImplemented spec.config.runtime_flags',
      'warning NotImplemented spec.config.statsd',
      'warning UnknownField spec.config.use_remote_adress',
    ]);
    assert.match(r.problems.find((p) => p.code === 'UnknownField')!.message, /did you mean "use_remote_address"/);
  });
  it('the Module loads (with its other keys) even when a key is wrong: use_remote_address keeps its default', () => {
    assert.equal(r.resources.length, 1);
    assert.equal(c.ir.global.useRemoteAddress, true);
  });
});

describe('Module defaults apply to the Mappings that do not set their own (served)', () => {
  let echo: EchoUpstream;
  const gateways: TestGateway[] = [];
  /** A docs example as written, its `service: quote` pointed at the echo upstream, plus extra YAML. */
  async function serveDoc(name: string, extra = ''): Promise<TestGateway> {
    // A Host that routes cleartext: with no Host, cleartext is redirected to HTTPS, as in Emissary.
    const text = doc(name).replace(/service: quote/g, `service: 127.0.0.1:${echo.port}`) + extra + '---\n' + cleartextHostYaml();
    const r = loadFiles([{ path: name, content: text }]);
    const c = compile(r.resources, {}, r.problems);
    assert.equal(c.report.errors, 0, JSON.stringify(c.report.problems));
    const gw = await startGateway(c.ir);
    gateways.push(gw);
    return gw;
  }
  before(async () => {
    echo = await startEcho('quote');
  });
  after(async () => {
    for (const gw of gateways) await gw.close();
    await echo.close();
  });

  const sent = (): Record<string, string> => Object.fromEntries(echo.received.at(-1)!.headers.map(([k, v]) => [k.toLowerCase(), v]));

  it('defaults.httpmapping.add_request_headers (topics/using/headers/add-request-headers.md): both Mappings send them; one with its own keeps only its own', async () => {
    // A third Mapping with its own add_request_headers: as in Emissary, its own value replaces the default.
    const own = '---\napiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata:\n  name: own-headers\nspec:\n  hostname: "*"\n  prefix: /own/\n  service: quote\n  add_request_headers:\n    x-own: mine\n';
    const gw = await serveDoc('topics.using.headers.add-request-headers.2.yaml', own.replace('service: quote', `service: 127.0.0.1:${echo.port}`));
    for (const path of ['/backend1/', '/backend2/']) {
      assert.equal((await request(gw.port, { path })).status, 200);
      const h = sent();
      assert.equal(h['x-test-static'], 'This is a test header', path);
      assert.equal(h['x-test-object'], 'This the value', path);
    }
    await request(gw.port, { path: '/own/' });
    assert.equal(sent()['x-own'], 'mine');
    assert.equal(sent()['x-test-static'], undefined);
  });

  it('defaults.httpmapping.add_response_headers (topics/using/headers/add-response-headers.md): both Mappings answer with them', async () => {
    const gw = await serveDoc('topics.using.headers.add-response-headers.2.yaml');
    for (const path of ['/backend1/', '/backend2/']) {
      const r = await request(gw.port, { path });
      assert.equal(r.headers['x-test-static'], 'This is a test header', path);
      assert.equal(r.headers['x-test-object'], 'this is from object header config', path);
    }
  });

  it('a key at the top level of defaults applies when the httpmapping class does not set it', async () => {
    const text = moduleWith('defaults:\n  add_response_headers:\n    x-top: "1"\n') + `---\napiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: {name: m}\nspec: {hostname: "*", prefix: /top/, service: "127.0.0.1:${echo.port}"}\n---\n${cleartextHostYaml()}`;
    const r = loadFiles([{ path: 'top.yaml', content: text }]);
    const c = compile(r.resources, {}, r.problems);
    assert.deepEqual(c.report.problems, []);
    const gw = await startGateway(c.ir);
    gateways.push(gw);
    assert.equal((await request(gw.port, { path: '/top/' })).headers['x-top'], '1');
  });
});

describe('defaults.tls_secret_namespacing (Emissary test YAML, python/tests/src/tests/kat/t_tls.py)', () => {
  let pki: TestPKI;
  before(() => {
    pki = makeTestPKI();
  });
  after(() => pki.cleanup());

  const b64 = (s: string) => Buffer.from(s).toString('base64');
  // TLSContextProtocolMaxVersion: a Secret whose name has a dot, named by a TLSContext, with
  // defaults.tls_secret_namespacing False in the Module (the kat test's flattened form).
  const config = (namespacing: string) => `---
apiVersion: v1
data:
  tls.crt: ${b64(pki.a.certPem)}
  tls.key: ${b64(pki.a.keyPem)}
kind: Secret
metadata:
  name: secret.max-version
type: kubernetes.io/tls
---
apiVersion: getambassador.io/v3alpha1
kind:  Module
name:  ambassador
config:
  defaults:
    tls_secret_namespacing: ${namespacing}
---
apiVersion: getambassador.io/v3alpha1
kind: TLSContext
name: tlscontextprotocolmaxversion-same-context-1
hosts:
- tls-context-host-1
secret: secret.max-version
min_tls_version: v1.1
max_tls_version: v1.2
`;

  it('False: "secret.max-version" is the Secret of that name in the TLSContext\'s namespace', () => {
    const r = load(config('False'));
    const c = compile(r.resources, {}, r.problems);
    assert.equal(c.report.errors, 0, JSON.stringify(c.report.problems));
    const ctx = c.ir.tlsContexts.find((t) => t.name === 'tlscontextprotocolmaxversion-same-context-1');
    assert.equal(ctx?.certificate?.secret, 'default/secret.max-version');
  });
  it('True (the default): it is the Secret "secret" in namespace "max-version", which does not exist', () => {
    const r = load(config('True'));
    const c = compile(r.resources, {}, r.problems);
    assert.deepEqual(summary(c.report.problems.filter((p) => p.severity === 'error')).map((s) => s.split(' ')[1]), ['SecretNotFound']);
    assert.match(c.report.problems.find((p) => p.code === 'SecretNotFound')!.message, /a Secret 'default\/secret\.max-version' exists: with secret_namespacing, 'secret\.max-version' means Secret 'secret' in namespace 'max-version'; set secret_namespacing: false to use it/);
  });
});
