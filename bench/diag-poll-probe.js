// The diagnostics page's own cost: proxy throughput with and without a browser polling the page
// (headless Chromium on the Routes and Upstreams pages, which refresh every 2 s), alternating rounds.
// Portico runs on core 0 alone; the load generator, the upstream and the browser share core 1.
// Usage: npm run build && node bench/diag-poll-probe.js [--seconds 10] [--rounds 3] [--routes 1000]
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { cleartextGatewayYaml } from './lib/gateway-yaml.js';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const seconds = opt('seconds', 10);
const rounds = opt('rounds', 3);
const routes = opt('routes', 1000);
const CONCURRENCY = 32;

const upstream = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 }).end('ok'));
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
const upPort = upstream.address().port;
const dir = mkdtempSync(join(tmpdir(), 'portico-diag-bench-'));
const gwPort = 18180;
const adminPort = 18181;
writeFileSync(join(dir, 'gateway.yaml'), cleartextGatewayYaml(gwPort));
// 500 Mappings a file: one file stays under the loader's document cap.
for (let f = 0; f * 500 < routes; f++) {
  const part = [];
  for (let i = f * 500; i < Math.min(routes, (f + 1) * 500); i++) part.push(`apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: {name: m${i}}\nspec: {hostname: "*", prefix: /svc-${i}/, service: "127.0.0.1:${upPort}"}\n`);
  writeFileSync(join(dir, `mappings-${f}.yaml`), part.join('---\n'));
}

const portico = spawn('taskset', ['-c', '0', process.execPath, 'bin/portico.js', 'serve', '--config', dir, '--admin', `127.0.0.1:${adminPort}`, '--workers', '0', '--access-log', 'off'], { stdio: ['ignore', 'ignore', 'ignore'] });
const admin = `http://127.0.0.1:${adminPort}`;
for (let i = 0; ; i++) {
  const ok = await fetch(`${admin}/readyz`).then((r) => r.ok, () => false);
  if (ok) break;
  if (i > 200) throw new Error('portico did not become ready');
  await new Promise((r) => setTimeout(r, 100));
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
/** Requests completed in `s` seconds by CONCURRENCY keep-alive loops over every route. */
async function load(s) {
  let done = 0;
  let n = 0;
  const end = Date.now() + s * 1000;
  const loop = () => new Promise((resolve) => {
    const next = () => {
      if (Date.now() >= end) return resolve();
      const path = `/svc-${n++ % routes}/x`;
      http.get({ host: '127.0.0.1', port: gwPort, path, agent, headers: { host: 'bench.example' } }, (res) => {
        res.resume();
        res.on('end', () => {
          done++;
          next();
        });
      }).on('error', next);
    };
    next();
  });
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  return done / s;
}

process.stderr.write('warming up\n');
await load(3);
const profile = mkdtempSync(join(tmpdir(), 'portico-diag-bench-chromium-'));
const results = [];
for (let r = 0; r < rounds; r++) {
  const off = await load(seconds);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const routesPage = await context.newPage();
  await routesPage.goto(`${admin}/diag/routes`);
  await routesPage.waitForSelector('main[data-state="ready"]');
  const upstreamsPage = await context.newPage();
  await upstreamsPage.goto(`${admin}/diag/upstreams`);
  await upstreamsPage.waitForSelector('main[data-state="ready"]');
  // Headless pages count as visible, so both keep polling while the load runs.
  const on = await load(seconds);
  await context.close();
  results.push({ off, on, ratio: on / off });
  process.stderr.write(`round ${r + 1}: without page ${off.toFixed(0)} req/s, with page polled ${on.toFixed(0)} req/s (${((on / off) * 100).toFixed(1)} %)\n`);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ratio = median(results.map((x) => x.ratio));
console.log(JSON.stringify({ routes, seconds, rounds, results, medianRatio: ratio, pageCostPercent: (1 - ratio) * 100 }, null, 2));
portico.kill('SIGTERM');
agent.destroy();
upstream.close();
rmSync(dir, { recursive: true, force: true });
rmSync(profile, { recursive: true, force: true });
