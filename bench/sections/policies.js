// Section 7: edge policies. The same route unprotected and behind a policy, each protected variant
// as a ratio of its own unprotected route in the same run: Portico behind an allow-all HTTP
// AuthService against nginx behind auth_request to the same allow-all service.
//
// The allow-all service is the upstream nginx itself (it answers 200 on every path), asked at
// /extauth<path> by both. More protected Portico variants (a JWT filter, a rate limit, compression)
// join PORTICO_PROTECTED with the file they add to the configuration folder.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { measuredRun } from '../lib/measure.js';
import { freePort } from '../lib/free-port.js';
import { startProcess, stopProcess, waitUntil } from '../lib/process-group.js';
import { orderForRound } from '../lib/summary-stats.js';
import { runWrk } from '../lib/wrk-runner.js';
import { startNginxProxy, startPortico, porticoServeMissing } from '../lib/variants.js';
import { routeModel, benchRequest } from '../gen-config.js';
import { aggregate, fmt, shortReason } from './http1.js';

/**
 * Protected Portico variants: a name, what the ratio is compared with, and the policy files added
 * (`redis`: the variant counts in a redis-server the section starts on the load generator's core).
 */
const PORTICO_PROTECTED = [
  {
    name: 'portico-authservice',
    baseline: 'portico',
    note: 'an allow-all HTTP AuthService (the upstream nginx, asked at /extauth<path>)',
    files: (upstreamPort) => ({
      'authservice.yaml': [
        'apiVersion: getambassador.io/v3alpha1',
        'kind: AuthService',
        'metadata:',
        '  name: allow-all',
        '  namespace: default',
        'spec:',
        `  auth_service: "127.0.0.1:${upstreamPort}"`,
        '  proto: http',
        '  path_prefix: /extauth',
        '',
      ].join('\n'),
    }),
  },
  {
    name: 'portico-ratelimit-redis',
    baseline: 'portico',
    redis: true,
    note: 'the built-in limiter counting in Redis, far below its limit: one Lua script call per batch of concurrent requests',
    // Every route sends one descriptor (the Module's default labels), matched by one RateLimit.
    files: (_upstreamPort, { redisPort }) => ({
      'module.yaml': [
        'apiVersion: getambassador.io/v3alpha1',
        'kind: Module',
        'metadata:',
        '  name: ambassador',
        'spec:',
        '  config:',
        '    default_labels:',
        '      ambassador:',
        '        defaults:',
        '        - generic_key: {value: bench}',
        '        - remote_address: {key: remote_address}',
        '    portico_rate_limit:',
        `      redis_url: redis://127.0.0.1:${redisPort}`,
        // generous on a shared machine: a late answer would let the request through uncounted
        '      timeout_ms: 1000',
        '',
      ].join('\n'),
      'ratelimit.yaml': [
        'apiVersion: getambassador.io/v3alpha1',
        'kind: RateLimit',
        'metadata:',
        '  name: bench',
        'spec:',
        '  domain: ambassador',
        '  limits:',
        '  - pattern: [{generic_key: bench}, {remote_address: "*"}]',
        '    rate: 1000000000',
        '    unit: minute',
        '',
      ].join('\n'),
    }),
  },
];

/** True once redis-server answers PING on the port. */
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

