// Where each process runs on the 2-core machine. "split" gives the server under test a core of its
// own (wrk and the upstream share the other); "shared" lets the kernel place everything.
import { execFileSync } from 'node:child_process';
import { processTree } from './proc-usage.js';

export function cpuLayout(name, cores) {
  if (name === 'shared' || cores < 2) {
    return { name: 'shared', load: undefined, upstream: undefined, server: undefined, allCores: undefined, describe: `no pinning: load generator, proxy and upstream share all ${cores} cores` };
  }
  const last = String(cores - 1);
  const rest = cores > 2 ? `0-${cores - 2}` : '0';
  return {
    name: 'split',
    load: rest,
    upstream: rest,
    server: last,
    allCores: `0-${cores - 1}`,
    describe: `taskset: server under test on CPU ${last}; wrk/h2load and the upstream on CPU ${rest}; multi-worker variants on CPUs 0-${cores - 1}`,
  };
}

/** Move a running process tree (every thread) to `cpus`; used to give "direct" the server core. */
export function repin(rootPid, cpus) {
  if (!cpus) return;
  for (const pid of processTree(rootPid)) {
    try { execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' }); } catch {}
  }
}

/**
 * Run this process (every thread) on `cpus` until the returned function puts it back: while a run
 * is measured, the harness's own timers and /proc reads stay off the server's core.
 */
export function pinSelf(cpus) {
  if (!cpus) return () => {};
  let mask;
  try {
    // "pid N's current affinity mask: 3": without it the process could not be put back, so stays put
    mask = /:\s*([0-9a-f]+)\s*$/i.exec(execFileSync('taskset', ['-p', String(process.pid)]).toString())?.[1];
    if (!mask) return () => {};
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
  } catch {
    return () => {};
  }
  return () => {
    try { execFileSync('taskset', ['-a', '-p', mask, String(process.pid)], { stdio: 'ignore' }); } catch {}
  };
}
