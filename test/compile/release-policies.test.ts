// ReleasePolicy and the fleet's peers, from YAML to the IR's fleet section: defaults filled in, bad
// fields and conflicting policies reported on the resource with their field, teams kept out.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadFiles } from '../../src/load/index.js';
import { compile, type CompileOptions } from '../../src/compile/index.js';
import { declareSources } from '../../src/controller/source-kind.js';

function compiled(yaml: string, opts: { sources?: string[]; source?: string; claims?: CompileOptions['claims'] } = {}) {
  const loaded = loadFiles([{ path: 'policies.yaml', content: yaml }], opts.source ? { source: opts.source } : {});
  const r = compile(loaded.resources, { ...(opts.sources ? { sourceRanks: Object.fromEntries(opts.sources.map((s) => [s, 0])) } : {}), ...(opts.claims ? { claims: opts.claims } : {}) }, loaded.problems);
  return { ir: r.ir, problems: r.report.problems.map((p) => [p.code, p.severity, p.field ?? '', p.message] as const) };
}

const policy = (name: string, spec: string): string => `apiVersion: portico.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: ${name}}
spec: ${spec}
---
`;

describe('ReleasePolicy', () => {
  it('compiles into the fleet section with its defaults', () => {
    const { ir, problems } = compiled(policy('shop', '{sources: [shop, cart, shop], steps: [5, 20], window: 2m, minRequests: 100}') + policy('everything', '{}'), { sources: ['ops', 'shop', 'cart'] });
    assert.deepEqual(problems, []);
    assert.deepEqual(
      ir.fleet?.releasePolicies.map(({ source: _s, ...p }) => p),
      [
        { name: 'everything', namespace: 'default', steps: [10, 50], windowMs: 30_000, minRequests: 50, maxErrorRateIncrease: 2, maxLatencyIncrease: 50, latencyToleranceMs: 25, onInsufficientTraffic: 'Promote' },
        { name: 'shop', namespace: 'default', sources: ['cart', 'shop'], steps: [5, 20], windowMs: 120_000, minRequests: 100, maxErrorRateIncrease: 2, maxLatencyIncrease: 50, latencyToleranceMs: 25, onInsufficientTraffic: 'Promote' },
      ],
    );
    assert.equal(ir.fleet?.releasePolicies[0]?.source.origin.line, 6, 'the second document');
  });

  it('leaves the IR without a fleet section when nothing declares one', () => {
    assert.equal(compiled('').ir.fleet, undefined);
  });

  const bad: Record<string, [string, readonly (readonly [string, string, string, RegExp])[]]> = {
    'steps that do not rise': [policy('p', '{steps: [50, 10]}'), [['SchemaViolation', 'error', 'spec.steps', /steps must rise \(50, 10\)/]]],
    'a step of 100 %': [policy('p', '{steps: [10, 100]}'), [['SchemaViolation', 'error', 'spec.steps[1]', /1 to 99/]]],
    'a window under a second': [policy('p', '{window: 500ms}'), [['SchemaViolation', 'error', 'spec.window', /window must be at least 1s/]]],
    'an unknown field, strictly': [policy('p', '{stepz: [10]}'), [['UnknownField', 'error', 'spec.stepz', /stepz/]]],
    'an unknown onInsufficientTraffic': [policy('p', '{onInsufficientTraffic: Wait}'), [['SchemaViolation', 'error', 'spec.onInsufficientTraffic', /Promote/]]],
    'two global policies': [
      policy('a', '{}') + policy('b', '{}'),
      [
        ['ReleasePolicyConflict', 'error', 'spec', /more than one global ReleasePolicy \(no spec\.sources\): default\/a, default\/b; none of them is used/],
        ['ReleasePolicyConflict', 'error', 'spec', /more than one global ReleasePolicy/],
      ],
    ],
    'two policies over one source': [
      policy('a', '{sources: [shop]}') + policy('b', '{sources: [cart, shop]}'),
      [
        ['ReleasePolicyConflict', 'error', 'spec.sources', /more than one ReleasePolicy releases source 'shop': default\/a, default\/b/],
        ['ReleasePolicyConflict', 'error', 'spec.sources', /source 'shop'/],
      ],
    ],
  };
  for (const [name, [yaml, expected]] of Object.entries(bad)) {
    it(`reports ${name} on the resource, with its field`, () => {
      const { ir, problems } = compiled(yaml, { sources: ['shop', 'cart'] });
      assert.equal(problems.length, expected.length, JSON.stringify(problems));
      problems.forEach((p, i) => {
        const [code, severity, field, message] = expected[i]!;
        assert.deepEqual([p[0], p[1]], [code, severity]);
        assert.ok(p[2] === field || p[2].startsWith(field), `${p[2]} vs ${field}`);
        assert.match(p[3], message);
      });
      assert.equal(ir.fleet, undefined, 'a policy in error releases nothing');
    });
  }

  it('warns about a source the configuration does not declare, and keeps the policy', () => {
    const { ir, problems } = compiled(policy('p', '{sources: [shop, shpo]}'), { sources: ['ops', 'shop'] });
    assert.deepEqual(problems.map((p) => [p[0], p[1], p[2]]), [['ReleasePolicyUnknownSource', 'warning', 'spec.sources']]);
    assert.match(problems[0]![3], /names source\(s\) 'shpo' that the configuration does not declare \(sources: ops, shop\)/);
    assert.equal(ir.fleet?.releasePolicies.length, 1);
  });

  it('is the central repository’s alone: a team that declares one breaks its claim, and no claim may grant it', () => {
    const team = compiled(policy('mine', '{}'), { source: 'shop', claims: { shop: { kinds: ['Mapping'], hostnames: ['*'], pathPrefixes: [] } } });
    assert.deepEqual(team.problems.map((p) => p[0]), ['ClaimViolation']);
    assert.equal(team.ir.fleet, undefined);
    const loaded = loadFiles([{ path: 'sources.yaml', content: 'apiVersion: portico.dev/v1alpha1\nkind: Source\nmetadata: {name: shop}\nspec: {url: "https://git.example.com/shop.git", claims: {kinds: [Mapping, ReleasePolicy]}}\n' }], { source: 'ops' });
    const d = declareSources(loaded.resources, { source: 'ops', declaringUrl: 'https://git.example.com/ops.git', defaultIntervalMs: 30_000 });
    assert.equal(d.declarations.length, 0);
    assert.match(d.problems[0]!.message, /may not include ReleasePolicy: only the central repository declares sources and release policies/);
  });
});

describe('the fleet’s peers', () => {
  it('come from the ambassador Module, sorted, without repeats or a trailing slash', () => {
    const { ir, problems } = compiled(`apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: {name: ambassador}
spec:
  config:
    portico_fleet_peers: ["http://10.0.0.2:8877/", "http://10.0.0.1:8877", "http://10.0.0.2:8877"]
`);
    assert.deepEqual(problems, []);
    assert.deepEqual(ir.fleet, { peers: ['http://10.0.0.1:8877', 'http://10.0.0.2:8877'], releasePolicies: [] });
  });

  it('must be admin URLs', () => {
    const { problems } = compiled(`apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: {name: ambassador}
spec:
  config:
    portico_fleet_peers: ["10.0.0.1:8877", "http://10.0.0.1:8877/api"]
`);
    assert.deepEqual(problems.map((p) => [p[0], p[2]]), [
      ['SchemaViolation', 'spec.config.portico_fleet_peers[0]'],
      ['SchemaViolation', 'spec.config.portico_fleet_peers[1]'],
    ]);
  });
});
