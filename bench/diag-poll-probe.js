// The diagnostics page's own cost: proxy throughput and Portico's CPU per request while headless
// Chromium polls the Routes and Upstreams pages (every 2 s), against the same browser showing the
// same pages from a copy that does not touch Portico, and against no page, in interleaved turns.
// Portico runs alone on CPU 0 with --workers 0, so the admin API and the page's JSON are served by
// the process that proxies (the page's cost falls on the proxy, the harshest placement). wrk and an
// nginx upstream run on CPU 1, and so does the browser, at the lowest CPU priority. Also measured:
// what one poll of each page costs Portico in CPU, without load.
// Usage: npm run build && node bench/diag-poll-probe.js [--seconds 4] [--turns 18] [--routes 1000]
import { spawn } from 'node:child_process';
import http from 'node:http';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { cleartextGatewayYaml } from './lib/gateway-yaml.js';
import { startUpstreamNginx } from './lib/variants.js';
import { measuredRun } from './lib/measure.js';
import { UsageMeter } from './lib/proc-usage.js';
import { sleep, stopAll } from './lib/process-group.js';
import { median, orderForRound } from './lib/summary-stats.js';
import { pinSelf } from './lib/cpu-layout.js';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const seconds = opt('seconds', 4);
const rounds = opt('turns', 18);
const routes = opt('routes', 1000);
const CONNECTIONS = 50;
const PORTICO_CPU = '0';
const LOAD_CPU = '1';

// This process (the copy of the pages below, the meters) stays on the load generator's core.
pinSelf(LOAD_CPU);
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
  await sleep(100);
}

const paths = Array.from({ length: routes }, (_, i) => `/svc-${i}/x`);
/** wrk over every route for `s` seconds, with Portico's CPU per request over the same time. */
async function load(s) {
  const r = await measuredRun({ server: { pid: portico.pid }, url: `http://127.0.0.1:${gwPort}/`, connections: CONNECTIONS, seconds: s, headers: { host: 'bench.example' }, paths, loadCpus: LOAD_CPU });
  if (r.errors > 0) throw new Error(`${r.errors} failed requests`);
  return { rps: r.rps, cpuUsPerReq: r.cpuUsPerReq, busyPct: r.cpuUtilPct };
}

// The browser, on the load generator's CPU at the lowest priority (a wrapper: Playwright starts the executable itself).
const browserDir = mkdtempSync(join(tmpdir(), 'portico-diag-bench-browser-'));
const niced = join(browserDir, 'chromium');
writeFileSync(niced, `#!/bin/sh\nexec nice -n 19 taskset -c ${LOAD_CPU} /usr/bin/chromium "$@"\n`);
chmodSync(niced, 0o755);

process.stderr.write('warming up\n');
await load(3);

// What one poll of each page costs Portico, without load: the JSON requests the pages repeat every
// 2 s, 8 of each a little over a second apart (so that each routes poll takes a fresh traffic sample,
// as a page's does), with Portico's CPU over them less its CPU over as long a time without polls.
const POLLED = { routes: '/api/v1/diag/routes?offset=0&limit=100', upstreams: '/api/v1/diag/upstreams' };
const POLLS = 8;
const GAP_MS = 1100;
async function cpuMsOver(poll) {
  const meter = new UsageMeter(portico.pid);
  meter.start();
  for (let i = 0; i < POLLS; i++) {
    await sleep(GAP_MS);
    if (poll) await (await fetch(admin + poll)).text();
  }
  return meter.stop().cpuSeconds * 1000;
}
for (const path of Object.values(POLLED)) await (await fetch(admin + path)).text();
const idleMs = await cpuMsOver(undefined);
const pollCpuMs = {};
for (const [page, path] of Object.entries(POLLED)) pollCpuMs[page] = Math.max(0, (await cpuMsOver(path)) - idleMs) / POLLS;
process.stderr.write(`one poll costs Portico ${Object.entries(pollCpuMs).map(([p, ms]) => `${p} ${ms.toFixed(2)} ms`).join(', ')} of CPU (idle: ${idleMs.toFixed(0)} ms over ${((POLLS * GAP_MS) / 1000).toFixed(1)} s)\n`);

