// Re-apply after a one-file change: a folder of N Mappings (over 50 team files) served by the
// controller with a sink that only records; one file is edited and the pass that applies it is timed.
// Usage: npm run build && node bench/reapply-probe.js [--mappings 10000] [--rounds 5]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  });
  const t0 = performance.now();
  await controller.start();
  const startMs = performance.now() - t0;
  const file = join(dir, 'team-07.yaml');
  const original = readFileSync(file, 'utf8');
  const times = [];
  for (let i = 0; i < rounds; i++) {
    writeFileSync(file, original.replace(/timeout_ms: 5000/, `timeout_ms: ${5001 + i}`));
    const live = new Promise((r) => (done = r));
    const t = performance.now();
    controller.trigger('dir');
    await live;
    times.push(performance.now() - t);
    await controller.idle();
  }
  await controller.stop();
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ mappings, startMs: Math.round(startMs), reapplyMs: times.map((x) => Math.round(x)), medianMs: Math.round(times[Math.floor(times.length / 2)]), rssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
