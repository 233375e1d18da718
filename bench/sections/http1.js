// Section 1: HTTP/1.1 proxy throughput and latency at 50 and 200 connections for every variant
// (direct, nginx, HAProxy, the Node.js peers, Portico with 1 and all workers), rounds alternating order.
import { measuredRun, quietGate } from '../lib/measure.js';
import { summarize, orderForRound, median } from '../lib/summary-stats.js';
import { repin } from '../lib/cpu-layout.js';
import { startNginxProxy, startHaproxy, startNodePeer, startPortico, porticoServeMissing, NODE_PEERS } from '../lib/variants.js';
import { routeModel, benchRequest } from '../gen-config.js';
import { runWrk } from '../lib/wrk-runner.js';
import { join } from 'node:path';
import { startTraceSink, tracingServiceYaml } from '../lib/trace-sink.js';

export const NODE_PEER_NAMES = Object.keys(NODE_PEERS);
/** The latency target is stated at 50 connections. */
const PACED_CONNECTIONS = 50;

export async function runHttp1(ctx) {
  const { workdir, upstream, layout, plan, log, cores } = ctx;
  const model = routeModel({ mappings: 100, hosts: 10, style: 'realistic' });
  const req = benchRequest(model);
  const variants = [];
  const skipped = {};

  const add = async (name, starter, { cpus, note } = {}) => {
    if (plan.variants && !plan.variants.includes(name)) return;
    try {
      const server = await starter();
      variants.push({ name, server, cpus, note });
      log(`  started ${name} (pid ${server.pid}, port ${server.port})`);
    } catch (err) {
      skipped[name] = shortReason(err.message);
      log(`  SKIP ${name}: ${err.message}`);
    }
  };

  variants.push({ name: 'direct', server: upstream, cpus: layout.server, note: layout.server ? `wrk straight to the upstream (moved to CPU ${layout.server} for these runs)` : 'wrk straight to the upstream' });
  // Servers start concurrently (they are idle until measured); the table keeps this order.
  const starting = [];
  starting.push(add('nginx', () => startNginxProxy(workdir, { upstreamPort: upstream.port, model, cpus: layout.server, label: 'nginx' }),
    { note: '1 worker, upstream keepalive 256, the same 100 routes as locations' }));
  starting.push(add('haproxy', () => startHaproxy(workdir, { upstreamPort: upstream.port, cpus: layout.server }), { note: 'nbthread 1, maxconn 8000, http-reuse always' }));
  for (const peer of NODE_PEER_NAMES) starting.push(add(peer, () => startNodePeer(peer, { upstreamPort: upstream.port, cpus: layout.server }), { note: 'single process, forwards every path' }));
  const missing = porticoServeMissing();
  if (missing) {
    skipped['portico-1w'] = missing;
    skipped['portico-all'] = missing;
    log(`  SKIP portico: ${missing}`);
  } else {
    starting.push(add('portico-1w', () => startPortico(workdir, { label: 'portico-1w', model, upstreamPort: upstream.port, workers: 1, cpus: layout.server, probe: req }),
      { note: '--workers 1; 100 Mappings over 10 Hosts' }));
    starting.push(add('portico-all', () => startPortico(workdir, { label: 'portico-all', model, upstreamPort: upstream.port, workers: cores, cpus: layout.allCores, probe: req }),
      { note: `--workers ${cores} (all cores)` }));
  }
  if (!missing && plan.accessLogVariant) {
    starting.push(add('portico-1w-log', () => startPortico(workdir, {
      label: 'portico-1w-log', model, upstreamPort: upstream.port, workers: 1, cpus: layout.server, probe: req, accessLog: join(workdir, 'portico-access.log'),
    }), { note: '--workers 1 with its JSON access log written to a file' }));
  }
  // Tracing on at 0 % and 100 % random sampling, to a collector that takes everything (issue 18).
  const TRACE_VARIANTS = { 'portico-1w-trace0': 0, 'portico-1w-trace100': 100 };
  let sink;
  if (!missing && (plan.tracingVariants || Object.keys(TRACE_VARIANTS).some((n) => plan.variants?.includes(n)))) {
    sink = await startTraceSink({ cpus: layout.load });
    for (const [name, percent] of Object.entries(TRACE_VARIANTS)) {
      starting.push(add(name, () => startPortico(workdir, {
        label: name, model, upstreamPort: upstream.port, workers: 1, cpus: layout.server, probe: req, files: { 'tracing.yaml': tracingServiceYaml(sink.port, percent) },
      }), { note: `--workers 1 with a TracingService (opentelemetry, OTLP/HTTP) at ${percent} % sampling` }));
    }
  }
  await Promise.all(starting);
  for (const n of plan.variants ?? []) if (!variants.some((v) => v.name === n) && !(n in skipped)) log(`  --variants: no variant named ${n}`);
  const rank = ['direct', 'nginx', 'haproxy', ...NODE_PEER_NAMES, 'portico-1w', 'portico-all', 'portico-1w-log', 'portico-1w-trace0', 'portico-1w-trace100'];
  variants.sort((a, b) => rank.indexOf(a.name) - rank.indexOf(b.name));
  // the servers of the other variants, paused while one is measured
  const others = (v) => variants.filter((x) => x !== v).map((x) => x.server.pid);

  const results = {}; // name -> conns -> [run]
  // Requests wrk counted for each variant, warm-ups and slices included: the spans the collector received are checked against them.
  const served = {};
  const count = (v, r) => { served[v.name] = (served[v.name] ?? 0) + r.requests; return r; };
  for (const v of variants) results[v.name] = {};
  const warmed = new Set();
  for (let round = 0; round < plan.rounds; round++) {
    for (const conns of plan.connections) {
      for (const v of orderForRound(variants, round)) {
        if (v.server.handle?.exited) {
          skipped[v.name] = `exited during the run (${v.server.handle.exited.code ?? v.server.handle.exited.signal})`;
          continue;
        }
        const url = `http://127.0.0.1:${v.server.port}${req.path}`;
        const headers = { host: req.host };
        if (v.name === 'direct') repin(upstream.pid, layout.server);
        try {
          if (!warmed.has(v.name)) {
            count(v, await runWrk({ url, connections: conns, seconds: plan.warmupSeconds, headers, cpus: layout.load }));
            warmed.add(v.name);
          }
          const r = count(v, await measuredRun({ server: v.server, url, connections: conns, seconds: plan.seconds, headers, loadCpus: layout.load, otherPids: [upstream.pid], pause: others(v) }));
          (results[v.name][conns] ??= []).push(r);
          log(`  round ${round + 1} c=${conns} ${v.name.padEnd(18)} ${fmt(r.rps, 0).padStart(7)} req/s  p50 ${fmt(r.p50Ms, 2)} ms  p99 ${fmt(r.p99Ms, 2)} ms  cpu ${fmt(r.cpuUsPerReq, 1)} µs/req  rss ${fmt(r.peakRssMiB, 0)} MiB  errors ${r.errors}  bg ${fmt(r.backgroundCpuPct, 0)}%`);
        } catch (err) {
          log(`  ${v.name} c=${conns}: ${err.message}`);
        } finally {
          if (v.name === 'direct') repin(upstream.pid, layout.upstream);
        }
      }
    }
  }
  const interleaved = await tracingSlices({ variants, plan, req, layout, upstream, others, count, log });
  // Paced: every variant well below its capacity, so latency is the proxy's own work, not queueing
  // behind a saturated core (at saturation, latency at a fixed connection count is connections ÷ throughput).
  const paced = {};
  if (plan.pacedDelayMs > 0) {
    for (let round = 0; round < plan.pacedRounds; round++) {
      for (const v of orderForRound(variants, round)) {
        if (v.server.handle?.exited) continue;
        const url = `http://127.0.0.1:${v.server.port}${req.path}`;
        if (v.name === 'direct') repin(upstream.pid, layout.server);
        try {
          const r = count(v, await measuredRun({ server: v.server, url, connections: PACED_CONNECTIONS, seconds: plan.seconds, headers: { host: req.host }, loadCpus: layout.load, otherPids: [upstream.pid], delayMs: plan.pacedDelayMs, pause: others(v) }));
          (paced[v.name] ??= []).push(r);
          log(`  round ${round + 1} paced c=${PACED_CONNECTIONS} ${v.name.padEnd(18)} ${fmt(r.rps, 0).padStart(7)} req/s  p50 ${fmt(r.p50Ms, 2)} ms  p99 ${fmt(r.p99Ms, 2)} ms  cpu ${fmt(r.cpuUsPerReq, 1)} µs/req`);
        } catch (err) {
          log(`  ${v.name} paced: ${err.message}`);
        } finally {
          if (v.name === 'direct') repin(upstream.pid, layout.upstream);
        }
      }
    }
  }
  for (const v of variants) if (v !== variants[0]) await v.server.stop();
  // Every traced request is a SERVER and a CLIENT span: fewer than 2 a request means the exporter dropped spans (and work).
  const traceSink = sink ? { ...(await sink.stats()), tracedRequests: served['portico-1w-trace100'] ?? 0 } : undefined;
  await sink?.stop();
  if (traceSink?.tracedRequests > 0) {
    traceSink.spansPerRequest = traceSink.spans / traceSink.tracedRequests;
    log(`  trace collector: ${traceSink.spans} spans in ${traceSink.requests} export requests, ${fmt(traceSink.spansPerRequest, 3)} a request wrk counted at 100 % (2 expected)`);
  }

  const table = {};
  for (const v of variants) {
    table[v.name] = { note: v.note, byConnections: {} };
    for (const conns of plan.connections) {
      const runs = results[v.name][conns] ?? [];
      if (runs.length === 0) continue;
      table[v.name].byConnections[conns] = aggregate(runs);
    }
  }
  const pacedTable = {};
  for (const [name, runs] of Object.entries(paced)) pacedTable[name] = aggregate(runs);
  const directP99 = pacedTable.direct?.p99Ms.median;
  const addedP99Ms = {};
  for (const [name, a] of Object.entries(pacedTable)) if (name !== 'direct' && directP99 !== undefined) addedP99Ms[name] = a.p99Ms.median - directP99;
  return {
    request: { host: req.host, path: req.path, route: req.route }, variants: table, skipped, ratios: ratios(table, plan.connections),
    ...(traceSink ? { traceSink } : {}),
    ...(interleaved ? { tracingInterleaved: interleaved } : {}),
    paced: plan.pacedDelayMs > 0 ? { connections: PACED_CONNECTIONS, delayMs: plan.pacedDelayMs, variants: pacedTable, addedP99Ms } : undefined,
  };
}

