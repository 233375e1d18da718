import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROOT_CONTEXT, SpanKind, defaultTextMapGetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { compileYaml } from '../support/compile-yaml.js';
import { cleartextGatewayYaml, mappingYaml } from '../support/policy-yaml.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { startEcho, echoedHeader, type EchoUpstream } from '../support/echo-upstream.js';
import { request } from '../support/http-client.js';
import { byKind, decodeOtlp, startOtlpReceiver, startZipkinReceiver, type ReceivedSpan, type TraceReceiver } from '../support/trace-receivers.js';
import { TraceExporters } from '../../src/tracing/trace-exporters.js';
import { whenTrue } from '../support/wait-until.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** A deterministic stand-in for Math.random (mulberry32): the same seed, the same sampling decisions. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function tracingYaml(receiver: TraceReceiver, spec: string): string {
  const u = new URL(receiver.url);
  return `apiVersion: getambassador.io/v3alpha1
kind: TracingService
metadata:
  name: tracing
spec:
  service: ${u.host}
${spec}`;
}

interface Setup {
  readonly gw: TestGateway;
  readonly up: EchoUpstream;
  readonly receiver: TraceReceiver;
  readonly exporters: TraceExporters;
}

async function setup(tracingSpec: string, opts: { scheduledDelayMs?: number; mappingExtra?: string; zipkin?: boolean; random?: () => number; receiver?: TraceReceiver; respond?: Parameters<typeof startEcho>[1]; extraYaml?: (up: EchoUpstream) => string } = {}): Promise<Setup> {
  const receiver = opts.receiver ?? (opts.zipkin ? await startZipkinReceiver() : await startOtlpReceiver());
  const up = await startEcho('up', opts.respond);
  const yaml = [
    cleartextGatewayYaml(8080),
    mappingYaml('orders', '/orders/', up.port, opts.mappingExtra ?? ''),
    ...(opts.extraYaml ? [opts.extraYaml(up)] : []),
    tracingYaml(receiver, tracingSpec),
  ].join('---\n');
  const { ir } = compileYaml(yaml);
  const exporters = new TraceExporters({ scheduledDelayMs: opts.scheduledDelayMs ?? 20 });
  const gw = await startGateway(ir, { tracing: exporters, random: opts.random ?? seeded(1) });
  cleanups.push(() => receiver.close(), () => up.close(), () => exporters.shutdown(), () => gw.close());
  return { gw, up, receiver, exporters };
}

const W3C_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

