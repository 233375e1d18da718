// Modules loaded on first use: nothing is evaluated until a configuration needs it, then exactly
// once, and a getter hands back the same module every time (one copy of a package per process).

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { onDemand } from '../../src/dataplane/on-demand-module.js';

interface Counted {
  readonly evaluations: number;
}

describe('onDemand', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-on-demand-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const counter = '__porticoOnDemandEvaluations';
  // An ES module that counts its own evaluations in a global, so the test sees when it ran.
  writeFileSync(join(dir, 'counted.js'), `globalThis.${counter} = (globalThis.${counter} ?? 0) + 1;\nexport const evaluations = globalThis.${counter};\n`);
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  const evaluated = () => (globalThis as Record<string, unknown>)[counter] ?? 0;

  it('evaluates the module on the first call, not before, and once', () => {
    const counted = onDemand<Counted>(pathToFileURL(join(dir, 'here.js')).href, './counted.js');
    assert.equal(evaluated(), 0, 'making the getter loads nothing');
    const first = counted();
    assert.equal(evaluated(), 1);
    assert.equal(first.evaluations, 1);
    assert.equal(counted(), first, 'the same module object every time');
    assert.equal(evaluated(), 1, 'never evaluated twice');
  });

  it('shares the import cache: a module imported before is not evaluated again', async () => {
    const url = pathToFileURL(join(dir, 'counted.js')).href;
    const imported = (await import(url)) as Counted;
    const required = onDemand<Counted>(pathToFileURL(join(dir, 'other.js')).href, './counted.js')();
    assert.equal(required.evaluations, imported.evaluations);
    assert.equal(evaluated(), 1);
  });

  it('loads a package by name, as the data plane loads jose', () => {
    const jose = onDemand<typeof import('jose')>(import.meta.url, 'jose')();
    assert.equal(typeof jose.compactVerify, 'function');
  });
});
