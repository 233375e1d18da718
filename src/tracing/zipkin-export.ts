// Zipkin's side of a trace exporter: the spans Portico records, seen as the SDK's ReadableSpans, in
// the SDK's BatchSpanProcessor with Zipkin's exporter. Loaded only for the zipkin driver (span-export.ts).

import type { Attributes } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import type { IRTracing } from '../ir/types.js';
import { RecordedReadableSpan, type RecordedSpan, type SpanRecorder } from './recorded-span.js';
import { SCOPE, type CollectorHealth } from './span-export.js';

export interface ZipkinSettings {
  readonly headers: Record<string, string> | undefined;
  readonly delayMs: number;
  readonly maxQueue: number;
  readonly attributes: Attributes;
  readonly health: CollectorHealth;
}

export function zipkinRecorder(t: IRTracing, z: ZipkinSettings): SpanRecorder {
  const exporter = new ZipkinExporter({ url: t.endpoint, serviceName: t.serviceName, ...(z.headers ? { headers: z.headers } : {}) });
  const processor = new BatchSpanProcessor(new ReportingExporter(exporter, z.health), {
    scheduledDelayMillis: z.delayMs, maxQueueSize: z.maxQueue, maxExportBatchSize: 512, exportTimeoutMillis: 10_000,
  });
  return new ReadableSpanRecorder(processor, resourceFromAttributes(z.attributes));
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
