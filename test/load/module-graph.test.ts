// The load stage's modules import one another without a cycle (type-only imports count too): the
// YAML reader, the types it produces and the decoder stack up in one direction.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const LOAD = join(process.cwd(), 'src', 'load');

test('no module of src/load imports, directly or not, a module that imports it', () => {
  const graph = new Map<string, string[]>();
  for (const name of readdirSync(LOAD).filter((n) => n.endsWith('.ts'))) {
    const text = readFileSync(join(LOAD, name), 'utf8');
    const deps = [...text.matchAll(/\b(?:import|export)\b[^;]*?\bfrom\s+'\.\/([^']+)\.js'/g)].map((m) => `${m[1]}.ts`);
    graph.set(name, deps);
  }
  assert.ok(graph.has('yaml-documents.ts') && graph.has('parsed-yaml.ts'));
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (node: string, path: string[]): void => {
    if (state.get(node) === 'done') return;
    if (state.get(node) === 'open') {
      cycles.push([...path.slice(path.indexOf(node)), node].join(' → '));
      return;
    }
    state.set(node, 'open');
    for (const dep of graph.get(node) ?? []) visit(dep, [...path, node]);
    state.set(node, 'done');
  };
  for (const node of graph.keys()) visit(node, []);
  assert.deepEqual(cycles, []);
});
