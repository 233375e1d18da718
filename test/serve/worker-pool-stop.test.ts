// A worker pool told to stop at once (a second stop signal) while its workers are still starting:
// the start ends there, so that `serve` goes on to its drain and exits, rather than waiting for
// workers that will never report. Real worker processes, forked from this test.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { WorkerPool } from '../../src/serve/worker-pool.js';
import { createProcessLog } from '../../src/serve/process-log.js';
import { ConfigMetrics } from '../../src/admin/metrics.js';
import { TicketKeyRing } from '../../src/serve/session-tickets.js';

test('force() while the workers start ends the start with an error, and every worker is gone after shutdown', async () => {
  const pool = new WorkerPool(2, { exposeGeneration: false }, createProcessLog('primary'), new ConfigMetrics(new Registry()), new TicketKeyRing());
  const starting = pool.start();
  const pids = pool.workers().map((w) => w.pid!);
  assert.equal(pids.length, 2);
  // In the same turn as the forks: no worker can have reported yet.
  pool.force();
  await assert.rejects(starting, /stopped while the workers started/);
  await pool.shutdown(0);
  assert.deepEqual(pool.workers().map((w) => w.state), ['restarting', 'restarting'], 'no worker process is left, and none is started again');
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `worker ${pid} has exited`);
});