// The same pages from a copy: a server on the load generator's core that answers each URL with
// what Portico answered it when the copy was made. The browser then does the same work (the same
// rows rendered every 2 s) while Portico serves nothing of the page: the turns with the copy show
// what the browser's presence costs, and Portico's own cost of the page is the difference.
const copied = new Map();
let copyMisses = 0;
let copying = true;
const copy = http.createServer(async (req, res) => {
  let hit = copied.get(req.url);
  if (hit === undefined && copying) {
    const r = await fetch(admin + req.url);
    hit = { status: r.status, headers: Object.fromEntries([...r.headers].filter(([k]) => k === 'content-type' || k === 'content-security-policy')), body: Buffer.from(await r.arrayBuffer()) };
    copied.set(req.url, hit);
  }
  if (hit === undefined) {
    copyMisses++;
    res.writeHead(404).end();
    return;
  }
  res.writeHead(hit.status, hit.headers).end(hit.body);
});
await new Promise((r) => copy.listen(0, '127.0.0.1', r));
const copyOrigin = `http://127.0.0.1:${copy.address().port}`;

// One browser for the whole run, its two tabs on the pages from Portico (polling it), on the same
// pages from the copy, or on a blank page, in interleaved turns (the order rotating): the machine's
// slow spells, which last tens of seconds here, fall on all sides of each comparison. Navigation
// happens between measurements, never inside one.
const context = await chromium.launchPersistentContext(join(browserDir, 'profile'), {
  executablePath: niced, headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const tabs = [await context.newPage(), await context.newPage()];
async function showPages(state) {
  for (const [i, tab] of tabs.entries()) {
    if (state === 'off') await tab.goto('about:blank');
    else {
      await tab.goto(`${state === 'on' ? admin : copyOrigin}/diag/${i === 0 ? 'routes' : 'upstreams'}`);
      await tab.waitForSelector('main[data-state="ready"]');
    }
  }
}
// Fill the copy: each page loaded and left to poll once, then nothing new is fetched from Portico.
await showPages('copy');
await new Promise((r) => setTimeout(r, 2500));
copying = false;
await showPages('off');

const STATES = ['off', 'on', 'copy'];
const results = [];
for (let r = 0; r < rounds; r++) {
  const turn = {};
  for (const state of orderForRound(STATES, r)) {
    await showPages(state);
    // Headless pages count as visible, so both keep polling while the load runs.
    turn[state] = await load(seconds);
  }
  results.push(turn);
  process.stderr.write(`turn ${r + 1}: ${STATES.map((st) => `${st} ${turn[st].rps.toFixed(0)} req/s (${turn[st].cpuUsPerReq.toFixed(1)} µs/req, ${turn[st].busyPct.toFixed(0)} % busy)`).join(', ')}\n`);
}
await context.close();
copy.close();
// Quartiles as the HTTP/1.1 section's tracing slices take them.
const quartile = (xs, q) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const compare = (a, b) => {
  const rps = results.map((t) => t[a].rps / t[b].rps);
  return {
    throughput: median(rps), quartiles: [quartile(rps, 0.25), quartile(rps, 0.75)],
    cpuPerRequest: median(results.map((t) => t[a].cpuUsPerReq / t[b].cpuUsPerReq)),
  };
};
const busyPct = Object.fromEntries(STATES.map((st) => [st, median(results.map((t) => t[st].busyPct))]));
const own = compare('on', 'copy');
console.log(JSON.stringify({
  routes, seconds, turns: rounds, connections: CONNECTIONS, results,
  // Portico's own cost of the page: the pages from Portico against the same pages from the copy.
  pageOwnCost: own, pageCostPercent: (1 - own.throughput) * 100,
  // With the browser on the same two cores: from Portico against no page, and the copy against no page.
  withBrowser: compare('on', 'off'), browserAlone: compare('copy', 'off'),
  porticoBusyPct: busyPct, copyMisses,
  pollCpuMs, pollCoreSharePct: ((pollCpuMs.routes + pollCpuMs.upstreams) / 2000) * 100,
}, null, 2));
portico.kill('SIGTERM');
await stopAll();
rmSync(dir, { recursive: true, force: true });
rmSync(browserDir, { recursive: true, force: true });
process.exit(0);
