// `npm run bench`: installs what the benchmarks need, starts every server on loopback, measures
// them side by side in one run, prints ratios, and writes bench/results/latest.{json,md}.
// Options: --quick (< 3 minutes), --only http1,routes,config,reload,h2,gitops,policies,filters,grpc, --layout split|shared,
// --upstream nginx|node, --rounds N, --seconds S, --quiet-wait S, --no-priority, --portico head|worktree, --no-install, --out NAME,
// --variants nginx,haproxy,portico-1w,... (HTTP/1.1 section: only these besides direct), --connections 50,200 and
// --no-paced (HTTP/1.1 section: fewer cells); --only filters: JWT and gzip.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir, cpus as osCpus, totalmem, release, setPriority, getPriority } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { commandExists, runToCompletion, stopAll, removeOnExit } from './lib/process-group.js';
import { cpuLayout } from './lib/cpu-layout.js';
import { startUpstreamNginx, startUpstreamNode, BENCH_DIR } from './lib/variants.js';
import { preparePortico, portico } from './lib/portico-build.js';
import { runHttp1 } from './sections/http1.js';
import { runRouteScale } from './sections/route-scale.js';
import { runConfigScale } from './sections/config-scale.js';
import { runReload } from './sections/reload.js';
import { runH2 } from './sections/h2-tls.js';
import { runGitops } from './sections/gitops.js';
import { runPolicies } from './sections/policies.js';
import { runFilters } from './sections/filters.js';
import { runGrpc } from './sections/grpc.js';
import { renderMarkdown, printRatios } from './report.js';
import { quietGate } from './lib/measure.js';

const SECTIONS = ['http1', 'routes', 'config', 'reload', 'h2', 'gitops', 'policies', 'filters', 'grpc'];
const APT_PACKAGES = { wrk: 'wrk', nginx: 'nginx', haproxy: 'haproxy', h2load: 'nghttp2-client', openssl: 'openssl', 'redis-server': 'redis-server' };

function parseArgs(argv) {
  const o = { quick: false, only: SECTIONS, layout: 'split', upstream: 'nginx', install: true, out: 'latest', rounds: null, seconds: null, quietWait: null, priority: true, portico: 'head', variants: null, connections: null, paced: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--only') o.only = val().split(',');
    else if (a === '--variants') o.variants = val().split(',');
    else if (a === '--layout') o.layout = val();
    else if (a === '--upstream') o.upstream = val();
    else if (a === '--rounds') o.rounds = Number(val());
    else if (a === '--seconds') o.seconds = Number(val());
    else if (a === '--connections') o.connections = val().split(',').map(Number);
    else if (a === '--no-paced') o.paced = false;
    else if (a === '--quiet-wait') o.quietWait = Number(val());
    else if (a === '--no-install') o.install = false;
    else if (a === '--portico') o.portico = val();
    else if (a === '--no-priority') o.priority = false;
    else if (a === '--out') o.out = val();
    else if (a === '--help' || a === '-h') o.help = true;
    else throw new Error(`unknown option ${a}`);
  }
  for (const s of o.only) if (!SECTIONS.includes(s)) throw new Error(`unknown section ${s} (sections: ${SECTIONS.join(', ')})`);
  if (!['split', 'shared'].includes(o.layout)) throw new Error('--layout is split or shared');
  if (!['nginx', 'node'].includes(o.upstream)) throw new Error('--upstream is nginx or node');
  if (!['head', 'worktree'].includes(o.portico)) throw new Error('--portico is head or worktree');
  if (!/^[a-z0-9._-]+$/i.test(o.out)) throw new Error('--out is a plain file name');
  return o;
}

