// Overload protection of one serving process: samples V8 heap use (and event-loop delay when asked)
// on an unref'd timer and decides the level the listeners act on — keep-alive off, then shedding.

import v8 from 'node:v8';
import vm from 'node:vm';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { IROverload } from '../ir/types.js';

/** 0: normal; 1: keep-alive disabled (Connection: close, H2 GOAWAY); 2: new requests get 503. */
export type OverloadLevel = 0 | 1 | 2;

export const OVERLOAD_NORMAL: OverloadLevel = 0;
export const OVERLOAD_NO_KEEPALIVE: OverloadLevel = 1;
export const OVERLOAD_SHEDDING: OverloadLevel = 2;

/** Seconds a shed client is told to wait; the monitor re-samples every second, so recovery is this quick. */
export const SHED_RETRY_AFTER_S = 1;

export const DEFAULT_SAMPLE_MS = 1000;

/** At most one confirming full collection this often while the heap reads above a threshold. */
export const CONFIRM_COLLECTION_MS = 5000;

let collector: (() => void) | null | undefined;

/**
 * A full garbage collection on demand. used_heap_size counts garbage until V8's next major GC, and
 * a process that sheds allocates little, so V8 may not collect for a long time: without a collection
 * the monitor would read its own garbage as pressure and keep shedding. The flag is set once, and
 * only the function of a fresh context is taken; the main context's globals do not change.
 */
function fullCollection(): (() => void) | null {
  if (collector !== undefined) return collector;
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') return (collector = exposed as () => void);
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn: unknown = vm.runInNewContext('gc');
    collector = typeof fn === 'function' ? (fn as () => void) : null;
  } catch {
    collector = null;
  }
  return collector;
}

/** Every signal off: the level stays normal (no configuration served yet). */
const OFF: IROverload = { heapDisableKeepAliveRatio: 0, heapShedRatio: 0, eventLoopDelayDisableKeepAliveMs: 0, eventLoopDelayShedMs: 0 };

export interface OverloadSample {
  readonly level: OverloadLevel;
  readonly heapUsedBytes: number;
  readonly heapLimitBytes: number;
  /** heapUsedBytes / heapLimitBytes. */
  readonly heapRatio: number;
  /** 99th percentile of the event-loop delay since the previous sample; 0 while no threshold asks for it. */
  readonly eventLoopDelayMs: number;
}

export interface OverloadMonitorOptions {
  /** Read on every sample, so a new configuration's thresholds apply at the next sample. */
  readonly thresholds: () => IROverload | undefined;
  readonly onChange?: (sample: OverloadSample, previous: OverloadLevel) => void;
  readonly onSample?: (sample: OverloadSample) => void;
  readonly intervalMs?: number;
}

/** A threshold of 0 is off; otherwise a value at or above it triggers its action. */
function levelFor(value: number, keepAliveAt: number, shedAt: number): OverloadLevel {
  if (shedAt > 0 && value >= shedAt) return OVERLOAD_SHEDDING;
  if (keepAliveAt > 0 && value >= keepAliveAt) return OVERLOAD_NO_KEEPALIVE;
  return OVERLOAD_NORMAL;
}

export class OverloadMonitor {
  private levelValue: OverloadLevel = OVERLOAD_NORMAL;
  private lastSample: OverloadSample | undefined;
  private timer: NodeJS.Timeout | undefined;
  private delay: IntervalHistogram | undefined;
  private lastCollection: number | undefined;

  constructor(private readonly options: OverloadMonitorOptions) {}

  get level(): OverloadLevel {
    return this.levelValue;
  }

  get last(): OverloadSample | undefined {
    return this.lastSample;
  }

  /** Begin periodic sampling; the timer never keeps the process alive. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sample(), this.options.intervalMs ?? DEFAULT_SAMPLE_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.delay?.disable();
    this.delay = undefined;
  }

  /** Take one sample now and move to the level it calls for (also called when thresholds change). */
  sample(): OverloadSample {
    const t = this.options.thresholds() ?? OFF;
    let heap = v8.getHeapStatistics();
    let heapRatio = heap.heap_size_limit > 0 ? heap.used_heap_size / heap.heap_size_limit : 0;
    let heapLevel = levelFor(heapRatio, t.heapDisableKeepAliveRatio, t.heapShedRatio);
    // Above a threshold: collect first and act on what is live, not on garbage (see fullCollection).
    const now = performance.now();
    if (heapLevel !== OVERLOAD_NORMAL && (this.lastCollection === undefined || now - this.lastCollection >= CONFIRM_COLLECTION_MS)) {
      const collect = fullCollection();
      if (collect) {
        this.lastCollection = now;
        collect();
        heap = v8.getHeapStatistics();
        heapRatio = heap.heap_size_limit > 0 ? heap.used_heap_size / heap.heap_size_limit : 0;
        heapLevel = levelFor(heapRatio, t.heapDisableKeepAliveRatio, t.heapShedRatio);
      }
    }
    const eventLoopDelayMs = this.readDelay(t.eventLoopDelayDisableKeepAliveMs > 0 || t.eventLoopDelayShedMs > 0);
    const level = Math.max(heapLevel, levelFor(eventLoopDelayMs, t.eventLoopDelayDisableKeepAliveMs, t.eventLoopDelayShedMs)) as OverloadLevel;
    const sample: OverloadSample = { level, heapUsedBytes: heap.used_heap_size, heapLimitBytes: heap.heap_size_limit, heapRatio, eventLoopDelayMs };
    this.lastSample = sample;
    const previous = this.levelValue;
    this.levelValue = level;
    this.options.onSample?.(sample);
    if (level !== previous) this.options.onChange?.(sample, previous);
    return sample;
  }

  /** The histogram runs only while a threshold needs it: it costs a timer of its own. */
  private readDelay(wanted: boolean): number {
    if (!wanted) {
      this.delay?.disable();
      this.delay = undefined;
      return 0;
    }
    if (!this.delay) {
      this.delay = monitorEventLoopDelay({ resolution: 10 });
      this.delay.enable();
      return 0;
    }
    const p99 = this.delay.count > 0 ? this.delay.percentile(99) / 1e6 : 0;
    this.delay.reset();
    return p99;
  }
}

/** Where a serving process reports refusals, shedding and level changes (metrics and its log). */
export interface OverloadSink {
  connectionRefused(listener: string, reason: string): void;
  requestShed(listener: string): void;
  overloadSample(level: number, heapRatio: number): void;
}

const LEVEL_NAMES = ['normal', 'keep-alive disabled', 'shedding new requests'] as const;

/** The Gateway hooks of one serving process (in-process or a worker). */
export function overloadHooks(metrics: OverloadSink, log: { warn(o: object, msg: string): void; info(o: object, msg: string): void }) {
  return {
    onConnectionRefused: (listener: string, reason: string) => metrics.connectionRefused(listener, reason),
    onRequestShed: (listener: string) => metrics.requestShed(listener),
    onOverloadSample: (s: OverloadSample) => metrics.overloadSample(s.level, s.heapRatio),
    onOverloadChange: (s: OverloadSample, previous: OverloadLevel) => {
      const fields = { level: s.level, previous, heapUsedBytes: s.heapUsedBytes, heapLimitBytes: s.heapLimitBytes, eventLoopDelayMs: Math.round(s.eventLoopDelayMs) };
      if (s.level > previous) log.warn(fields, `overload: ${LEVEL_NAMES[s.level]}`);
      else log.info(fields, `overload: ${LEVEL_NAMES[s.level]}`);
    },
  };
}
