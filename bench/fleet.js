// Fleet and canary figures: merge → live on all of three `portico serve` replicas over a real
// redis-server with the webhook sent to one of them; the per-request cost of a canary (choosing a
// revision, counting the answer); and throughput through one replica during a canary against outside one.
//
// Usage (from the repository root, after `npm run build`; loopback only, bounded to about two minutes):
//   node bench/fleet.js [--quick] [--only cost,merge,canary] [--merges N] [--rounds N] [--seconds S] [--quiet-wait S] [--out NAME]
// Writes bench/results/NAME.json and .md (default NAME: fleet); the last stdout line is the JSON.
import { spawn, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { loadavg, tmpdir, cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { freePort } from './lib/free-port.js';
import { runWrk } from './lib/wrk-runner.js';
import { median, percentile, orderForRound } from './lib/summary-stats.js';
import { UsageMeter, BackgroundMeter, waitForQuiet } from './lib/proc-usage.js';
import { cleartextGatewayYaml } from './lib/gateway-yaml.js';

const REPO = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const BIN = join(REPO, 'bin', 'portico.js');
const SECRET = 'bench-webhook-secret';
const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 'Bench', GIT_AUTHOR_EMAIL: 'bench@example.com', GIT_COMMITTER_NAME: 'Bench', GIT_COMMITTER_EMAIL: 'bench@example.com', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const MERGES = Number(opt('merges', quick ? 8 : 20));
const ROUNDS = Number(opt('rounds', quick ? 2 : 6));
const SECONDS = Number(opt('seconds', quick ? 3 : 4));
const OUT = opt('out', 'fleet');
// Before each throughput cell, wait up to this long for other work on the machine to pause.
const QUIET_WAIT_S = Number(opt('quiet-wait', 0));
const ONLY = new Set(opt('only', 'cost,merge,canary').split(','));
const IDS = ['replica-1', 'replica-2', 'replica-3'];

const git = (cwd, a) => execFileSync('git', a, { cwd, env: GIT_ENV, stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function request(port, path, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.setTimeout(3000, () => req.destroy());
    req.on('error', () => resolve({ status: 0, headers: {}, body: '' }));
    req.end(body);
  });
}

async function until(what, probe, timeoutMs = 60_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function webhook(adminPort, n) {
  const body = JSON.stringify({ ref: 'refs/heads/main', delivery: `bench-${n}` });
  const sig = 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex');
  return request(adminPort, '/hooks/github', { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig, 'x-github-delivery': `bench-${n}-${Date.now()}` } });
}

/** A central repository (a bare one on disk) and a working copy that commits and pushes to it. */
function centralRepo(dir) {
  const bare = join(dir, 'central.git');
  const work = join(dir, 'work');
  mkdirSync(work, { recursive: true });
  git(dir, ['init', '-q', '--bare', '-b', 'main', bare]);
  git(work, ['init', '-q', '-b', 'main']);
  git(work, ['remote', 'add', 'origin', bare]);
  return {
    bare,
    commit(yaml, message) {
      writeFileSync(join(work, 'gateway.yaml'), yaml);
      git(work, ['add', '-A']);
      git(work, ['commit', '-q', '--no-gpg-sign', '--allow-empty', '-m', message]);
      git(work, ['push', '-q', 'origin', 'HEAD:refs/heads/main']);
      return git(work, ['rev-parse', 'HEAD']);
    },
  };
}

function startProc(argv) {
  const p = spawn(process.execPath, [BIN, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => {
    err = (err + d).slice(-4000);
  });
  p.lastErr = () => err;
  return p;
}

async function stopProc(p) {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
}

async function startRedis(dir) {
  const port = await freePort();
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await until('redis-server', async () => {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => s.write('PING\r\n'));
      s.once('data', (d) => {
        s.destroy();
        resolve(String(d).startsWith('+PONG'));
      });
      s.once('error', () => resolve(false));
    });
    return ok;
  });
  return { url: `redis://127.0.0.1:${port}`, stop: () => new Promise((r) => (p.exitCode !== null ? r() : (p.once('exit', r), p.kill('SIGKILL')))) };
}

// ───────────── 1. merge → live on all three replicas, the webhook sent to one ─────────────

