// The diagnostics page's own cost: proxy throughput with and without a browser polling the page
// (headless Chromium on the Routes and Upstreams pages, which refresh every 2 s), in paired turns.
// Portico runs alone on CPU 0 with --workers 0, so the admin API and the page's JSON are served by
// the process that proxies (the page's cost falls on the proxy, the harshest placement). wrk and an
// nginx upstream run on CPU 1, and so does the browser, at the lowest CPU priority: its rendering is
// the browser's cost, not Portico's, and it must not slow the load generator (which would read as the
// proxy serving less). wrk cycles over every route; Portico's CPU per request is measured beside it.
// Usage: npm run build && node bench/diag-poll-probe.js [--seconds 4] [--turns 16] [--routes 1000]
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { cleartextGatewayYaml } from './lib/gateway-yaml.js';
import { startUpstreamNginx } from './lib/variants.js';
import { runWrk } from './lib/wrk-runner.js';
import { UsageMeter } from './lib/proc-usage.js';
import { stopAll } from './lib/process-group.js';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const seconds = opt('seconds', 4);
const rounds = opt('turns', 16);
const routes = opt('routes', 1000);
const CONNECTIONS = 50;
const PORTICO_CPU = '0';
const LOAD_CPU = '1';

const dir = mkdtempSync(join(tmpdir(), 'portico-diag-bench-'));
const upstream = await startUpstreamNginx(dir, { cpus: LOAD_CPU });
const upPort = upstream.port;
const gwPort = 18180;
const adminPort = 18181;
writeFileSync(join(dir, 'gateway.yaml'), cleartextGatewayYaml(gwPort));
// 500 Mappings a file: one file stays under the loader's document cap.
for (let f = 0; f * 500 < routes; f++) {
  const part = [];
  for (let i = f * 500; i < Math.min(routes, (f + 1) * 500); i++) part.push(`apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: {name: m${i}}\nspec: {hostname: "*", prefix: /svc-${i}/, service: "127.0.0.1:${upPort}"}\n`);
  writeFileSync(join(dir, `mappings-${f}.yaml`), part.join('---\n'));
}

const portico = spawn('taskset', ['-c', PORTICO_CPU, process.execPath, 'bin/portico.js', 'serve', '--config', dir, '--admin', `127.0.0.1:${adminPort}`, '--workers', '0', '--access-log', 'off'], { stdio: ['ignore', 'ignore', 'ignore'] });
const admin = `http://127.0.0.1:${adminPort}`;
for (let i = 0; ; i++) {
  const ok = await fetch(`${admin}/readyz`).then((r) => r.ok, () => false);
  if (ok) break;
  if (i > 200) throw new Error('portico did not become ready');
  await new Promise((r) => setTimeout(r, 100));
}

const paths = Array.from({ length: routes }, (_, i) => `/svc-${i}/x`);
/** wrk over every route for `s` seconds, with Portico's CPU per request over the same time. */
async function load(s) {
  const meter = new UsageMeter(portico.pid);
  meter.start();
  const r = await runWrk({ url: `http://127.0.0.1:${gwPort}/`, connections: CONNECTIONS, seconds: s, headers: { host: 'bench.example' }, paths, cpus: LOAD_CPU });
  const usage = meter.stop();
  if (r.errors > 0) throw new Error(`${r.errors} failed requests`);
  return { rps: r.rps, cpuUsPerReq: (usage.cpuSeconds * 1e6) / r.requests, busyPct: (usage.cpuSeconds / r.seconds) * 100 };
}

// The browser, on the load generator's CPU at the lowest priority (a wrapper: Playwright starts the executable itself).
const browserDir = mkdtempSync(join(tmpdir(), 'portico-diag-bench-browser-'));
const niced = join(browserDir, 'chromium');
writeFileSync(niced, `#!/bin/sh\nexec nice -n 19 taskset -c ${LOAD_CPU} /usr/bin/chromium "$@"\n`);
chmodSync(niced, 0o755);

process.stderr.write('warming up\n');
await load(3);
// One browser for the whole run, its two tabs on the pages (polling) or on a blank page (not), in
// interleaved slices: the machine's slow spells, which last tens of seconds here, fall on both sides
// of each pair. Navigation happens between slices, never inside one.
const context = await chromium.launchPersistentContext(join(browserDir, 'profile'), {
  executablePath: niced, headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const tabs = [await context.newPage(), await context.newPage()];
async function showPages(on) {
  for (const [i, tab] of tabs.entries()) {
    if (!on) await tab.goto('about:blank');
    else {
      await tab.goto(`${admin}/diag/${i === 0 ? 'routes' : 'upstreams'}`);
      await tab.waitForSelector('main[data-state="ready"]');
    }
  }
}
const results = [];
for (let r = 0; r < rounds; r++) {
  const turn = {};
  for (const on of r % 2 === 0 ? [false, true] : [true, false]) {
    await showPages(on);
    // Headless pages count as visible, so both keep polling while the load runs.
    turn[on ? 'on' : 'off'] = await load(seconds);
  }
  const { off, on } = turn;
  results.push({ off: off.rps, on: on.rps, ratio: on.rps / off.rps, cpuUsPerReqOff: off.cpuUsPerReq, cpuUsPerReqOn: on.cpuUsPerReq, busyPctOff: off.busyPct, busyPctOn: on.busyPct });
  process.stderr.write(`turn ${r + 1}: without page ${off.rps.toFixed(0)} req/s (${off.cpuUsPerReq.toFixed(1)} µs/req, Portico ${off.busyPct.toFixed(0)} % busy), with page polled ${on.rps.toFixed(0)} req/s (${on.cpuUsPerReq.toFixed(1)} µs/req, ${on.busyPct.toFixed(0)} % busy): ${((on.rps / off.rps) * 100).toFixed(1)} %\n`);
}
await context.close();
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const quantile = (xs, q) => sorted(xs)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const ratios = results.map((x) => x.ratio);
const ratio = quantile(ratios, 0.5);
// Portico's own cost of the page: its CPU per proxied request grows by what serving the page takes
// (the page is served by the same process). Throughput also falls when the browser delays the load
// generator on its core, which is the browser's cost: Portico is then less than fully busy.
const cpuRatio = quantile(results.map((x) => x.cpuUsPerReqOn / x.cpuUsPerReqOff), 0.5);
const busy = { off: quantile(results.map((x) => x.busyPctOff), 0.5), on: quantile(results.map((x) => x.busyPctOn), 0.5) };
console.log(JSON.stringify({ routes, seconds, turns: rounds, connections: CONNECTIONS, results, medianRatio: ratio, quartiles: [quantile(ratios, 0.25), quantile(ratios, 0.75)], pageCostPercent: (1 - ratio) * 100, cpuPerRequestRatio: cpuRatio, porticoBusyPct: busy }, null, 2));
portico.kill('SIGTERM');
await stopAll();
rmSync(dir, { recursive: true, force: true });
rmSync(browserDir, { recursive: true, force: true });
process.exit(0);
