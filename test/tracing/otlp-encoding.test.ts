import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode, ROOT_CONTEXT, TraceFlags, trace, type Attributes } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type IdGenerator, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { encodeTraceExport } from '../../src/tracing/otlp-encoding.js';
import { AttributeBlock, AttributeKey, CLOCK_OFFSET_REUSE_MS, RecordedReadableSpan, clockOffsetAt, limitAttributes, spanAttributes, spanTime, type AttributeFields, type RecordedSpan } from '../../src/tracing/recorded-span.js';
import { decodeOtlpRequest } from '../support/trace-receivers.js';

const RESOURCE = resourceFromAttributes({ 'service.name': 'edge-ü', 'process.pid': 4242 });
const SCOPE = { name: 'portico', version: '1.2.3', schemaUrl: undefined };

let counter = 0;
const id = (bytes: number): string => (++counter).toString(16).padStart(bytes * 2, '0');

/** Spans as Portico records them: a SERVER span under a client's trace, its CLIENT span (a 503), and a root SERVER span. */
function recordedSpans(attributes: Attributes): RecordedSpan[] {
  const base = { traceFlags: TraceFlags.SAMPLED, droppedAttributes: 0, statusCode: SpanStatusCode.UNSET, statusMessage: undefined, clockOffset: 0.371 };
  const start = performance.now();
  const server: RecordedSpan = {
    ...base, traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: id(8), traceState: new TraceState('vendor=x,other=y'), parentSpanId: '00f067aa0ba902b7', parentRemote: true,
    name: 'GET /orders/', kind: SpanKind.SERVER, start, end: start + 12.3456789, attributes,
  };
  const client: RecordedSpan = {
    ...base, traceId: server.traceId, spanId: id(8), traceState: server.traceState, parentSpanId: server.spanId, parentRemote: false,
    name: 'GET', kind: SpanKind.CLIENT, start: start + 1.5, end: start + 11.25, attributes: { 'http.response.status_code': 503 },
    statusCode: SpanStatusCode.ERROR, statusMessage: 'upstream said 503 — try again',
  };
  const root: RecordedSpan = {
    ...base, traceId: id(16), spanId: id(8), traceState: undefined, parentSpanId: undefined, parentRemote: false,
    name: 'GET', kind: SpanKind.SERVER, start: start + 2000.001, end: start + 2999.9999, attributes: {},
  };
  return [server, client, root];
}

/** A span's attributes as an object, leaving the span as it is (spanAttributes turns a span with fields into one without). */
function attributesOf(r: RecordedSpan): Attributes {
  return r.fields === undefined ? r.attributes : spanAttributes({ ...r, fields: [...r.fields] });
}

