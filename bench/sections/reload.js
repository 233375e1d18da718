// Section 4: reload under load. While wrk drives a stable route, 30 configuration changes land:
// Mapping files written into Portico's watched folder, and nginx configuration edits + SIGHUP.
// Reported: failed requests (socket errors and non-2xx) and p99, next to a run without changes.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runWrk } from '../lib/wrk-runner.js';
import { measuredRun } from '../lib/measure.js';
import { sleep } from '../lib/process-group.js';
import { singleMappingFile, routeModel, benchRequest } from '../gen-config.js';
import { startNginxProxy, startPortico, porticoServeMissing, httpGet, EXTRA_LOCATIONS_MARK } from '../lib/variants.js';
import { fmt, shortReason } from './http1.js';
import { median } from '../lib/summary-stats.js';

export async function runReload(ctx) {
  const { workdir, upstream, layout, plan, log } = ctx;
  const model = routeModel({ mappings: 100, hosts: 10, style: 'realistic' });
  const req = benchRequest(model);
  const out = { changes: plan.reloadChanges, seconds: plan.reloadSeconds, connections: 50, request: req, variants: {}, skipped: {} };
  const conns = 50;

  const targets = [];
  const missing = porticoServeMissing();
  if (missing) out.skipped.portico = missing;
  else {
    try {
      const server = await startPortico(workdir, { label: 'portico-reload', model, upstreamPort: upstream.port, workers: 1, cpus: layout.server, probe: req });
      targets.push({ name: 'portico-1w', server, liveHost: model.routes[0].host, change: porticoChange(server, model, upstream.port) });
    } catch (err) {
      out.skipped.portico = shortReason(err.message);
      log(`  SKIP portico: ${err.message}`);
    }
  }
  try {
    const server = await startNginxProxy(workdir, { upstreamPort: upstream.port, model, cpus: layout.server, label: 'nginx-reload' });
    // The added locations live in nginx's catch-all server: probe them with a Host no server names.
    targets.push({ name: 'nginx', server, liveHost: 'reload.bench.invalid', change: nginxChange(server, upstream.port) });
  } catch (err) {
    out.skipped.nginx = shortReason(err.message);
  }

  for (const t of targets) {
    const url = `http://127.0.0.1:${t.server.port}${req.path}`;
    const headers = { host: req.host };
    await runWrk({ url, connections: conns, seconds: plan.warmupSeconds, headers, cpus: layout.load });
    const baseline = await measuredRun({ server: t.server, url, connections: conns, seconds: Math.max(2, Math.round(plan.reloadSeconds / 3)), headers, loadCpus: layout.load, otherPids: [upstream.pid] });
    // Changes start after 1 s of load and are spread over all but the last second.
    const load = measuredRun({ server: t.server, url, connections: conns, seconds: plan.reloadSeconds, headers, loadCpus: layout.load, otherPids: [upstream.pid] });
    await sleep(1000);
    const spacing = ((plan.reloadSeconds - 2) * 1000) / plan.reloadChanges;
    // Each change adds a route; a watcher polls every pending one until it answers 2xx, which shows
    // the change was applied, not only written, without holding back the next change.
    const watcher = new LiveWatcher(t.server.port, t.liveHost);
    for (let i = 0; i < plan.reloadChanges; i++) {
      const s = performance.now();
      await t.change(i);
      watcher.expect(`/reload-${i}/x`, s);
      await sleep(Math.max(0, spacing - (performance.now() - s)));
    }
    const during = await load;
    const { liveMs, notLive } = await watcher.finish(10_000);
    out.variants[t.name] = {
      baseline: pick(baseline),
      duringChanges: pick(during),
      failedRequests: during.errors,
      errorDetail: during.errorDetail,
      p99IncreaseMs: during.p99Ms - baseline.p99Ms,
      changeLiveMs: liveMs.length ? { median: median(liveMs), min: Math.min(...liveMs), max: Math.max(...liveMs), n: liveMs.length } : null,
      changesNeverLive: notLive,
      how: t.name === 'nginx' ? 'location appended to nginx.conf + SIGHUP to the master, per change' : 'Mapping file written (new or edited) in the watched --config folder, per change',
    };
    log(`  ${t.name.padEnd(10)} baseline ${fmt(baseline.rps, 0)} req/s p99 ${fmt(baseline.p99Ms, 2)} ms | during ${plan.reloadChanges} changes ${fmt(during.rps, 0)} req/s p99 ${fmt(during.p99Ms, 2)} ms, failed ${during.errors} of ${during.requests} ${JSON.stringify(during.errorDetail)}; a change is live after ${fmt(median(liveMs), 0)} ms (median; ${notLive} never live)`);
    await t.server.stop();
  }
  return out;
}

function pick(r) {
  return { rps: r.rps, p50Ms: r.p50Ms, p99Ms: r.p99Ms, maxMs: r.maxMs, requests: r.requests, errors: r.errors, peakRssMiB: r.peakRssMiB, backgroundCpuPct: r.backgroundCpuPct };
}

/** Even changes add a Mapping file, odd ones edit the file just added (a header value). */
function porticoChange(server, model, upstreamPort) {
  return async (i) => {
    const n = i % 2 === 0 ? i : i - 1;
    const route = {
      name: `reload-${i}`, team: 'bench', host: model.routes[0].host, prefix: `/reload-${i}/`, rewrite: '/',
      addRequestHeaders: { 'x-change': String(i) }, removeRequestHeaders: [], addResponseHeaders: {}, removeResponseHeaders: [],
      regexRewrite: null, headers: null, method: null, timeoutMs: null,
    };
    // An edit keeps the file's earlier route and adds this change's, so both stay routable.
    const prev = i % 2 === 1 ? readFileSync(join(server.configDir, `reload-${n}.yaml`), 'utf8') : '';
    writeFileSync(join(server.configDir, `reload-${n}.yaml`), prev + singleMappingFile(route, `127.0.0.1:${upstreamPort}`));
  };
}

function nginxChange(server, upstreamPort) {
  return async (i) => {
    const conf = readFileSync(server.confPath, 'utf8');
    const loc = `location /reload-${i}/ { proxy_pass http://127.0.0.1:${upstreamPort}/; }\n    ${EXTRA_LOCATIONS_MARK}`;
    writeFileSync(server.confPath, conf.replace(EXTRA_LOCATIONS_MARK, loc));
    process.kill(server.pid, 'SIGHUP');
  };
}

class LiveWatcher {
  constructor(port, host) {
    this.port = port;
    this.host = host;
    this.pending = new Map(); // path -> written-at
    this.liveMs = [];
    this.stopped = false;
    this.loop = this.run();
  }

  expect(path, writtenAt) {
    this.pending.set(path, writtenAt);
  }

  async run() {
    while (!this.stopped) {
      for (const [path, writtenAt] of [...this.pending]) {
        try {
          const r = await httpGet(`http://127.0.0.1:${this.port}${path}`, { headers: { host: this.host } });
          if (r.status >= 200 && r.status < 300) {
            this.liveMs.push(performance.now() - writtenAt);
            this.pending.delete(path);
          }
        } catch {}
      }
      await sleep(10);
    }
  }

  /** Wait (bounded) for the changes still pending, then stop polling. */
  async finish(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (this.pending.size > 0 && Date.now() < deadline) await sleep(20);
    this.stopped = true;
    await this.loop;
    return { liveMs: this.liveMs, notLive: this.pending.size };
  }
}
