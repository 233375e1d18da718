import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { LOCAL_REPLY_CODES } from '../../src/dataplane/local-reply.js';

const doc = readFileSync(new URL('../../../docs/reference/dataplane.md', import.meta.url), 'utf8');

describe('docs/reference/dataplane.md', () => {
  it('lists exactly the local reply codes the gateway can send', () => {
    const section = doc.slice(doc.indexOf('## Local replies'), doc.indexOf('## Program faults'));
    const documented = [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]).sort();
    assert.deepEqual(documented, [...LOCAL_REPLY_CODES].sort());
  });

  it('lists every PORTICO_ERR code of the data plane', () => {
    const src = ['build-errors.ts', 'runtime.ts'].map((f) => readFileSync(new URL(`../../../src/dataplane/${f}`, import.meta.url), 'utf8')).join('\n');
    const codes = new Set([...src.matchAll(/PORTICO_ERR_[A-Z_]+/g)].map((m) => m[0]));
    for (const c of codes) assert.ok(doc.includes(`\`${c}\``), `${c} is not documented`);
  });
});
