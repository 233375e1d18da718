// Loaded into every Portico process of a tail probe (NODE_OPTIONS=--import): records, per 100 ms
// window, the event loop's longest delay, the GC pauses and the process's CPU, and when each new
// connection reached a 'connection' listener; writes them on exit.
import { monitorEventLoopDelay, PerformanceObserver, constants } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';

const dir = process.env.PORTICO_BENCH_LOOP_DIR;
if (dir) {
  const WINDOW_MS = 100;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const windows = [];
  let gc = [];
  const kinds = { [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb' };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gc.push([kinds[e.detail?.kind] ?? 'other', e.duration]);
  }).observe({ entryTypes: ['gc'] });
  // when each accepted connection was handed to the server's listeners (any server of the process)
  const accepted = [];
  const emit = net.Server.prototype.emit;
  net.Server.prototype.emit = function (event, ...args) {
    if (event === 'connection') accepted.push(Date.now());
    return emit.call(this, event, ...args);
  };
  let cpu = process.cpuUsage();
  setInterval(() => {
    const now = process.cpuUsage();
    windows.push({
      t: Date.now(),
      cpuMs: (now.user - cpu.user + now.system - cpu.system) / 1000,
      maxDelayMs: delay.count > 0 ? delay.max / 1e6 : 0,
      gc,
    });
    cpu = now;
    gc = [];
    delay.reset();
  }, WINDOW_MS).unref();
  process.on('exit', () => {
    try { writeFileSync(join(dir, `loop-${process.pid}.json`), JSON.stringify({ pid: process.pid, argv: process.argv.slice(1, 3), windowMs: WINDOW_MS, windows, accepted })); } catch {}
  });
}
