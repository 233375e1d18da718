// The young generation of a one-shot command (validate, plan, test, ...): kept at the size it starts with,
// unless whoever started Portico chose a size or growth for it, on the command line or in NODE_OPTIONS.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { keepYoungGenerationSmall, optionGiven } from '../../src/cli/node-flags.js';

describe('the young generation of a one-shot command', () => {
  it('is left as chosen on the command line or in NODE_OPTIONS', async () => {
    assert.equal(await keepYoungGenerationSmall(['--max-semi-space-size=16'], undefined), false);
    assert.equal(await keepYoungGenerationSmall(['--semi_space_growth_factor', '4'], undefined), false);
    assert.equal(await keepYoungGenerationSmall([], '--trace-warnings --min-semi-space-size=8'), false);
  });

  it('is kept small otherwise, with an option this Node.js knows (V8 prints nothing)', async () => {
    assert.equal(await keepYoungGenerationSmall(['--enable-source-maps'], '--max-old-space-size=512'), true);
    // V8 writes "unrecognized flag" to stderr itself: a Node.js whose V8 dropped the option would say so on every command.
    const url = new URL('../../src/cli/node-flags.js', import.meta.url).href;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(url)}); process.stdout.write(String(await m.keepYoungGenerationSmall([], undefined)));`], { encoding: 'utf8' });
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, 'true', '']);
  });
});

describe('an option given to node', () => {
  it('is found on the command line or in NODE_OPTIONS, and not in a longer flag', () => {
    const flag = /^--(no-)?memory[-_]reducer(=|$)/;
    assert.equal(optionGiven(['--no-memory_reducer'], undefined, flag), true);
    assert.equal(optionGiven([], '  --memory-reducer  ', flag), true);
    assert.equal(optionGiven(['--memory-reducer-for-small-heaps'], undefined, flag), false);
    assert.equal(optionGiven([], undefined, flag), false);
  });
});
