// The Source kind: declarations read from a central snapshot by the same loader as every kind, schema
// errors naming file:line:col and field (with did-you-mean), relative URLs, and a team's Source refused.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadSnapshot, type LoadedSnapshot } from '../../src/controller/reconcile.js';
import type { DeclaredSource } from '../../src/controller/source-kind.js';

const ctx = { source: 'ops', revision: 'a'.repeat(40), declaringUrl: '/srv/git/central.git', defaultIntervalMs: 30_000 };

function root(url = ctx.declaringUrl): DeclaredSource {
  return { spec: { name: ctx.source, url, branch: 'main', path: '' }, kind: 'git', intervalMs: 30_000, onForcePush: 'refuse' };
}

function read(files: { path: string; content: string | Buffer }[], decl = root()): LoadedSnapshot & { sources: LoadedSnapshot['declarations']; errors: LoadedSnapshot['problems'] } {
  const loaded = loadSnapshot(decl, { source: decl.spec.name, revision: ctx.revision, files, problems: [] }, { defaultIntervalMs: ctx.defaultIntervalMs });
  return { ...loaded, sources: loaded.declarations, errors: loaded.problems.filter((p) => p.severity === 'error') };
}

const central = `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
  name: welcome
spec:
  hostname: "*"
  prefix: /
  service: welcome:80
---
apiVersion: portico.dev/v1alpha1
kind: Source
metadata:
  name: shop
spec:
  url: team-shop.git
  branch: release
  path: deploy
  interval: 2m
  claims:
    kinds: [Mapping]
    hostnames: [shop.example.com]
    pathPrefixes: [/shop/]
  verify:
    mode: strict
    allowedSigners: 'lead@example.com namespaces="git" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0'
  onForcePush: accept-with-strict
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
  name: after
spec:
  hostname: "*"
  prefix: /after/
  sevice: after:80
`;

describe('Source declarations in the central repository', () => {
  it('are decoded with claims, policy and a URL resolved next to the central repository', () => {
    const r = read([{ path: 'ops.yaml', content: Buffer.from(central) }]);
    assert.ok(r.errors.every((p) => p.resource?.name === 'after'), 'the only errors are in the other Mapping (its typo)');
    assert.equal(r.sources.length, 1);
    const s = r.sources[0]!;
    assert.deepEqual(s.spec, { name: 'shop', url: '/srv/git/team-shop.git', branch: 'release', path: 'deploy' });
    assert.equal(s.intervalMs, 120_000);
    assert.deepEqual(s.claim, { kinds: ['Mapping'], hostnames: ['shop.example.com'], pathPrefixes: ['/shop/'] });
    assert.equal(s.verify?.mode, 'strict');
    assert.equal(s.onForcePush, 'accept-with-strict');
    assert.equal(s.declaredBy, 'ops');
    assert.deepEqual([s.origin?.path, s.origin?.line], ['ops.yaml', 10]);
  });

  it('are loaded beside the other objects, each reported at its true line', () => {
    const loaded = read([{ path: 'ops.yaml', content: central }]);
    assert.deepEqual(loaded.resources.map((x) => x.name), ['welcome'], 'the Source is a declaration, not a gateway resource; the object with the typo is not loaded');
    const typo = loaded.problems.find((p) => p.code === 'UnknownField')!;
    assert.equal(typo.origin.path, 'ops.yaml');
    assert.equal(typo.origin.line, 35, 'the misspelled field is reported on its own line');
  });

  const table: [string, string, RegExp, number][] = [
    ['an unknown field', 'spec:\n  url: x.git\n  claims: {kinds: [Mapping]}\n  intervall: 5s\n', /UnknownField.*"intervall" \(did you mean "interval"\?\)/, 8],
    ['a missing claim', 'spec:\n  url: x.git\n', /SchemaViolation.*claims/, 5],
    ['a remote-helper URL', 'spec:\n  url: "ext::sh -c evil"\n  claims: {kinds: [Mapping]}\n', /SchemaViolation.*remote helper/, 6],
    ['an interval under a second', 'spec:\n  url: x.git\n  interval: 10ms\n  claims: {kinds: [Mapping]}\n', /SchemaViolation.*interval/, 7],
    ['verification without keys', 'spec:\n  url: x.git\n  claims: {kinds: [Mapping]}\n  verify: {mode: head}\n', /SchemaViolation.*allowedSigners or gpgKeys/, 8],
  ];
  for (const [name, spec, message, line] of table) {
    it(`reports ${name} with its position`, () => {
      const text = `apiVersion: portico.dev/v1alpha1\nkind: Source\nmetadata:\n  name: bad\n${spec}`;
      const r = read([{ path: 'sources.yaml', content: text }]);
      assert.equal(r.sources.length, 0);
      assert.equal(r.errors.length >= 1, true);
      const p = r.errors[0]!;
      assert.match(`${p.code} ${p.message}`, message);
      assert.equal(p.origin.path, 'sources.yaml');
      assert.equal(p.origin.line, line);
    });
  }

  it('refuses a relative URL when the declaring repository is remote', () => {
    const text = `apiVersion: portico.dev/v1alpha1\nkind: Source\nmetadata:\n  name: t\nspec:\n  url: team.git\n  claims: {kinds: [Mapping]}\n`;
    const r = read([{ path: 's.yaml', content: text }], root('https://git.example.com/central.git'));
    assert.match(r.errors[0]!.message, /relative url/);
  });

  it('names the closest field for a typo, as every kind does', () => {
    const text = `apiVersion: portico.dev/v1alpha1\nkind: Source\nmetadata:\n  name: t\nspec:\n  url: team.git\n  claims:\n    kinds: [Mapping]\n    pathPrefix: [/t/]\n`;
    const r = read([{ path: 's.yaml', content: text }]);
    assert.equal(r.sources.length, 0, 'a typo never silently widens or narrows a claim');
    assert.match(r.errors[0]!.message, /unknown field "pathPrefix" \(did you mean "pathPrefixes"\?\)/);
    assert.equal(r.errors[0]!.origin.line, 9);
  });

  it('refuses a claim that grants kind Source', () => {
    const text = `apiVersion: portico.dev/v1alpha1\nkind: Source\nmetadata:\n  name: t\nspec:\n  url: team.git\n  claims:\n    kinds: [Mapping, Source]\n`;
    const r = read([{ path: 's.yaml', content: text }]);
    assert.match(r.errors[0]!.message, /may not include Source/);
  });

  it('refuses a Source in a team repository', () => {
    const text = `apiVersion: portico.dev/v1alpha1\nkind: Source\nmetadata:\n  name: sneaky\nspec:\n  url: x.git\n  claims:\n    kinds: [Mapping]\n`;
    const team: DeclaredSource = { ...root(), spec: { ...root().spec, name: 'shop' }, declaredBy: 'ops' };
    const r = read([{ path: 'deploy/more.yaml', content: text }], team);
    assert.equal(r.sources.length, 0);
    assert.equal(r.errors[0]!.code, 'ClaimViolation');
    assert.match(r.errors[0]!.message, /only a root source/);
  });
});
