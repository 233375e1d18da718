// `portico explain` as a user runs it on a central repository with a ReleasePolicy: it says which
// policy would release a new revision of the route's source and on what share of requests first,
// and says nothing of releases for a route no policy governs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../../bin/portico.js', import.meta.url));
let dir = '';

function portico(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: dir });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'portico-explain-release-'));
  mkdirSync(join(dir, 'central'));
  mkdirSync(join(dir, 'shop'));
  writeFileSync(
    join(dir, 'central/gateway.yaml'),
    `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: {name: http}
spec: {port: 8080, protocol: HTTP, securityModel: XFP, hostBinding: {namespace: {from: ALL}}}
---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: {name: any}
spec: {hostname: "*", requestPolicy: {insecure: {action: Route}}}
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: ops}
spec: {hostname: "*", prefix: /ops/, service: "127.0.0.1:9001"}
---
apiVersion: portico.dev/v1alpha1
kind: Source
metadata: {name: shop}
spec:
  url: https://git.example.com/shop.git
  claims: {kinds: [Mapping], hostnames: ["*"], pathPrefixes: [/shop/]}
---
apiVersion: portico.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: shop}
spec: {sources: [shop], steps: [10, 50], window: 1m}
`,
  );
  writeFileSync(join(dir, 'shop/shop.yaml'), 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: {name: shop}\nspec: {hostname: "*", prefix: /shop/, service: "127.0.0.1:9000"}\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('explain: a route of a source a ReleasePolicy governs says which share a new revision gets first', () => {
  const r = portico('explain', 'central', '--local', 'shop=shop', 'GET http://a.example/shop/x');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /note: a new revision of source 'shop' first serves 10 % of requests \(ReleasePolicy default\/shop: 10 → 50 → 100 %, 60 s per step\); until it is promoted, 90 % of requests like this one get the revision explained here/);
  const json = JSON.parse(portico('explain', 'central', '--local', 'shop=shop', 'GET http://a.example/shop/x', '--format', 'json').stdout) as { notes: string[] };
  assert.ok(json.notes.some((n) => n.includes("ReleasePolicy default/shop")), JSON.stringify(json.notes));
});

test('explain: a route no policy governs says nothing of releases', () => {
  const r = portico('explain', 'central', '--local', 'shop=shop', 'GET http://a.example/ops/x');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.doesNotMatch(r.stdout, /ReleasePolicy/);
});
