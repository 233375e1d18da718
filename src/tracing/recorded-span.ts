// Portico's own record of one finished SERVER or CLIENT span, and its view as the SDK's ReadableSpan
// for the exporters that take those (Zipkin's, and the SDK's OTLP serializer when the lean one declines).
//
// The SDK's Tracer and Span validate, copy and store every attribute and keep timers per span; Portico
// makes its two kinds of span itself, from values it already checked, and hands them straight to the
// exporter. Ids, trace flags, trace state and the clock follow the SDK's conventions.

import type { SpanKind, SpanStatusCode, Attributes, AttributeValue, HrTime, Link, SpanContext, SpanStatus, TraceState } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';

/** One span as Portico records it. Times are performance.now() values; `clockOffset` turns them into wall-clock time. */
export interface RecordedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: number;
  readonly traceState: TraceState | undefined;
  readonly parentSpanId: string | undefined;
  /** Whether the parent came from another process (the client's trace context). */
  readonly parentRemote: boolean;
  name: string;
  readonly kind: SpanKind;
  readonly start: number;
  end: number;
  /** Date.now() − (performance.now() + timeOrigin) when the request began: the SDK's correction for a clock that moved. */
  readonly clockOffset: number;
  /** The attributes as an object; a span that has `fields` has them there, and this is filled from them on demand (spanAttributes). */
  attributes: Attributes;
  /** The attributes in order, as the OTLP encoder takes them without an object per span (undefined: only `attributes`). */
  fields?: AttributeFields | undefined;
  droppedAttributes: number;
  statusCode: SpanStatusCode;
  statusMessage: string | undefined;
}

/** An attribute key named once by the request path: the OTLP encoder keeps the key's encoding and its recent values on it. */
export class AttributeKey {
  /** The encoder's state for this key (otlp-encoding.ts). */
  encoding: object | undefined = undefined;
  constructor(readonly name: string) {}
}

/**
 * Attributes every span of a route carries alike, one after the other (the route's template, id and
 * source): the encoder writes them once and copies the bytes into each span.
 */
export class AttributeBlock {
  /** The block's KeyValue fields, tagged, as the encoder wrote them first. */
  encoded: Uint8Array | undefined = undefined;
  constructor(readonly entries: readonly (AttributeKey | string | number | boolean)[]) {}
}

/** A span's attributes in order: a key then its value, or a block (one item), none of them undefined. */
export type AttributeFields = (AttributeKey | AttributeValue | AttributeBlock)[];

/** A span's attributes as an object (from its fields the first time they are asked for): for Zipkin, the SDK's serializer, tests. */
export function spanAttributes(span: RecordedSpan): Attributes {
  const f = span.fields;
  if (f === undefined) return span.attributes;
  const out: Attributes = {};
  const put = (entries: readonly unknown[]): void => {
    for (let i = 0; i < entries.length; ) {
      const k = entries[i];
      if (k instanceof AttributeBlock) {
        put(k.entries);
        i++;
      } else {
        out[(k as AttributeKey).name] = entries[i + 1] as AttributeValue;
        i += 2;
      }
    }
  };
  put(f);
  span.attributes = out;
  span.fields = undefined;
  return out;
}

/** What the spans of one exporter are from: the SDK's Resource has these, a plain object will do. */
export interface SpanResource {
  readonly attributes: Attributes;
  readonly schemaUrl?: string | undefined;
}

/** Where spans go: the exporter side of a trace sink (span-export.ts). */
export interface SpanRecorder {
  record(span: RecordedSpan): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** The SDK's attribute count limit (OTEL_ATTRIBUTE_COUNT_LIMIT's default): keys past it are dropped and counted. */
export const ATTRIBUTE_COUNT_LIMIT = 128;

/** Keeps the first ATTRIBUTE_COUNT_LIMIT keys of an over-full span, as the SDK keeps the first ones set. */
export function limitAttributes(span: RecordedSpan): void {
  const keys = Object.keys(spanAttributes(span));
  if (keys.length <= ATTRIBUTE_COUNT_LIMIT) return;
  const kept: Attributes = {};
  for (let i = 0; i < ATTRIBUTE_COUNT_LIMIT; i++) kept[keys[i] as string] = span.attributes[keys[i] as string];
  span.droppedAttributes += keys.length - ATTRIBUTE_COUNT_LIMIT;
  span.attributes = kept;
}

const NANOS_PER_SECOND = 1e9;

