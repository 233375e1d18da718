// The OpenTelemetry side of a trace exporter: where the spans Portico records go (OTLP through its own
// encoder and the SDK's OTLP/HTTP transport; Zipkin's exporter from zipkin-export.ts). Loaded only
// when a TracingService is served, and only what its driver needs: every module loaded stays in the
// worker's heap, which each of its garbage collections walks.

import { ExportResultCode, type ExportResult, type InstrumentationScope } from '@opentelemetry/core';
import type { IRTracing } from '../ir/types.js';
import { onDemand } from '../dataplane/on-demand-module.js';
import { OtlpSpanProcessor } from './otlp-span-processor.js';
import type { SpanRecorder, SpanResource } from './recorded-span.js';
import type { TraceExportersOptions } from './trace-exporters.js';

/** The SDK's batch processor and Zipkin's exporter, for the zipkin driver only. */
const zipkinExport = onDemand<typeof import('./zipkin-export.js')>(import.meta.url, './zipkin-export.js');

/** Portico as the instrumentation scope of its spans (what the SDK's getTracer('portico') names). */
export const SCOPE: InstrumentationScope = { name: 'portico', version: undefined, schemaUrl: undefined };

/**
 * Spans in one OTLP request, and the most that wait or are in flight. Every export request costs
 * the worker about 0.2–0.3 ms of CPU whatever its size (a ClientRequest, its socket writes and the
 * collector's answer; `bench/results/2026-12-07-trace-batch.md`): at 100 % sampling, batches of 512
 * spans made that about 1.2 µs a request, batches of 2,048 about 0.3 µs. The queue holds four
 * batches (about 4 MB of encoded spans at most) so that one in flight never makes the next wait.
 */
export const OTLP_BATCH_SPANS = 2048;
export const OTLP_MAX_QUEUED_SPANS = 4 * OTLP_BATCH_SPANS;
/** The Zipkin path's SDK BatchSpanProcessor keeps span objects, not bytes: its default sizes. */
const ZIPKIN_MAX_QUEUED_SPANS = 4096;

/** Where `t`'s spans go. */
export function spanRecorder(t: IRTracing, options: TraceExportersOptions): SpanRecorder {
  const health = new CollectorHealth(t.endpoint, options);
  const headers = t.collectorHostname !== undefined ? { host: t.collectorHostname } : undefined;
  const delayMs = options.scheduledDelayMs ?? 5000;
  // the serving process: with workers, each one sends its own spans ('service.name' is the semantic conventions' ATTR_SERVICE_NAME)
  const attributes = { 'service.name': t.serviceName, 'process.pid': process.pid };
  if (t.driver === 'zipkin') return zipkinExport().zipkinRecorder(t, { headers, delayMs, maxQueue: options.maxQueueSize ?? ZIPKIN_MAX_QUEUED_SPANS, attributes, health });
  const resource: SpanResource = { attributes, schemaUrl: undefined };
  return new OtlpSpanProcessor({
    url: t.endpoint, ...(headers ? { headers } : {}), delayMs, batchSpans: OTLP_BATCH_SPANS,
    maxQueuedSpans: options.maxQueueSize ?? OTLP_MAX_QUEUED_SPANS, timeoutMs: 10_000,
    onResult: (result, spans) => health.report(result, spans), resource, scope: SCOPE,
  });
}

/** Tells the process log when a collector starts or stops taking spans: once each way. */
export class CollectorHealth {
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
