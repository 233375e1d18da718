// Section 7: Edge Stack filters and compression, each as a ratio of the unprotected route in the
// same run: a JWT filter with its key cached (one valid token repeated), and gzip on a 10 KiB body.
//
// Four Portico servers (--workers 1, pinned like the others): `plain` and `jwt` on the static
// upstream; `json` and `gzip` on a node upstream answering 10 KiB of JSON, wrk asking for gzip on
// both (so the one difference is the Module's gzip). The JWKS endpoint runs in this process: it is
// fetched once, before measuring. Goal (issue 17): JWT >= 0.8x of the unprotected route.
import http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { measuredRun } from '../lib/measure.js';
import { orderForRound } from '../lib/summary-stats.js';
import { freePort } from '../lib/free-port.js';
import { startProcess, stopProcess, waitUntil, waitForOutput } from '../lib/process-group.js';
import { httpGet, BENCH_DIR } from '../lib/variants.js';
import { portico } from '../lib/portico-build.js';
import { porticoServeMissing } from '../lib/variants.js';
import { runWrk } from '../lib/wrk-runner.js';
import { aggregate, fmt, shortReason } from './http1.js';
import { cleartextGatewayYaml } from '../lib/gateway-yaml.js';

const HOST = 'bench.example.com';

function configYaml({ port, upstream, extra = '' }) {
  return `${cleartextGatewayYaml(port)}---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: api}
spec:
  hostname: "*"
  prefix: /
  service: ${upstream}
${extra}`;
}

