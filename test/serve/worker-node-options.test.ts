// The node options a worker process starts with: the primary's own, plus the cap on V8's young
// generation, V8's memory reducer off and V8's allocation-site pretenuring off, unless whoever started
// Portico chose otherwise (on the command line or in NODE_OPTIONS).

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
  const pretenuring = '--no-allocation-site-pretenuring';

  it('is turned off after the primary options and the semi-space cap', () => {
    assert.deepEqual(workerNodeOptions(['--enable-source-maps'], undefined), ['--enable-source-maps', cap, '--no-memory-reducer', pretenuring]);
    assert.deepEqual(workerNodeOptions(['--max-semi-space-size=16'], undefined), ['--max-semi-space-size=16', '--no-memory-reducer', pretenuring]);
  });

  it('is left as chosen on the command line or in NODE_OPTIONS', () => {
    assert.deepEqual(workerNodeOptions(['--memory-reducer'], undefined), ['--memory-reducer', cap, pretenuring]);
    assert.deepEqual(workerNodeOptions(['--no-memory_reducer'], undefined), ['--no-memory_reducer', cap, pretenuring]);
    assert.deepEqual(workerNodeOptions([], '--memory-reducer'), [cap, pretenuring]);
  });

  it('does not mistake a longer flag for it', () => {
    assert.deepEqual(workerNodeOptions(['--memory-reducer-for-small-heaps'], undefined), ['--memory-reducer-for-small-heaps', cap, '--no-memory-reducer', pretenuring]);
  });
});

describe("V8's allocation-site pretenuring in a worker", () => {
  const cap = `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`;

  it('is turned off last, after the memory reducer', () => {
    assert.deepEqual(workerNodeOptions([], undefined), [cap, '--no-memory-reducer', '--no-allocation-site-pretenuring']);
  });

  it('is left as chosen on the command line', () => {
    assert.deepEqual(workerNodeOptions(['--allocation-site-pretenuring'], undefined), ['--allocation-site-pretenuring', cap, '--no-memory-reducer']);
    assert.deepEqual(workerNodeOptions(['--no-allocation_site_pretenuring'], undefined), ['--no-allocation_site_pretenuring', cap, '--no-memory-reducer']);
  });

  it('does not mistake a longer flag for it', () => {
    assert.deepEqual(workerNodeOptions(['--allocation-site-pretenuring-extra'], undefined), ['--allocation-site-pretenuring-extra', cap, '--no-memory-reducer', '--no-allocation-site-pretenuring']);
  });
});
