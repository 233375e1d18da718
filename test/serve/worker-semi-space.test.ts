// The node options a worker process starts with: the primary's own, plus the cap on V8's young
// generation, unless whoever started Portico chose a size (on the command line or in NODE_OPTIONS).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WORKER_SEMI_SPACE_MIB, withSemiSpaceCap } from '../../src/serve/worker-pool.js';

describe('the young-generation cap of a worker', () => {
  it('keeps the primary options and adds the semi-space cap', () => {
    assert.deepEqual(withSemiSpaceCap(['--enable-source-maps'], undefined), ['--enable-source-maps', `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`]);
    assert.deepEqual(withSemiSpaceCap([], '--max-old-space-size=512'), [`--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`]);
  });

  it('leaves a size chosen on the command line or in NODE_OPTIONS alone', () => {
    assert.deepEqual(withSemiSpaceCap(['--max-semi-space-size=16'], undefined), ['--max-semi-space-size=16']);
    assert.deepEqual(withSemiSpaceCap(['--max_semi_space_size', '8'], undefined), ['--max_semi_space_size', '8']);
    assert.deepEqual(withSemiSpaceCap([], '--trace-warnings --max-semi-space-size=32'), []);
  });

  it('does not mistake a longer flag for the size', () => {
    assert.deepEqual(withSemiSpaceCap(['--max-semi-space-size-extra=1'], undefined), ['--max-semi-space-size-extra=1', `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`]);
  });
});
