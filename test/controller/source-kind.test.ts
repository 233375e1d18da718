// The Source kind: declarations taken out of a central snapshot with the rest of the file keeping its
// line numbers, schema errors naming file:line:col and field, relative URLs, and the loader's view.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { extractSources } from '../../src/controller/source-kind.js';
import { loadFiles } from '../../src/load/index.js';

const ctx = { source: 'ops', revision: 'a'.repeat(40), declaringUrl: '/srv/git/central.git', defaultIntervalMs: 30_000 };

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
    const r = extractSources([{ path: 'ops.yaml', content: Buffer.from(central) }], ctx);
    assert.deepEqual(r.problems, []);
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

  it('are blanked out so the loader reports the other objects at their true lines', () => {
    const r = extractSources([{ path: 'ops.yaml', content: central }], ctx);
    const loaded = loadFiles(r.files, { source: 'ops', revision: ctx.revision });
    assert.deepEqual(loaded.resources.map((x) => x.name), ['welcome'], 'the object with the typo is not loaded');
    const typo = loaded.problems.find((p) => p.code === 'UnknownField')!;
    assert.equal(typo.origin.path, 'ops.yaml');
    assert.equal(typo.origin.line, 35, 'the misspelled field is reported on its own line');
  });

  const table: [string, string, RegExp, number][] = [
    ['an unknown field', 'spec:\n  url: x.git\n  claims: {kinds: [Mapping]}\n  intervall: 5s\n', /UnknownField.*spec\.intervall/, 8],
    ['a missing claim', 'spec:\n  url: x.git\n', /SchemaViolation.*claims/, 6],
    ['a remote-helper URL', 'spec:\n  url: "ext::sh -c evil"\n  claims: {kinds: [Mapping]}\n', /SchemaViolation.*remote helper/, 6],
    ['an interval under a second', 'spec:\n  url: x.git\n  interval: 10ms\n  claims: {kinds: [Mapping]}\n', /SchemaViolation.*interval/, 7],
    ['verification without keys', 'spec:\n  url: x.git\n  claims: {kinds: [Mapping]}\n  verify: {mode: head}\n', /SchemaViolation.*allowedSigners or gpgKeys/, 8],
  ];
  for (const [name, spec, message, line] of table) {
    it(`reports ${name} with its position`, () => {
      const text = `apiVersion: portico.dev/v1alpha1\nkind: Source\nmetadata:\n  name: bad\n${spec}`;
      const r = extractSources([{ path: 'sources.yaml', content: text }], ctx);
      assert.equal(r.sources.length, 0);
      assert.equal(r.problems.length >= 1, true);
      const p = r.problems[0]!;
      assert.match(`${p.code} ${p.message}`, message);
      assert.equal(p.origin.path, 'sources.yaml');
      assert.equal(p.origin.line, line);
    });
  }

  it('refuses a relative URL when the declaring repository is remote', () => {
    const text = `apiVersion: portico.dev/v1alpha1\nkind: Source\nmetadata:\n  name: t\nspec:\n  url: team.git\n  claims: {kinds: [Mapping]}\n`;
    const r = extractSources([{ path: 's.yaml', content: text }], { ...ctx, declaringUrl: 'https://git.example.com/central.git' });
    assert.match(r.problems[0]!.message, /relative url/);
  });
});
