// Memory of `portico serve --workers N` with the HTTP/1.1 section's 100 Mappings, per process: RSS
// idle after start, then peak RSS, throughput and CPU per request under wrk (50 connections, pinned).
//
//   node bench/memory-probe.js [--homes DIR,DIR] [--rounds 3] [--seconds 10] [--workers 1] [--heap-snapshot DIR]
//
// --homes: Portico builds to compare (folders holding bin/, dist/ and node_modules/), alternated
// within each round (forward, then reversed) so that neither always runs first; default this tree.
// `DIR@FLAGS` runs that build with NODE_OPTIONS=FLAGS (every process of it), e.g. `.@--max-semi-space-size=2`.
// --h2: h2load over cleartext HTTP/2 (50 connections × 10 streams) instead of wrk.
// --heap-snapshot DIR: after the load of the first round, SIGUSR2 to every Portico process (started
// with --heapsnapshot-signal=SIGUSR2) writes a heap snapshot into DIR. Not part of `npm run bench`.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, cpus as osCpus } from 'node:os';
import { join, resolve } from 'node:path';
import { routeModel, benchRequest } from './gen-config.js';
import { startUpstreamNginx, startPortico } from './lib/variants.js';
import { portico, REPO_DIR } from './lib/portico-build.js';
import { cpuLayout, pinSelf } from './lib/cpu-layout.js';
import { processTree } from './lib/proc-usage.js';
import { runWrk } from './lib/wrk-runner.js';
import { stopAll, sleep, runToCompletion } from './lib/process-group.js';
import { median } from './lib/summary-stats.js';

function parseArgs(argv) {
  const o = { homes: [REPO_DIR], rounds: 3, seconds: 10, workers: 1, heapSnapshot: undefined, idleSeconds: 3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => argv[++i];
    if (a === '--homes') o.homes = val().split(',');
    else if (a === '--rounds') o.rounds = Number(val());
    else if (a === '--seconds') o.seconds = Number(val());
    else if (a === '--workers') o.workers = Number(val());
    else if (a === '--idle-seconds') o.idleSeconds = Number(val());
    else if (a === '--h2') o.h2 = true;
    else if (a === '--heap-snapshot') o.heapSnapshot = resolve(val());
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

function status(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(text)?.[1] ?? 0);
    // PSS shares each page among the processes mapping it: the node binary's pages, in every
    // process's RSS, count once over the tree.
    let pss = 0;
    try {
      pss = Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {}
    return { rss: kib('VmRSS'), anon: kib('RssAnon'), file: kib('RssFile'), pss };
  } catch {
    return { rss: 0, anon: 0, file: 0, pss: 0 };
  }
}

function ticks(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return 0;
  }
}

/** The tree's processes by role: the root is the primary, the rest workers (in pid order). */
function roles(rootPid) {
  const pids = processTree(rootPid);
  return pids.map((pid) => ({ pid, role: pid === rootPid ? 'primary' : 'worker' }));
}

/** h2load over h2c (prior knowledge), 50 connections × 10 streams, in wrk's result shape. */
async function runH2c({ url, authority, seconds, cpus }) {
  const r = await runToCompletion('h2load', ['-D', String(seconds), '-c', '50', '-m', '10', '-t', '1', '-H', `:authority: ${authority}`, url], { cpus, timeoutMs: (seconds + 30) * 1000 });
  const done = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(r.stdout);
  const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(r.stdout);
  if (!done || !status) throw new Error(`h2load gave no summary: ${r.stdout.slice(-500)} ${r.stderr.slice(-300)}`);
  const requests = Number(done[3]);
  const non2xx = requests - Number(status[1]);
  return { requests, seconds, errors: Number(done[5]) + Number(done[6]) + non2xx, errorDetail: { status: non2xx }, p99Ms: null };
}

const MiB = (kib) => Math.round((kib / 1024) * 10) / 10;

