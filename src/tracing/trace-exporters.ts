// The span exporters of one serving process (the single process, or each worker): one OpenTelemetry
// span recorder per distinct collector setting, shared by the runtimes that use it, flushed at drain.

import { randomFillSync } from 'node:crypto';
import type { IdGenerator } from '@opentelemetry/sdk-trace-base';
import type { IRTracing } from '../ir/types.js';
import { onDemand } from '../dataplane/on-demand-module.js';
import type { RecordedSpan, SpanRecorder } from './recorded-span.js';

/** The OpenTelemetry SDK and exporters, loaded when the first TracingService is served. */
const spanExport = onDemand<typeof import('./span-export.js')>(import.meta.url, './span-export.js');

/** What a runtime holds while it traces: where its spans go, its ids, and how to give it back. */
export interface TraceSink {
  record(span: RecordedSpan): void;
  readonly ids: IdGenerator;
  release(): void;
}

export interface TraceExportersOptions {
  /** A collector refused or could not be reached; said once, then again only after it recovered. */
  readonly onExportFailure?: (message: string) => void;
  readonly onExportRecovery?: (message: string) => void;
  /**
   * How long spans wait in memory before they go out (default 5000 ms, OpenTelemetry's) and how many may wait
   * (default 8,192 for OTLP and 4,096 for Zipkin, span-export.ts: past it new spans are dropped, so a
   * collector that is down never grows memory).
   */
  readonly scheduledDelayMs?: number;
  readonly maxQueueSize?: number;
}

interface Entry {
  readonly recorder: SpanRecorder;
  readonly ids: IdGenerator;
  users: number;
}

/**
 * Ids from a pool of cryptographic random bytes, refilled 16 KiB at a time and turned to hex in the
 * same go: one id is a slice of that text (no native call per id, which an unsampled request would
 * pay twice for its traceparent). A small fill costs mostly the call: 4 KiB cost 96 ns a request,
 * 16 KiB 43 ns. Not larger: hex text past 128 KiB is allocated on a slow path (64 KiB took 0.6 ms to
 * turn to hex, 16 KiB 13 µs). An all-zero id is invalid in W3C trace context; it is drawn again.
 * `sixtyFourBit`: trace ids whose upper half is zero (Zipkin's 64-bit ids, trace_id_128bit: false).
 */
export class PooledIds implements IdGenerator {
  private readonly pool = Buffer.allocUnsafe(16384);
  private text = '';
  private offset = this.pool.length;

  constructor(private readonly sixtyFourBit = false) {}

  generateTraceId(): string {
    return this.sixtyFourBit ? '0000000000000000' + this.hex(8) : this.hex(16);
  }

  generateSpanId(): string {
    return this.hex(8);
  }

  private hex(bytes: number): string {
    for (;;) {
      if (this.offset + bytes > this.pool.length) {
        randomFillSync(this.pool);
        this.text = this.pool.toString('hex');
        this.offset = 0;
      }
      const start = this.offset;
      this.offset += bytes;
      for (let i = start; i < start + bytes; i++) if (this.pool[i] !== 0) return this.text.slice(start * 2, (start + bytes) * 2);
    }
  }
}

export class TraceExporters {
  private readonly entries = new Map<string, Entry>();
  /** Providers no runtime uses any more, still sending what they hold. */
  private readonly retiring = new Set<Promise<void>>();

  constructor(private readonly options: TraceExportersOptions = {}) {}

  /** The sink for this setting; the caller releases it when its runtime closes. */
  acquire(t: IRTracing): TraceSink {
    const key = JSON.stringify([t.driver, t.endpoint, t.collectorHostname ?? '', t.serviceName, t.traceId64Bit]);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = this.create(t);
      this.entries.set(key, entry);
    }
    entry.users++;
    const e = entry;
    let released = false;
    const recorder = e.recorder;
    return {
      record: (span) => recorder.record(span),
      ids: e.ids,
      release: () => {
        if (released) return;
        released = true;
        if (--e.users > 0) return;
        this.entries.delete(key);
        const done = e.recorder.shutdown().catch(() => {});
        this.retiring.add(done);
        void done.then(() => this.retiring.delete(done));
      },
    };
  }

  /** Send every span held, then stop (the process is draining). */
  async shutdown(): Promise<void> {
    const all = [...this.entries.values()].map((e) => e.recorder.shutdown().catch(() => {}));
    this.entries.clear();
    await Promise.all([...all, ...this.retiring]);
  }

  /** Send every span held now (tests; the admin API never does). */
  async flush(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.recorder.forceFlush().catch(() => {})));
  }

  private create(t: IRTracing): Entry {
    return { recorder: spanExport().spanRecorder(t, this.options), ids: new PooledIds(t.traceId64Bit), users: 0 };
  }
}
