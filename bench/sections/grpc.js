// Section 9: gRPC through Portico and through nginx's grpc_pass (each 1 worker on the server core),
// unary and server streaming, both over cleartext HTTP/2 (h2c) to the same grpc-js upstream, driven
// by bench/grpc-load.js (N concurrent calls over M connections); the direct path gives the ceiling.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, waitForOutput, waitUntil, stopProcess, runToCompletion, pauseGroups } from '../lib/process-group.js';
import { freePort } from '../lib/free-port.js';
import { UsageMeter } from '../lib/proc-usage.js';
import { pinSelf, repin } from '../lib/cpu-layout.js';
import { summarize, orderForRound } from '../lib/summary-stats.js';
import { BENCH_DIR, httpGet, nginxKeepaliveUpstream, nginxMain, porticoServeMissing, startNginxWith } from '../lib/variants.js';
import { portico } from '../lib/portico-build.js';
import { cleartextGatewayYaml } from '../lib/gateway-yaml.js';
import { fmt, shortReason } from './http1.js';

/** Messages per server-streaming call. */
const STREAM_MESSAGES = 10;
const CALLS = 50;
const CHANNELS = 5;
const KINDS = [
  { key: 'unary', method: 'Unary', messages: 1 },
  { key: 'stream', method: 'Stream', messages: STREAM_MESSAGES },
];

export async function runGrpc(ctx) {
  const { workdir, layout, plan, log } = ctx;
  const out = { upstream: `@grpc/grpc-js server (bench/grpc-upstream.js), Stream sends ${STREAM_MESSAGES} messages`, load: `bench/grpc-load.js: ${CALLS} concurrent calls over ${CHANNELS} HTTP/2 connections, h2c`, calls: CALLS, channels: CHANNELS, variants: {}, skipped: {} };
  const upstreamPort = await freePort();
  const up = startProcess('grpc upstream', process.execPath, [join(BENCH_DIR, 'grpc-upstream.js')], { env: { PORT: String(upstreamPort), STREAM_MESSAGES: String(STREAM_MESSAGES) }, cpus: layout.upstream, cwd: BENCH_DIR });
  try {
    await waitForOutput(up, /ready \d+/, 15_000);
  } catch (err) {
    return { skipped: `the grpc-js upstream did not start (is @grpc/grpc-js installed? npm ci at the repository root): ${shortReason(err.message)}` };
  }
  const targets = [{ name: 'direct', pid: up.pid, port: upstreamPort }];
  try {
    const nginx = await startNginxGrpc(workdir, { upstreamPort, cpus: layout.server });
    targets.push({ name: 'nginx', pid: nginx.pid, port: nginx.port, stop: nginx.stop });
  } catch (err) {
    out.skipped.nginx = shortReason(err.message);
    log(`  SKIP nginx: ${err.message}`);
  }
  const missing = porticoServeMissing();
  if (missing) out.skipped['portico-1w'] = missing;
  else {
    try {
      const p = await startPorticoGrpc(workdir, { upstreamPort, cpus: layout.server });
      targets.push({ name: 'portico-1w', pid: p.pid, port: p.port, stop: p.stop });
    } catch (err) {
      out.skipped['portico-1w'] = shortReason(err.message);
      log(`  SKIP portico: ${err.message}`);
    }
  }

  const seconds = plan.grpcSeconds ?? (ctx.quick ? 2 : 4);
  const rounds = ctx.quick ? 1 : plan.rounds;
  const runs = {};
  for (let round = 0; round < rounds; round++) {
    for (const kind of KINDS) {
      for (const t of orderForRound(targets, round)) {
        if (Date.now() > ctx.deadline) break;
        // The other proxies wait stopped (SIGSTOP), so their idle work stays off the measured core.
        const resume = pauseGroups(targets.filter((o) => o !== t && o.name !== 'direct').map((o) => o.pid));
        // direct: the upstream gets the server core while it is measured, as in the HTTP/1.1 section
        if (t.name === 'direct') repin(up.pid, layout.server);
        const unpin = pinSelf(layout.load);
        const meter = new UsageMeter(t.pid);
        const upMeter = t.name === 'direct' ? undefined : new UsageMeter(up.pid);
        meter.start();
        upMeter?.start();
        let r;
        try {
          r = await runLoad({ port: t.port, kind, seconds, cpus: layout.load });
        } catch (err) {
          log(`  ${t.name} ${kind.key}: ${err.message}`);
          continue;
        } finally {
          const u = meter.stop();
          const uu = upMeter?.stop();
          unpin();
          if (t.name === 'direct') repin(up.pid, layout.upstream);
          resume();
          if (r) {
            r.cpuUsPerReq = r.ok ? (u.cpuSeconds * 1e6) / r.ok : null;
            r.peakRssMiB = u.peakRssMiB;
            r.upstreamCpuPct = uu ? (uu.cpuSeconds / seconds) * 100 : null;
          }
        }
        ((runs[t.name] ??= {})[kind.key] ??= []).push(r);
        log(`  round ${round + 1} ${kind.key.padEnd(6)} ${t.name.padEnd(11)} ${fmt(r.rps, 0).padStart(7)} calls/s  p50 ${fmt(r.p50Ms, 2)} ms  p99 ${fmt(r.p99Ms, 2)} ms  cpu ${fmt(r.cpuUsPerReq, 1)} µs/call  rss ${fmt(r.peakRssMiB, 0)} MiB  failed ${r.failed}`);
      }
    }
  }
  for (const t of targets) await t.stop?.();
  await stopProcess(up);

  for (const [name, byKind] of Object.entries(runs)) {
    out.variants[name] = {};
    for (const [kind, rs] of Object.entries(byKind)) {
      out.variants[name][kind] = {
        rps: summarize(rs.map((r) => r.rps)), messagesPerSec: summarize(rs.map((r) => r.messagesPerSec)),
        p50Ms: summarize(rs.map((r) => r.p50Ms)), p99Ms: summarize(rs.map((r) => r.p99Ms)),
        cpuUsPerReq: summarize(rs.map((r) => r.cpuUsPerReq)), peakRssMiB: summarize(rs.map((r) => r.peakRssMiB)),
        upstreamCpuPct: summarize(rs.map((r) => r.upstreamCpuPct)),
        ok: rs.reduce((s, r) => s + r.ok, 0), failed: rs.reduce((s, r) => s + r.failed, 0),
      };
    }
  }
  out.porticoVsNginx = {};
  out.porticoVsNginxCpu = {};
  for (const kind of KINDS) {
    const p = out.variants['portico-1w']?.[kind.key];
    const n = out.variants.nginx?.[kind.key];
    out.porticoVsNginx[kind.key] = p?.rps?.median && n?.rps?.median ? p.rps.median / n.rps.median : null;
    // CPU per call, inverted (nginx's over Portico's): what each would give on a saturated core.
    out.porticoVsNginxCpu[kind.key] = p?.cpuUsPerReq?.median && n?.cpuUsPerReq?.median ? n.cpuUsPerReq.median / p.cpuUsPerReq.median : null;
  }
  return out;
}

