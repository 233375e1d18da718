// What makes the latency tail at 200 connections: wrk against nginx and Portico (same run, the
// HTTP/1.1 section's 100 Mappings), while every Portico process records per 100 ms window its event
// loop's longest delay, its GC pauses and its CPU (lib/loop-recorder.mjs, loaded with --import).
//
//   node bench/tail-probe.js [--connections 200] [--seconds 10] [--rounds 3] [--workers 1] [--homes DIR,DIR] [--out NAME]
//
// --homes: Portico builds to compare (folders holding bin/, dist/ and node_modules/), each measured
// in every round beside nginx, in alternating order; default this tree.
//
// The report lines up each run's p99 with that run's connections (how long after wrk started the
// last of them was accepted) and its windows: how many had a stall (a delay of 20 ms or more), what
// the longest was, and how much of the stalls GC pauses and lost CPU (waiting for the core) explain. Not part of `npm run bench`; --out writes results/NAME.json.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { routeModel, benchRequest } from './gen-config.js';
import { startUpstreamNginx, startNginxProxy, startPortico, BENCH_DIR } from './lib/variants.js';
import { cpuLayout } from './lib/cpu-layout.js';
import { portico as build, REPO_DIR } from './lib/portico-build.js';
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
const homes = opt('--homes', REPO_DIR).split(',').map((h) => resolve(h));
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
  const servers = [{ name: 'nginx', server: nginx }];
  for (const [i, home] of homes.entries()) {
    build.home = home;
    const server = await startPortico(workdir, {
      label: `portico-${i}`, model, upstreamPort: upstream.port, workers, cpus: layout.server, probe: req,
      env: { NODE_OPTIONS: `--import=${recorder}`, PORTICO_BENCH_LOOP_DIR: loopDir },
    });
    servers.push({ name: homes.length === 1 ? 'portico' : `portico ${home}`, server, home });
  }
  const runs = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? servers : [...servers].reverse();
    for (const { name, server, home } of order) {
      const from = Date.now();
      const r = await measuredRun({
        server, url: `http://127.0.0.1:${server.port}${req.path}`, connections, seconds, headers: { host: req.host },
        loadCpus: layout.load, otherPids: [upstream.pid], pause: servers.map((s) => s.server.pid),
      });
      runs.push({ name, home, round, from, to: Date.now(), rps: r.rps, p50Ms: r.p50Ms, p99Ms: r.p99Ms, p999Ms: r.p999Ms, maxMs: r.maxMs, cpuUsPerReq: r.cpuUsPerReq, errors: r.errors });
      console.log(`round ${round + 1} ${name.padEnd(7)} ${Math.round(r.rps)} req/s  p50 ${r.p50Ms.toFixed(2)}  p99 ${r.p99Ms.toFixed(2)}  p99.9 ${r.p999Ms.toFixed(2)}  max ${r.maxMs.toFixed(1)} ms  ${r.cpuUsPerReq.toFixed(1)} µs/req`);
    }
  }
  for (const { server } of servers) await server.stop();
  await upstream.stop();

  const recordings = readdirSync(loopDir).map((f) => JSON.parse(readFileSync(join(loopDir, f), 'utf8')));
  // The serving process: the one whose CPU went up the most while Portico was measured.
  const busy = (rec, run) => rec.windows.filter((w) => w.t > run.from && w.t <= run.to).reduce((a, w) => a + w.cpuMs, 0);
  const porticoRuns = runs.filter((r) => r.name !== 'nginx');
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
      // the run's connections (wrk opens them all at its start): how long until the last was accepted
      const accepted = (rec.accepted ?? []).filter((t) => t >= run.from && t <= run.to);
      return {
        acceptedConnections: accepted.length,
        acceptSpreadMs: accepted.length > 0 ? accepted.at(-1) - run.from : 0,
        acceptHalfMs: accepted.length > 0 ? accepted[Math.floor(accepted.length / 2)] - run.from : 0,
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
      console.log(`${run.name} round ${run.round + 1}: p99 ${run.p99Ms.toFixed(1)} ms; ${main.acceptedConnections} connections accepted, the last ${main.acceptSpreadMs} ms after wrk started (half by ${main.acceptHalfMs} ms); serving process (${main.role}): ${main.stallWindows} of ${main.windows} windows with a loop delay ≥ ${STALL_MS} ms, longest ${main.maxDelayMs.toFixed(1)} ms, median window max ${main.medianWindowMaxDelayMs.toFixed(1)} ms; GC: ${gcLine}`);
      for (const s of main.stalls.slice(0, 8)) console.log(`    stall ${s.delayMs} ms: GC ${s.gcMs} ms in the window (longest ${s.maxGcMs}), off CPU ${s.offCpuMs} ms of 100`);
    }
  }
  for (const { name } of servers) {
    const mine = runs.filter((r) => r.name === name);
    const m = (k) => median(mine.map((r) => r[k]));
    console.log(`${name}: median over ${mine.length} runs ${Math.round(m('rps'))} req/s, p50 ${m('p50Ms').toFixed(2)} ms, p99 ${m('p99Ms').toFixed(2)} ms (${mine.map((r) => r.p99Ms.toFixed(1)).join(', ')}), ${m('cpuUsPerReq').toFixed(1)} µs/req`);
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