/** The same spans made through the SDK's tracer (its ids given, its times the recorded ones), as its exporter gets them. */
function sdkTwins(records: readonly RecordedSpan[]): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const traceIds: string[] = [];
  const spanIds: string[] = [];
  const ids: IdGenerator = { generateTraceId: () => traceIds.shift()!, generateSpanId: () => spanIds.shift()! };
  const provider = new BasicTracerProvider({ resource: RESOURCE, idGenerator: ids, spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer(SCOPE.name, SCOPE.version);
  for (const r of records) {
    const parent = r.parentSpanId === undefined
      ? ROOT_CONTEXT
      : trace.setSpanContext(ROOT_CONTEXT, { traceId: r.traceId, spanId: r.parentSpanId, traceFlags: r.traceFlags, isRemote: r.parentRemote, ...(r.traceState ? { traceState: r.traceState } : {}) });
    if (r.parentSpanId === undefined) traceIds.push(r.traceId);
    spanIds.push(r.spanId);
    const span = tracer.startSpan(r.name, { kind: r.kind, startTime: spanTime(r.start, r.clockOffset), attributes: attributesOf(r) }, parent);
    span.setStatus(r.statusMessage === undefined ? { code: r.statusCode } : { code: r.statusCode, message: r.statusMessage });
    span.end(spanTime(r.end, r.clockOffset));
  }
  return memory.getFinishedSpans();
}

const ATTRIBUTES: Attributes = {
  'http.request.method': 'GET',
  'url.path': '/orders/42',
  'server.port': 8080,
  'portico.big': 2 ** 40,
  'portico.negative': -5,
  'portico.ratio': 0.25,
  'portico.shadow': true,
  'portico.off': false,
  'portico.empty': '',
  'portico.unicode': 'straße ☃ 𝄞',
  'portico.long': 'x'.repeat(300),
  'user_agent.original': `agent/${'y'.repeat(200)}`,
};

describe('OTLP protobuf encoding of the spans Portico records', () => {
  it('a collector reads the same request from Portico\'s encoding as from the SDK\'s serializer of the same spans made by the SDK', () => {
    const records = recordedSpans(ATTRIBUTES);
    const sdk = ProtobufTraceSerializer.serializeRequest(sdkTwins(records))!;
    const expected = decodeOtlpRequest(sdk);
    // Portico's own encoding: it leaves out the counts that are zero.
    assert.ok(encodeTraceExport(records, RESOURCE, SCOPE).length < sdk.length);
    // twice: the second time most attributes come from the table of values already encoded
    for (let i = 0; i < 2; i++) assert.deepEqual(decodeOtlpRequest(encodeTraceExport(records, RESOURCE, SCOPE)), expected);
  });

  it('keeps the parent, the remote flag, trace state, status message and the two kinds', () => {
    const req = decodeOtlpRequest(encodeTraceExport(recordedSpans(ATTRIBUTES), RESOURCE, SCOPE)) as { resourceSpans: { scopeSpans: { scope: { name: string; version: string }; spans: Record<string, unknown>[] }[] }[] };
    const ss = req.resourceSpans[0]!.scopeSpans[0]!;
    assert.deepEqual([ss.scope.name, ss.scope.version], ['portico', '1.2.3']);
    const [server, client, root] = ss.spans;
    assert.equal(Buffer.from(String(server!.parentSpanId), 'base64').toString('hex'), '00f067aa0ba902b7');
    assert.equal(server!.traceState, 'vendor=x,other=y');
    assert.equal(server!.flags, 0x301, 'sampled, with a remote parent');
    assert.equal(client!.flags, 0x101, 'sampled, with a local parent');
    assert.equal(root!.parentSpanId, '');
    assert.deepEqual(client!.status, { message: 'upstream said 503 — try again', code: 2 });
    assert.deepEqual([server!.kind, client!.kind], [2, 3]);
  });

  it('the recorded spans seen as the SDK\'s ReadableSpan (what the Zipkin exporter gets) serialise byte for byte as the SDK\'s own', () => {
    const records = recordedSpans(ATTRIBUTES);
    const view = records.map((r) => new RecordedReadableSpan(r, RESOURCE, SCOPE));
    assert.deepEqual(Buffer.from(ProtobufTraceSerializer.serializeRequest(view)!), Buffer.from(ProtobufTraceSerializer.serializeRequest(sdkTwins(records))!));
    assert.deepEqual(view.map((s) => s.duration), sdkTwins(records).map((s) => s.duration));
  });

  it("past 128 attributes a span keeps the first 128 and counts the rest dropped, as the SDK's span does", () => {
    const many: Attributes = {};
    for (let i = 0; i < 131; i++) many[`tag.${i}`] = `value ${i}`;
    const records = recordedSpans(many);
    const sdk = decodeOtlpRequest(ProtobufTraceSerializer.serializeRequest(sdkTwins(records))!);
    for (const r of records) limitAttributes(r);
    const mine = decodeOtlpRequest(encodeTraceExport(records, RESOURCE, SCOPE)) as { resourceSpans: { scopeSpans: { spans: { attributes: unknown[]; droppedAttributesCount: number }[] }[] }[] };
    const server = mine.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    assert.deepEqual([server.attributes.length, server.droppedAttributesCount], [128, 3]);
    assert.deepEqual(mine, sdk);
  });

  it('many spans in one request: lengths past one and two bytes stay right', () => {
    const records: RecordedSpan[] = [];
    for (let i = 0; i < 200; i++) records.push(...recordedSpans({ ...ATTRIBUTES, 'portico.request_id': `req-${i}` }));
    const body = encodeTraceExport(records, RESOURCE, SCOPE);
    assert.ok(body.length > 100_000);
    assert.deepEqual(decodeOtlpRequest(body), decodeOtlpRequest(ProtobufTraceSerializer.serializeRequest(sdkTwins(records))!));
  });

  it('a span past 16 KiB, a status message past 127 bytes and a span under 128 bytes: each length prefix is fitted to its message', () => {
    const [server, client, root] = recordedSpans({ ...ATTRIBUTES, 'portico.huge': 'z'.repeat(20_000) });
    client!.statusMessage = `upstream reset: ${'r'.repeat(200)}`;
    // and span names that differ from one span to the next, then repeat
    const named = [server!, client!, root!, ...recordedSpans({}).map((s, i) => ({ ...s, name: `GET /route-${i}/` })), { ...root!, spanId: id(8) }];
    const body = encodeTraceExport(named, RESOURCE, SCOPE);
    assert.deepEqual(decodeOtlpRequest(body), decodeOtlpRequest(ProtobufTraceSerializer.serializeRequest(sdkTwins(named))!));
  });

  it('attributes given as fields, with a route\'s block encoded once, reach the collector as the same attributes in the same order', () => {
    const key = (name: string): AttributeKey => new AttributeKey(name);
    const method = key('http.request.method');
    const path = key('url.path');
    const port = key('server.port');
    const shadow = key('portico.shadow');
    const routeBlock = new AttributeBlock([key('http.route'), '/orders/', key('portico.route'), 'r-7', key('portico.route.source'), 'git@abc123:routes/ü.yaml:4:1']);
    const fieldsOf = (i: number): AttributeFields => [
      key('tag.fixed'), 'literal', method, 'GET', path, `/orders/${i}`, port, 8080, key('portico.big'), 2 ** 40, key('portico.ratio'), 0.25,
      key('portico.unicode'), 'straße ☃ 𝄞', key('portico.long'), 'x'.repeat(300 + i), routeBlock, shadow, i % 2 === 0, key('error.type'), '503',
    ];
    const records: RecordedSpan[] = [];
    for (let i = 0; i < 300; i++) {
      const [server, client] = recordedSpans({});
      server!.fields = fieldsOf(i);
      client!.fields = [method, 'GET', port, 9000 + i];
      records.push(server!, client!);
    }
    const expected = decodeOtlpRequest(ProtobufTraceSerializer.serializeRequest(sdkTwins(records))!);
    // twice: the second time the block's bytes and the keys' entries are the ones kept from the first
    for (let i = 0; i < 2; i++) assert.deepEqual(decodeOtlpRequest(encodeTraceExport(records, RESOURCE, SCOPE)), expected);
    assert.ok(routeBlock.encoded !== undefined, 'the block was encoded once and kept');
    // The same spans seen by the Zipkin exporter: their attributes as an object, in order.
    const view = new RecordedReadableSpan(records[0]!, RESOURCE, SCOPE);
    assert.deepEqual(Object.keys(view.attributes), ['tag.fixed', 'http.request.method', 'url.path', 'server.port', 'portico.big', 'portico.ratio', 'portico.unicode', 'portico.long', 'http.route', 'portico.route', 'portico.route.source', 'portico.shadow', 'error.type']);
    assert.equal(view.attributes['portico.route.source'], 'git@abc123:routes/ü.yaml:4:1');
  });
});

describe('the clock offset of recorded spans', () => {
  it('is measured once for the spans of a second, and again when a span starts a second later: a wall clock set meanwhile shows from then on', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_800_000_000_000 });
    const p = performance.now() + 10 * CLOCK_OFFSET_REUSE_MS; // past any offset measured before this test
    const first = clockOffsetAt(p);
    assert.ok(Math.abs(first - (1_800_000_000_000 - (performance.now() + performance.timeOrigin))) < 50);
    t.mock.timers.setTime(1_800_000_005_000); // the wall clock is set 5 s forward
    assert.equal(clockOffsetAt(p + 1), first, 'a span of the same second keeps the offset measured');
    assert.equal(clockOffsetAt(p + CLOCK_OFFSET_REUSE_MS - 1), first);
    const later = clockOffsetAt(p + CLOCK_OFFSET_REUSE_MS);
    assert.ok(Math.abs(later - first - 5000) < 50, `the set clock shows: ${later - first}`);
  });
});

