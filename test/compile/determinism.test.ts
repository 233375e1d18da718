// compile is pure: the same resources in any file order, document order or repository order give
// byte-identical output (the IR, its hash and the report).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loadFiles } from '../../src/load/index.js';
import { compile } from '../../src/compile/index.js';
import { canonicalJSON } from '../../src/ir/canonical.js';

function doc(i: number): string {
  const kinds = [
    `apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: { name: m${i}, namespace: ns${i % 3} }\nspec: { hostname: "${i % 2 ? '*' : `h${i % 4}.example.com`}", prefix: /p${i % 5}/, service: svc${i}, weight: ${(i % 4) * 5 + 5}${i % 7 === 0 ? ', precedence: 3' : ''} }`,
    `apiVersion: getambassador.io/v3alpha1\nkind: Host\nmetadata: { name: h${i}, namespace: default }\nspec: { hostname: h${i % 4}.example.com, requestPolicy: { insecure: { action: Route } } }`,
    `apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: { name: x${i}, namespace: default }\nspec: { hostname: "*", prefix: /x${i}/, service: "x${i}:80", headers: { x-n: "${i}" } }`,
  ];
  return kinds[i % kinds.length]!;
}

const listener = 'apiVersion: getambassador.io/v3alpha1\nkind: Listener\nmetadata: { name: l, namespace: default }\nspec: { port: 8080, protocol: HTTP, securityModel: XFP, hostBinding: { namespace: { from: ALL } } }';

function render(files: { path: string; content: string }[], sourceOrder: string[]): string {
  const resources = [];
  const problems = [];
  for (const s of sourceOrder) {
    const r = loadFiles(files.filter((f) => f.path.startsWith(s)), { source: s, revision: 'abc' });
    resources.push(...r.resources);
    problems.push(...r.problems);
  }
  const out = compile(resources, {}, problems);
  return canonicalJSON({ ir: out.ir, report: out.report, hash: out.hash });
}

function withoutPositions(json: string): string {
  return json.replace(/"(line|col)":\d+/g, '"$1":0').replace(/"hash":"[0-9a-f]+"/g, '"hash":""');
}

test('shuffled files and sources compile byte-identical; shuffled documents differ only in line numbers', () => {
  const docs = Array.from({ length: 24 }, (_, i) => doc(i));
  const base: { path: string; content: string }[] = [
    { path: 'central/listener.yaml', content: listener },
    ...docs.map((d, i) => ({ path: `${i % 2 ? 'team-a' : 'team-b'}/f${i % 6}.yaml`, content: d })),
    // a conflict between two teams (HARDENING case 7): the same error whatever the order
    { path: 'team-a/clash.yaml', content: 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: { name: clash-a, namespace: a }\nspec: { hostname: "*", prefix: /clash/, service: a }' },
    { path: 'team-b/clash.yaml', content: 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: { name: clash-b, namespace: b }\nspec: { hostname: "*", prefix: /clash/, service: b }' },
  ];
  // merge documents per file so that document order inside a file matters too
  const grouped = new Map<string, string[]>();
  for (const f of base) grouped.set(f.path, [...(grouped.get(f.path) ?? []), f.content]);
  const files = [...grouped].map(([path, ds]) => ({ path, docs: ds }));
  const expected = render(files.map((f) => ({ path: f.path, content: f.docs.join('\n---\n') })), ['central', 'team-a', 'team-b']);
  assert.ok(expected.includes('"routes"'));
  assert.equal((expected.match(/"code":"RouteConflict"/g) ?? []).length, 2, 'both sides of the conflict are reported');

  fc.assert(
    fc.property(fc.array(fc.nat(), { minLength: 60, maxLength: 60 }), (seeds) => {
      let k = 0;
      const next = (): number => seeds[k++ % seeds.length]!;
      const shuffle = <T>(xs: T[]): T[] => {
        const a = xs.slice();
        for (let i = a.length - 1; i > 0; i--) {
          const j = next() % (i + 1);
          [a[i], a[j]] = [a[j]!, a[i]!];
        }
        return a;
      };
      // File and repository order: byte-identical.
      const sources = shuffle(['central', 'team-a', 'team-b']);
      const reordered = shuffle(files).map((f) => ({ path: f.path, content: f.docs.join('\n---\n') }));
      assert.equal(render(reordered, sources), expected);
      // Document order inside a file moves line numbers, and nothing else.
      const moved = shuffle(files).map((f) => ({ path: f.path, content: shuffle(f.docs).join('\n---\n') }));
      assert.equal(withoutPositions(render(moved, sources)), withoutPositions(expected));
    }),
    { numRuns: 60 },
  );
});
