// The OpenTelemetry side of a trace exporter: where the spans Portico records go (OTLP through its own
// encoder, or Zipkin's exporter in the SDK's batch processor). Loaded only when a TracingService is served.

import { ExportResultCode, type ExportResult, type InstrumentationScope } from '@opentelemetry/core';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { IRTracing } from '../ir/types.js';
import { OtlpSpanProcessor } from './otlp-span-processor.js';
import { RecordedReadableSpan, type RecordedSpan, type SpanRecorder } from './recorded-span.js';
import type { TraceExportersOptions } from './trace-exporters.js';

/** Portico as the instrumentation scope of its spans (what the SDK's getTracer('portico') names). */
const SCOPE: InstrumentationScope = { name: 'portico', version: undefined, schemaUrl: undefined };

/** Where `t`'s spans go. */
export function spanRecorder(t: IRTracing, options: TraceExportersOptions): SpanRecorder {
  const health = new CollectorHealth(t.endpoint, options);
  const headers = t.collectorHostname !== undefined ? { host: t.collectorHostname } : undefined;
  const delayMs = options.scheduledDelayMs ?? 5000;
  const maxQueue = options.maxQueueSize ?? 4096;
  // the serving process: with workers, each one sends its own spans
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: t.serviceName, 'process.pid': process.pid });
  if (t.driver === 'zipkin') {
    const processor = new BatchSpanProcessor(new ReportingExporter(new ZipkinExporter({ url: t.endpoint, serviceName: t.serviceName, ...(headers ? { headers } : {}) }), health), {
      scheduledDelayMillis: delayMs, maxQueueSize: maxQueue, maxExportBatchSize: 512, exportTimeoutMillis: 10_000,
    });
    return new ReadableSpanRecorder(processor, resource);
  }
  return new OtlpSpanProcessor({
    url: t.endpoint, ...(headers ? { headers } : {}), delayMs, batchSpans: 512, maxQueuedSpans: maxQueue, timeoutMs: 10_000,
    onResult: (result, spans) => health.report(result, spans), resource, scope: SCOPE,
  });
}

/** Hands recorded spans to an SDK span processor, as the SDK's spans it would have made. */
class ReadableSpanRecorder implements SpanRecorder {
  constructor(
    private readonly processor: BatchSpanProcessor,
    private readonly resource: Resource,
  ) {}

  record(span: RecordedSpan): void {
    this.processor.onEnd(new RecordedReadableSpan(span, this.resource, SCOPE));
  }

  forceFlush(): Promise<void> {
    return this.processor.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.processor.shutdown();
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