async function measureOne(variant, { workdir, upstream, layout, model, req, o, label, snapshotDir }) {
  const [dir, flags = ''] = variant.split('@');
  portico.home = resolve(dir);
  const nodeOptions = [flags, snapshotDir ? `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${snapshotDir}` : ''].join(' ').trim();
  const server = await startPortico(workdir, { label, model, upstreamPort: upstream.port, workers: o.workers, cpus: layout.server, probe: req, ...(nodeOptions ? { env: { NODE_OPTIONS: nodeOptions } } : {}) });
  try {
    await sleep(o.idleSeconds * 1000);
    const procs = roles(server.pid);
    const idle = procs.map((p) => ({ ...p, ...status(p.pid) }));
    const peak = new Map(procs.map((p) => [p.pid, 0]));
    const t0 = new Map(procs.map((p) => [p.pid, ticks(p.pid)]));
    const unpin = pinSelf(layout.load);
    let peakTree = 0;
    const timer = setInterval(() => {
      let sum = 0;
      for (const p of procs) {
        const r = status(p.pid).rss;
        sum += r;
        peak.set(p.pid, Math.max(peak.get(p.pid), r));
      }
      peakTree = Math.max(peakTree, sum);
    }, 100);
    let wrk;
    try {
      wrk = o.h2
        ? await runH2c({ url: `http://127.0.0.1:${server.port}${req.path}`, authority: req.host, seconds: o.seconds, cpus: layout.load })
        : await runWrk({ url: `http://127.0.0.1:${server.port}${req.path}`, connections: 50, seconds: o.seconds, headers: { host: req.host }, cpus: layout.load });
    } finally {
      clearInterval(timer);
      unpin();
    }
    const clk = 100;
    const cpuPer = new Map(procs.map((p) => [p.pid, (ticks(p.pid) - t0.get(p.pid)) / clk]));
    const cpuSeconds = [...cpuPer.values()].reduce((a, b) => a + b, 0);
    const ok = Math.max(wrk.requests - wrk.errorDetail.status, 1);
    const after = procs.map((p) => ({ ...p, ...status(p.pid) }));
    if (snapshotDir) {
      for (const p of procs) process.kill(p.pid, 'SIGUSR2');
      // Writing a snapshot takes seconds; wait for the files to stop growing.
      await sleep(8000);
    }
    return {
      home: variant,
      rps: wrk.requests / wrk.seconds,
      errors: wrk.errors,
      p99ms: wrk.p99Ms,
      cpuUsPerReq: (cpuSeconds * 1e6) / ok,
      idleTreeMiB: MiB(idle.reduce((s, p) => s + p.rss, 0)),
      idleTreePssMiB: MiB(idle.reduce((s, p) => s + p.pss, 0)),
      afterTreePssMiB: MiB(after.reduce((s, p) => s + p.pss, 0)),
      peakTreeMiB: MiB(peakTree),
      perProcess: procs.map((p, i) => ({
        role: p.role, pid: p.pid,
        idleMiB: MiB(idle[i].rss), idleAnonMiB: MiB(idle[i].anon), idleFileMiB: MiB(idle[i].file),
        peakMiB: MiB(peak.get(p.pid)), afterAnonMiB: MiB(after[i].anon), cpuSeconds: cpuPer.get(p.pid),
      })),
    };
  } finally {
    await server.stop();
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const workdir = mkdtempSync(join(tmpdir(), 'portico-memprobe-'));
  const layout = cpuLayout('split', osCpus().length);
  const model = routeModel({ mappings: 100, hosts: 10, style: 'realistic' });
  const req = benchRequest(model);
  const upstream = await startUpstreamNginx(workdir, { cpus: layout.upstream });
  const results = [];
  try {
    for (let r = 0; r < o.rounds; r++) {
      const order = r % 2 === 0 ? o.homes : [...o.homes].reverse();
      for (const home of order) {
        const snapshotDir = o.heapSnapshot && r === 0 ? o.heapSnapshot : undefined;
        const res = await measureOne(home, { workdir, upstream, layout, model, req, o, label: `portico-${o.homes.indexOf(home)}`, snapshotDir });
        results.push({ round: r + 1, ...res });
        const procs = res.perProcess.map((p) => `${p.role} idle ${p.idleMiB} (anon ${p.idleAnonMiB}, file ${p.idleFileMiB}) peak ${p.peakMiB} cpu ${p.cpuSeconds}s`).join('; ');
        console.log(`round ${r + 1} ${home}: ${Math.round(res.rps)} req/s, ${res.cpuUsPerReq.toFixed(1)} µs CPU/req, errors ${res.errors}, tree idle ${res.idleTreeMiB} MiB (PSS ${res.idleTreePssMiB}), peak ${res.peakTreeMiB} MiB (PSS after ${res.afterTreePssMiB}) | ${procs}`);
      }
    }
  } finally {
    await upstream.stop();
    await stopAll();
    rmSync(workdir, { recursive: true, force: true });
  }
  for (const home of o.homes) {
    const mine = results.filter((x) => x.home === home);
    const col = (k) => median(mine.map((x) => x[k]));
    console.log(`${home}: median ${Math.round(col('rps'))} req/s, ${col('cpuUsPerReq').toFixed(1)} µs CPU/req, idle ${col('idleTreeMiB')} MiB (PSS ${col('idleTreePssMiB')}), peak ${col('peakTreeMiB')} MiB (PSS after load ${col('afterTreePssMiB')})`);
  }
  if (o.heapSnapshot) console.log(`heap snapshots: ${readdirSync(o.heapSnapshot).join(', ')}`);
  console.log(JSON.stringify(results));
}

main().catch(async (err) => {
  console.error(err);
  await stopAll();
  process.exit(1);
});
