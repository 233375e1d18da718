// The OTLP/HTTP span pipeline: writes each span Portico recorded into the pending export request as
// it ends, and sends the request through the SDK's OTLP/HTTP transport.
//
// The SDK's BatchSpanProcessor keeps span objects until 512 have ended, then serialises all of them
// inside the span.end() that completed the batch: on a busy gateway the waiting spans outlive young-
// generation collections and the request that ends the batch pays for 511 others. Here a span is
// encoded when it ends (otlp-encoding.ts) and dropped; what waits is bytes.

import type { ExportResult, InstrumentationScope } from '@opentelemetry/core';
import type { IOtlpExportDelegate } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { SpanBatch } from './otlp-encoding.js';
import type { RecordedSpan, SpanRecorder, SpanResource } from './recorded-span.js';

/** One export request, encoded, and how many spans it carries. */
interface EncodedRequest {
  readonly body: Uint8Array;
  readonly spans: number;
}

export interface OtlpSpanProcessorOptions {
  /** The collector's URL and the Host it wants, when that differs from the URL's. */
  readonly url: string;
  readonly headers?: Record<string, string>;
  /** How long an incomplete request waits before it goes out. */
  readonly delayMs: number;
  /** Spans in one request. */
  readonly batchSpans: number;
  /** Spans waiting or in flight at most: past it new spans are dropped (a collector that is down never grows memory). */
  readonly maxQueuedSpans: number;
  readonly timeoutMs: number;
  /** Each request's outcome: the owner tells the log when a collector stops or starts taking spans. */
  readonly onResult: (result: ExportResult, spans: number) => void;
  /** What every span of this pipeline is from: the process, and Portico as its instrumentation scope. */
  readonly resource: SpanResource;
  readonly scope: InstrumentationScope;
}

export class OtlpSpanProcessor implements SpanRecorder {
  private readonly delegate: IOtlpExportDelegate<EncodedRequest>;
  private readonly batch: SpanBatch;
  private timer: NodeJS.Timeout | undefined;
  /** Spans in the pending request and in requests not answered yet. */
  private queued = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: OtlpSpanProcessorOptions) {
    const http = convertLegacyHttpOptions(
      { url: options.url, timeoutMillis: options.timeoutMs, ...(options.headers ? { headers: options.headers } : {}) },
      'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' },
    );
    // The collector's answer is not decoded: the SDK would only hand a partial-success note in it to its
    // diagnostic logger, which Portico does not install, and the decoder is a protobuf runtime of
    // about 1 MiB that would stay in the worker's heap.
    const serializer = { serializeRequest: (r: EncodedRequest) => r.body, deserializeResponse: () => undefined };
    this.batch = new SpanBatch(options.resource, options.scope);
    this.delegate = createOtlpHttpExportDelegate(http, serializer, 'otlp_http_span_exporter', { name: 'span', countItems: (r: EncodedRequest) => r.spans }, undefined);
  }

  record(span: RecordedSpan): void {
    if (this.stopped || this.queued >= this.options.maxQueuedSpans) return;
    this.queued++;
    this.batch.add(span);
    if (this.batch.count >= this.options.batchSpans) this.sendPending();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.sendPending(), this.options.delayMs);
      this.timer.unref();
    }
  }

  private sendPending(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.batch.count === 0) return;
    const spans = this.batch.count;
    this.send({ body: this.batch.take(), spans });
  }

  private send(request: EncodedRequest): void {
    const done = new Promise<void>((resolve) => {
      this.delegate.export(request, (result) => {
        this.queued -= request.spans;
        this.options.onResult(result, request.spans);
        resolve();
      });
    });
    this.inFlight.add(done);
    void done.then(() => this.inFlight.delete(done));
  }

  /** Sends what is pending and waits for every request to be answered (or to fail). */
  async forceFlush(): Promise<void> {
    this.sendPending();
    await Promise.all([...this.inFlight]);
  }

  shutdown(): Promise<void> {
    this.closing ??= (async () => {
      await this.forceFlush();
      // Spans that ended while the last requests were out still go; nothing is taken after.
      this.stopped = true;
      await this.forceFlush();
      await this.delegate.shutdown();
    })();
    return this.closing;
  }
}
