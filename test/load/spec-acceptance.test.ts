// specAccepts decides a spec one present property at a time; held here to the whole-object TypeBox
// check on real specs from the fixtures and the Emissary corpus, and on those specs edited at random.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadPaths } from '../../src/load/index.js';
import { KIND_SCHEMAS, specAccepts, specValidator } from '../../src/api/schemas.js';
import type { Kind } from '../../src/api/resource.js';

const KINDS = Object.keys(KIND_SCHEMAS) as Kind[];

/** A deep copy made of prototype-free objects, as the loader builds them. */
function loaded(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(loaded);
  if (typeof v !== 'object' || v === null) return v;
  const out = Object.setPrototypeOf({}, null) as Record<string, unknown>;
  for (const [k, x] of Object.entries(v)) out[k] = loaded(x);
  return out;
}

function agree(kind: Kind, spec: unknown, label: string): boolean {
  const whole = specValidator(kind).Check(spec);
  assert.equal(specAccepts(kind, spec), whole, `${kind} ${label}: ${JSON.stringify(spec)}`);
  return whole;
}

const seeds = (async () => {
  const dirs = [join(process.cwd(), 'test', 'testdata')];
  const { resources } = await loadPaths(dirs);
  const byKind = new Map<Kind, unknown[]>();
  for (const r of resources) {
    const list = byKind.get(r.kind) ?? [];
    list.push(loaded(r.spec));
    byKind.set(r.kind, list);
  }
  return byKind;
})();

test('specs from the fixtures and the corpus: the same answer as the whole-object check', async () => {
  const byKind = await seeds;
  let n = 0;
  for (const [kind, specs] of byKind) {
    for (const spec of specs) {
      agree(kind, spec, 'as loaded');
      n++;
    }
  }
  assert.ok(n > 100, `only ${n} specs found`);
});

test('not a prototype-free object, or a required property missing: still the same answer', () => {
  for (const kind of KINDS) {
    for (const v of [null, undefined, 1, 'x', [], [1], {}, Object.setPrototypeOf({}, null), { prefix: '/', service: 's' }, loaded({ prefix: '/', service: 's' }), loaded({ port: 8080 })]) {
      agree(kind, v, 'odd value');
    }
  }
});

test('specs edited at random: the same answer as the whole-object check', async () => {
  const byKind = await seeds;
  const values: unknown[] = [null, true, false, 0, -1, 1.5, 100, 70000, '', 'x', '/p/', '5xx', 'round_robin', '1s', [], ['a'], [1], {}, { value: 'v' }, { a: 'b' }, { pattern: 'a', substitution: 'b' }];
  for (const specs of byKind.values()) {
    for (const spec of specs) {
      if (typeof spec !== 'object' || spec === null) continue;
      for (const v of Object.values(spec)) {
        values.push(v);
        if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) values.push(x);
      }
    }
  }
  const kinds = [...byKind.keys()];
  let accepted = 0;
  let runs = 0;
  fc.assert(
    fc.property(fc.nat(), fc.nat(), fc.array(fc.tuple(fc.constantFrom('set', 'delete', 'unknown', 'nested'), fc.nat(), fc.nat()), { minLength: 1, maxLength: 3 }), (k, s, edits) => {
      const kind = kinds[k % kinds.length] as Kind;
      const specs = byKind.get(kind) as unknown[];
      const spec = loaded(specs[s % specs.length]) as Record<string, unknown>;
      const names = Object.keys((KIND_SCHEMAS[kind].schema as unknown as { properties: Record<string, unknown> }).properties);
      for (const [what, a, b] of edits) {
        const key = names[a % names.length] as string;
        const value = loaded(values[b % values.length]);
        if (what === 'set') spec[key] = value;
        else if (what === 'delete') delete spec[Object.keys(spec)[a % Math.max(1, Object.keys(spec).length)] ?? key];
        else if (what === 'unknown') spec[`${key}_x`] = value;
        else {
          const inner = spec[Object.keys(spec)[a % Math.max(1, Object.keys(spec).length)] ?? key];
          if (typeof inner === 'object' && inner !== null && !Array.isArray(inner)) (inner as Record<string, unknown>)[names[b % names.length] as string] = value;
        }
      }
      runs++;
      if (agree(kind, spec, 'edited')) accepted++;
    }),
    { numRuns: 3000, seed: 20261126 },
  );
  // Both answers must be exercised.
  assert.ok(accepted > runs / 20 && accepted < runs - runs / 20, `accepted ${accepted} of ${runs}`);
});