function fleetYaml(ports, upstream, rev) {
  const listeners = IDS.map((id) => `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: {name: http-${id}}
spec:
  ambassador_id: [${id}]
  port: ${ports[id]}
  protocol: HTTP
  securityModel: XFP
  hostBinding: {namespace: {from: ALL}}
---
`).join('');
  return `${listeners}apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: {name: cleartext}
spec:
  ambassador_id: [${IDS.join(', ')}]
  hostname: "*"
  requestPolicy: {insecure: {action: Route}}
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: bench}
spec:
  ambassador_id: [${IDS.join(', ')}]
  hostname: "*"
  prefix: /
  service: 127.0.0.1:${upstream}
  add_response_headers:
    x-bench-rev: "${rev}"
`;
}

async function mergeToLive(dir, upstream) {
  const redis = await startRedis(dir);
  const repo = centralRepo(join(dir, 'fleet'));
  const ports = {};
  for (const id of IDS) ports[id] = await freePort();
  repo.commit(fleetYaml(ports, upstream, 0), 'rev 0');
  const replicas = [];
  try {
    for (const id of IDS) {
      const admin = await freePort();
      // Polling once an hour: only the fleet bus can make the two replicas the webhook missed converge.
      const p = startProc(['serve', '--source', `ops=${repo.bare}#main`, '--state', join(dir, `state-${id}`), '--admin', `127.0.0.1:${admin}`, '--workers', '0', '--access-log', 'off', '--ambassador-id', id, '--identity', id, '--webhook-secret', SECRET, '--poll-interval', '1h', '--redis', redis.url, '--fleet-heartbeat', '1s']);
      replicas.push({ id, admin, proc: p });
    }
    for (const r of replicas) await until(`${r.id} ready`, async () => (await request(r.admin, '/readyz')).status === 200 || (r.proc.exitCode !== null && Promise.reject(new Error(r.proc.lastErr()))));
    for (const r of replicas) await until(`${r.id} on the bus`, async () => JSON.parse((await request(r.admin, '/api/v1/status')).body || '{}').fleet?.state === 'Connected');
    const samples = [];
    const perReplica = Object.fromEntries(IDS.map((id) => [id, []]));
    let lastHook = 0;
    for (let rev = 1; rev <= MERGES; rev++) {
      // Merges at least 1.1 s apart: a replica fetches one source at most once a second (bursts of
      // webhooks coalesce), so closer merges would measure that wait rather than the way to live.
      await sleep(Math.max(0, lastHook + 1100 - performance.now()) + Math.random() * 300);
      lastHook = performance.now();
      repo.commit(fleetYaml(ports, upstream, rev), `rev ${rev}`);
      const t0 = performance.now();
      const hook = await webhook(replicas[0].admin, rev);
      if (hook.status !== 202) throw new Error(`webhook answered ${hook.status}`);
      const times = await Promise.all(
        IDS.map(async (id) => {
          for (let i = 0; i < 4000; i++) {
            const r = await request(ports[id], '/');
            if (r.headers['x-bench-rev'] === String(rev)) return performance.now() - t0;
            await sleep(2);
          }
          throw new Error(`${id}: revision ${rev} never went live`);
        }),
      );
      IDS.forEach((id, i) => perReplica[id].push(times[i]));
      samples.push(Math.max(...times));
    }
    const sorted = [...samples].sort((a, b) => a - b);
    const stat = (xs) => {
      const s = [...xs].sort((a, b) => a - b);
      return { p50Ms: Math.round(percentile(s, 50)), p95Ms: Math.round(percentile(s, 95)), maxMs: Math.round(s.at(-1)) };
    };
    return { merges: MERGES, allThree: { ...stat(sorted), samples: sorted.map((x) => Math.round(x)) }, byReplica: Object.fromEntries(IDS.map((id) => [id, stat(perReplica[id])])) };
  } finally {
    for (const r of replicas) await stopProc(r.proc);
    await redis.stop();
  }
}

// ───────────── 2. the per-request cost of a canary ─────────────

