// A CompileMemo carries per-Mapping plans and per-vhost routes from one compile to the next; these
// tests change a configuration step by step and check that every compile with the memo is
// byte-identical (IR, report, secrets, hash) to a compile of the same resources without it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadFiles, ParseCache } from '../../src/load/index.js';
import { compile, type CompileResult } from '../../src/compile/index.js';
import { CompileMemo } from '../../src/compile/compile-memo.js';
import { hashIR } from '../../src/ir/canonical.js';
import { diffIR } from '../../src/ir/diff.js';

const listener = `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: l, namespace: default }
spec: { port: 8080, protocol: HTTP, securityModel: XFP, hostBinding: { namespace: { from: ALL } } }
`;
const host = (name: string): string => `---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: ${name}, namespace: default }
spec: { hostname: ${name}.example.com, requestPolicy: { insecure: { action: Route } } }
`;
const mapping = (name: string, spec: string): string => `---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: ${name}, namespace: default }
spec: { ${spec} }
`;

/** Four teams' files of Mappings over three Hosts; `edit` changes one file's text. */
function files(edit: Record<string, string> = {}): { path: string; content: string }[] {
  const out: Record<string, string> = { 'base.yaml': listener + host('a') + host('b') + host('c') };
  for (let t = 0; t < 4; t++) {
    let text = '';
    for (let i = 0; i < 12; i++) {
      const h = ['a', 'b', 'c'][(t + i) % 3]!;
      const extra = i % 4 === 1 ? ', regex_rewrite: { pattern: "^/x/(.*)$", substitution: "/y/\\\\1" }' : i % 4 === 2 ? ', add_request_headers: { x-team: { value: "t" } }' : '';
      text += mapping(`t${t}-m${i}`, `hostname: ${h}.example.com, prefix: /t${t}/m${i}/, service: svc-${t}:80, timeout_ms: 5000${extra}`);
    }
    out[`team-${t}.yaml`] = text;
  }
  return Object.entries({ ...out, ...edit }).map(([path, content]) => ({ path, content }));
}

function same(withMemo: CompileResult, without: CompileResult): void {
  assert.equal(JSON.stringify(withMemo.ir), JSON.stringify(without.ir));
  assert.equal(JSON.stringify(withMemo.report), JSON.stringify(without.report));
  assert.equal(JSON.stringify(withMemo.secrets), JSON.stringify(without.secrets));
  assert.equal(withMemo.hash, without.hash);
  assert.equal(withMemo.hash, hashIR(JSON.parse(JSON.stringify(withMemo.ir))));
}

test('compiles with a memo equal compiles without one, change after change, and reuse what did not change', () => {
  const cache = new ParseCache();
  const memo = new CompileMemo();
  const team1 = files().find((f) => f.path === 'team-1.yaml')!.content;
  const steps: { what: string; edit: Record<string, string>; reused?: 'plans' | 'all' }[] = [
    { what: 'first compile', edit: {} },
    { what: 'nothing changed', edit: {}, reused: 'all' },
    // team-1's Mappings are spread over every Host: every vhost is rebuilt, from the other teams' kept plans.
    { what: 'one timeout changed', edit: { 'team-1.yaml': team1.replace('timeout_ms: 5000', 'timeout_ms: 7000') }, reused: 'plans' },
    // A second set of settings for svc-0's service: its cluster names gain a hash suffix, so routes
    // kept from before (naming cluster_svc_0_80_default) must be rebuilt.
    { what: 'a cluster variant appears', edit: { 'extra.yaml': mapping('variant', 'hostname: a.example.com, prefix: /variant/, service: svc-0:80, connect_timeout_ms: 1234') } },
    { what: 'the variant goes again', edit: {} },
    { what: 'a conflict between two files', edit: { 'extra.yaml': mapping('clash', 'hostname: b.example.com, prefix: /t0/m1/, service: other:80, timeout_ms: 5000') } },
    { what: 'a Module changes every default', edit: { 'module.yaml': 'apiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata: { name: ambassador, namespace: default }\nspec: { config: { cluster_idle_timeout_ms: 1000 } }\n' } },
    { what: 'a Host goes', edit: { 'base.yaml': listener + host('a') + host('b') } },
    { what: 'a credential header (kept out of the memo)', edit: { 'extra.yaml': mapping('cred', 'hostname: a.example.com, prefix: /cred/, service: c:80, add_request_headers: { authorization: { value: "Bearer s3cret" } }') } },
    { what: 'the same again', edit: { 'extra.yaml': mapping('cred', 'hostname: a.example.com, prefix: /cred/, service: c:80, add_request_headers: { authorization: { value: "Bearer s3cret" } }') } },
  ];
  let previous: CompileResult | undefined;
  for (const step of steps) {
    const loaded = loadFiles(files(step.edit), { source: 'dir' }, cache);
    const withMemo = compile(loaded.resources, { memo }, loaded.problems);
    const without = compile(loaded.resources, {}, loaded.problems);
    same(withMemo, without);
    if (step.reused) {
      assert.ok(memo.lastCompile.plansReused > 0, `${step.what}: plans reused`);
      if (step.reused === 'all') assert.equal(memo.lastCompile.vhostsBuilt, 0, `${step.what}: no vhost rebuilt`);
    }
    if (previous) assert.deepEqual(diffIR(previous.ir, withMemo.ir), diffIR(previous.ir, without.ir), step.what);
    previous = withMemo;
  }
});

