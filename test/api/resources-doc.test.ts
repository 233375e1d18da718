// docs/reference/resources.md lists every field Portico accepts without implementing it; this keeps
// that list and the registry in step, in both directions.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { KIND_SCHEMAS } from '../../src/api/schemas.js';
import { KINDS } from '../../src/api/resource.js';
import { EMISSARY_NOT_IMPLEMENTED_KINDS } from '../../src/load/index.js';

const doc = readFileSync(new URL('../../../docs/reference/resources.md', import.meta.url), 'utf8');
const section = doc.slice(doc.indexOf('## Valid Emissary fields not implemented yet'), doc.indexOf('## What a load returns'));

/** The backticked names in the bullet for one kind ("- **Mapping**: `labels`, …"). */
function documented(kind: string): string[] {
  const m = new RegExp(`^- \\*\\*${kind}\\*\\*[^:]*:([\\s\\S]*?)(?=^- \\*\\*|^\\S|$(?![\\s\\S]))`, 'm').exec(section);
  if (!m) return [];
  const prefix = kind === 'Module' ? 'config.' : '';
  return [...(m[1] as string).matchAll(/`([a-zA-Z0-9_.]+)`/g)]
    .map((x) => x[1] as string)
    .filter((name) => name !== 'none')
    .map((name) => prefix + name);
}

test('every not-implemented field is documented, and only those', async (t) => {
  for (const kind of KINDS) {
    await t.test(kind, () => {
      assert.deepEqual(documented(kind).sort(), [...KIND_SCHEMAS[kind].notImplemented].sort());
    });
  }
});

test('every recognised but not implemented kind is documented', () => {
  for (const kind of EMISSARY_NOT_IMPLEMENTED_KINDS) assert.ok(doc.includes(`\`${kind}\``), kind);
});