/**
 * Tracing's cost, measured so that the host's slow spells fall on both sides of each comparison:
 * tracing off, at 0 % and at 100 % run one after another in short slices (order rotating), and
 * each slice of a tracing variant is compared with the slice of tracing off in the same turn. On
 * a shared machine, throughput can change by a quarter for tens of seconds at a time (an nginx
 * that serves 105k req/s serves 75–85k in such a spell); with 10 s rounds, one variant can land
 * in a slow spell and another not, and the medians of the rounds then swing either way. The
 * figure is the median of the paired ratios, with the quartiles.
 */
async function tracingSlices({ variants, plan, req, layout, upstream, others, count, log }) {
  const pick = (n) => variants.find((v) => v.name === n && !v.server.handle?.exited);
  const off = pick('portico-1w');
  const on = ['portico-1w-trace0', 'portico-1w-trace100'].map(pick).filter(Boolean);
  if (!off || on.length === 0 || !(plan.traceSlices > 0)) return undefined;
  const group = [off, ...on];
  const rps = Object.fromEntries(group.map((v) => [v.name, []]));
  // The slices run back to back: waiting for a quiet machine before each would spread them out again.
  const quietWas = quietGate.maxWaitMs;
  quietGate.maxWaitMs = 0;
  try {
    for (let slice = 0; slice < plan.traceSlices; slice++) {
      for (const v of orderForRound(group, slice)) {
        try {
          const r = count(v, await measuredRun({ server: v.server, url: `http://127.0.0.1:${v.server.port}${req.path}`, connections: 50, seconds: plan.traceSliceSeconds, headers: { host: req.host }, loadCpus: layout.load, otherPids: [upstream.pid], pause: others(v) }));
          rps[v.name].push(r.errors === 0 ? r.rps : NaN);
        } catch (err) {
          // A slice that failed pairs with nothing (its turn is left out of the ratios).
          rps[v.name].push(NaN);
          log(`  ${v.name} tracing slice ${slice + 1}: ${err.message}`);
        }
      }
    }
  } finally {
    quietGate.maxWaitMs = quietWas;
  }
  const out = { slices: plan.traceSlices, sliceSeconds: plan.traceSliceSeconds, connections: 50, ratios: {} };
  for (const v of on) {
    const paired = rps[v.name].map((x, i) => x / rps[off.name][i]).filter(Number.isFinite).sort((a, b) => a - b);
    if (paired.length === 0) continue;
    const q = (f) => paired[Math.min(paired.length - 1, Math.floor(f * paired.length))];
    out.ratios[v.name] = { median: median(paired), q1: q(0.25), q3: q(0.75), pairs: paired.length };
    log(`  tracing, ${out.slices} interleaved slices of ${out.sliceSeconds} s: ${v.name} / portico-1w median ${fmt(median(paired), 3)} (quartiles ${fmt(q(0.25), 3)}–${fmt(q(0.75), 3)})`);
  }
  return out;
}

