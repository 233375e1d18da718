// One measured load run: wrk against a server while its CPU time and RSS are read from /proc,
// giving throughput, latency, errors, CPU microseconds per request and peak RSS together.
import { runWrk } from './wrk-runner.js';
import { UsageMeter, BackgroundMeter, waitForQuiet } from './proc-usage.js';
import { pinSelf } from './cpu-layout.js';
import { pauseGroups } from './process-group.js';

/** Set by run.js from the plan: how long a run may wait for other work on the machine to pause. */
export const quietGate = { maxWaitMs: 0 };

/**
 * `pause`: pids of servers started for other cells, stopped while this one is measured (never the
 * server under test or the upstream).
 */
export async function measuredRun({ server, url, connections, seconds, headers, paths, loadCpus, otherPids = [], delayMs, pause = [] }) {
  const resume = pauseGroups(pause.filter((p) => p !== server.pid && !otherPids.includes(p)));
  try {
    return await measureNow({ server, url, connections, seconds, headers, paths, loadCpus, otherPids, delayMs });
  } finally {
    resume();
  }
}

async function measureNow({ server, url, connections, seconds, headers, paths, loadCpus, otherPids, delayMs }) {
  const quiet = quietGate.maxWaitMs > 0 ? await waitForQuiet({ maxWaitMs: quietGate.maxWaitMs }) : null;
  // The meters' timers run in this process: on the load generator's cores, not the server's.
  const unpin = pinSelf(loadCpus);
  const meter = new UsageMeter(server.pid);
  const background = new BackgroundMeter([server.pid, ...otherPids.filter((p) => p && p !== server.pid)]);
  meter.start();
  background.start();
  let wrk;
  let usage;
  try {
    wrk = await runWrk({ url, connections, seconds, headers, paths, cpus: loadCpus, delayMs });
  } finally {
    usage = meter.stop();
    unpin();
  }
  const backgroundCpuPct = background.stop();
  const okRequests = Math.max(wrk.requests - wrk.errorDetail.status, 1);
  return {
    ...wrk,
    cpuSeconds: usage.cpuSeconds,
    cpuUsPerReq: (usage.cpuSeconds * 1e6) / okRequests,
    cpuUtilPct: (usage.cpuSeconds / wrk.seconds) * 100,
    peakRssMiB: usage.peakRssMiB,
    backgroundCpuPct,
    quietWaitMs: quiet?.waitedMs ?? 0,
  };
}
