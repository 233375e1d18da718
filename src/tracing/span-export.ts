// The OpenTelemetry side of a trace exporter: one tracer provider with its batch processor and the
// collector's exporter (OTLP or Zipkin). Loaded only when a TracingService is served (trace-exporters.ts).

import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type IdGenerator, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { IRTracing } from '../ir/types.js';
import type { TraceExportersOptions } from './trace-exporters.js';

/** A provider sending `t`'s spans, with ids from `ids`. */
export function tracerProvider(t: IRTracing, ids: IdGenerator, options: TraceExportersOptions): BasicTracerProvider {
  const exporter = new ReportingExporter(exporterFor(t), t.endpoint, options);
  return new BasicTracerProvider({
    // the serving process: with workers, each one sends its own spans
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: t.serviceName, 'process.pid': process.pid }),
    idGenerator: ids,
    spanProcessors: [
      new BatchSpanProcessor(exporter, {
        scheduledDelayMillis: options.scheduledDelayMs ?? 5000,
        maxQueueSize: options.maxQueueSize ?? 4096,
        maxExportBatchSize: 512,
        exportTimeoutMillis: 10_000,
      }),
    ],
  });
}

function exporterFor(t: IRTracing): SpanExporter {
  const headers = t.collectorHostname !== undefined ? { host: t.collectorHostname } : undefined;
  if (t.driver === 'zipkin') return new ZipkinExporter({ url: t.endpoint, serviceName: t.serviceName, ...(headers ? { headers } : {}) });
  return new OTLPTraceExporter({ url: t.endpoint, timeoutMillis: 10_000, ...(headers ? { headers } : {}) });
}

/** Passes spans on, and tells the process log when a collector starts or stops taking them. */
class ReportingExporter implements SpanExporter {
  private failing = false;

  constructor(
    private readonly inner: SpanExporter,
    private readonly endpoint: string,
    private readonly options: TraceExportersOptions,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS && !this.failing) {
        this.failing = true;
        this.options.onExportFailure?.(`trace collector ${this.endpoint} did not take ${spans.length} span(s): ${result.error?.message ?? 'export failed'}`);
      } else if (result.code === ExportResultCode.SUCCESS && this.failing) {
        this.failing = false;
        this.options.onExportRecovery?.(`trace collector ${this.endpoint} takes spans again`);
      }
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