describe('OpenTelemetry tracing (TracingService driver opentelemetry, OTLP/HTTP protobuf)', () => {
  it('a request makes a SERVER span and a CLIENT span; the upstream is told the CLIENT span as its parent', async () => {
    const { gw, up, receiver } = await setup('  driver: opentelemetry\n  config:\n    service_name: edge-test\n');
    const r = await request(gw.port, { path: '/orders/42?secret=1', headers: { host: 'shop.example.com', 'user-agent': 'test-agent' } });
    assert.equal(r.status, 200);
    await receiver.waitFor((s) => byKind(s, 'SERVER').length === 1 && byKind(s, 'CLIENT').length === 1, 'one SERVER and one CLIENT span');
    const server = byKind(receiver.spans, 'SERVER')[0]!;
    const client = byKind(receiver.spans, 'CLIENT')[0]!;
    assert.equal(server.serviceName, 'edge-test');
    assert.equal(server.parentSpanId, '', 'a request without a trace context starts a trace');
    assert.equal(client.traceId, server.traceId);
    assert.equal(client.parentSpanId, server.spanId);
    assert.equal(server.name, 'GET /orders/');
    assert.equal(server.attributes['http.request.method'], 'GET');
    assert.equal(server.attributes['url.path'], '/orders/42');
    assert.equal(server.attributes['http.route'], '/orders/');
    assert.equal(server.attributes['http.response.status_code'], 200);
    assert.equal(server.attributes['server.address'], 'shop.example.com');
    assert.equal(server.attributes['user_agent.original'], 'test-agent');
    assert.equal(server.attributes['portico.route'], 'default/orders');
    assert.match(String(server.attributes['portico.route.source']), /^test\.yaml:\d+:\d+$/);
    assert.equal(server.attributes['portico.request_id'], gw.done[0]!.requestId);
    assert.ok(!JSON.stringify(receiver.spans).includes('secret=1'), 'the query string stays out of spans');
    assert.equal(client.attributes['http.response.status_code'], 200);
    assert.equal(client.attributes['network.peer.address'], '127.0.0.1');
    assert.equal(client.attributes['network.peer.port'], up.port);
    // the upstream got Portico's CLIENT span as its parent, flagged sampled
    const tp = W3C_RE.exec(echoedHeader(up.received[0]!, 'traceparent') ?? '');
    assert.ok(tp, 'the upstream got a traceparent');
    assert.equal(tp[1], server.traceId);
    assert.equal(tp[2], client.spanId);
    assert.equal(tp[3], '01');
    // the access log's trace id is the trace's
    assert.equal(gw.done[0]!.traceId, server.traceId);
    assert.ok(receiver.requests.every((q) => q.contentType.startsWith('application/x-protobuf')));
  });

  it('joins the trace a client started, and an instrumented upstream continues it under the CLIENT span', async () => {
    const receiver = await startOtlpReceiver();
    // The upstream is a service instrumented with the OpenTelemetry SDK: it reads traceparent and
    // exports its own SERVER span to the same collector.
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'orders-service' }),
      spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: receiver.url }))],
    });
    const tracer = provider.getTracer('orders-service');
    const w3c = new W3CTraceContextPropagator();
    const service = http.createServer((req, res) => {
      const parent = w3c.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter);
      const span = tracer.startSpan('GET /42', { kind: SpanKind.SERVER }, parent);
      res.end('ok', () => span.end());
    });
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
    const servicePort = (service.address() as AddressInfo).port;
    cleanups.push(() => provider.shutdown(), () => new Promise<void>((resolve) => service.close(() => resolve())));
    const { gw } = await setup('  driver: opentelemetry\n', {
      receiver,
      extraYaml: () => mappingYaml('svc', '/svc/', servicePort),
    });
    const clientTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const clientSpan = '00f067aa0ba902b7';
    const r = await request(gw.port, { path: '/svc/42', headers: { host: 'a.example.com', traceparent: `00-${clientTrace}-${clientSpan}-01`, tracestate: 'vendor=x' } });
    assert.equal(r.status, 200);
    await receiver.waitFor((s) => s.length >= 3, 'the edge SERVER and CLIENT spans and the service span');
    const edge = receiver.spans.filter((s) => s.serviceName === 'portico');
    const server = byKind(edge, 'SERVER')[0]!;
    const client = byKind(edge, 'CLIENT')[0]!;
    const downstream = receiver.spans.find((s) => s.serviceName === 'orders-service')!;
    assert.ok(server && client && downstream);
    for (const s of [server, client, downstream]) assert.equal(s.traceId, clientTrace, `${s.serviceName} ${s.kind} is in the client's trace`);
    assert.equal(server.parentSpanId, clientSpan, "Portico's SERVER span is a child of the client's span");
    assert.equal(client.parentSpanId, server.spanId);
    assert.equal(downstream.parentSpanId, client.spanId, "the service's span is a child of Portico's CLIENT span");
    assert.equal(gw.done[0]!.traceId, clientTrace);
  });

  it('makes one CLIENT span per attempt: a retried 503 and the answer that followed', async () => {
    let n = 0;
    const { gw, receiver } = await setup('  driver: opentelemetry\n', {
      mappingExtra: '  retry_policy:\n    retry_on: 5xx\n    num_retries: 2\n',
      respond: () => ({ status: ++n === 1 ? 503 : 200 }),
    });
    const r = await request(gw.port, { path: '/orders/1', headers: { host: 'a.example.com' } });
    assert.equal(r.status, 200);
    await receiver.waitFor((s) => byKind(s, 'CLIENT').length === 2 && byKind(s, 'SERVER').length === 1, 'two CLIENT spans and the SERVER span');
    const server = byKind(receiver.spans, 'SERVER')[0]!;
    const attempts = byKind(receiver.spans, 'CLIENT').sort((a, b) => Number(a.attributes['http.request.resend_count'] ?? 0) - Number(b.attributes['http.request.resend_count'] ?? 0));
    assert.deepEqual(attempts.map((a) => a.parentSpanId), [server.spanId, server.spanId]);
    assert.deepEqual(attempts.map((a) => a.attributes['http.response.status_code']), [503, 200]);
    assert.deepEqual(attempts.map((a) => a.attributes['http.request.resend_count']), [undefined, 1]);
    assert.equal(attempts[0]!.status, 'ERROR');
    assert.equal(server.status, 'UNSET');
  });

  it('shows a shadow copy as its own CLIENT span, marked portico.shadow', async () => {
    const shadow = await startEcho('shadow');
    cleanups.push(() => shadow.close());
    const { gw, up, receiver } = await setup('  driver: opentelemetry\n', {
      extraYaml: () => mappingYaml('orders-shadow', '/orders/', shadow.port, '  shadow: true\n'),
    });
    const r = await request(gw.port, { path: '/orders/7', headers: { host: 'a.example.com' } });
    assert.equal(r.status, 200);
    await receiver.waitFor((s) => byKind(s, 'CLIENT').length === 2 && byKind(s, 'SERVER').length === 1, 'the real and the shadow CLIENT spans');
    const server = byKind(receiver.spans, 'SERVER')[0]!;
    const mirrored = byKind(receiver.spans, 'CLIENT').find((s) => s.attributes['portico.shadow'] === true);
    assert.ok(mirrored, 'a CLIENT span marks the shadow copy');
    assert.equal(mirrored.parentSpanId, server.spanId);
    assert.equal(mirrored.name, 'GET (shadow)');
    assert.equal(W3C_RE.exec(echoedHeader(shadow.received[0]!, 'traceparent') ?? '')?.[2], mirrored.spanId, 'the shadow upstream is told its own span');
    assert.notEqual(echoedHeader(up.received[0]!, 'traceparent'), echoedHeader(shadow.received[0]!, 'traceparent'));
  });

  it('tags every span as custom_tags say: a literal, the environment, a request header', async () => {
    process.env.PORTICO_TEST_ZONE = 'zone-b';
    cleanups.push(async () => {
      delete process.env.PORTICO_TEST_ZONE;
    });
    const { gw, receiver } = await setup(`  driver: opentelemetry
  custom_tags:
    - tag: deployment
      literal: {value: canary}
    - tag: zone
      environment: {name: PORTICO_TEST_ZONE}
    - tag: missing
      environment: {name: PORTICO_TEST_NOT_SET, default_value: none}
    - tag: user
      request_header: {name: X-User}
    - tag: tenant
      request_header: {name: x-tenant, default_value: public}
`);
    await request(gw.port, { path: '/orders/1', headers: { host: 'a.example.com', 'x-user': 'alice' } });
    await receiver.waitFor((s) => byKind(s, 'SERVER').length === 1, 'the SERVER span');
    const a = byKind(receiver.spans, 'SERVER')[0]!.attributes;
    assert.deepEqual([a.deployment, a.zone, a.missing, a.user, a.tenant], ['canary', 'zone-b', 'none', 'alice', 'public']);
  });

  it('propagation_modes B3: reads a b3 header from the client, writes x-b3-* upstream', async () => {
    const { gw, up, receiver } = await setup('  driver: opentelemetry\n  config:\n    propagation_modes: [B3]\n');
    const traceId = '80f198ee56343ba864fe8b2a57d3eff7';
    await request(gw.port, { path: '/orders/1', headers: { host: 'a.example.com', b3: `${traceId}-e457b5a2e4d86bd1-1` } });
    await receiver.waitFor((s) => byKind(s, 'CLIENT').length === 1 && byKind(s, 'SERVER').length === 1, 'the SERVER and CLIENT spans');
    const server = byKind(receiver.spans, 'SERVER')[0]!;
    const client = byKind(receiver.spans, 'CLIENT')[0]!;
    assert.equal(server.traceId, traceId);
    assert.equal(server.parentSpanId, 'e457b5a2e4d86bd1');
    const got = up.received[0]!;
    assert.equal(echoedHeader(got, 'x-b3-traceid'), traceId);
    assert.equal(echoedHeader(got, 'x-b3-spanid'), client.spanId);
    assert.equal(echoedHeader(got, 'x-b3-sampled'), '1');
    assert.equal(echoedHeader(got, 'b3'), undefined, "the client's b3 header does not reach the upstream stale");
    assert.equal(echoedHeader(got, 'traceparent'), undefined, 'only the configured format is written');
  });

  it('both modes: the first one found is read, and both are written', async () => {
    const { gw, up } = await setup('  driver: opentelemetry\n  config:\n    propagation_modes: [TRACE_CONTEXT, B3]\n');
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    await request(gw.port, { path: '/orders/1', headers: { host: 'a.example.com', traceparent: `00-${traceId}-b7ad6b7169203331-01`, 'x-b3-traceid': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'x-b3-spanid': 'bbbbbbbbbbbbbbbb', 'x-b3-sampled': '1' } });
    const got = up.received[0]!;
    assert.equal(W3C_RE.exec(echoedHeader(got, 'traceparent') ?? '')?.[1], traceId);
    assert.equal(echoedHeader(got, 'x-b3-traceid'), traceId);
    assert.equal(echoedHeader(got, 'x-b3-spanid'), W3C_RE.exec(echoedHeader(got, 'traceparent') ?? '')?.[2]);
  });

  it('with tracing off, a client\'s traceparent passes through untouched and nothing is added', async () => {
    const up = await startEcho('plain');
    const { ir } = compileYaml([cleartextGatewayYaml(8080), mappingYaml('orders', '/orders/', up.port)].join('---\n'));
    const gw = await startGateway(ir, { tracing: new TraceExporters() });
    cleanups.push(() => up.close(), () => gw.close());
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await request(gw.port, { path: '/orders/1', headers: { host: 'a.example.com', traceparent: tp } });
    await request(gw.port, { path: '/orders/2', headers: { host: 'a.example.com' } });
    assert.equal(echoedHeader(up.received[0]!, 'traceparent'), tp);
    assert.equal(echoedHeader(up.received[1]!, 'traceparent'), undefined);
    // the gateway reports a request once it sees the response close, which may follow the client's read
    await whenTrue('both requests finished', () => gw.done.length >= 2, [[gw.events, 'done']]);
    assert.equal(gw.done[0]!.traceId, undefined);
  });

  it('a collector that cannot be reached costs no request', async () => {
    const gone = await startOtlpReceiver();
    await gone.close();
    const failures: string[] = [];
    const said = new EventEmitter();
    const up = await startEcho('up');
    const { ir } = compileYaml([cleartextGatewayYaml(8080), mappingYaml('orders', '/orders/', up.port), tracingYaml(gone, '  driver: opentelemetry\n')].join('---\n'));
    const exporters = new TraceExporters({
      scheduledDelayMs: 10,
      onExportFailure: (m) => {
        failures.push(m);
        said.emit('failure');
      },
    });
    const gw = await startGateway(ir, { tracing: exporters });
    cleanups.push(() => up.close(), () => gw.close(), () => exporters.shutdown());
    for (let i = 0; i < 20; i++) assert.equal((await request(gw.port, { path: `/orders/${i}`, headers: { host: 'a.example.com' } })).status, 200);
    await whenTrue('every request finished', () => gw.done.length >= 20, [[gw.events, 'done']]);
    await exporters.flush();
    // flush() does not wait for an export a timer started: the first failure may still be on its way
    await whenTrue('the failure said', () => failures.length > 0, [[said, 'failure']]);
    assert.equal(failures.length, 1, 'the failure is said once');
    assert.match(failures[0]!, /trace collector http:\/\/127\.0\.0\.1:\d+\/v1\/traces did not take/);
  });
  it('a collector that holds every request unanswered gets at most the queue limit; requests are all served', async () => {
    // A collector that reads each export and answers only when told to.
    const held: { body: Buffer; res: http.ServerResponse }[] = [];
    const arrived = new EventEmitter();
    const collector = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        held.push({ body: Buffer.concat(chunks), res });
        arrived.emit('export');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const url = { url: `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces` } as TraceReceiver;
    const up = await startEcho('up');
    const { ir } = compileYaml([cleartextGatewayYaml(8080), mappingYaml('orders', '/orders/', up.port), tracingYaml(url, '  driver: opentelemetry\n')].join('---\n'));
    const exporters = new TraceExporters({ scheduledDelayMs: 5, maxQueueSize: 4 });
    const gw = await startGateway(ir, { tracing: exporters });
    cleanups.push(() => up.close(), () => gw.close(), () => exporters.shutdown(), () => new Promise<void>((resolve) => {
      collector.closeAllConnections();
      collector.close(() => resolve());
    }));
    for (let i = 0; i < 10; i++) assert.equal((await request(gw.port, { path: `/orders/${i}`, headers: { host: 'a.example.com' } })).status, 200);
    await whenTrue('every request finished', () => gw.done.length >= 10, [[gw.events, 'done']]);
    // 20 spans ended; none was answered, so 4 are waiting or out and the other 16 were dropped.
    const flushed = exporters.flush();
    const spans: ReceivedSpan[] = [];
    await whenTrue('the 4 spans the queue held are out', () => held.reduce((n, h) => n + decodeOtlp(h.body).length, 0) >= 4, [[arrived, 'export']]);
    for (const h of held.splice(0)) {
      spans.push(...decodeOtlp(h.body));
      h.res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    }
    await flushed;
    assert.equal(spans.length, 4);
    assert.equal(held.length, 0, 'nothing more was sent');
  });
});