describe('span times', () => {
  it("turn performance.now() values into the same [seconds, nanoseconds] as the SDK's millisToHrTime, also next to whole seconds and below zero", () => {
    // the SDK's own arithmetic (its Span adds the time origin and the millisecond value, each as an HrTime)
    const hr = (ms: number): [number, number] => [Math.trunc(ms / 1000), Math.round((ms % 1000) * 1e6)];
    const sdk = (perf: number, offset: number): [number, number] => {
      const o = hr(performance.timeOrigin);
      const t = hr(perf + offset);
      let s = o[0] + t[0];
      let n = o[1] + t[1];
      if (n >= 1e9) {
        n -= 1e9;
        s += 1;
      }
      return [s, n];
    };
    const values: number[] = [0, 1e-9, 999.9999999999999, 1000, 1999.9999999999998, 2000.0000000000002, 123456.789, -0.5, -999.9999999999999, -1000, -1500.25];
    for (let k = 1; k < 2000; k++) values.push(k * 1000 - Number.EPSILON * k * 1000, k * 1000 + Number.EPSILON * k * 1000, k * 1000.0001);
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 5000; i++) values.push(random() * 1e9, -random() * 1e4);
    for (const v of values) for (const offset of [0, 0.371, -0.25]) assert.deepEqual(spanTime(v, offset), sdk(v, offset), `at ${v} + ${offset}`);
  });
});