function plan(o) {
  const p = o.quick
    ? { rounds: 2, seconds: 2, warmupSeconds: 1, connections: [50, 200], pacedDelayMs: 20, pacedRounds: 1, routeCounts: [10, 1000, 10000], routeConnections: 50, routeRounds: 1, applySamples: 1, configSizes: [100, 1000, 10000], configRepeats: 1, configCli: false, reloadChanges: 30, reloadSeconds: 5, h2Seconds: 2, grpcSeconds: 2, budgetSeconds: 160, hardLimitSeconds: 178, quietWaitMs: 0, accessLogVariant: false, tracingVariants: false, traceSlices: 2, traceSliceSeconds: 1 }
    : { rounds: 3, seconds: 10, warmupSeconds: 3, connections: [50, 200], pacedDelayMs: 20, pacedRounds: 3, routeCounts: [10, 1000, 10000], routeConnections: 50, routeRounds: 3, applySamples: 5, configSizes: [100, 1000, 10000], configRepeats: 3, configCli: true, reloadChanges: 30, reloadSeconds: 20, h2Seconds: 10, grpcSeconds: 4, budgetSeconds: 2400, hardLimitSeconds: 3000, quietWaitMs: 5_000, accessLogVariant: true, tracingVariants: true, traceSlices: 20, traceSliceSeconds: 2 };
  if (o.rounds) { p.rounds = o.rounds; p.routeRounds = o.rounds; p.pacedRounds = o.rounds; }
  if (o.seconds) p.seconds = o.seconds;
  if (o.connections) p.connections = o.connections;
  if (!o.paced) p.pacedDelayMs = 0;
  if (o.quietWait !== null) p.quietWaitMs = o.quietWait * 1000;
  p.variants = o.variants;
  return p;
}

async function ensureTools(o, log) {
  const missing = Object.entries(APT_PACKAGES).filter(([cmd]) => !commandExists(cmd)).map(([, pkg]) => pkg);
  if (missing.length > 0) {
    if (!o.install) throw new Error(`missing tools (${missing.join(', ')}) and --no-install given`);
    if (process.getuid?.() !== 0) throw new Error(`missing tools: run as root, or apt-get install ${missing.join(' ')}`);
    log(`installing ${missing.join(', ')} with apt-get`);
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    const u = await runToCompletion('apt-get', ['update', '-qq'], { env, timeoutMs: 300_000 });
    if (u.status !== 0) throw new Error(`apt-get update failed: ${u.stderr}`);
    const r = await runToCompletion('apt-get', ['install', '-y', '-qq', ...missing], { env, timeoutMs: 600_000 });
    if (r.status !== 0) throw new Error(`apt-get install failed: ${r.stderr}`);
  }
  // The Node.js peers are measured in the HTTP/1.1 section only.
  const lockOk = !o.only.includes('http1') || existsSync(join(BENCH_DIR, 'node_modules/.package-lock.json'))
    && readFileSync(join(BENCH_DIR, 'node_modules/.package-lock.json'), 'utf8').includes('fast-proxy-lite');
  if (!lockOk) {
    if (!o.install) throw new Error('bench/node_modules is missing and --no-install given');
    log('installing the Node.js peers in bench/ (npm ci)');
    const r = await runToCompletion('npm', ['ci', '--no-audit', '--no-fund', '--prefix', BENCH_DIR], { timeoutMs: 600_000 });
    if (r.status !== 0) throw new Error(`npm ci in bench/ failed: ${r.stderr.slice(-2000)}`);
  }
}

/** "NAME x.y.z" from a tool's version banner (banners carry more than the report needs). */
function versionOf(name, banner) {
  const m = /(\d+\.\d+(?:\.\d+)?)/.exec(banner);
  return m ? `${name} ${m[1]}` : `${name} (version unknown)`;
}

/** A tool's version line: some print it on stderr, some exit non-zero after printing it. */
function sh(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
}

function machine(layout) {
  const cpu = osCpus();
  return {
    cpuModel: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    nginx: versionOf('nginx', sh('nginx', ['-v'])),
    haproxy: versionOf('HAProxy', sh('haproxy', ['-v'])),
    wrk: versionOf('wrk', sh('wrk', ['-v'])),
    h2load: versionOf('h2load (nghttp2)', sh('h2load', ['--version'])),
    peers: peerVersions(),
    layout: layout.describe,
    note: 'one machine: load generator, proxy and upstream share its cores; all traffic on 127.0.0.1',
  };
}

