// The OpenTelemetry side of a trace exporter: one tracer provider with its span processor (OTLP, or
// Zipkin's exporter in a batch processor). Loaded only when a TracingService is served (trace-exporters.ts).

import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, type IdGenerator, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { IRTracing } from '../ir/types.js';
import { OtlpSpanProcessor } from './otlp-span-processor.js';
import type { TraceExportersOptions } from './trace-exporters.js';

/** A provider sending `t`'s spans, with ids from `ids`. */
export function tracerProvider(t: IRTracing, ids: IdGenerator, options: TraceExportersOptions): BasicTracerProvider {
  const health = new CollectorHealth(t.endpoint, options);
  const headers = t.collectorHostname !== undefined ? { host: t.collectorHostname } : undefined;
  const delayMs = options.scheduledDelayMs ?? 5000;
  const maxQueue = options.maxQueueSize ?? 4096;
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
  return provider;
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
