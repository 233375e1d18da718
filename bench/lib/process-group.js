// Every process the benchmark starts goes through here, so that all of them (and their children)
// are stopped on success, on error and on Ctrl-C: each runs in its own process group, killed by id.
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';

const live = new Map(); // pid -> handle
const scratchDirs = new Set();
let handlersInstalled = false;

/** A temporary folder removed when the run ends, however it ends. */
export function removeOnExit(dir) {
  installHandlers();
  scratchDirs.add(dir);
}

function removeScratch() {
  for (const d of scratchDirs) {
    try { rmSync(d, { recursive: true, force: true }); } catch {}
  }
  scratchDirs.clear();
}

function killGroup(pid, signal) {
  try { process.kill(-pid, signal); } catch {}
  try { process.kill(pid, signal); } catch {}
}

function installHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // 'exit' handlers may only do synchronous work: SIGKILL whatever is still running.
  process.on('exit', () => {
    for (const pid of live.keys()) killGroup(pid, 'SIGKILL');
    removeScratch();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      console.error(`\nbench: ${sig} received, stopping ${live.size} process group(s)`);
      for (const pid of live.keys()) killGroup(pid, 'SIGKILL');
      process.exit(130);
    });
  }
}

/**
 * Stop the process groups of these pids (SIGSTOP) until the returned function continues them
 * (SIGCONT). The servers that are not being measured are paused this way, so that their idle work
 * (timers, garbage collection, a config-folder poll) does not run on the measured server's core.
 * A group still stopped when the run ends is killed like any other (SIGKILL works on it).
 */
export function pauseGroups(pids) {
  const stopped = [];
  for (const pid of new Set(pids)) {
    if (!pid) continue;
    try {
      process.kill(-pid, 'SIGSTOP');
      stopped.push(pid);
    } catch {}
  }
  return () => {
    for (const pid of stopped) {
      try { process.kill(-pid, 'SIGCONT'); } catch {}
    }
  };
}

/**
 * Start a long-running process. `cpus` (e.g. "1" or "0-1") pins it with taskset, which execs the
 * command so the pid stays the same. The last 16 KiB of its output are kept for error messages.
 */
export function startProcess(name, command, args, { env, cwd, cpus } = {}) {
  installHandlers();
  const [cmd, argv] = cpus ? ['taskset', ['-c', cpus, command, ...args]] : [command, args];
  const child = spawn(cmd, argv, {
    cwd,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const handle = {
    name,
    child,
    pid: child.pid,
    output: '',
    exited: null,
    lineWaiters: [],
  };
  const onData = (chunk) => {
    handle.output = (handle.output + chunk.toString()).slice(-16_384);
    for (const w of [...handle.lineWaiters]) {
      if (w.re.test(handle.output)) w.resolve();
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      handle.exited = { code, signal };
      live.delete(child.pid);
      for (const w of [...handle.lineWaiters]) w.reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${tail(handle.output)}`));
      resolve(handle.exited);
    });
    child.on('error', (err) => {
      handle.exited = { code: -1, signal: null, error: err };
      live.delete(child.pid);
      for (const w of [...handle.lineWaiters]) w.reject(new Error(`${name} failed to start: ${err.message}`));
      resolve(handle.exited);
    });
  });
  handle.exitedPromise = exited;
  if (child.pid) live.set(child.pid, handle);
  return handle;
}

function tail(text) {
  return text.split('\n').slice(-12).join('\n');
}

/** Resolve once the process printed something matching `re`; reject on exit or after `timeoutMs`. */
export function waitForOutput(handle, re, timeoutMs) {
  if (re.test(handle.output)) return Promise.resolve();
  if (handle.exited) return Promise.reject(new Error(`${handle.name} already exited:\n${tail(handle.output)}`));
  return new Promise((resolve, reject) => {
    const w = {
      re,
      resolve: () => { clearTimeout(timer); handle.lineWaiters.splice(handle.lineWaiters.indexOf(w), 1); resolve(); },
      reject: (e) => { clearTimeout(timer); handle.lineWaiters.splice(handle.lineWaiters.indexOf(w), 1); reject(e); },
    };
    // A process that never became ready is stopped here, so a failed start leaves nothing behind.
    const timer = setTimeout(() => {
      void stopProcess(handle);
      w.reject(new Error(`${handle.name}: no ${re} within ${timeoutMs} ms:\n${tail(handle.output)}`));
    }, timeoutMs);
    handle.lineWaiters.push(w);
  });
}

/** Poll `probe` (async, returns true when ready) every 100 ms; fail if the process exits or time runs out. */
export async function waitUntil(handle, what, probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  while (Date.now() < deadline) {
    if (handle?.exited) throw new Error(`${handle.name} exited (${handle.exited.code ?? handle.exited.signal}) before ${what}:\n${tail(handle.output)}`);
    try {
      if (await probe()) return;
    } catch (err) {
      lastErr = err.message;
    }
    await sleep(100);
  }
  // A process that never became ready is stopped here, so a failed start leaves nothing behind.
  if (handle) await stopProcess(handle);
  throw new Error(`${handle?.name ?? 'probe'}: ${what} not reached within ${timeoutMs} ms ${lastErr}\n${tail(handle?.output ?? '')}`);
}

/** SIGTERM the process group, then SIGKILL after `graceMs`. */
export async function stopProcess(handle, graceMs = 3000) {
  if (!handle || handle.exited) return;
  killGroup(handle.pid, 'SIGTERM');
  const timer = setTimeout(() => killGroup(handle.pid, 'SIGKILL'), graceMs);
  await handle.exitedPromise;
  clearTimeout(timer);
  // The leader may exit before its children (nginx workers, Portico workers): make sure the group is gone.
  killGroup(handle.pid, 'SIGKILL');
}

export async function stopAll() {
  await Promise.all([...live.values()].map((h) => stopProcess(h)));
}

/** Run a command to completion (bounded by `timeoutMs`), returning its status and output. */
export function runToCompletion(command, args, { env, cwd, timeoutMs = 120_000, cpus } = {}) {
  installHandlers();
  const [cmd, argv] = cpus ? ['taskset', ['-c', cpus, command, ...args]] : [command, args];
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const handle = { name: command, child, pid: child.pid, output: '', exited: null, lineWaiters: [] };
    if (child.pid) live.set(child.pid, handle);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); live.delete(child.pid); resolve({ status: -1, stdout, stderr: stderr + err.message, timedOut: false }); });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      live.delete(child.pid);
      resolve({ status, signal, stdout, stderr, timedOut: signal === 'SIGKILL' });
    });
  });
}

export function commandExists(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
