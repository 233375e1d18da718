// Section 7: the built-in rate limiter backed by Redis, far below its limit, against the same
// Portico's unprotected route in the same run (one worker on the server core; redis-server and wrk
// on the other). Every limited request costs one Redis round trip (one Lua script call).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { measuredRun } from '../lib/measure.js';
import { runWrk } from '../lib/wrk-runner.js';
import { orderForRound } from '../lib/summary-stats.js';
import { freePort } from '../lib/free-port.js';
import { startProcess, stopProcess, waitUntil, commandExists } from '../lib/process-group.js';
import { httpGet, porticoServeMissing } from '../lib/variants.js';
import { portico } from '../lib/portico-build.js';
import { aggregate, fmt, shortReason } from './http1.js';
import net from 'node:net';

/** True once redis-server answers PING. */
function redisPing(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    s.setEncoding('utf8');
    s.once('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => { buf += d; if (buf.includes('\r\n')) { s.destroy(); resolve(buf.startsWith('+PONG')); } });
    s.once('error', () => resolve(false));
  });
}

function config({ port, upstreamPort, redisPort }) {
  const mapping = (name, prefix, labels) => `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
  name: ${name}
spec:
  hostname: "*"
  prefix: ${prefix}
  rewrite: /
  service: 127.0.0.1:${upstreamPort}
${labels}`;
  return [
    `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata:
  name: http
spec:
  port: ${port}
  protocol: HTTP
  securityModel: XFP
  hostBinding:
    namespace:
      from: ALL
`,
    `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata:
  name: cleartext
spec:
  hostname: "*"
  requestPolicy:
    insecure:
      action: Route
`,
    `apiVersion: getambassador.io/v3alpha1
kind: Module
metadata:
  name: ambassador
spec:
  config:
    portico_rate_limit:
      redis_url: redis://127.0.0.1:${redisPort}
      # generous on a shared machine: a late answer would let the request through uncounted
      timeout_ms: 1000
`,
    mapping('open', '/open/', ''),
    mapping('limited', '/limited/', `  labels:
    ambassador:
    - per_client:
      - generic_key:
          value: bench
      - remote_address: {key: remote_address}
`),
    `apiVersion: getambassador.io/v3alpha1
kind: RateLimit
metadata:
  name: bench
spec:
  domain: ambassador
  limits:
  - pattern:
    - generic_key: bench
    - remote_address: "*"
    rate: 1000000000
    unit: minute
`,
  ].join('---\n');
}

export async function runRateLimit(ctx) {
  const { workdir, upstream, layout, plan, log } = ctx;
  const missing = porticoServeMissing();
  if (missing) return { skipped: missing };
  if (!commandExists('redis-server')) return { skipped: 'redis-server is not installed (apt-get install redis-server)' };
  const redisPort = await freePort();
  const redisDir = join(workdir, 'redis');
  mkdirSync(redisDir, { recursive: true });
  const redis = startProcess('redis', 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', redisDir, '--save', '', '--appendonly', 'no'], { cpus: layout.upstream });
  let server;
  try {
    await waitUntil(redis, 'PONG', () => redisPing(redisPort), 10_000);
    const port = await freePort();
    const adminPort = await freePort();
    const dir = join(workdir, 'rate-limit-config');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.yaml'), config({ port, upstreamPort: upstream.port, redisPort }));
    const h = startProcess('portico-rate-limit', process.execPath, [
      join(portico.home, 'bin/portico.js'), 'serve', '--config', dir, '--admin', `127.0.0.1:${adminPort}`, '--workers', '1', '--access-log', 'off',
    ], { cpus: layout.server, cwd: portico.home, env: { NODE_ENV: 'production' } });
    server = { name: 'portico-rate-limit', pid: h.pid, port, stop: () => stopProcess(h, 10_000) };
    await waitUntil(h, 'ready (/readyz 200)', async () => (await httpGet(`http://127.0.0.1:${adminPort}/readyz`)).status === 200, 60_000);
    for (const p of ['/open/', '/limited/']) {
      await waitUntil(h, `${p} proxied`, async () => {
        const r = await httpGet(`http://127.0.0.1:${port}${p}`);
        if (r.status === 200) return true;
        throw new Error(`${p} answered ${r.status}: ${r.body.slice(0, 200)}`);
      }, 30_000);
    }
    const cells = [{ route: 'unprotected', path: '/open/' }, { route: 'redis-limited', path: '/limited/' }];
    const runs = new Map(cells.map((c) => [c, []]));
    for (const c of cells) await runWrk({ url: `http://127.0.0.1:${port}${c.path}`, connections: 50, seconds: plan.warmupSeconds, cpus: layout.load });
    for (let round = 0; round < plan.rounds; round++) {
      for (const c of orderForRound(cells, round)) {
        const r = await measuredRun({ server, url: `http://127.0.0.1:${port}${c.path}`, connections: 50, seconds: plan.seconds, loadCpus: layout.load, otherPids: [upstream.pid, redis.pid] });
        runs.get(c).push(r);
        log(`  round ${round + 1} ${c.route.padEnd(14)} ${fmt(r.rps, 0).padStart(7)} req/s  p99 ${fmt(r.p99Ms, 2)} ms  cpu ${fmt(r.cpuUsPerReq, 1)} µs/req  non-2xx ${r.errorDetail.status}  bg ${fmt(r.backgroundCpuPct, 0)}%`);
      }
    }
    const table = {};
    for (const c of cells) table[c.route] = aggregate(runs.get(c));
    const base = table.unprotected.rps.median;
    const limited = table['redis-limited'].rps.median;
    const ratio = base > 0 ? limited / base : null;
    // What a saturated core would give: the unprotected route's CPU per request over the limited one's.
    const cpuBase = table.unprotected.cpuUsPerReq.median;
    const cpuLimited = table['redis-limited'].cpuUsPerReq.median;
    const cpuRatio = cpuLimited > 0 ? cpuBase / cpuLimited : null;
    log(`  redis-limited / unprotected: ${fmt(ratio, 2)}× req/s, ${fmt(cpuRatio, 2)}× by CPU per request (goal ≥ 0.70× on one core)`);
    return { connections: 50, table, ratio, cpuRatio, goal: 0.7 };
  } catch (err) {
    return { failed: shortReason(err.message) };
  } finally {
    await server?.stop();
    await stopProcess(redis);
  }
}
