// Re-apply after a one-file change: a folder of N Mappings (over 50 team files) served by the
// controller with a sink that only records; one file is edited and the pass that applies it is timed.
// Usage: npm run build && node bench/reapply-probe.js [--mappings 10000] [--rounds 5]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { routeModel, writePorticoConfig } from './gen-config.js';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const mappings = opt('mappings', 10_000);
const rounds = opt('rounds', 5);
const dir = mkdtempSync(join(tmpdir(), 'portico-reapply-'));
const { Controller } = await import('../dist/src/controller/controller.js');
try {
  const model = routeModel({ mappings, hosts: 50 });
  writePorticoConfig(dir, model, { port: 18080, upstream: '127.0.0.1:9' });
  let applied = 0;
  let done = () => {};
  const sink = {
    apply: async () => {
      applied++;
      done();
      return { ok: true, generation: applied };
    },
  };
  const controller = new Controller({
    roots: [{ spec: { name: 'dir', url: dir, branch: '', path: '' }, kind: 'directory', intervalMs: Infinity, onForcePush: 'refuse' }],
    sink,
    poll: false,
    // Rounds follow each other faster than the default 1 s between fetches of one source.
    minFetchIntervalMs: 0,
  });
  const t0 = performance.now();
  await controller.start();
  const startMs = performance.now() - t0;
  const file = join(dir, 'team-07.yaml');
  const original = readFileSync(file, 'utf8');
  const times = [];
  const cpuTimes = [];
  for (let i = 0; i < rounds; i++) {
    writeFileSync(file, original.replace(/timeout_ms: 5000/, `timeout_ms: ${5001 + i}`));
    const live = new Promise((r) => (done = r));
    const t = performance.now();
    const c = process.cpuUsage();
    controller.trigger('dir');
    await live;
    times.push(performance.now() - t);
    // CPU time of the pass (this process, all threads): on a busy machine, wall time is mostly waiting for a core.
    const u = process.cpuUsage(c);
    cpuTimes.push((u.user + u.system) / 1000);
    await controller.idle();
  }
  await controller.stop();
  times.sort((a, b) => a - b);
  cpuTimes.sort((a, b) => a - b);
  const median = (xs) => Math.round(xs[Math.floor(xs.length / 2)]);
  console.log(JSON.stringify({ mappings, startMs: Math.round(startMs), reapplyMs: times.map((x) => Math.round(x)), medianMs: median(times), cpuMs: cpuTimes.map((x) => Math.round(x)), medianCpuMs: median(cpuTimes), loadAverage: loadavg().map((x) => Number(x.toFixed(1))), rssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