async function perRequestCost() {
  const { RevisionSplit } = await import(join(REPO, 'dist/src/serve/revision-split.js'));
  const { TallyRecorder } = await import(join(REPO, 'dist/src/release/revision-tally.js'));
  const N = quick ? 5_000_000 : 20_000_000;
  const current = { generation: 1 };
  const cand = { generation: 2 };
  // The gateway's own choice: no candidate → the served runtime; else the split decides.
  const choose = (c) => (c !== undefined && c.split.pick() ? c.runtime : current);
  const time = (fn) => {
    fn(N / 10); // warm up
    const runs = [];
    for (let r = 0; r < 5; r++) {
      const t0 = process.hrtime.bigint();
      fn(N);
      runs.push(Number(process.hrtime.bigint() - t0) / N);
    }
    return median(runs);
  };
  let sink = 0;
  const none = time((n) => {
    for (let i = 0; i < n; i++) sink += choose(undefined).generation;
  });
  const withCanary = {};
  for (const share of [10, 50]) {
    const c = { runtime: cand, split: new RevisionSplit(share), stable: new TallyRecorder(), candidate: new TallyRecorder(), stableGeneration: 1 };
    withCanary[share] = {
      chooseNs: time((n) => {
        for (let i = 0; i < n; i++) sink += choose(c).generation;
      }),
      // Choosing, then counting the answer into its revision's tally (status and a latency bucket).
      chooseAndCountNs: time((n) => {
        for (let i = 0; i < n; i++) {
          const rt = choose(c);
          const ms = (i & 63) * 0.25;
          if (rt.generation === c.runtime.generation) c.candidate.observe(200, ms);
          else if (rt.generation === c.stableGeneration) c.stable.observe(200, ms);
          sink += rt.generation;
        }
      }),
    };
  }
  if (sink === 42) console.log('');
  const r2 = (x) => Math.round(x * 100) / 100;
  return { iterations: N, noCanaryNs: r2(none), share10: { chooseNs: r2(withCanary[10].chooseNs), chooseAndCountNs: r2(withCanary[10].chooseAndCountNs) }, share50: { chooseNs: r2(withCanary[50].chooseNs), chooseAndCountNs: r2(withCanary[50].chooseAndCountNs) } };
}

// ───────────── 3. throughput during a canary and outside one ─────────────

function canaryYaml(port, upstream, rev) {
  return `${cleartextGatewayYaml(port)}---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: bench}
spec:
  hostname: "*"
  prefix: /
  service: 127.0.0.1:${upstream}
  add_response_headers:
    x-bench-rev: "${rev}"
---
apiVersion: portico.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: every-source}
spec:
  steps: [50]
  window: 10m
  minRequests: 1000000
  onInsufficientTraffic: Hold
`;
}

