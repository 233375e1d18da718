// The span exporters of one serving process (the single process, or each worker): one OpenTelemetry
// tracer provider per distinct collector setting, shared by the runtimes that use it, flushed at drain.

import { randomFillSync } from 'node:crypto';
import type { Tracer } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, type IdGenerator, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { IRTracing } from '../ir/types.js';
import { OtlpSpanProcessor } from './otlp-span-processor.js';

/** What a runtime holds while it traces: the tracer, and how to give it back. */
export interface TraceSink {
  readonly tracer: Tracer;
  readonly ids: IdGenerator;
  release(): void;
}

export interface TraceExportersOptions {
  /** A collector refused or could not be reached; said once, then again only after it recovered. */
  readonly onExportFailure?: (message: string) => void;
  readonly onExportRecovery?: (message: string) => void;
  /**
   * How long spans wait in memory before they go out (default 5000 ms, OpenTelemetry's) and how many may wait
   * (default 4096: past it new spans are dropped, so a collector that is down never grows memory).
   */
  readonly scheduledDelayMs?: number;
  readonly maxQueueSize?: number;
}

interface Entry {
  readonly provider: BasicTracerProvider;
  readonly sink: Omit<TraceSink, 'release'>;
  users: number;
}

/**
 * Ids from a pool of cryptographic random bytes, refilled 4 KiB at a time: one id is one slice
 * turned to hex, cheaper than the SDK's character-by-character default on every request. An all-zero
 * id is invalid in W3C trace context; it is drawn again. `sixtyFourBit`: trace ids whose upper half
 * is zero (Zipkin's 64-bit ids, trace_id_128bit: false).
 */
export class PooledIds implements IdGenerator {
  private readonly pool = Buffer.allocUnsafe(4096);
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
        this.offset = 0;
      }
      const start = this.offset;
      this.offset += bytes;
      for (let i = start; i < start + bytes; i++) if (this.pool[i] !== 0) return this.pool.toString('hex', start, start + bytes);
    }
  }
}

export class TraceExporters {
  private readonly entries = new Map<string, Entry>();
  /** Providers no runtime uses any more, still sending what they hold. */
  private readonly retiring = new Set<Promise<void>>();

  constructor(private readonly options: TraceExportersOptions = {}) {}

  /** The tracer for this setting; the caller releases it when its runtime closes. */
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
    return {
      ...e.sink,
      release: () => {
        if (released) return;
        released = true;
        if (--e.users > 0) return;
        this.entries.delete(key);
        const done = e.provider.shutdown().catch(() => {});
        this.retiring.add(done);
        void done.then(() => this.retiring.delete(done));
      },
    };
  }

  /** Send every span held, then stop (the process is draining). */
  async shutdown(): Promise<void> {
    const all = [...this.entries.values()].map((e) => e.provider.shutdown().catch(() => {}));
    this.entries.clear();
    await Promise.all([...all, ...this.retiring]);
  }

  /** Send every span held now (tests; the admin API never does). */
  async flush(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.provider.forceFlush().catch(() => {})));
  }

  private create(t: IRTracing): Entry {
    const ids: IdGenerator = new PooledIds(t.traceId64Bit);
    const health = new CollectorHealth(t.endpoint, this.options);
    const headers = t.collectorHostname !== undefined ? { host: t.collectorHostname } : undefined;
    const delayMs = this.options.scheduledDelayMs ?? 5000;
    const maxQueue = this.options.maxQueueSize ?? 4096;
    const processor = t.driver === 'zipkin'
      ? new BatchSpanProcessor(new ReportingExporter(new ZipkinExporter({ url: t.endpoint, serviceName: t.serviceName, ...(headers ? { headers } : {}) }), health), {
        scheduledDelayMillis: delayMs, maxQueueSize: maxQueue, maxExportBatchSize: 512, exportTimeoutMillis: 10_000,
      })
      : new OtlpSpanProcessor({
        url: t.endpoint, ...(headers ? { headers } : {}), delayMs, batchSpans: 512, maxQueuedSpans: maxQueue, timeoutMs: 10_000,
        onResult: (result, spans) => health.report(result, spans),
      });
    const provider = new BasicTracerProvider({
      // the serving process: with workers, each one sends its own spans
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: t.serviceName, 'process.pid': process.pid }),
      idGenerator: ids,
      // RequestTracer decides which requests are sampled before it opens a span: every span it opens is kept.
      sampler: new AlwaysOnSampler(),
      spanProcessors: [processor],
    });
    return { provider, sink: { tracer: provider.getTracer('portico'), ids }, users: 0 };
  }
}

/** Tells the process log when a collector starts or stops taking spans: once each way. */
class CollectorHealth {
  private failing = false;

  constructor(
    private readonly endpoint: string,
    private readonly options: TraceExportersOptions,
  ) {}

  report(result: ExportResult, spans: number): void {
    if (result.code !== ExportResultCode.SUCCESS && !this.failing) {
      this.failing = true;
      this.options.onExportFailure?.(`trace collector ${this.endpoint} did not take ${spans} span(s): ${result.error?.message ?? 'export failed'}`);
    } else if (result.code === ExportResultCode.SUCCESS && this.failing) {
      this.failing = false;
      this.options.onExportRecovery?.(`trace collector ${this.endpoint} takes spans again`);
    }
  }
}

/** Passes spans on to the Zipkin exporter, and tells the collector's health its answers. */
class ReportingExporter implements SpanExporter {
  constructor(
    private readonly inner: SpanExporter,
    private readonly health: CollectorHealth,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      this.health.report(result, spans.length);
      resultCallback(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}