function peerVersions() {
  const out = {};
  for (const name of ['fastify', '@fastify/http-proxy', 'http-proxy', 'fast-gateway', 'fast-proxy-lite', 'restana']) {
    try { out[name] = JSON.parse(readFileSync(join(BENCH_DIR, 'node_modules', name, 'package.json'), 'utf8')).version; } catch { out[name] = null; }
  }
  return out;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.help) {
    console.log(readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(0, 5).join('\n'));
    return 0;
  }
  const t0 = Date.now();
  const log = (m) => console.log(m);
  const p = plan(o);
  const cores = osCpus().length;
  const layout = cpuLayout(o.layout, cores);
  quietGate.maxWaitMs = p.quietWaitMs;
  // Other work may share the machine: run the benchmark (and, by inheritance, every process it
  // starts) at a higher priority so it is measured rather than the neighbours' load.
  if (o.priority) {
    try { setPriority(0, -10); } catch {}
  }
  const niceness = getPriority(0);
  await ensureTools(o, log);
  const workdir = mkdtempSync(join(tmpdir(), 'portico-bench-'));
  removeOnExit(workdir);
  const build = await preparePortico({ mode: o.portico, workdir, log });
  const result = {
    startedAt: new Date(t0).toISOString(),
    mode: o.quick ? 'quick' : 'full',
    plan: p,
    machine: { ...machine(layout), niceness, porticoCommit: portico.commit },
    build,
    upstream: o.upstream === 'nginx' ? 'nginx 1 worker answering a static 200 (31-byte JSON body) on every path' : 'bench/upstream-node.js: node:http answering a static 200 (30-byte JSON body)',
    notes: [
      'fast-gateway 5.0.1 asks for fast-proxy-lite ^1.1.3, which the registry used here lacks: bench/package.json pins fast-proxy-lite 1.1.2 through "overrides".',
      'The Node.js peers forward every path unchanged with no routing table; nginx and Portico serve the same generated 100 Mappings (header rules, rewrites); HAProxy forwards everything to one backend.',
      'Access logs are off everywhere (nginx access_log off, Portico --access-log off, the peers log nothing); full runs add portico-1w-log, Portico with its JSON access log written to a file.',
    ],
    sections: {},
  };
  try {
    const startUpstream = o.upstream === 'nginx' ? startUpstreamNginx : startUpstreamNode;
    const upstream = await startUpstream(workdir, { cpus: layout.upstream });
    const ctx = { workdir, upstream, layout, plan: p, log, cores, quick: o.quick, deadline: t0 + p.hardLimitSeconds * 1000 };
    const run = async (name, title, fn) => {
      if (!o.only.includes(name)) return;
      log(`\n== ${title}`);
      // Every section is bounded on its own; the budget keeps the whole run bounded too.
      if ((Date.now() - t0) / 1000 > p.budgetSeconds) {
        result.sections[name] = { skipped: `time budget of ${p.budgetSeconds} s used up before this section` };
        log(`  SKIP: ${result.sections[name].skipped}`);
        return;
      }
      const s = Date.now();
      try {
        result.sections[name] = await fn(ctx);
      } catch (err) {
        log(`  section failed: ${err.stack ?? err.message}`);
        result.sections[name] = { failed: String(err.message).split('\n')[0] };
      }
      result.sections[name].sectionSeconds = (Date.now() - s) / 1000;
    };
    await run('http1', '1. HTTP/1.1 proxy throughput and latency', runHttp1);
    await run('routes', '2. Route-count scaling', runRouteScale);
    await run('config', '3. Configuration scale (validate + compile, apply, RSS)', runConfigScale);
    await run('reload', '4. Reload under load', runReload);
    await run('h2', '5. HTTP/2 and TLS (h2load)', runH2);
    await run('gitops', '6. GitOps merge -> live', runGitops);
    await run('policies', '7. Edge policies (an AuthService against nginx auth_request)', runPolicies);
    await run('filters', '8. Filters and compression (JWT, gzip) against the unprotected route', runFilters);
    await run('grpc', '9. gRPC unary and server streaming (Portico against nginx grpc_pass)', runGrpc);
    await upstream.stop();
  } finally {
    await stopAll();
    rmSync(workdir, { recursive: true, force: true });
  }
  result.totalSeconds = (Date.now() - t0) / 1000;
  const outDir = join(BENCH_DIR, 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, `${o.out}.json`), JSON.stringify(result, null, 2) + '\n');
  const md = renderMarkdown(result);
  writeFileSync(join(outDir, `${o.out}.md`), md);
  console.log('');
  printRatios(result, log);
  log(`\nwrote bench/results/${o.out}.json and ${o.out}.md in ${result.totalSeconds.toFixed(0)} s`);
  return 0;
}

main().then((code) => { process.exitCode = code; }, async (err) => {
  console.error(`bench: ${err.message}`);
  await stopAll();
  process.exitCode = 1;
});