async function runLoad({ port, kind, seconds, cpus }) {
  const r = await runToCompletion(process.execPath, [join(BENCH_DIR, 'grpc-load.js'), '--target', `127.0.0.1:${port}`, '--method', kind.method, '--messages', String(kind.messages),
    '--calls', String(CALLS), '--channels', String(CHANNELS), '--seconds', String(seconds), '--warmup', '1'], { cpus, timeoutMs: (seconds + 20) * 1000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`grpc-load.js gave no result (status ${r.status}): ${(r.stderr || r.stdout).slice(-400)}`);
  }
}

/** One gRPC call through `port`; true when it ends with grpc-status 0. */
async function grpcAnswers(port) {
  const r = await runToCompletion(process.execPath, [join(BENCH_DIR, 'grpc-load.js'), '--target', `127.0.0.1:${port}`, '--calls', '1', '--channels', '1', '--seconds', '0.2', '--warmup', '0'], { timeoutMs: 10_000 });
  try {
    const res = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
    if (res.ok > 0) return true;
    throw new Error(`no call succeeded: ${JSON.stringify(res.statuses)}`);
  } catch (err) {
    throw new Error(`probe: ${err.message} ${r.stderr.slice(-200)}`);
  }
}

/** nginx, 1 worker, h2c on its port, grpc_pass to the upstream with keep-alive connections. */
async function startNginxGrpc(workdir, { upstreamPort, cpus }) {
  const port = await freePort();
  const dir = join(workdir, 'nginx-grpc');
  const conf = nginxMain({
    dir,
    body: [
      nginxKeepaliveUpstream('grpc_upstream', upstreamPort),
      '  server {',
      `    listen 127.0.0.1:${port} http2 backlog=4096;`,
      '    http2_max_requests 10000000;',
      '    http2_max_concurrent_streams 1000;',
      '    location / {',
      '      grpc_pass grpc://grpc_upstream;',
      '    }',
      '  }',
    ].join('\n'),
  });
  const h = startNginxWith('nginx-grpc', dir, conf, cpus);
  await waitUntil(h, 'a gRPC call through nginx', () => grpcAnswers(port), 15_000);
  return { name: 'nginx', pid: h.pid, port, stop: () => stopProcess(h) };
}

/** `portico serve --workers 1` with one `grpc: true` Mapping for the bench.Bench service, cleartext (h2c). */
async function startPorticoGrpc(workdir, { upstreamPort, cpus }) {
  const port = await freePort();
  const adminPort = await freePort();
  const dir = join(workdir, 'portico-grpc-config');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'gateway.yaml'), cleartextGatewayYaml(port));
  writeFileSync(join(dir, 'mapping.yaml'), [
    'apiVersion: getambassador.io/v3alpha1',
    'kind: Mapping',
    'metadata: {name: bench-grpc}',
    'spec:',
    '  hostname: "*"',
    '  prefix: /bench.Bench/',
    '  rewrite: ""',
    '  grpc: true',
    `  service: 127.0.0.1:${upstreamPort}`,
    '',
  ].join('\n'));
  const h = startProcess('portico-grpc', process.execPath, [join(portico.home, 'bin/portico.js'), 'serve', '--config', dir, '--admin', `127.0.0.1:${adminPort}`, '--workers', '1', '--access-log', 'off'],
    { cpus, cwd: portico.home, env: { NODE_ENV: 'production' } });
  await waitUntil(h, 'ready (/readyz 200)', async () => (await httpGet(`http://127.0.0.1:${adminPort}/readyz`)).status === 200, 60_000);
  await waitUntil(h, 'a gRPC call through Portico', () => grpcAnswers(port), 15_000);
  return { name: 'portico-1w', pid: h.pid, port, stop: () => stopProcess(h, 10_000) };
}
