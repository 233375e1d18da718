// CPU time and resident memory of a server under test, read from /proc for the process and all its
// descendants (nginx and Portico workers), so "CPU per request" covers the whole server.
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck = 100;
try { clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100; } catch {}

function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
  } catch {
    return null;
  }
}

function readRssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The pid and all its live descendants. */
export function processTree(rootPid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(name);
    if (!st) continue;
    const pid = Number(name);
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(pid);
  }
  const out = [];
  const stack = [rootPid];
  while (stack.length > 0 && out.length < 10_000) {
    const pid = stack.pop();
    out.push(pid);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return out;
}

function ticksOf(pids) {
  const m = new Map();
  for (const pid of pids) {
    const st = readStat(pid);
    if (st) m.set(pid, st.ticks);
  }
  return m;
}

function rssKiB(pids) {
  return pids.reduce((sum, pid) => sum + readRssKiB(pid), 0);
}

export function treeRssKiB(rootPid) {
  return rssKiB(processTree(rootPid));
}

/**
 * Measures one server during one load run: CPU seconds used by its tree between start() and stop(),
 * and the peak of its summed RSS sampled every 100 ms. The samples read only the pids found at
 * start (the whole tree is walked again at stop): walking /proc takes about a millisecond, and ten
 * of those a second on the server's core showed in its latency tail.
 */
export class UsageMeter {
  constructor(rootPid) {
    this.rootPid = rootPid;
  }

  start() {
    const pids = processTree(this.rootPid);
    this.before = ticksOf(pids);
    this.peakRssKiB = rssKiB(pids);
    this.timer = setInterval(() => {
      this.peakRssKiB = Math.max(this.peakRssKiB, rssKiB(pids));
    }, 100);
  }

  stop() {
    clearInterval(this.timer);
    const pids = processTree(this.rootPid);
    let delta = 0;
    for (const [pid, t] of ticksOf(pids)) delta += t - (this.before.get(pid) ?? 0);
    this.peakRssKiB = Math.max(this.peakRssKiB, rssKiB(pids));
    return { cpuSeconds: delta / clkTck, peakRssMiB: this.peakRssKiB / 1024 };
  }
}

/** Busy jiffies of the whole machine (all cores) from /proc/stat. */
function machineBusyTicks() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
  return line.reduce((a, b) => a + b, 0) - (line[3] ?? 0) - (line[4] ?? 0);
}

/** This process's own CPU plus that of its finished children (wrk, h2load, probes). */
function selfAndReapedTicks() {
  const text = readFileSync('/proc/self/stat', 'utf8');
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]);
}

/**
 * CPU used on the machine during a run by processes that are not part of the benchmark
 * (other work sharing the machine): machine busy time minus the server, the upstream, this
 * harness and its load generator. Reported so that noisy rounds can be recognised.
 */
export class BackgroundMeter {
  constructor(pids) {
    this.pids = pids;
  }

  start() {
    this.t0 = Date.now();
    this.busy = machineBusyTicks();
    this.self = selfAndReapedTicks();
    this.trees = ticksOf(this.pids.flatMap((p) => processTree(p)));
  }

  /** Call after the load generator was reaped. Returns CPU % (100 = one core). */
  stop() {
    const busy = machineBusyTicks() - this.busy;
    const self = selfAndReapedTicks() - this.self;
    let trees = 0;
    for (const [pid, t] of ticksOf(this.pids.flatMap((p) => processTree(p)))) trees += t - (this.trees.get(pid) ?? 0);
    const seconds = (Date.now() - this.t0) / 1000;
    return Math.max(0, ((busy - self - trees) / clkTck / seconds) * 100);
  }
}

/**
 * Before a measured run: wait (at most `maxWaitMs`) until the machine's busy time drops under
 * `thresholdPct` (100 = one core), so that runs start when other work sharing the machine pauses.
 * Returns how long it waited and the last busy figure.
 */
export async function waitForQuiet({ maxWaitMs, thresholdPct = 40, sampleMs = 300 }) {
  const started = Date.now();
  let busyPct = 0;
  for (;;) {
    const b0 = machineBusyTicks();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, sampleMs));
    busyPct = ((machineBusyTicks() - b0) / clkTck / ((Date.now() - t0) / 1000)) * 100;
    if (busyPct < thresholdPct || Date.now() - started >= maxWaitMs) break;
  }
  return { waitedMs: Date.now() - started, busyPct };
}