describe('sampling (seeded, so the same decisions on every run)', () => {
  /** Sends n requests; counts SERVER spans exported and sampled flags the upstream saw. */
  async function sample(spec: string, n: number, headers: Record<string, string> = {}): Promise<{ exported: number; flagged: number; received: number }> {
    // No export on a timer: flush() does not wait for one already under way, so the spans counted
    // after it are all the spans only if flush() is what sends them.
    const { gw, up, receiver, exporters } = await setup(spec, { random: seeded(20261207), scheduledDelayMs: 3_600_000 });
    for (let i = 0; i < n; i++) {
      const r = await request(gw.port, { path: `/orders/${i}`, headers: { host: 'a.example.com', ...headers } });
      assert.equal(r.status, 200);
    }
    // A request's span ends when the gateway sees its response close, which can come after the
    // client has the whole answer: flush only once every request is finished, or the last is missed.
    await whenTrue(`${n} finished requests`, () => gw.done.length >= n, [[gw.events, 'done']], { describe: () => `${gw.done.length} finished` });
    await exporters.flush();
    const flagged = up.received.filter((e) => W3C_RE.exec(echoedHeader(e, 'traceparent') ?? '')?.[3] === '01').length;
    // every request carried a trace context upstream, sampled or not
    assert.equal(up.received.filter((e) => W3C_RE.test(echoedHeader(e, 'traceparent') ?? '')).length, n);
    return { exported: byKind(receiver.spans, 'SERVER').length, flagged, received: up.received.length };
  }

  /** Within four standard deviations of a binomial draw: a wrong rate fails, a right one never does. */
  function assertRate(count: number, n: number, p: number, what: string): void {
    const sd = Math.sqrt(n * p * (1 - p));
    assert.ok(Math.abs(count - n * p) <= 4 * sd, `${what}: ${count} of ${n}, expected ${n * p} ± ${Math.ceil(4 * sd)}`);
  }

  it('random: 25 samples a quarter of the requests', async () => {
    const n = 400;
    const { exported, flagged } = await sample('  driver: opentelemetry\n  sampling:\n    random: 25\n', n);
    assertRate(exported, n, 0.25, 'SERVER spans');
    assert.equal(flagged, exported, 'the upstream is told sampled exactly when Portico records the request');
  });

  it('overall: 50 keeps half of what random: 100 picks', async () => {
    const n = 400;
    const { exported } = await sample('  driver: opentelemetry\n  sampling:\n    random: 100\n    overall: 50\n', n);
    assertRate(exported, n, 0.5, 'SERVER spans');
  });

  it('0 % records nothing, yet the upstream is still told the trace (not sampled)', async () => {
    const { exported, flagged, received } = await sample('  driver: opentelemetry\n  sampling:\n    random: 0\n', 50);
    assert.equal(exported, 0);
    assert.equal(flagged, 0);
    assert.equal(received, 50);
  });

  it('0 %: a traceparent from the client that cannot be read is replaced, not passed on beside Portico\'s', async () => {
    // sample() checks that each request reached the upstream with one valid traceparent
    const { exported, flagged } = await sample('  driver: opentelemetry\n  sampling:\n    random: 0\n', 10, { traceparent: '00-not-a-trace-01' });
    assert.equal(exported, 0);
    assert.equal(flagged, 0);
  });

  it('client: requests with x-client-trace-id are sampled at the client rate', async () => {
    const n = 200;
    const forced = await sample('  driver: opentelemetry\n  sampling:\n    client: 100\n    random: 0\n', n, { 'x-client-trace-id': 'abc' });
    assert.equal(forced.exported, n);
    const half = await sample('  driver: opentelemetry\n  sampling:\n    client: 50\n    random: 0\n', n, { 'x-client-trace-id': 'abc' });
    assertRate(half.exported, n, 0.5, 'SERVER spans with x-client-trace-id at client: 50');
  });

  it("a client's decision is kept: sampled=0 is not recorded even at 100 %", async () => {
    const { exported, flagged } = await sample('  driver: opentelemetry\n', 20, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' });
    assert.equal(exported, 0);
    assert.equal(flagged, 0);
  });
});

describe('Zipkin (TracingService driver zipkin)', () => {
  it('sends Zipkin v2 JSON with B3 propagation by default', async () => {
    const { gw, up, receiver } = await setup('  driver: zipkin\n  config:\n    service_name: edge-zipkin\n', { zipkin: true });
    assert.equal((await request(gw.port, { path: '/orders/5', headers: { host: 'a.example.com' } })).status, 200);
    await receiver.waitFor((s) => s.length >= 2, 'the SERVER and CLIENT spans');
    const server = receiver.spans.find((s) => s.kind === 'SERVER')!;
    const client = receiver.spans.find((s) => s.kind === 'CLIENT')!;
    assert.ok(server && client);
    assert.equal(server.serviceName, 'edge-zipkin');
    assert.equal(client.parentSpanId, server.spanId);
    assert.equal(server.attributes['http.route'], '/orders/');
    assert.equal(echoedHeader(up.received[0]!, 'x-b3-traceid'), server.traceId);
    assert.equal(echoedHeader(up.received[0]!, 'x-b3-spanid'), client.spanId);
    assert.ok(receiver.requests.every((q) => q.contentType.startsWith('application/json')));
    assert.equal(gw.done[0]!.traceId, server.traceId);
  });

  it('trace_id_128bit: false starts traces with 64-bit ids', async () => {
    const { gw, receiver } = await setup('  driver: zipkin\n  config:\n    trace_id_128bit: false\n', { zipkin: true });
    await request(gw.port, { path: '/orders/5', headers: { host: 'a.example.com' } });
    await receiver.waitFor((s) => s.length >= 2, 'the spans');
    for (const s of receiver.spans) assert.match(s.traceId, /^0{16}[0-9a-f]{16}$/);
  });
});