async function canaryThroughput(dir, upstream, upstreamPid) {
  const repo = centralRepo(join(dir, 'canary'));
  const port = await freePort();
  const admin = await freePort();
  const base = canaryYaml(port, upstream, 'a');
  repo.commit(base, 'served');
  const p = startProc(['serve', '--source', `ops=${repo.bare}#main`, '--state', join(dir, 'state-canary'), '--admin', `127.0.0.1:${admin}`, '--workers', '1', '--access-log', 'off', '--webhook-secret', SECRET, '--poll-interval', '1h']);
  const config = async () => JSON.parse((await request(admin, '/api/v1/config')).body || '{}');
  let hooks = 0;
  try {
    await until('ready', async () => (await request(admin, '/readyz')).status === 200 || (p.exitCode !== null && Promise.reject(new Error(p.lastErr()))));
    await until('serving', async () => (await request(port, '/')).headers['x-bench-rev'] === 'a');
    const rounds = [];
    let inCanary = false;
    let n = 0;
    const setCanary = async (want) => {
      if (want === inCanary) return;
      n++;
      // Into a canary: an observable change (a response header). Out of it: back to the served
      // configuration, which changes nothing observable, so it goes live at once and ends the canary.
      repo.commit(want ? canaryYaml(port, upstream, `b${n}`) : base, want ? `canary ${n}` : `back ${n}`);
      await webhook(admin, ++hooks);
      await until(want ? 'a canary running' : 'no canary', async () => (want ? (await config()).canary?.share === 50 : (await config()).canary == null), 60_000);
      inCanary = want;
    };
    // Warm both paths first (the JIT, the upstream's connections), so round 1 measures as the others do.
    await runWrk({ url: `http://127.0.0.1:${port}/`, connections: 50, seconds: 2 });
    await setCanary(true);
    await runWrk({ url: `http://127.0.0.1:${port}/`, connections: 50, seconds: 2 });
    for (let r = 0; r < ROUNDS; r++) {
      const row = { round: r + 1 };
      for (const cell of orderForRound(['outside', 'canary'], r)) {
        await setCanary(cell === 'canary');
        if (QUIET_WAIT_S > 0) await waitForQuiet({ maxWaitMs: QUIET_WAIT_S * 1000, thresholdPct: 60 });
        const usage = new UsageMeter(p.pid);
        const bg = new BackgroundMeter([p.pid, upstreamPid]);
        usage.start();
        bg.start();
        const w = await runWrk({ url: `http://127.0.0.1:${port}/`, connections: 50, seconds: SECONDS });
        const { cpuSeconds } = usage.stop();
        row[cell] = {
          rps: Math.round(w.rps),
          p50Ms: w.p50Ms,
          p99Ms: w.p99Ms,
          errors: w.errors,
          // The gateway's CPU (serving process and worker) per request: less noisy than req/s on a shared machine.
          cpuUsPerRequest: Math.round((cpuSeconds / Math.max(1, w.requests)) * 1e6 * 10) / 10,
          bgCpuPct: Math.round(bg.stop()),
          load1: Math.round(loadavg()[0] * 10) / 10,
        };
        if (cell === 'canary') {
          const st = JSON.parse((await request(admin, '/api/v1/status')).body || '{}');
          // Requests each revision served in this step: the split holds.
          const run = st.release?.running;
          row.canary.served = run ? { current: run.current.requests, candidate: run.candidate.requests } : null;
        }
      }
      row.ratio = Math.round((row.canary.rps / row.outside.rps) * 1000) / 1000;
      row.cpuRatio = Math.round((row.outside.cpuUsPerRequest / row.canary.cpuUsPerRequest) * 1000) / 1000;
      rounds.push(row);
    }
    await setCanary(false);
    return { connections: 50, seconds: SECONDS, share: 50, rounds, medianRatio: Math.round(median(rounds.map((x) => x.ratio)) * 1000) / 1000, medianCpuRatio: Math.round(median(rounds.map((x) => x.cpuRatio)) * 1000) / 1000 };
  } finally {
    await stopProc(p);
  }
}

