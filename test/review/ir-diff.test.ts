// The structural IR diff and the plan engine on compiled YAML: field-level changes keyed by identity,
// provenance ignored, deterministic order, shadowing by prefix containment, sample requests.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadFiles } from '../../src/load/index.js';
import { compile, type CompileResult } from '../../src/compile/index.js';
import { diffIR, diffValues, isEmptyDiff } from '../../src/ir/diff.js';
import { covers, plan, shadowedRoutes } from '../../src/review/plan-engine.js';

const HEAD = `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: http }
spec: { port: 8080, protocol: HTTP, securityModel: XFP, hostBinding: { namespace: { from: ALL } } }
---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: api }
spec: { hostname: api.example.com, requestPolicy: { insecure: { action: Route } } }
`;

function mapping(name: string, spec: string): string {
  return `---\napiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: { name: ${name}, namespace: shop }\nspec:\n  hostname: api.example.com\n${spec.trim().split('\n').map((l) => `  ${l}`).join('\n')}\n`;
}

function build(yaml: string, path = 'c.yaml'): CompileResult {
  const l = loadFiles([{ path, content: yaml }]);
  const r = compile(l.resources, {}, l.problems);
  assert.equal(r.report.errors, 0, JSON.stringify(r.report.problems));
  return r;
}

test('diffValues: nested fields by path, arrays of identified objects by identity', () => {
  const a = { t: { ms: 1 }, backends: [{ cluster: 'a', weight: 100 }], tags: ['x'] };
  const b = { t: { ms: 2 }, backends: [{ cluster: 'a', weight: 90 }, { cluster: 'b', weight: 10 }], tags: ['x', 'y'] };
  assert.deepEqual(diffValues(a, b), [
    { path: 'backends[a].weight', before: 100, after: 90 },
    { path: 'backends[b]', after: { cluster: 'b', weight: 10 } },
    { path: 't.ms', before: 1, after: 2 },
    { path: 'tags', before: ['x'], after: ['x', 'y'] },
  ]);
  assert.deepEqual(diffValues({ a: 1 }, { a: 1 }), []);
});

test('diffIR: route changes keyed by listener/host/id; moving text to another file changes nothing', () => {
  const base = build(HEAD + mapping('orders', 'prefix: /orders/\nservice: orders-v1'));
  const moved = build('\n\n' + HEAD + mapping('orders', 'prefix: /orders/\nservice: orders-v1'), 'other.yaml');
  assert.equal(isEmptyDiff(diffIR(base.ir, moved.ir)), true);
  const head = build(HEAD + mapping('orders', 'prefix: /orders/\nservice: orders-v1\ntimeout_ms: 7000\nrewrite: /v1/') + mapping('users', 'prefix: /users/\nservice: users'));
  const d = diffIR(base.ir, head.ir);
  assert.deepEqual(d.routes.added, ['http/api.example.com/shop/users']);
  assert.deepEqual(d.routes.removed, []);
  assert.equal(d.routes.changed.length, 1);
  assert.equal(d.routes.changed[0]!.key, 'http/api.example.com/shop/orders');
  const paths = d.routes.changed[0]!.changes.map((c) => `${c.path}: ${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}`);
  assert.deepEqual(paths, ['backends[cluster_orders_v1_shop_shop].rewrite.prefix: "/" → "/v1/"', 'backends[cluster_orders_v1_shop_shop].timeouts.requestMs: 3000 → 7000']);
  assert.deepEqual(d.clusters.added, ['cluster_users_shop_shop']);
  // Deterministic: the same inputs give the same JSON.
  assert.equal(JSON.stringify(diffIR(base.ir, head.ir)), JSON.stringify(d));
  // Reverse direction swaps added and removed.
  assert.deepEqual(diffIR(head.ir, base.ir).routes.removed, ['http/api.example.com/shop/users']);
});

test('shadowing: an earlier prefix with fewer constraints covers a later route; regexes and narrower earlier routes do not', () => {
  const r = build(HEAD + mapping('all', 'prefix: /a/\nprecedence: 10\nservice: a') + mapping('ab', 'prefix: /a/b/\nheaders: { x-k: v }\nservice: ab') + mapping('other', 'prefix: /b/\nservice: b'));
  const s = shadowedRoutes(r.ir);
  assert.deepEqual([...s], [['http/api.example.com/shop/ab', 'http/api.example.com/shop/all']]);
  const routes = r.ir.listeners[0]!.virtualHosts[0]!.routes;
  const byId = (id: string) => routes.find((x) => x.id === id)!;
  assert.equal(covers(byId('shop/ab'), byId('shop/all')), false);
  assert.equal(covers(byId('shop/all'), byId('shop/other')), false);
});

test('plan: sample requests show the answer before and after; verdicts', () => {
  const base = build(HEAD + mapping('orders', 'prefix: /orders/\nservice: orders-v1'));
  const head = build(HEAD + mapping('orders', 'prefix: /orders/\nservice: orders-v2'));
  const p = plan({ label: 'base', result: base }, { label: 'head', result: head });
  assert.equal(p.verdict, 'changes');
  assert.deepEqual(p.requests.map((q) => [q.request, q.before, q.after]), [['GET http://api.example.com/orders/', 'shop/orders → orders-v1.shop /', 'shop/orders → orders-v2.shop /']]);
  assert.equal(plan({ label: 'a', result: base }, { label: 'b', result: base }).verdict, 'no-change');
});
