// A central repository declares a team that lives in a Kubernetes namespace (`spec.kubernetes`): the
// declaration it becomes, the mistakes refused with their field (url and kubernetes together, git-only
// fields, a bad label selector), and what a cluster source's problems name: the object, never a line.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatOrigin } from '../../src/api/origin.js';
import { loadSnapshot } from '../../src/controller/reconcile.js';
import type { DeclaredSource } from '../../src/controller/source-kind.js';

const root: DeclaredSource = { spec: { name: 'ops', url: '/srv/git/central.git', branch: 'main', path: '' }, kind: 'git', intervalMs: 30_000, onForcePush: 'refuse' };

function declare(spec: string) {
  const content = `apiVersion: portico.dev/v1alpha1\nkind: Source\nmetadata:\n  name: shop\nspec:\n${spec}`;
  const loaded = loadSnapshot(root, { source: 'ops', revision: 'a'.repeat(40), files: [{ path: 'sources.yaml', content }], problems: [] }, { defaultIntervalMs: 30_000 });
  return { declarations: loaded.declarations, errors: loaded.problems.filter((p) => p.severity === 'error') };
}

describe('Source with spec.kubernetes', () => {
  it('declares a team read from a namespace, with its claims', () => {
    const { declarations, errors } = declare('  kubernetes:\n    namespace: shop\n    labelSelector: "portico.dev/team=shop"\n  claims:\n    kinds: [Mapping]\n    pathPrefixes: [/shop/]\n');
    assert.deepEqual(errors, []);
    const d = declarations[0]!;
    assert.equal(d.kind, 'kubernetes');
    assert.deepEqual(d.kubernetes, { namespace: 'shop', labelSelector: 'portico.dev/team=shop' });
    assert.equal(d.spec.url, 'kubernetes:shop?labelSelector=portico.dev%2Fteam%3Dshop');
    assert.deepEqual(d.claim, { kinds: ['Mapping'], hostnames: [], pathPrefixes: ['/shop/'] });
    assert.equal(d.declaredBy, 'ops');
  });

  const refused: [string, string, string, RegExp][] = [
    ['url and kubernetes together', '  url: https://git.example.com/shop.git\n  kubernetes:\n    namespace: shop\n', 'spec.kubernetes', /both spec.url and spec.kubernetes/],
    ['neither url nor kubernetes', '', 'spec.url', /needs spec.url .* or spec.kubernetes/],
    ['an empty selection', '  kubernetes: {}\n', 'spec.kubernetes', /needs a namespace, a labelSelector, or both/],
    ['a bad label selector', '  kubernetes:\n    labelSelector: "team in shop"\n', 'spec.kubernetes.labelSelector', /not a label requirement|not a valid label value/],
    ['a git-only field', '  kubernetes:\n    namespace: shop\n  branch: main\n', 'spec.branch', /applies to git repositories only/],
  ];
  for (const [what, spec, field, message] of refused) {
    it(`refuses ${what}, naming ${field}`, () => {
      const { declarations, errors } = declare(`${spec}  claims:\n    kinds: [Mapping]\n`);
      assert.deepEqual(declarations, []);
      assert.equal(errors[0]?.field, field);
      assert.match(errors[0]!.message, message);
    });
  }

  it("a cluster source's problems name the object, without a line or column", () => {
    const team: DeclaredSource = { spec: { name: 'shop', url: 'kubernetes:shop', branch: '', path: '' }, kind: 'kubernetes', kubernetes: { namespace: 'shop' }, intervalMs: 30_000, onForcePush: 'refuse', declaredBy: 'ops' };
    const content = 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata:\n  name: orders\n  namespace: shop\nspec:\n  prefix: /shop/\n  service: orders\n  timeout_ms: soon\n';
    const loaded = loadSnapshot(team, { source: 'shop', revision: `sha256:${'b'.repeat(64)}`, files: [{ path: 'Mapping shop/orders', content }], problems: [] }, { defaultIntervalMs: 30_000 });
    const p = loaded.problems.find((x) => x.severity === 'error')!;
    assert.equal(p.field, 'spec.timeout_ms');
    assert.equal(formatOrigin(p.origin), 'shop:Mapping shop/orders');
  });
});
