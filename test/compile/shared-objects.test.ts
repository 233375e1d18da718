// compile() shares and reuses objects to stay fast at 10,000 Mappings (backends, cluster
// requirements, the lazily computed hash); these tests pin the results that sharing must not change.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileYAML, routesOf } from './compile-support.js';
import { hashIR } from '../../src/ir/canonical.js';
import { offlineState } from '../../src/controller/offline.js';

const listener = `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: l, namespace: default }
spec: { port: 8080, protocol: HTTP, securityModel: XFP, hostBinding: { namespace: { from: ALL } } }
---
`;
const host = (name: string, hostname: string): string => `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: ${name}, namespace: default }
spec: { hostname: ${hostname}, requestPolicy: { insecure: { action: Route } } }
---
`;
const M = (name: string, spec: string): string => `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: ${name}, namespace: default }
spec: { ${spec} }
---
`;

test('a Mapping served in two vhosts gets its own backend in each, with the weight of each group', () => {
  const r = compileYAML(
    listener +
      host('a', 'a.example.com') +
      host('b', 'b.example.com') +
      M('everywhere', 'hostname: "*", prefix: /x/, service: wide, weight: 30') +
      M('everywhere-canary', 'hostname: "*", prefix: /x/, service: canary, weight: 10') +
      // another hostname is another group (Emissary's group id), served before the "*" one on a
      M('only-a', 'hostname: a.example.com, prefix: /x/, service: narrow, weight: 70'),
  );
  assert.equal(r.report.errors, 0);
  assert.deepEqual(routesOf(r), [
    { vhost: 'a.example.com', id: 'default/only-a', backends: [['narrow', 100]] },
    { vhost: 'a.example.com', id: 'default/everywhere', backends: [['wide', 75], ['canary', 25]] },
    { vhost: 'b.example.com', id: 'default/everywhere', backends: [['wide', 75], ['canary', 25]] },
  ]);
  const [inA, inB] = r.ir.listeners[0]!.virtualHosts.map((v) => v.routes.find((x) => x.id === 'default/everywhere')!.backends[0]!);
  assert.notEqual(inA, inB, 'changing one route backend must not change the other');
  assert.equal(inA!.cluster, inB!.cluster);
});

test('Mappings with the same upstream settings share a cluster; a different setting makes a variant', () => {
  const r = compileYAML(
    M('a', 'hostname: "*", prefix: /a/, service: api') +
      M('b', 'hostname: "*", prefix: /b/, service: api') +
      M('c', 'hostname: "*", prefix: /c/, service: api, connect_timeout_ms: 1500') +
      M('d', 'hostname: "*", prefix: /d/, service: other'),
  );
  assert.equal(r.report.errors, 0);
  const clusterOf = new Map(r.ir.listeners[0]!.virtualHosts[0]!.routes.map((rt) => [rt.id, rt.backends[0]!.cluster]));
  assert.equal(clusterOf.get('default/a'), clusterOf.get('default/b'));
  assert.notEqual(clusterOf.get('default/a'), clusterOf.get('default/c'));
  assert.match(clusterOf.get('default/a')!, /^cluster_api_default_[0-9a-f]{8}$/);
  assert.equal(clusterOf.get('default/d'), 'cluster_other_default');
  assert.deepEqual(
    r.ir.clusters.map((c) => [c.service, c.connectTimeoutMs]).sort(),
    [['api', 1500], ['api', 3000], ['other', 3000]],
  );
});

test('header rules: names lower-cased and sorted whatever their number; blank removals dropped', () => {
  const r = compileYAML(
    M('two', 'hostname: "*", prefix: /2/, service: s, add_request_headers: { X-Zeta: { value: z }, x-alpha: a }, remove_response_headers: [X-B, " ", x-a]') +
      M('three', 'hostname: "*", prefix: /3/, service: s, add_response_headers: { c: "3", a: { value: "1", append: false }, b: "2" }, remove_request_headers: [X-Two, x-one]'),
  );
  assert.equal(r.report.errors, 0);
  const byId = new Map(r.ir.listeners[0]!.virtualHosts[0]!.routes.map((rt) => [rt.id, rt.backends[0]!.headers]));
  const two = byId.get('default/two')!;
  assert.deepEqual(two.requestAdd, [
    { name: 'x-alpha', value: 'a', append: true },
    { name: 'x-zeta', value: 'z', append: true },
  ]);
  assert.deepEqual(two.responseRemove, ['x-a', 'x-b']);
  const three = byId.get('default/three')!;
  assert.deepEqual(three.responseAdd.map((h) => [h.name, h.value, h.append]), [['a', '1', false], ['b', '2', true], ['c', '3', true]]);
  assert.deepEqual(three.requestRemove, ['x-one', 'x-two']);
});

test('the hash is the IR hash, the same on every read, and the offline commands report the same one', async () => {
  const yaml = M('a', 'hostname: "*", prefix: /a/, service: a');
  const r = compileYAML(yaml);
  const first = r.hash;
  assert.equal(first, hashIR(r.ir));
  assert.equal(r.hash, first);
  const dir = mkdtempSync(join(tmpdir(), 'portico-hash-'));
  try {
    writeFileSync(join(dir, 'policy.yaml'), yaml);
    const viaPaths = await offlineState({ paths: [dir] });
    assert.equal(viaPaths.result.hash, hashIR(viaPaths.result.ir));
    assert.equal(viaPaths.resources.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('header rules shared across Mappings are the rules each Mapping writes', async () => {
  const { headerRulesFrom, SharedHeaderRules } = await import('../../src/compile/mapping-policy.js');
  const specs: Record<string, unknown>[] = [
    { remove_request_headers: 'X-A', add_request_headers: { 'X-Route': { value: 'one' }, 'x-team': 't' } },
    { remove_request_headers: ['x-a'], add_request_headers: { 'x-route': 'two', 'x-team': { value: 't' } } },
    { remove_request_headers: ' x-a ', remove_response_headers: 'b, a', add_response_headers: { 'x-a': { value: 'v', append: false } } },
    { remove_request_headers: ['x-a,b'], remove_response_headers: ['B', 'a'], add_response_headers: { 'x-a': 'v' } },
    { remove_request_headers: 'x-a,b', remove_response_headers: '', add_response_headers: { 'x-a': { value: 'v', append: true }, 'x-b': 'w', 'x-c': 'u' } },
    { remove_request_headers: [''], add_request_headers: { 'x-team': 't' } },
    { remove_request_headers: 'X-A', add_request_headers: { 'x-team': 'T' }, add_response_headers: { 'x-a': { value: 'v', append: false } } },
    {},
  ];
  const shared = new SharedHeaderRules();
  const all = specs.map((s) => headerRulesFrom(s, shared));
  specs.forEach((s, i) => assert.deepStrictEqual(all[i], headerRulesFrom(s), JSON.stringify(s)));
  // Equal rules are one value; different ones are not.
  assert.equal(all[0]!.requestRemove, all[6]!.requestRemove);
  assert.equal(all[0]!.requestAdd[1], all[1]!.requestAdd[1]);
  assert.notEqual(all[2]!.responseAdd, all[3]!.responseAdd);
  assert.equal(all[2]!.responseAdd, all[6]!.responseAdd);
});
