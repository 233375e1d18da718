// The node options a worker process starts with: the primary's own, plus the cap on V8's young
// generation and V8's memory reducer off, unless whoever started Portico chose otherwise (on the
// command line or in NODE_OPTIONS).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WORKER_SEMI_SPACE_MIB, withSemiSpaceCap, workerNodeOptions } from '../../src/serve/worker-pool.js';

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

describe('the memory reducer of a worker', () => {
  const cap = `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`;

  it('is turned off after the primary options and the semi-space cap', () => {
    assert.deepEqual(workerNodeOptions(['--enable-source-maps'], undefined), ['--enable-source-maps', cap, '--no-memory-reducer']);
    assert.deepEqual(workerNodeOptions(['--max-semi-space-size=16'], undefined), ['--max-semi-space-size=16', '--no-memory-reducer']);
  });

  it('is left as chosen on the command line or in NODE_OPTIONS', () => {
    assert.deepEqual(workerNodeOptions(['--memory-reducer'], undefined), ['--memory-reducer', cap]);
    assert.deepEqual(workerNodeOptions(['--no-memory_reducer'], undefined), ['--no-memory_reducer', cap]);
    assert.deepEqual(workerNodeOptions([], '--memory-reducer'), [cap]);
  });

  it('does not mistake a longer flag for it', () => {
    assert.deepEqual(workerNodeOptions(['--memory-reducer-for-small-heaps'], undefined), ['--memory-reducer-for-small-heaps', cap, '--no-memory-reducer']);
  });
});