/** A redis-server without persistence on a free loopback port, pinned beside the load generator. */
async function startRedis(workdir, cpus) {
  const port = await freePort();
  const dir = join(workdir, 'redis');
  mkdirSync(dir, { recursive: true });
  const h = startProcess('redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { cpus });
  await waitUntil(h, 'PONG', () => redisPing(port), 10_000);
  return { port, pid: h.pid, stop: () => stopProcess(h) };
}

export async function runPolicies(ctx) {
  const { workdir, upstream, layout, plan, log } = ctx;
  const model = routeModel({ mappings: 10, hosts: 1, style: 'plain' });
  const req = benchRequest(model);
  const variants = [];
  const skipped = {};
  /** Started for the variants that count in Redis; stopped with them. */
  let redis;
  const add = async (name, baseline, note, starter) => {
    try {
      const server = await starter();
      variants.push({ name, baseline, note, server });
      log(`  started ${name} (pid ${server.pid}, port ${server.port})`);
    } catch (err) {
      skipped[name] = shortReason(err.message);
      log(`  SKIP ${name}: ${err.message}`);
    }
  };
  await add('nginx', undefined, '1 worker, the same 10 routes as locations', () => startNginxProxy(workdir, { upstreamPort: upstream.port, model, cpus: layout.server, label: 'nginx-policies' }));
  await add('nginx-auth_request', 'nginx', 'the same, with auth_request to the allow-all service (keepalive 256)', () => startNginxProxy(workdir, {
    upstreamPort: upstream.port, model, cpus: layout.server, label: 'nginx-auth-request', authRequest: { upstreamPort: upstream.port, pathPrefix: '/extauth' },
  }));
  const missing = porticoServeMissing();
  if (missing) {
    skipped.portico = missing;
    log(`  SKIP portico: ${missing}`);
  } else {
    await add('portico', undefined, '--workers 1; 10 Mappings, no policy', () => startPortico(workdir, { label: 'portico-policies', model, upstreamPort: upstream.port, workers: 1, cpus: layout.server, probe: req }));
    for (const p of PORTICO_PROTECTED) {
      await add(p.name, p.baseline, `--workers 1; ${p.note}`, async () => {
        if (p.redis) redis ??= await startRedis(workdir, layout.upstream);
        const configDir = join(workdir, `${p.name}-config`);
        mkdirSync(configDir, { recursive: true });
        for (const [file, text] of Object.entries(p.files(upstream.port, { redisPort: redis?.port }))) writeFileSync(join(configDir, file), text);
        return startPortico(workdir, { label: p.name, model, upstreamPort: upstream.port, workers: 1, cpus: layout.server, probe: req, configDir });
      });
    }
  }
  const others = (v) => variants.filter((x) => x !== v).map((x) => x.server.pid);
  const conns = plan.connections[0];
  const runs = new Map(variants.map((v) => [v, []]));
  const warmed = new Set();
  for (let round = 0; round < plan.rounds; round++) {
    for (const v of orderForRound(variants, round)) {
      const url = `http://127.0.0.1:${v.server.port}${req.path}`;
      const headers = { host: req.host };
      try {
        if (!warmed.has(v)) {
          await runWrk({ url, connections: conns, seconds: plan.warmupSeconds, headers, cpus: layout.load });
          warmed.add(v);
        }
        const r = await measuredRun({ server: v.server, url, connections: conns, seconds: plan.seconds, headers, loadCpus: layout.load, otherPids: [upstream.pid, ...(redis ? [redis.pid] : [])], pause: others(v) });
        runs.get(v).push(r);
        log(`  round ${round + 1} c=${conns} ${v.name.padEnd(20)} ${fmt(r.rps, 0).padStart(7)} req/s  p99 ${fmt(r.p99Ms, 2)} ms  cpu ${fmt(r.cpuUsPerReq, 1)} µs/req  errors ${r.errors}  bg ${fmt(r.backgroundCpuPct, 0)}%`);
      } catch (err) {
        log(`  ${v.name}: ${err.message}`);
      }
    }
  }
  for (const v of variants) await v.server.stop();
  await redis?.stop();
  const table = {};
  for (const v of variants) {
    const rs = runs.get(v);
    if (rs.length > 0) table[v.name] = { note: v.note, ...aggregate(rs) };
  }
  // Each protected variant against its own unprotected route, medians of the same run.
  const ratios = {};
  // The same by CPU per request: what a saturated core would give.
  const cpuRatios = {};
  for (const v of variants) {
    if (v.baseline === undefined) continue;
    const a = table[v.name]?.rps?.median;
    const b = table[v.baseline]?.rps?.median;
    ratios[v.name] = a && b ? a / b : null;
    const ca = table[v.name]?.cpuUsPerReq?.median;
    const cb = table[v.baseline]?.cpuUsPerReq?.median;
    cpuRatios[v.name] = ca && cb ? cb / ca : null;
  }
  return { connections: conns, request: req, variants: table, ratiosToUnprotected: ratios, cpuRatiosToUnprotected: cpuRatios, skipped };
}
