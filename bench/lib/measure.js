// One measured load run: wrk against a server while its CPU time and RSS are read from /proc,
// giving throughput, latency, errors, CPU microseconds per request and peak RSS together.
import { runWrk } from './wrk-runner.js';
import { UsageMeter } from './proc-usage.js';

export async function measuredRun({ server, url, connections, seconds, headers, paths, loadCpus }) {
  const meter = new UsageMeter(server.pid);
  meter.start();
  let wrk;
  let usage;
  try {
    wrk = await runWrk({ url, connections, seconds, headers, paths, cpus: loadCpus });
  } finally {
    usage = meter.stop();
  }
  const okRequests = Math.max(wrk.requests - wrk.errorDetail.status, 1);
  return {
    ...wrk,
    cpuSeconds: usage.cpuSeconds,
    cpuUsPerReq: (usage.cpuSeconds * 1e6) / okRequests,
    cpuUtilPct: (usage.cpuSeconds / wrk.seconds) * 100,
    peakRssMiB: usage.peakRssMiB,
  };
}
