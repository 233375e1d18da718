// Custom tags that repeat each other, or one of Portico's own keys: the SERVER span the collector
// receives has each key once, at its first place, with the value set last (as the SDK's span keeps
// its attributes), read from the encoded export request itself (where a key could appear twice).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { RequestTracer } from '../../src/tracing/request-tracing.js';
import { encodeTraceExport } from '../../src/tracing/otlp-encoding.js';
import type { RecordedSpan } from '../../src/tracing/recorded-span.js';
import type { IRRoute, IRTracing } from '../../src/ir/types.js';
import { decodeOtlpRequest } from '../support/trace-receivers.js';

type KeyValue = { key: string; value: { stringValue?: string } };

/** The attribute keys and string values of the one SERVER span a request makes, as encoded. */
function serverAttributes(customTags: IRTracing['customTags']): [string, string | undefined][] {
  const spans: RecordedSpan[] = [];
  const sink = { ids: { generateTraceId: () => 'a'.repeat(32), generateSpanId: () => 'b'.repeat(16) }, record: (s: RecordedSpan) => spans.push(s), release: () => {} };
  const ir = { propagation: ['TRACE_CONTEXT'], customTags, sampling: { client: 100, random: 100, overall: 100 } } as unknown as IRTracing;
  const tracer = new RequestTracer(ir, sink, () => 0, {});
  const req = { method: 'GET', rawHeaders: ['Host', 'a.example', 'X-User', 'alice'], httpVersionMajor: 1, httpVersionMinor: 1 } as unknown as IncomingMessage;
  const trace = tracer.begin(req, 1000);
  trace.routed({ id: 'default/r1', match: { prefix: '/orders/' }, mappings: [] } as unknown as IRRoute);
  trace.end({
    req, method: 'GET', path: '/orders/1', host: 'a.example', requestId: 'rid', clientAddress: '10.0.0.1', secure: false, status: 200,
    cluster: 'c1', localReply: undefined, upstreamError: undefined, conn: { port: 8080, listener: 'l' },
  }, 2000);
  const decoded = decodeOtlpRequest(encodeTraceExport(spans, { attributes: {} }, { name: 'portico' })) as { resourceSpans: { scopeSpans: { spans: { attributes: KeyValue[] }[] }[] }[] };
  const [span] = decoded.resourceSpans[0]!.scopeSpans[0]!.spans;
  return span!.attributes.map((kv) => [kv.key, kv.value.stringValue]);
}

describe('custom tags that repeat a key', () => {
  it('tags repeating each other: each key once, at its first place, with the last value', () => {
    const attrs = serverAttributes([
      { tag: 'dup', literal: 'a' }, { tag: 'zone', environment: { name: 'PORTICO_TEST_UNSET', defaultValue: 'z' } },
      { tag: 'dup', requestHeader: { name: 'x-user' } }, { tag: 'zone', literal: 'zz' },
    ] as unknown as IRTracing['customTags']);
    assert.deepEqual(attrs.slice(0, 2), [['dup', 'alice'], ['zone', 'zz']]);
    assert.equal(new Set(attrs.map(([k]) => k)).size, attrs.length);
  });

  it("a tag named as one of Portico's keys: one key, Portico's value where Portico sets it after the tag", () => {
    const attrs = serverAttributes([
      { tag: 'http.route', literal: 'lit' }, { tag: 'portico.cluster', requestHeader: { name: 'x-user' } },
    ] as unknown as IRTracing['customTags']);
    assert.deepEqual(attrs[0], ['http.route', '/orders/']);
    assert.deepEqual(attrs.find(([k]) => k === 'portico.cluster'), ['portico.cluster', 'alice']);
    assert.equal(new Set(attrs.map(([k]) => k)).size, attrs.length);
  });
});
