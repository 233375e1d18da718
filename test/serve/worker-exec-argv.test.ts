// Which V8 flags `serve --workers N` gives its workers: the collector on the worker's own thread when
// the workers have a CPU each at most, the primary's flags kept, and an explicit choice respected.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { workerExecArgv } from '../../src/serve/worker-pool.js';

describe('worker V8 flags', () => {
  it('collects on the worker thread when there are at least as many workers as CPUs', () => {
    assert.deepEqual(workerExecArgv([], 2, 2), ['--single-threaded-gc']);
    assert.deepEqual(workerExecArgv([], 1, 1), ['--single-threaded-gc'], 'one worker confined to one CPU (taskset)');
    assert.deepEqual(workerExecArgv(['--max-old-space-size=256'], 4, 2), ['--max-old-space-size=256', '--single-threaded-gc'], 'the primary flags are kept');
  });

  it('leaves the collector threads to spare CPUs', () => {
    assert.equal(workerExecArgv(['--max-old-space-size=256'], 1, 2), undefined);
    assert.equal(workerExecArgv([], 3, 8), undefined);
  });

  it('respects a collector choice given to the primary', () => {
    assert.equal(workerExecArgv(['--no-single-threaded-gc'], 2, 2), undefined);
    assert.equal(workerExecArgv(['--single-threaded-gc'], 2, 2), undefined, 'not given twice');
    assert.equal(workerExecArgv(['--single-threaded'], 2, 2), undefined);
  });
});