/** The SDK's millisToHrTime: whole seconds, and the rest rounded to nanoseconds. */
function millisToHrTime(ms: number): HrTime {
  const seconds = Math.trunc(ms / 1000);
  return [seconds, Math.round((ms % 1000) * 1e6)];
}

let origin: HrTime | undefined;

/**
 * A performance.now() value as the SDK's span makes its time: the time origin plus the value corrected
 * by the span's clock offset, each turned to [seconds, nanoseconds] before they are added.
 */
export function spanTime(perfMs: number, clockOffset: number): HrTime {
  return spanTimeInto(perfMs, clockOffset, [0, 0]);
}

/** spanTime written into `out` (the encoder's one scratch pair: no arrays per span). */
export function spanTimeInto(perfMs: number, clockOffset: number, out: HrTime): HrTime {
  origin ??= millisToHrTime(performance.timeOrigin);
  const ms = perfMs + clockOffset;
  // The SDK's Math.trunc(ms / 1000) and ms % 1000, without the floating-point remainder (a call out
  // of the compiled code, four a request). The quotient never rounds up to the next whole number (ms
  // is at least one of its ulps below that multiple of 1000, and a thousandth of that ulp is more than
  // half the quotient's), and ms − whole·1000 is exact (the two are within a factor of two): the same
  // remainder, bit for bit (tested against the SDK's arithmetic).
  const whole = Math.trunc(ms / 1000);
  let seconds = origin[0] + whole;
  let nanos = origin[1] + Math.round((ms - whole * 1000) * 1e6);
  if (nanos >= NANOS_PER_SECOND) {
    nanos -= NANOS_PER_SECOND;
    seconds += 1;
  }
  out[0] = seconds;
  out[1] = nanos;
  return out;
}

/** The clock offset of a span starting now (see RecordedSpan.clockOffset). */
function clockOffsetNow(): number {
  return Date.now() - (performance.now() + performance.timeOrigin);
}

/** How long (performance.now() ms) a measured clock offset serves the spans that start after it. */
export const CLOCK_OFFSET_REUSE_MS = 1000;
let offsetAt = Number.NEGATIVE_INFINITY;
let offset = 0;

/**
 * The clock offset of a span that started at `start`, a performance.now() value the request path
 * already took: measured again when `start` is a second or more from the last measure. The SDK
 * measures it for every span (two clock reads); the offset moves only when the wall clock is set or
 * slewed, so a span may carry one up to a second old.
 */
export function clockOffsetAt(start: number): number {
  if (!(Math.abs(start - offsetAt) < CLOCK_OFFSET_REUSE_MS)) {
    offset = clockOffsetNow();
    offsetAt = start;
  }
  return offset;
}

const NO_LINKS: Link[] = [];
const NO_EVENTS: TimedEvent[] = [];

/** A recorded span as the SDK's exporters read one. */
export class RecordedReadableSpan implements ReadableSpan {
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly duration: HrTime;
  readonly ended = true;
  readonly links = NO_LINKS;
  readonly events = NO_EVENTS;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly parentSpanContext: SpanContext | undefined;
  private readonly context: SpanContext;

  constructor(
    private readonly span: RecordedSpan,
    readonly resource: Resource,
    readonly instrumentationScope: InstrumentationScope,
  ) {
    this.startTime = spanTime(span.start, span.clockOffset);
    this.endTime = spanTime(span.end, span.clockOffset);
    let seconds = this.endTime[0] - this.startTime[0];
    let nanos = this.endTime[1] - this.startTime[1];
    if (nanos < 0) {
      seconds -= 1;
      nanos += NANOS_PER_SECOND;
    }
    this.duration = [seconds, nanos];
    this.context = { traceId: span.traceId, spanId: span.spanId, traceFlags: span.traceFlags, ...(span.traceState ? { traceState: span.traceState } : {}) };
    this.parentSpanContext = span.parentSpanId === undefined ? undefined : { traceId: span.traceId, spanId: span.parentSpanId, traceFlags: span.traceFlags, isRemote: span.parentRemote };
  }

  get name(): string {
    return this.span.name;
  }

  get kind(): SpanKind {
    return this.span.kind;
  }

  get attributes(): Attributes {
    return spanAttributes(this.span);
  }

  get droppedAttributesCount(): number {
    return this.span.droppedAttributes;
  }

  get status(): SpanStatus {
    return this.span.statusMessage === undefined ? { code: this.span.statusCode } : { code: this.span.statusCode, message: this.span.statusMessage };
  }

  spanContext(): SpanContext {
    return this.context;
  }
}