async function startServer(workdir, label, yaml, cpus, probeHeaders) {
  const port = await freePort();
  const adminPort = await freePort();
  const dir = join(workdir, `${label}-config`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.yaml'), yaml(port));
  const h = startProcess(label, process.execPath, [
    join(portico.home, 'bin/portico.js'), 'serve', '--config', dir, '--admin', `127.0.0.1:${adminPort}`, '--workers', '1', '--access-log', 'off',
  ], { cpus, cwd: portico.home, env: { NODE_ENV: 'production' } });
  await waitUntil(h, 'ready (/readyz 200)', async () => (await httpGet(`http://127.0.0.1:${adminPort}/readyz`)).status === 200, 60_000);
  await waitUntil(h, 'the route answers 200', async () => {
    const r = await httpGet(`http://127.0.0.1:${port}/bench`, { headers: { host: HOST, ...probeHeaders } });
    if (r.status === 200) return true;
    throw new Error(`answered ${r.status}: ${r.body.slice(0, 200)}`);
  }, 60_000);
  return { name: label, pid: h.pid, port, handle: h, stop: () => stopProcess(h, 10_000) };
}

export async function runFilters(ctx) {
  const { workdir, upstream, layout, plan, log } = ctx;
  const missing = porticoServeMissing();
  if (missing) return { skipped: missing };
  // the JWKS endpoint and a token its key signed (RS256, the common case)
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' }] });
  const jwksServer = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(jwks));
  await new Promise((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const jwksURI = `http://127.0.0.1:${jwksServer.address().port}/jwks.json`;
  const token = await new SignJWT({ sub: 'bench', aud: 'bench' }).setProtectedHeader({ alg: 'RS256', kid: 'bench' }).setIssuer('https://idp.bench')
    .setIssuedAt().setExpirationTime('2h').sign(privateKey);
  const auth = { authorization: `Bearer ${token}` };
  const gzipAsk = { 'accept-encoding': 'gzip' };

  // a node upstream answering 10 KiB of JSON
  const jsonPort = await freePort();
  const jsonUpstream = startProcess('upstream (node, 10 KiB JSON)', process.execPath, [join(BENCH_DIR, 'upstream-node.js')], {
    env: { PORT: String(jsonPort), BODY_BYTES: '10240' }, cpus: layout.upstream,
  });
  const cells = [];
  const skipped = {};
  try {
    await waitForOutput(jsonUpstream, /ready \d+/, 10_000);
    const jwtExtra = `---
apiVersion: getambassador.io/v3alpha1
kind: Filter
metadata: {name: jwt}
spec:
  JWT:
    jwksURI: ${jwksURI}
    validAlgorithms: [RS256]
    issuer: https://idp.bench
    audience: bench
    requireAudience: true
---
apiVersion: getambassador.io/v3alpha1
kind: FilterPolicy
metadata: {name: all}
spec:
  rules: [{host: "*", path: "*", filters: [{name: jwt}]}]
`;
    const gzipExtra = `---
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: {name: ambassador}
spec:
  config:
    gzip: {enabled: true}
`;
    const defs = [
      { name: 'plain', upstream: upstream.port, extra: '', headers: auth, note: 'static upstream, no filter (the token is sent and ignored)' },
      { name: 'jwt', upstream: upstream.port, extra: jwtExtra, headers: auth, note: 'JWT filter (RS256, key cached, one token repeated)' },
      { name: 'json-10k', upstream: jsonPort, extra: '', headers: gzipAsk, note: '10 KiB JSON, Accept-Encoding: gzip, no compression configured' },
      { name: 'gzip-10k', upstream: jsonPort, extra: gzipExtra, headers: gzipAsk, note: '10 KiB JSON compressed with the Module gzip defaults' },
    ];
    for (const d of defs) {
      try {
        const server = await startServer(workdir, `portico-${d.name}`, (port) => configYaml({ port, upstream: `127.0.0.1:${d.upstream}`, extra: d.extra }), layout.server, d.headers);
        cells.push({ ...d, server });
        log(`  started portico-${d.name} (pid ${server.pid})`);
      } catch (err) {
        skipped[d.name] = shortReason(err.message);
        log(`  SKIP ${d.name}: ${err.message}`);
      }
    }
    const check = cells.find((c) => c.name === 'gzip-10k');
    if (check) {
      const r = await httpGet(`http://127.0.0.1:${check.server.port}/bench`, { headers: { host: HOST, ...gzipAsk } });
      if (r.headers?.['content-encoding'] !== 'gzip') log(`  WARNING: gzip-10k answered without content-encoding gzip (${r.headers?.['content-encoding']})`);
    }
    const runs = new Map(cells.map((c) => [c, []]));
    const connections = 50;
    for (let round = 0; round < plan.rounds; round++) {
      for (const c of orderForRound(cells, round)) {
        const url = `http://127.0.0.1:${c.server.port}/bench`;
        const headers = { host: HOST, ...c.headers };
        try {
          if (round === 0) await runWrk({ url, connections, seconds: plan.warmupSeconds, headers, cpus: layout.load });
          const r = await measuredRun({ server: c.server, url, connections, seconds: plan.seconds, headers, loadCpus: layout.load, otherPids: [upstream.pid, jsonUpstream.pid], pause: cells.map((x) => x.server.pid) });
          runs.get(c).push(r);
          log(`  round ${round + 1} ${c.name.padEnd(9)} ${fmt(r.rps, 0).padStart(7)} req/s  p99 ${fmt(r.p99Ms, 2)} ms  cpu ${fmt(r.cpuUsPerReq, 1)} µs/req  errors ${r.errors}  bg ${fmt(r.backgroundCpuPct, 0)}%`);
        } catch (err) {
          log(`  ${c.name}: ${err.message}`);
        }
      }
    }
    const table = {};
    for (const c of cells) table[c.name] = { note: c.note, ...(runs.get(c).length ? aggregate(runs.get(c)) : {}) };
    const ratio = (a, b) => (table[a]?.rps?.median && table[b]?.rps?.median ? table[a].rps.median / table[b].rps.median : null);
    const result = {
      connections,
      table,
      ratios: { jwtVsPlain: ratio('jwt', 'plain'), gzipVsUncompressed: ratio('gzip-10k', 'json-10k') },
      goals: { jwtVsPlain: 0.8 },
      skipped,
    };
    log(`  JWT / unprotected: ${fmt(result.ratios.jwtVsPlain, 2)}x (goal >= 0.8x); gzip 10 KiB / uncompressed: ${fmt(result.ratios.gzipVsUncompressed, 2)}x`);
    return result;
  } finally {
    for (const c of cells) await c.server.stop();
    await stopProcess(jsonUpstream);
    await new Promise((resolve) => jwksServer.close(resolve));
  }
}
