// What makes the latency tail at 200 connections: wrk against nginx and Portico (same run, the
// HTTP/1.1 section's 100 Mappings), while every Portico process records per 100 ms window its event
// loop's longest delay, its GC pauses and its CPU (lib/loop-recorder.mjs, loaded with --import).
//
//   node bench/tail-probe.js [--connections 200] [--seconds 10] [--rounds 3] [--workers 1] [--out NAME]
//
// The report lines up each run's p99 with the windows of that run: how many had a stall (a delay of
// 20 ms or more), what the longest was, and how much of the stalls GC pauses and lost CPU (the
// process waiting for its core) explain. Not part of `npm run bench`; --out writes results/NAME.json.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { routeModel, benchRequest } from './gen-config.js';
import { startUpstreamNginx, startNginxProxy, startPortico, BENCH_DIR } from './lib/variants.js';
import { cpuLayout } from './lib/cpu-layout.js';
import { measuredRun } from './lib/measure.js';
import { stopAll } from './lib/process-group.js';
import { median } from './lib/summary-stats.js';

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const connections = Number(opt('--connections', 200));
const seconds = Number(opt('--seconds', 10));
const rounds = Number(opt('--rounds', 3));
const workers = Number(opt('--workers', 1));
const out = opt('--out', undefined);
const STALL_MS = 20;

const layout = cpuLayout('split', 2);
const workdir = mkdtempSync(join(tmpdir(), 'portico-tail-'));
const loopDir = join(workdir, 'loop');
mkdirSync(loopDir);
const recorder = join(BENCH_DIR, 'lib/loop-recorder.mjs');

try {
  const upstream = await startUpstreamNginx(workdir, { cpus: layout.upstream });
  const model = routeModel({ mappings: 100, hosts: 10, style: 'realistic' });
  const req = benchRequest(model);
  const nginx = await startNginxProxy(workdir, { upstreamPort: upstream.port, model, cpus: layout.server });
  const portico = await startPortico(workdir, {
    label: 'portico', model, upstreamPort: upstream.port, workers, cpus: layout.server, probe: req,
    env: { NODE_OPTIONS: `--import=${recorder}`, PORTICO_BENCH_LOOP_DIR: loopDir },
  });
  const runs = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [nginx, portico] : [portico, nginx];
    for (const server of order) {
      const from = Date.now();
      const r = await measuredRun({
        server, url: `http://127.0.0.1:${server.port}${req.path}`, connections, seconds, headers: { host: req.host },
        loadCpus: layout.load, otherPids: [upstream.pid], pause: [nginx.pid, portico.pid],
      });
      runs.push({ name: server === nginx ? 'nginx' : 'portico', round, from, to: Date.now(), rps: r.rps, p50Ms: r.p50Ms, p99Ms: r.p99Ms, p999Ms: r.p999Ms, maxMs: r.maxMs, cpuUsPerReq: r.cpuUsPerReq, errors: r.errors });
      console.log(`round ${round + 1} ${runs.at(-1).name.padEnd(7)} ${Math.round(r.rps)} req/s  p50 ${r.p50Ms.toFixed(2)}  p99 ${r.p99Ms.toFixed(2)}  p99.9 ${r.p999Ms.toFixed(2)}  max ${r.maxMs.toFixed(1)} ms  ${r.cpuUsPerReq.toFixed(1)} µs/req`);
    }
  }
  await portico.stop();
  await nginx.stop();
  await upstream.stop();

  const recordings = readdirSync(loopDir).map((f) => JSON.parse(readFileSync(join(loopDir, f), 'utf8')));
  // The serving process: the one whose CPU went up the most while Portico was measured.
  const busy = (rec, run) => rec.windows.filter((w) => w.t > run.from && w.t <= run.to).reduce((a, w) => a + w.cpuMs, 0);
  const porticoRuns = runs.filter((r) => r.name === 'portico');
  for (const run of porticoRuns) {
    const perProcess = recordings.map((rec) => {
      const ws = rec.windows.filter((w) => w.t > run.from + 500 && w.t <= run.to);
      const stalls = ws.filter((w) => w.maxDelayMs >= STALL_MS);
      const gcPauses = ws.flatMap((w) => w.gc);
      const byKind = {};
      for (const [kind, ms] of gcPauses) {
        const k = (byKind[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
        k.count++;
        k.totalMs += ms;
        k.maxMs = Math.max(k.maxMs, ms);
      }
      const windowMs = rec.windowMs;
      return {
        pid: rec.pid,
        role: rec.argv.some((a) => a.includes('worker-main')) ? 'worker' : 'primary',
        cpuMs: busy(rec, run),
        windows: ws.length,
        stallWindows: stalls.length,
        maxDelayMs: Math.max(0, ...ws.map((w) => w.maxDelayMs)),
        medianWindowMaxDelayMs: median(ws.map((w) => w.maxDelayMs)),
        // In a stalled window: the GC pauses in it, and the share of the window the process was off CPU.
        stalls: stalls.map((w) => ({ delayMs: round1(w.maxDelayMs), gcMs: round1(w.gc.reduce((a, [, ms]) => a + ms, 0)), maxGcMs: round1(Math.max(0, ...w.gc.map(([, ms]) => ms))), offCpuMs: round1(Math.max(0, windowMs - w.cpuMs)) })),
        gc: byKind,
      };
    }).filter((p) => p.windows > 0);
    run.processes = perProcess;
    const main = perProcess.reduce((a, p) => (p.cpuMs > (a?.cpuMs ?? -1) ? p : a), undefined);
    if (main) {
      const gcLine = Object.entries(main.gc).map(([k, v]) => `${k} ${v.count}× max ${v.maxMs.toFixed(1)} ms`).join(', ');
      console.log(`portico round ${run.round + 1}: p99 ${run.p99Ms.toFixed(1)} ms; serving process (${main.role}): ${main.stallWindows} of ${main.windows} windows with a loop delay ≥ ${STALL_MS} ms, longest ${main.maxDelayMs.toFixed(1)} ms, median window max ${main.medianWindowMaxDelayMs.toFixed(1)} ms; GC: ${gcLine}`);
      for (const s of main.stalls.slice(0, 8)) console.log(`    stall ${s.delayMs} ms: GC ${s.gcMs} ms in the window (longest ${s.maxGcMs}), off CPU ${s.offCpuMs} ms of 100`);
    }
  }
  if (out) {
    writeFileSync(join(BENCH_DIR, 'results', `${out}.json`), JSON.stringify({ startedAt: new Date(runs[0]?.from ?? Date.now()).toISOString(), connections, seconds, rounds, workers, stallMs: STALL_MS, runs }, null, 1));
    console.log(`wrote results/${out}.json`);
  }
} finally {
  await stopAll();
  rmSync(workdir, { recursive: true, force: true });
}

function round1(x) {
  return Math.round(x * 10) / 10;
}
