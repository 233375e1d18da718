// Section 5: HTTP/2 and TLS with h2load: nginx (1 worker, TLS + h2) against Portico (1 worker) on
// an HTTPS Listener, both proxying to the same upstream; HTTP/1.1 over TLS measured too, and a new
// TLS connection per request (full and resumed handshakes).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import http2 from 'node:http2';
import https from 'node:https';
import { runToCompletion, commandExists } from '../lib/process-group.js';
import { runH2load } from '../lib/h2load-runner.js';
import { UsageMeter } from '../lib/proc-usage.js';
import { pinSelf } from '../lib/cpu-layout.js';
import { summarize, orderForRound } from '../lib/summary-stats.js';
import { startNginxTls, startPortico, porticoServeMissing, BENCH_DIR } from '../lib/variants.js';
import { routeModel, benchRequest } from '../gen-config.js';
import { fmt, shortReason } from './http1.js';

export async function runH2(ctx) {
  const { workdir, upstream, layout, plan, log } = ctx;
  if (!commandExists('h2load')) return { skipped: 'h2load is not installed (apt-get install nghttp2-client)' };
  const certPath = join(workdir, 'tls.crt');
  const keyPath = join(workdir, 'tls.key');
  const gen = await runToCompletion('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { timeoutMs: 30_000 });
  if (gen.status !== 0) return { skipped: `openssl could not make a test certificate: ${gen.stderr.slice(-300)}` };
  const certPem = readFileSync(certPath, 'utf8');
  const keyPem = readFileSync(keyPath, 'utf8');

  // h2load sends SNI and :authority from the URL, so the Host is "localhost" (resolves to loopback).
  const model = routeModel({ mappings: 100, style: 'realistic', hostNames: ['localhost'] });
  const req = benchRequest(model);
  const out = { certificate: 'ECDSA P-256, self-signed, made for this run', request: req, connections: 50, streamsPerConnection: 10, variants: {}, skipped: {} };
  const targets = [];
  try {
    const nginx = await startNginxTls(workdir, { upstreamPort: upstream.port, certPath, keyPath, cpus: layout.server });
    targets.push({ name: 'nginx', server: nginx, port: nginx.port, supports: new Set(['h2', 'https-h1']) });
  } catch (err) {
    out.skipped.nginx = shortReason(err.message);
  }
  const missing = porticoServeMissing();
  if (missing) out.skipped.portico = missing;
  else {
    try {
      const server = await startPortico(workdir, {
        label: 'portico-tls', model, upstreamPort: upstream.port, workers: 1, cpus: layout.server,
        tls: { secretName: 'bench-tls', certPem, keyPem }, probe: { host: req.host, path: req.path },
      });
      const h2 = await h2Check(server.tlsPort, req.path);
      const h1 = await h1TlsCheck(server.tlsPort, req.path);
      const supports = new Set([...(h2 === true ? ['h2'] : []), ...(h1 === true ? ['https-h1'] : [])]);
      if (h2 !== true) out.skipped['portico-1w h2'] = `Portico does not serve HTTP/2 over TLS on its HTTPS Listener yet: ${shortReason(h2)}`;
      if (h1 !== true) out.skipped['portico-1w https-h1'] = `Portico does not serve HTTP/1.1 over TLS on its HTTPS Listener yet: ${shortReason(h1)}`;
      for (const [k, v] of Object.entries(out.skipped)) if (k.startsWith('portico')) log(`  SKIP ${k}: ${v}`);
      if (supports.size === 0) await server.stop();
      else targets.push({ name: 'portico-1w', server, port: server.tlsPort, supports });
    } catch (err) {
      out.skipped['portico-1w'] = shortReason(err.message);
      log(`  SKIP portico: ${err.message}`);
    }
  }

  // The last two: a new connection per request (full handshakes, then handshakes resumed with the
  // server's session ticket), so the server's cost of a TLS handshake is measured beside requests.
  const modes = [{ key: 'h2', h1: false }, { key: 'https-h1', h1: true }, { key: 'https-h1-new', connect: true, resume: false }, { key: 'https-h1-resumed', connect: true, resume: true }];
  const connectSeconds = ctx.quick ? 2 : 4;
  const runs = {};
  const rounds = ctx.quick ? 1 : plan.rounds;
  for (let round = 0; round < rounds; round++) {
    for (const mode of modes) {
      for (const t of orderForRound(targets, round)) {
        if (!t.supports.has(mode.connect ? 'https-h1' : mode.key)) continue;
        // the meter's timer runs in this process: on the load generator's cores, not the server's
        const unpin = pinSelf(layout.load);
        const meter = new UsageMeter(t.server.pid);
        meter.start();
        try {
          let r;
          try {
            r = mode.connect
              ? await runConnectLoad({ port: t.port, path: req.path, resume: mode.resume, seconds: connectSeconds, cpus: layout.load })
              : await runH2load({ url: `https://localhost:${t.port}${req.path}`, connections: 50, streams: 10, seconds: plan.h2Seconds, h1: mode.h1, cpus: layout.load });
          } finally {
            unpin();
          }
          const u = meter.stop();
          r.cpuUsPerReq = r.succeeded ? (u.cpuSeconds * 1e6) / r.succeeded : null;
          r.peakRssMiB = u.peakRssMiB;
          ((runs[t.name] ??= {})[mode.key] ??= []).push(r);
          log(`  round ${round + 1} ${mode.key.padEnd(8)} ${t.name.padEnd(11)} ${fmt(r.rps, 0).padStart(7)} req/s  p50 ${fmt(r.p50Ms, 2)} ms  p99 ${fmt(r.p99Ms, 2)} ms  cpu ${fmt(r.cpuUsPerReq, 1)} µs/req  failed ${r.failed}  (${r.protocol}${r.resumed !== undefined ? `, ${r.resumed} resumed` : ''})`);
        } catch (err) {
          meter.stop();
          log(`  ${t.name} ${mode.key}: ${err.message}`);
        }
      }
    }
  }
  for (const t of targets) await t.server.stop();
  for (const [name, byMode] of Object.entries(runs)) {
    out.variants[name] = {};
    for (const [mode, rs] of Object.entries(byMode)) {
      out.variants[name][mode] = {
        protocol: rs[0].protocol,
        rps: summarize(rs.map((r) => r.rps)), p50Ms: summarize(rs.map((r) => r.p50Ms)), p99Ms: summarize(rs.map((r) => r.p99Ms)),
        cpuUsPerReq: summarize(rs.map((r) => r.cpuUsPerReq)), peakRssMiB: summarize(rs.map((r) => r.peakRssMiB)),
        failed: rs.reduce((s, r) => s + r.failed, 0), requests: rs.reduce((s, r) => s + r.requests, 0),
        ...(rs[0].resumed !== undefined ? { resumed: rs.reduce((s, r) => s + r.resumed, 0) } : {}),
      };
    }
  }
  const ratio = {};
  for (const m of modes) {
    const p = out.variants['portico-1w']?.[m.key]?.rps?.median;
    const n = out.variants.nginx?.[m.key]?.rps?.median;
    ratio[m.key] = p && n ? p / n : null;
  }
  out.porticoVsNginx = ratio;
  return out;
}

/** New TLS connections, one request each, from bench/lib/tls-connect-load.js (10 at a time). */
async function runConnectLoad({ port, path, resume, seconds, cpus }) {
  const args = [join(BENCH_DIR, 'lib/tls-connect-load.js'), '--port', String(port), '--path', path, '--host', 'localhost', '--seconds', String(seconds), '--loops', '10', ...(resume ? ['--resume'] : [])];
  const r = await runToCompletion(process.execPath, args, { cpus, timeoutMs: (seconds + 30) * 1000 });
  let res;
  try {
    res = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
  } catch {
    throw new Error(`tls-connect-load.js gave no result (status ${r.status}): ${(r.stderr || r.stdout).slice(-400)}`);
  }
  return { protocol: 'http/1.1', requests: res.ok + res.failed, succeeded: res.ok, failed: res.failed, resumed: res.resumed, rps: res.rps, seconds: res.seconds, p50Ms: res.p50Ms, p99Ms: res.p99Ms };
}

/** true when an HTTP/2 request over TLS gets a 2xx, else a short reason. */
function h2Check(port, path) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { try { session.destroy(); } catch {} resolve('no answer within 5 s'); }, 5000);
    const session = http2.connect(`https://localhost:${port}`, { rejectUnauthorized: false, servername: 'localhost' });
    session.on('error', (err) => { clearTimeout(timer); resolve(err.message); });
    session.on('connect', () => {
      const s = session.request({ ':path': path });
      s.on('response', (h) => {
        clearTimeout(timer);
        session.close();
        const st = Number(h[':status']);
        resolve(st >= 200 && st < 300 ? true : `answered ${st}`);
      });
      s.on('error', (err) => { clearTimeout(timer); resolve(err.message); });
      s.end();
    });
  });
}

/** true when an HTTP/1.1 request over TLS gets a 2xx, else a short reason. */
function h1TlsCheck(port, path) {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path, servername: 'localhost', headers: { host: 'localhost' }, rejectUnauthorized: false, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode >= 200 && res.statusCode < 300 ? true : `answered ${res.statusCode}`);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', (err) => resolve(err.message));
  });
}