test('a one-Mapping change rebuilds that Mapping and its vhost only, and the diff names that route alone', () => {
  const cache = new ParseCache();
  const memo = new CompileMemo();
  const solo = (timeout: number): Record<string, string> => ({ 'solo.yaml': mapping('solo', `hostname: c.example.com, prefix: /solo/, service: svc-2:80, timeout_ms: ${timeout}`) });
  const first = loadFiles(files(solo(5000)), { source: 'dir' }, cache);
  const before = compile(first.resources, { memo }, first.problems);
  const next = loadFiles(files(solo(9000)), { source: 'dir' }, cache);
  const after = compile(next.resources, { memo }, next.problems);
  same(after, compile(next.resources, {}, next.problems));
  assert.deepEqual(memo.lastCompile, { plansReused: 48, plansBuilt: 1, vhostsReused: 2, vhostsBuilt: 1 });
  const d = diffIR(before.ir, after.ir);
  assert.deepEqual(
    d.routes.changed.map((c) => [c.key, c.changes.map((x) => [x.path, x.before, x.after])]),
    [['l/c.example.com/default/solo', [['backends[cluster_svc_2_80_default].timeouts.requestMs', 5000, 9000]]]],
  );
  // Unchanged vhosts' routes are the same objects in both IRs: a server holding the old IR shares them.
  const routes = (r: CompileResult, h: string) => r.ir.listeners[0]!.virtualHosts.find((v) => v.hostname === h)!.routes;
  assert.equal(routes(before, 'a.example.com'), routes(after, 'a.example.com'));
  assert.notEqual(routes(before, 'c.example.com'), routes(after, 'c.example.com'));
});

test('settling on the served IR lets go of the build a large removal replaced, and keeps what it serves', () => {
  const cache = new ParseCache();
  const memo = new CompileMemo();
  let bulk = '';
  for (let i = 0; i < 200; i++) bulk += mapping(`bulk-${i}`, `hostname: a.example.com, prefix: /bulk/${i}/, service: svc-9:80`);
  const big = loadFiles(files({ 'bulk.yaml': bulk }), { source: 'dir' }, cache);
  compile(big.resources, { memo }, big.problems);
  const small = loadFiles(files(), { source: 'dir' }, cache);
  const served = compile(small.resources, { memo }, small.problems);

  // Without settling, the vhost's build with the bulk routes is still kept: compiling that set again reuses it.
  compile(big.resources, { memo }, big.problems);
  assert.equal(memo.lastCompile.vhostsBuilt, 0, 'the build before the removal was kept beside the served one');

  compile(small.resources, { memo }, small.problems);
  memo.settle(served.ir);
  const again = compile(small.resources, { memo }, small.problems);
  assert.equal(memo.lastCompile.vhostsBuilt, 0, 'what is served is still reused');
  same(again, compile(small.resources, {}, small.problems));
  compile(big.resources, { memo }, big.problems);
  assert.equal(memo.lastCompile.vhostsBuilt, 1, 'the bulk build was let go: its vhost is built again');
});
