// Fail closed (issue 15 item 10): a kind or field that would guard routes and that Portico does not
// enforce is refused with NotEnforced and its place in the file, never loaded with a warning while
// the routes it guards are served open. Built from Emissary's docs examples and test YAML.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFiles, type LoadResult } from '../../src/load/index.js';
import { compile } from '../../src/compile/index.js';
import { formatOrigin } from '../../src/api/origin.js';
import { UNENFORCED_FIELDS, UNENFORCED_KINDS } from '../../src/load/unenforced-protections.js';

const EMISSARY = join(process.cwd(), 'test', 'testdata', 'emissary');
const docs = (name: string): string => readFileSync(join(EMISSARY, 'docs', name), 'utf8');

function load(text: string, path = 'deploy/edge.yaml', ambassadorId?: string): LoadResult {
  return loadFiles([{ path, content: text }], { source: 'edge', revision: 'abcdef0123456789abcd', ...(ambassadorId ? { ambassadorId } : {}) });
}

function refusals(r: LoadResult): string[] {
  return r.problems.filter((p) => p.code === 'NotEnforced').map((p) => `${formatOrigin(p.origin)} ${p.resource?.kind} ${p.resource?.name} ${p.field} ${p.severity}`);
}

test("Emissary's docs examples of guarding kinds and fields are refused, with file:line and the field", async (t) => {
  // test/testdata/emissary/docs: datawire/ambassador-docs 7d7a611, docs/emissary/latest (see its README).
  const cases: Record<string, { file: string; refused: string[]; what: RegExp }> = {
    'TLSContext crl_secret (topics/running/tls/index.md)': {
      file: 'topics.running.tls.index.10.yaml',
      refused: ['edge@abcdef012345:topics.running.tls.index.10.yaml:11:3 TLSContext tls-crl spec.crl_secret error'],
      what: /revoked client certificates would be accepted/,
    },
    'Module lua_scripts (howtos/grpc.md): a script Portico cannot run': {
      file: 'howtos.grpc.4.yaml',
      refused: ['edge@abcdef012345:howtos.grpc.4.yaml:9:5 Module ambassador spec.config.lua_scripts error'],
      what: /Lua scripts/,
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    await t.test(name, () => {
      const r = load(docs(c.file), c.file);
      assert.deepEqual(refusals(r), c.refused);
      assert.match(r.problems.find((p) => p.code === 'NotEnforced')!.message, c.what);
      // The guarded kind or resource is not loaded (a Module keeps its other keys, without the refused one).
      const kind = c.refused[0]!.split(' ')[1]!;
      if (kind === 'Module') assert.equal(JSON.stringify(r.resources.find((x) => x.kind === 'Module')?.spec).includes('lua_scripts'), false);
      else assert.equal(r.resources.filter((x) => x.kind === kind).length, 0);
    });
  }
});

test('Module ip_allow (the example of the ambassador Module docs) is enforced now: no refusal, an IP filter in the IR', () => {
  // docs/emissary/latest/topics/running/ambassador.md, "IP allow and deny": the ip_allow example in a Module.
  const r = load('apiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata:\n  name: ambassador\nspec:\n  config:\n    cluster_request_timeout_ms: 9000\n    ip_allow:\n    - peer: 127.0.0.1\n    - remote: 99.99.0.0/16\n');
  assert.deepEqual(refusals(r), []);
  const c = compile(r.resources, {}, r.problems);
  assert.equal(c.report.errors, 0);
  assert.equal(c.ir.global.requestTimeoutMs, 9000);
  assert.deepEqual(c.ir.global.policies?.ipFilter?.principals, [{ kind: 'peer', cidr: '127.0.0.1/32' }, { kind: 'remote', cidr: '99.99.0.0/16' }]);
});

test('AuthService (howtos/basic-auth.md) is enforced now: it loads and compiles into the IR with its cluster', () => {
  const r = load(docs('howtos.basic-auth.1.yaml'), 'howtos.basic-auth.1.yaml');
  assert.deepEqual(r.problems, []);
  const c = compile(r.resources, {}, r.problems);
  assert.equal(c.report.errors, 0);
  const auth = c.ir.global.policies?.authServices?.[0];
  assert.equal(auth?.name, 'default/authentication');
  assert.equal(auth?.pathPrefix, '/extauth');
  assert.ok(auth?.allowedRequestHeaders.includes('x-qotm-session'));
  assert.deepEqual(auth?.identityHeaders, ['x-qotm-session']);
  assert.equal(auth?.cluster, 'cluster_extauth_example_auth_3000_default');
  assert.deepEqual(c.ir.clusters.find((x) => x.name === auth?.cluster)?.endpoints, [{ host: 'example-auth', port: 3000 }]);
});

test('an AuthService for another instance (ambassador_id) is not ours; as that instance, it loads', () => {
  // docs/emissary/latest/topics/running/services/auth-service.md: the example carries ambassador_id ["ambassador-1"].
  const yaml = 'apiVersion: getambassador.io/v3alpha1\nkind: AuthService\nmetadata:\n  name: authentication\nspec:\n  ambassador_id: [ "ambassador-1" ]\n  auth_service: "example-auth.authentication:3000"\n  tls: true\n  proto: http\n  timeout_ms: 5000\n  failure_mode_allow: false\n';
  assert.deepEqual(load(yaml).problems, []);
  assert.equal(load(yaml).resources.length, 0);
  const mine = load(yaml, 'deploy/edge.yaml', 'ambassador-1');
  assert.deepEqual(mine.problems, []);
  assert.equal(mine.resources.length, 1);
});

test('opt-outs load: a Mapping with bypass_auth; FilterPolicies load and are checked at compile', async (t) => {
  await t.test('bypass_auth (e2e/extauth-http) loads without a problem of its own', () => {
    const text = readFileSync(join(EMISSARY, 'e2e', 'extauth-http', 'manifests.yaml'), 'utf8');
    const r = load(text, 'manifests.yaml', "(env('SLOT'))");
    const unauthed = r.resources.find((x) => x.name === 'target-unauthed');
    assert.ok(unauthed, 'the bypass_auth Mapping loads');
    assert.deepEqual(r.problems.filter((p) => p.resource?.name === 'target-unauthed'), []);
    // ... beside the fixture's two AuthServices, which load too now that Portico enforces them.
    assert.equal(r.resources.filter((x) => x.kind === 'AuthService').length, 2);
    assert.deepEqual(r.problems.filter((p) => p.code === 'NotEnforced'), []);
  });
  // Edge Stack docs (datawire/ambassador-docs 7d7a611, docs/edge-stack/latest/topics/using/filters/index.md): httpbin-policy.
  const policy = (rules: string) => `apiVersion: getambassador.io/v3alpha1\nkind: FilterPolicy\nmetadata:\n  name: httpbin-policy\nspec:\n  rules:\n${rules}`;
  const exempt = '  - host: "*"\n    path: /httpbin/ip\n    filters: null\n';
  const guarded = '  - host: "*"\n    path: /httpbin/*\n    filters:\n    - name: param-filter\n    - name: auth0\n';
  await t.test('a FilterPolicy that applies Filters that do not exist is refused at compile (FilterNotFound)', () => {
    const r = load(policy(exempt + guarded));
    assert.deepEqual(refusals(r), []);
    const c = compile(r.resources, {}, r.problems);
    assert.deepEqual(c.report.problems.map((p) => [p.code, p.severity, p.field]).sort(), [
      ['FilterNotFound', 'error', 'spec.rules.1.filters.0.name'],
      ['FilterNotFound', 'error', 'spec.rules.1.filters.1.name'],
    ]);
  });
  await t.test('a FilterPolicy whose only rule applies no filter loads and compiles clean', () => {
    const r = load(policy(exempt));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(compile(r.resources, {}, r.problems).report.problems, []);
  });
});

test('the deprecated tls Module: refused when its client half checks client certificates, a warning otherwise', () => {
  const tlsModule = (config: string) => `apiVersion: getambassador.io/v2\nkind: Module\nmetadata: {name: tls}\nspec:\n  config:\n${config}`;
  const server = '    server: {enabled: true, secret: ambassador-certs}\n';
  assert.deepEqual(load(tlsModule(server)).problems.map((p) => [p.code, p.severity]), [['NotImplemented', 'warning']]);
  const r = load(tlsModule(server + '    client: {enabled: true, cert_required: true, secret: ca-cert}\n'));
  assert.deepEqual(r.problems.map((p) => [p.code, p.severity, p.field]), [['NotEnforced', 'error', 'spec.config.client']]);
});

test('every row of the table refuses what it names, and an explicit off passes', async (t) => {
  const object = (kind: string, spec: string) => `apiVersion: getambassador.io/v3alpha1\nkind: ${kind}\nmetadata: {name: ${kind === 'Module' ? 'ambassador' : 'x'}}\nspec:\n${spec}`;
  const nested = (field: string, value: string): string => {
    const parts = field.split('.');
    return parts.map((p, i) => `${'  '.repeat(i + 1)}${p}:${i === parts.length - 1 ? ` ${value}` : ''}`).join('\n') + '\n';
  };
  const values: Record<string, string> = {
    'config.lua_scripts': '"function envoy_on_request(h) h:respond({[\\":status\\"] = \\"403\\"}, \\"no\\") end"',
  };
  for (const row of UNENFORCED_FIELDS) {
    await t.test(`${row.kind} ${row.field}`, () => {
      const base = row.kind === 'Host' ? '  hostname: a.example\n' : row.kind === 'TLSContext' ? '  hosts: [a.example]\n' : '';
      const r = load(object(row.kind, base + nested(row.field, values[row.field] ?? 'some-name')));
      assert.deepEqual(r.problems.filter((p) => p.severity === 'error').map((p) => [p.code, p.field]), [['NotEnforced', `spec.${row.field}`]]);
    });
  }
  await t.test('lua_scripts that is empty runs nothing, and passes', () => {
    assert.deepEqual(load(object('Module', '  config:\n    lua_scripts: ""\n')).problems, []);
  });
  await t.test('every refused kind is refused', () => {
    for (const kind of Object.keys(UNENFORCED_KINDS)) {
      const r = load(`apiVersion: getambassador.io/v3alpha1\nkind: ${kind}\nmetadata: {name: g}\nspec: {rules: [{host: "*", path: "*", filters: [{name: f}]}]}\n`);
      assert.deepEqual(r.problems.map((p) => [p.code, p.severity]), [['NotEnforced', 'error']], kind);
    }
  });
});