export function aggregate(runs) {
  const pick = (k) => summarize(runs.map((r) => r[k]));
  return {
    rps: pick('rps'), p50Ms: pick('p50Ms'), p99Ms: pick('p99Ms'), cpuUsPerReq: pick('cpuUsPerReq'),
    cpuUtilPct: pick('cpuUtilPct'), peakRssMiB: pick('peakRssMiB'), backgroundCpuPct: pick('backgroundCpuPct'),
    errors: runs.reduce((s, r) => s + r.errors, 0), requests: runs.reduce((s, r) => s + r.requests, 0), rounds: runs.length,
  };
}

function ratios(table, connections) {
  const out = {};
  for (const conns of connections) {
    const get = (n) => table[n]?.byConnections[conns];
    const bestPeer = NODE_PEER_NAMES.map((n) => [n, get(n)?.rps.median ?? 0]).sort((a, b) => b[1] - a[1])[0];
    const entry = { bestNodePeer: bestPeer?.[1] ? bestPeer[0] : null };
    for (const p of ['portico-1w', 'portico-all']) {
      const mine = get(p);
      if (!mine) continue;
      entry[p] = {
        rpsVsNginx: div(mine.rps.median, get('nginx')?.rps.median),
        rpsVsBestNodePeer: div(mine.rps.median, bestPeer?.[1]),
        rpsVsDirect: div(mine.rps.median, get('direct')?.rps.median),
        cpuPerReqVsNginx: div(mine.cpuUsPerReq.median, get('nginx')?.cpuUsPerReq.median),
        addedP99Ms: get('direct') ? mine.p99Ms.median - get('direct').p99Ms.median : null,
      };
    }
    // tracing's cost: the same configuration and process count, tracing off against on
    for (const p of ['portico-1w-trace0', 'portico-1w-trace100']) {
      const r = div(get(p)?.rps.median, get('portico-1w')?.rps.median);
      if (r !== null) (entry.tracing ??= {})[p] = r;
    }
    const nginx = get('nginx');
    if (nginx && bestPeer?.[1]) entry.bestNodePeerVsNginx = div(bestPeer[1], nginx.rps.median);
    out[conns] = entry;
  }
  return out;
}

function div(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : null;
}

export function fmt(x, digits) {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}

/** A one-line reason for a report: the error's first line and, when it quotes output, the last line of it. */
export function shortReason(s) {
  const lines = String(s).split('\n').map((l) => l.trim()).filter(Boolean);
  const head = lines[0] ?? '';
  return lines.length > 1 ? `${head} … ${lines[lines.length - 1].slice(0, 400)}` : head;
}
