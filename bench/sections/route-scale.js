// Section 2: route-count scaling. Portico and nginx each serve 10, 1,000 and 10,000 prefix routes;
// wrk cycles over 64 paths spread across the whole table, so a scan would show up as lost throughput.
import { measuredRun } from '../lib/measure.js';
import { runWrk } from '../lib/wrk-runner.js';
import { orderForRound, median } from '../lib/summary-stats.js';
import { measureApply } from '../lib/apply-probe.js';
import { treeRssKiB } from '../lib/proc-usage.js';
import { startNginxProxy, startPortico, porticoServeMissing } from '../lib/variants.js';
import { routeModel, spreadPaths } from '../gen-config.js';
import { aggregate, fmt, shortReason } from './http1.js';

export async function runRouteScale(ctx) {
  const { workdir, upstream, layout, plan, log } = ctx;
  const missing = porticoServeMissing();
  const cells = [];
  const skipped = {};
  for (const n of plan.routeCounts) {
    const model = routeModel({ mappings: n, hosts: 1, style: 'plain' });
    const paths = spreadPaths(model, 64);
    const host = model.hostNames[0];
    try {
      const server = await startNginxProxy(workdir, { upstreamPort: upstream.port, model, cpus: layout.server, label: `nginx-${n}-routes` });
      cells.push({ kind: 'nginx', routes: n, server, paths, host });
    } catch (err) {
      skipped[`nginx-${n}`] = shortReason(err.message);
      log(`  SKIP nginx ${n} routes: ${err.message}`);
    }
    if (missing) {
      skipped[`portico-${n}`] = missing;
      continue;
    }
    try {
      const server = await startPortico(workdir, {
        label: `portico-${n}-routes`, model, upstreamPort: upstream.port, workers: 1, cpus: layout.server,
        probe: { host, path: paths[paths.length - 1] }, readyTimeoutMs: 120_000,
      });
      log(`  portico with ${n} routes ready in ${server.readyMs} ms`);
      cells.push({ kind: 'portico', routes: n, server, paths, host, readyMs: server.readyMs });
    } catch (err) {
      skipped[`portico-${n}`] = shortReason(err.message);
      log(`  SKIP portico ${n} routes: ${err.message}`);
    }
  }
  if (missing) log(`  SKIP portico: ${missing}`);

  const runs = new Map(cells.map((c) => [c, []]));
  const warmed = new Set();
  for (let round = 0; round < plan.routeRounds; round++) {
    for (const c of orderForRound(cells, round)) {
      const url = `http://127.0.0.1:${c.server.port}/`;
      const headers = { host: c.host };
      try {
        if (!warmed.has(c)) {
          await runWrk({ url, connections: plan.routeConnections, seconds: plan.warmupSeconds, headers, paths: c.paths, cpus: layout.load });
          warmed.add(c);
        }
        const r = await measuredRun({ server: c.server, url, connections: plan.routeConnections, seconds: plan.seconds, headers, paths: c.paths, loadCpus: layout.load, otherPids: [upstream.pid], pause: cells.map((x) => x.server.pid) });
        runs.get(c).push(r);
        log(`  round ${round + 1} ${c.kind.padEnd(8)} ${String(c.routes).padStart(6)} routes ${fmt(r.rps, 0).padStart(7)} req/s  p99 ${fmt(r.p99Ms, 2)} ms  cpu ${fmt(r.cpuUsPerReq, 1)} µs/req  rss ${fmt(r.peakRssMiB, 0)} MiB  errors ${r.errors}  bg ${fmt(r.backgroundCpuPct, 0)}%`);
      } catch (err) {
        log(`  ${c.kind} ${c.routes}: ${err.message}`);
      }
    }
  }

  // Apply latency of one added Mapping, at each size (the watched folder is re-read and recompiled).
  for (const c of cells.filter((x) => x.kind === 'portico')) {
    const samples = [];
    for (let i = 0; i < plan.applySamples; i++) {
      const ms = await measureApply({ configDir: c.server.configDir, port: c.server.port, host: c.host, upstreamPort: upstream.port, name: `apply-probe-${i}` });
      if (ms !== null) samples.push(ms);
    }
    c.applyMs = samples.length ? { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), n: samples.length } : null;
    c.idleRssMiB = treeRssKiB(c.server.pid) / 1024;
    log(`  portico ${c.routes} routes: one added Mapping live after ${fmt(c.applyMs?.median, 0)} ms (median of ${samples.length})`);
  }
  for (const c of cells) await c.server.stop();

  const table = { nginx: {}, portico: {} };
  for (const c of cells) {
    const rs = runs.get(c);
    table[c.kind][c.routes] = {
      ...(rs.length ? aggregate(rs) : {}),
      ...(c.readyMs !== undefined ? { startupToReadyMs: c.readyMs } : {}),
      ...(c.applyMs !== undefined ? { applyOneMappingMs: c.applyMs } : {}),
    };
  }
  const ratio = (kind) => {
    const base = table[kind][plan.routeCounts[0]]?.rps?.median;
    const out = {};
    for (const n of plan.routeCounts) {
      const v = table[kind][n]?.rps?.median;
      out[n] = base && v ? v / base : null;
    }
    return out;
  };
  return {
    connections: plan.routeConnections,
    pathsCycled: 64,
    table,
    vsSmallest: { nginx: ratio('nginx'), portico: ratio('portico') },
    skipped,
  };
}
