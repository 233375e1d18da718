// Host mappingSelector against Mapping labels, as Emissary decides it (irhost.py matches_httpgroup,
// irutils.py selector_matches), and what a Mapping that attaches nowhere is told: which Hosts'
// selectors left it out and which labels they require, so that its team can fix it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileYAML, routesOf, codes, M } from './compile-support.js';
import { loadFiles } from '../../src/load/index.js';
import { compile, type CompileResult } from '../../src/compile/index.js';

const LISTENER = `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: l, namespace: default }
spec: { port: 8080, protocol: HTTP, securityModel: XFP, hostBinding: { namespace: { from: SELF } } }
---
`;
const H = (name: string, hostname: string, extra = '', namespace = 'default'): string => `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: ${name}, namespace: ${namespace} }
spec: { hostname: "${hostname}", requestPolicy: { insecure: { action: Route } }${extra} }
---
`;

function notAttached(r: CompileResult, name: string): { message: string; field: string | undefined } {
  const p = r.report.problems.find((x) => x.code === 'MappingNotAttached' && x.resource?.name === name);
  assert.ok(p, `no MappingNotAttached for ${name}: ${JSON.stringify(r.report.problems)}`);
  return { message: p.message, field: p.field };
}

const cases: Record<string, () => void> = {
  'a Mapping without hostname that a mappingSelector leaves out is told which Host and which labels': () => {
    const r = compileYAML(LISTENER + H('h', 'a.example.com', ', mappingSelector: { matchLabels: { team: x, tier: gold } }') + M('m', 'prefix: /m/, service: m', ', labels: { team: y, tier: gold }'));
    assert.deepEqual(codes(r), ['MappingNotAttached:m']);
    const p = notAttached(r, 'm');
    assert.equal(
      p.message,
      "Mapping is not served: it has no hostname, so only a Host's mappingSelector can attach it, and the only one leaves it out (its labels: team=y, tier=gold): Host default/h (a.example.com) requires team=x, tier=gold (unmet: team=x). Add the labels a Host requires, or set hostname",
    );
    assert.equal(p.field, 'metadata.labels');
  },
  'with a hostname, every Host of that name whose selector leaves it out is named with its requirement': () => {
    const r = compileYAML(
      LISTENER +
        H('a', 'a.example.com', ', mappingSelector: { matchLabels: { team: a } }') +
        H('b', 'b.example.com', ', mappingSelector: { matchLabels: { team: b } }') +
        H('c', 'c.other.com', ', mappingSelector: { matchLabels: { team: c } }') +
        M('m', 'hostname: "*.example.com", prefix: /m/, service: m'),
    );
    assert.match(
      notAttached(r, 'm').message,
      /^Mapping is not served: every Host matching hostname '\*\.example\.com' selects Mappings by label and leaves this one out \(its labels: none\): Host default\/a \(a\.example\.com\) requires team=a; Host default\/b \(b\.example\.com\) requires team=b\. Add the labels a Host requires, or change hostname$/,
    );
  },
  'a hostname no Host matches keeps its reason, and a Host no Listener binds that would take it is named': () => {
    const r = compileYAML(LISTENER + H('bound', 'a.example.com') + H('elsewhere', 'b.example.com', '', 'other') + M('m', 'hostname: b.example.com, prefix: /m/, service: m'));
    assert.deepEqual(codes(r), ['HostNotAttached:elsewhere', 'MappingNotAttached:m']);
    const p = notAttached(r, 'm');
    assert.equal(p.message, "Mapping is not served: no Host on any Listener matches hostname 'b.example.com'. Host other/elsewhere (b.example.com) would attach it, but no Listener binds that Host (see HostNotAttached)");
    assert.equal(p.field, 'spec.hostname');
  },
  'a matchExpressions requirement it misses is said to be one Emissary ignores': () => {
    const r = compileYAML(LISTENER + H('h', '*', ', mappingSelector: { matchLabels: { team: x }, matchExpressions: [ { key: tier, operator: In, values: [gold, silver] } ] }') + M('m', 'prefix: /m/, service: m', ', labels: { team: x, tier: bronze }'));
    assert.match(notAttached(r, 'm').message, /Host default\/h \(\*\) requires team=x, tier in \(gold,silver\) \(unmet: tier in \(gold,silver\); Emissary ignores matchExpressions, Portico does not\)/);
  },
  'an empty mappingSelector selects no Mapping, as in Emissary: hostname still attaches, and a Mapping without one is told why': () => {
    for (const sel of ['{}', '{ matchLabels: {} }', '{ matchLabels: {}, matchExpressions: [] }']) {
      const r = compileYAML(LISTENER + H('h', 'a.example.com', `, mappingSelector: ${sel}`) + M('named', 'hostname: a.example.com, prefix: /n/, service: n') + M('bare', 'prefix: /b/, service: b', ', labels: { team: x }'));
      assert.deepEqual(routesOf(r).map((x) => x.id), ['default/named'], sel);
      assert.deepEqual(codes(r), ['MappingNotAttached:bare'], sel);
      assert.match(notAttached(r, 'bare').message, /it has no hostname, and Host default\/h \(a\.example\.com\) has a mappingSelector without requirements, which select no Mapping, as in Emissary/, sel);
    }
  },
  'beside an empty mappingSelector, the deprecated selector is used, as Emissary reads it': () => {
    const r = compileYAML(LISTENER + H('h', 'a.example.com', ', mappingSelector: {}, selector: { matchLabels: { team: x } }') + M('m', 'prefix: /m/, service: m', ', labels: { team: x }'));
    assert.deepEqual(codes(r), ['Deprecated:h']);
    assert.match(r.report.problems[0]!.message, /selects nothing: as in Emissary, the selector is used/);
    assert.deepEqual(routesOf(r).map((x) => x.id), ['default/m']);
  },
  // Emissary matches the canary group, whose labels are all its Mappings' (irhttpmappinggroup.py).
  'a canary group attaches as one: the selector reads the labels of all its Mappings': () => {
    const r = compileYAML(
      LISTENER +
        H('h', 'a.example.com', ', mappingSelector: { matchLabels: { team: x } }') +
        M('main', 'prefix: /c/, service: main', ', labels: { team: x }') +
        M('canary', 'prefix: /c/, service: canary, weight: 10') +
        M('other', 'prefix: /o/, service: other'),
    );
    assert.deepEqual(routesOf(r).map((x) => [x.id, x.backends]), [['default/canary', [['canary', 10], ['main', 90]]]]);
    assert.deepEqual(codes(r), ['MappingNotAttached:other']);
  },
  'but one source\'s labels never take another source\'s Mapping to a Host': () => {
    const host = loadFiles([{ path: 'central.yaml', content: LISTENER + H('h', 'a.example.com', ', mappingSelector: { matchLabels: { team: x } }') }]);
    const a = loadFiles([{ path: 'a.yaml', content: M('main', 'prefix: /c/, service: main, weight: 90', ', labels: { team: x }') }], { source: 'team-a' });
    const b = loadFiles([{ path: 'b.yaml', content: M('canary', 'prefix: /c/, service: canary, weight: 10') }], { source: 'team-b' });
    const r = compile([...host.resources, ...a.resources, ...b.resources]);
    assert.deepEqual(routesOf(r).map((x) => [x.id, x.backends]), [['default/main', [['main', 100]]]]);
    assert.deepEqual(codes(r), ['MappingNotAttached:canary']);
    assert.match(notAttached(r, 'canary').message, /\(its labels: none\): Host default\/h \(a\.example\.com\) requires team=x/);
  },
  'members that give one label different values are selected by their own labels': () => {
    const r = compileYAML(
      LISTENER +
        H('a', 'a.example.com', ', mappingSelector: { matchLabels: { host: a } }') +
        H('b', 'b.example.com', ', mappingSelector: { matchLabels: { host: b } }') +
        M('for-a', 'hostname: "*", prefix: /, service: a', ', labels: { host: a }') +
        M('for-b', 'hostname: "*", prefix: /, service: b', ', labels: { host: b }'),
    );
    assert.deepEqual(codes(r), []);
    assert.deepEqual(routesOf(r).map((x) => [x.vhost, x.id, x.backends]), [['a.example.com', 'default/for-a', [['a', 100]]], ['b.example.com', 'default/for-b', [['b', 100]]]]);
  },
  'a group\'s merged labels are named as its group\'s when they leave it out': () => {
    const r = compileYAML(LISTENER + H('h', 'a.example.com', ', mappingSelector: { matchLabels: { team: x, tier: gold } }') + M('main', 'prefix: /c/, service: main', ', labels: { team: x }') + M('canary', 'prefix: /c/, service: canary, weight: 10', ', labels: { app: c }'));
    assert.match(notAttached(r, 'canary').message, /\(its canary group's labels: app=c, team=x\): Host default\/h \(a\.example\.com\) requires team=x, tier=gold \(unmet: tier=gold\)/);
  },
};

for (const [name, fn] of Object.entries(cases)) test(name, fn);
