// The OTLP/HTTP span pipeline: a span processor that writes each span into the pending export
// request as it ends, and sends the request through the SDK's OTLP/HTTP transport.
//
// The SDK's BatchSpanProcessor keeps span objects until 512 have ended, then serialises all of them
// inside the span.end() that completed the batch: on a busy gateway the waiting spans outlive young-
// generation collections and the request that ends the batch pays for 511 others. Here a span is
// encoded when it ends (otlp-encoding.ts) and dropped; what waits is bytes.

import { TraceFlags, type Context } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import type { IOtlpExportDelegate } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { SpanBatch, isLeanSpan } from './otlp-encoding.js';

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
}

export class OtlpSpanProcessor implements SpanProcessor {
  private readonly delegate: IOtlpExportDelegate<EncodedRequest>;
  private batch = new SpanBatch();
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
    const serializer = { serializeRequest: (r: EncodedRequest) => r.body, deserializeResponse: ProtobufTraceSerializer.deserializeResponse };
    this.delegate = createOtlpHttpExportDelegate(http, serializer, 'otlp_http_span_exporter', { name: 'span', countItems: (r: EncodedRequest) => r.spans }, undefined);
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if (this.stopped || (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    if (this.queued >= this.options.maxQueuedSpans) return;
    this.queued++;
    if (!isLeanSpan(span)) {
      // Portico records none of these (events, links, list values); the SDK's encoding says them right.
      const body = ProtobufTraceSerializer.serializeRequest([span]);
      if (body !== undefined) this.send({ body, spans: 1 });
      else this.queued--;
      return;
    }
    if (!this.batch.fits(span)) this.sendPending();
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
