import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode, ROOT_CONTEXT, TraceFlags, trace, type Attributes, type Tracer } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { encodeTraceExport } from '../../src/tracing/otlp-encoding.js';
import { decodeOtlpRequest } from '../support/trace-receivers.js';

function recorder(): { tracer: Tracer; memory: InMemorySpanExporter } {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'edge-ü', 'process.pid': 4242 }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  return { tracer: provider.getTracer('portico', '1.2.3'), memory };
}

/** Real SDK spans, ended, as a span processor hands them to an exporter: a trace of two and a root span. */
function makeSpans(attributes: Attributes, opts: { event?: boolean } = {}, into = recorder()): ReadableSpan[] {
  const { tracer, memory } = into;
  const remote = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED, isRemote: true, traceState: new TraceState('vendor=x,other=y'),
  });
  const server = tracer.startSpan('GET /orders/', { kind: SpanKind.SERVER, attributes }, remote);
  const client = tracer.startSpan('GET', { kind: SpanKind.CLIENT, attributes: { 'http.response.status_code': 503 } }, trace.setSpan(ROOT_CONTEXT, server));
  client.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream said 503 — try again' });
  if (opts.event) client.addEvent('retry', { attempt: 2 });
  client.end();
  server.end();
  const root = tracer.startSpan('GET', { kind: SpanKind.SERVER });
  root.end();
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

describe('OTLP protobuf encoding of finished spans', () => {
  it('a collector reads the same request from Portico\'s encoding as from the SDK\'s serializer', () => {
    const spans = makeSpans(ATTRIBUTES);
    assert.equal(spans.length, 3);
    const sdk = ProtobufTraceSerializer.serializeRequest(spans)!;
    const expected = decodeOtlpRequest(sdk);
    // Portico's own encoding, not the fallback: it leaves out the counts that are zero.
    assert.ok(encodeTraceExport(spans)!.length < sdk.length);
    // twice: the second time most attributes come from the table of values already encoded
    for (let i = 0; i < 2; i++) assert.deepEqual(decodeOtlpRequest(encodeTraceExport(spans)!), expected);
  });

  it('keeps the parent, the remote flag, trace state, status message and the two kinds', () => {
    const spans = makeSpans(ATTRIBUTES);
    const req = decodeOtlpRequest(encodeTraceExport(spans)!) as { resourceSpans: { scopeSpans: { scope: { name: string; version: string }; spans: Record<string, unknown>[] }[] }[] };
    const ss = req.resourceSpans[0]!.scopeSpans[0]!;
    assert.deepEqual([ss.scope.name, ss.scope.version], ['portico', '1.2.3']);
    const server = ss.spans.find((s) => s.kind === 2)!;
    assert.equal(Buffer.from(String(server.parentSpanId), 'base64').toString('hex'), '00f067aa0ba902b7');
    assert.equal(server.traceState, 'vendor=x,other=y');
    assert.equal(server.flags, 0x301, 'sampled, with a remote parent');
    const client = ss.spans.find((s) => s.kind === 3)!;
    assert.deepEqual(client.status, { message: 'upstream said 503 — try again', code: 2 });
  });

  it('a batch with what Portico never records (an event, an array attribute) is encoded by the SDK, byte for byte', () => {
    for (const spans of [makeSpans(ATTRIBUTES, { event: true }), makeSpans({ ...ATTRIBUTES, 'portico.list': ['a', 'b'] })]) {
      assert.deepEqual(Buffer.from(encodeTraceExport(spans)!), Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!));
    }
  });

  it('many spans in one request: lengths past one and two bytes stay right', () => {
    const into = recorder();
    for (let i = 0; i < 200; i++) makeSpans({ ...ATTRIBUTES, 'portico.request_id': `req-${i}` }, {}, into);
    const spans = into.memory.getFinishedSpans();
    assert.equal(spans.length, 600);
    assert.ok(encodeTraceExport(spans)!.length > 100_000);
    assert.deepEqual(decodeOtlpRequest(encodeTraceExport(spans)!), decodeOtlpRequest(ProtobufTraceSerializer.serializeRequest(spans)!));
  });
});