function markdown(res) {
  const m = res.mergeToLive;
  const c = res.perRequest;
  const t = res.canary;
  const head = [
    `# Fleet and canary figures (${res.date})`,
    '',
    `Machine: ${res.machine.cpus} cores shared with other work; load average at start ${res.machine.loadStart.join(' / ')}, at end ${res.machine.loadEnd.join(' / ')}. Loopback only. \`node bench/fleet.js ${res.args.join(' ')}\`.`,
    '',
  ];
  const merge = !m ? [] : [
    '## Merge → live on all of 3 replicas (webhook sent to one, Redis bus, polling 1 h)',
    '',
    `From the webhook sent to replica-1 (after the push) to the first response carrying the new revision's header on each replica (probed every 2 ms); ${m.merges} merges, at least 1.1 s apart (a replica fetches a source at most once a second: closer webhooks coalesce). Three replicas with \`--workers 0\`, the probes and redis-server on the same 2 cores.`,
    '',
    '| | p50 | p95 | max |',
    '|---|---|---|---|',
    `| all three live | ${m.allThree.p50Ms} ms | ${m.allThree.p95Ms} ms | ${m.allThree.maxMs} ms |`,
    ...Object.entries(m.byReplica).map(([id, s]) => `| ${id}${id === 'replica-1' ? ' (got the webhook)' : ''} | ${s.p50Ms} ms | ${s.p95Ms} ms | ${s.maxMs} ms |`),
    '',
    'Goal: p95 < 1 s.',
    '',
  ];
  const cost = !c ? [] : [
    '## Per-request cost of a canary (micro-benchmark, ns per request)',
    '',
    `The gateway's choice of runtime (\`RevisionSplit.pick\`), and that choice plus counting the answer into the revision's tally; ${c.iterations.toLocaleString('en')} iterations, median of 5.`,
    '',
    '| | choose | choose + count |',
    '|---|---|---|',
    `| no canary | ${c.noCanaryNs} | – |`,
    `| canary, 10 % | ${c.share10.chooseNs} | ${c.share10.chooseAndCountNs} |`,
    `| canary, 50 % | ${c.share50.chooseNs} | ${c.share50.chooseAndCountNs} |`,
    '',
    'Goal: ≤ 1 µs (1000 ns).',
    '',
  ];
  const through = !t ? [] : [
    '## Throughput during a canary (50 %) and outside one',
    '',
    `One replica, \`--workers 1\`, wrk -t1 -c${t.connections} for ${t.seconds} s per cell, cells alternating in order by round; a canary of 50 % is held open (ReleasePolicy window 10 m, minRequests 1,000,000, Hold), both revisions proxying to one node upstream.`,
    '',
    '| round | req/s outside / canary | ratio | CPU µs/request outside / canary | ratio | p99 outside / canary | bg CPU % outside / canary | load1 | canary step: current / new revision requests |',
    '|---|---|---|---|---|---|---|---|---|',
    ...t.rounds.map((r) => `| ${r.round} | ${r.outside.rps} / ${r.canary.rps} | ${r.ratio} | ${r.outside.cpuUsPerRequest} / ${r.canary.cpuUsPerRequest} | ${r.cpuRatio} | ${r.outside.p99Ms.toFixed(1)} / ${r.canary.p99Ms.toFixed(1)} ms | ${r.outside.bgCpuPct} / ${r.canary.bgCpuPct} | ${r.canary.load1} | ${r.canary.served ? `${r.canary.served.current} / ${r.canary.served.candidate}` : '–'} |`),
    '',
    `Median throughput ratio (canary / outside): **${t.medianRatio}**; median ratio of CPU per request (outside / canary, i.e. the throughput a CPU-bound gateway would keep): **${t.medianCpuRatio}**. Goal ≥ 0.95. Errors: ${t.rounds.reduce((s, r) => s + r.outside.errors + r.canary.errors, 0)}. "bg CPU" is the machine's CPU used by other work during the cell (100 = one core).`,
    '',
  ];
  return [...head, ...merge, ...cost, ...through].join('\n');
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'portico-fleet-bench-'));
  const loadStart = loadavg().map((x) => Math.round(x * 10) / 10);
  const upstreamPort = await freePort();
  const upstream = spawn(process.execPath, [join(REPO, 'bench', 'upstream-node.js')], { env: { ...process.env, PORT: String(upstreamPort) }, stdio: 'ignore' });
  try {
    await until('the upstream', async () => (await request(upstreamPort, '/')).status === 200);
    const perRequest = ONLY.has('cost') ? await perRequestCost() : undefined;
    if (perRequest) console.log(`per request: no canary ${perRequest.noCanaryNs} ns; 10 %: choose ${perRequest.share10.chooseNs} ns, +count ${perRequest.share10.chooseAndCountNs} ns; 50 %: ${perRequest.share50.chooseNs} / ${perRequest.share50.chooseAndCountNs} ns`);
    const mergeToLiveRes = ONLY.has('merge') ? await mergeToLive(dir, upstreamPort) : undefined;
    if (mergeToLiveRes) console.log(`merge → live on all 3: p50 ${mergeToLiveRes.allThree.p50Ms} ms, p95 ${mergeToLiveRes.allThree.p95Ms} ms, max ${mergeToLiveRes.allThree.maxMs} ms over ${MERGES} merges`);
    const canary = ONLY.has('canary') ? await canaryThroughput(dir, upstreamPort, upstream.pid) : undefined;
    for (const r of canary?.rounds ?? []) console.log(`round ${r.round}: outside ${r.outside.rps} req/s ${r.outside.cpuUsPerRequest} µs CPU/req, canary ${r.canary.rps} req/s ${r.canary.cpuUsPerRequest} µs CPU/req, ratios ${r.ratio} / ${r.cpuRatio}`);
    const res = {
      date: new Date().toISOString(),
      args,
      commit: git(REPO, ['rev-parse', '--short', 'HEAD']),
      machine: { cpus: cpus().length, loadStart, loadEnd: loadavg().map((x) => Math.round(x * 10) / 10) },
      mergeToLive: mergeToLiveRes,
      perRequest,
      canary,
    };
    mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
    writeFileSync(join(REPO, 'bench', 'results', `${OUT}.json`), JSON.stringify(res, null, 2) + '\n');
    writeFileSync(join(REPO, 'bench', 'results', `${OUT}.md`), markdown(res));
    console.log(JSON.stringify(res));
  } finally {
    upstream.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err?.stack ?? String(err));
  process.exit(1);
});
