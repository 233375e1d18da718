// Trace collectors for tests: an OTLP/HTTP receiver that decodes protobuf export requests with the
// protocol's own definitions (test/testdata/otlp), and a Zipkin v2 JSON receiver. Both are real servers.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import protobuf from 'protobufjs';

/** A span as a test reads it, whatever the wire format. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  /** SERVER, CLIENT, ... */
  readonly kind: string;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  /** 'ERROR' when the span says so. */
  readonly status: string;
  readonly serviceName: string;
  /** The resource's process.pid (OTLP only). */
  readonly pid?: number;
}

export interface TraceReceiver {
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Export requests received, with their content type. */
  readonly requests: { contentType: string; path: string }[];
  /** Resolves once `pred(spans)` holds; checked at every export request. */
  waitFor(pred: (spans: readonly ReceivedSpan[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const OTLP_ROOT = fileURLToPath(new URL('../../../test/testdata/otlp/', import.meta.url));
let exportRequestType: protobuf.Type | undefined;

function otlpType(): protobuf.Type {
  if (exportRequestType === undefined) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => join(OTLP_ROOT, target);
    root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto', { keepCase: false });
    exportRequestType = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
  }
  return exportRequestType;
}

const SPAN_KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

interface AnyValue { stringValue?: string; boolValue?: boolean; intValue?: string | number; doubleValue?: number }
interface KeyValue { key: string; value?: AnyValue }

function attributeMap(list: readonly KeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list ?? []) {
    const v = kv.value ?? {};
    out[kv.key] = v.stringValue ?? v.boolValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.doubleValue ?? '';
  }
  return out;
}

/** One OTLP ExportTraceServiceRequest as the protocol's definitions read it, every field spelled out (defaults too). */
export function decodeOtlpRequest(body: Uint8Array): Record<string, unknown> {
  return otlpType().toObject(otlpType().decode(body), { longs: String, bytes: String, enums: Number, defaults: true, arrays: true });
}

/** Decode one OTLP ExportTraceServiceRequest (protobuf) into spans. */
export function decodeOtlp(body: Buffer): ReceivedSpan[] {
  const message = otlpType().decode(body);
  const obj = otlpType().toObject(message, { longs: String, bytes: String, enums: Number, defaults: false }) as {
    resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: Record<string, unknown>[] }[] }[];
  };
  const hex = (b64: unknown): string => (typeof b64 === 'string' ? Buffer.from(b64, 'base64').toString('hex') : '');
  const out: ReceivedSpan[] = [];
  for (const rs of obj.resourceSpans ?? []) {
    const resource = attributeMap(rs.resource?.attributes);
    const serviceName = String(resource['service.name'] ?? '');
    const pid = typeof resource['process.pid'] === 'number' ? resource['process.pid'] : undefined;
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          name: String(s.name ?? ''),
          kind: SPAN_KINDS[Number(s.kind ?? 0)] ?? 'UNSPECIFIED',
          attributes: attributeMap(s.attributes as KeyValue[] | undefined),
          status: Number((s.status as { code?: number } | undefined)?.code ?? 0) === 2 ? 'ERROR' : 'UNSET',
          serviceName,
          ...(pid !== undefined ? { pid } : {}),
        });
      }
    }
  }
  return out;
}

interface ZipkinSpan {
  traceId: string; id: string; parentId?: string; name?: string; kind?: string;
  tags?: Record<string, string>; localEndpoint?: { serviceName?: string };
}

function decodeZipkin(body: Buffer): ReceivedSpan[] {
  const list = JSON.parse(body.toString('utf8')) as ZipkinSpan[];
  return list.map((s) => ({
    traceId: s.traceId,
    spanId: s.id,
    parentSpanId: s.parentId ?? '',
    name: s.name ?? '',
    kind: s.kind ?? '',
    attributes: s.tags ?? {},
    status: s.tags?.['otel.status_code'] === 'ERROR' ? 'ERROR' : 'UNSET',
    serviceName: s.localEndpoint?.serviceName ?? '',
  }));
}

async function startReceiver(path: string, decode: (body: Buffer, contentType: string) => ReceivedSpan[], reply: { type: string; body: Buffer | string }): Promise<TraceReceiver> {
  const spans: ReceivedSpan[] = [];
  const requests: { contentType: string; path: string }[] = [];
  const waiters = new Set<() => void>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const contentType = String(req.headers['content-type'] ?? '');
      requests.push({ contentType, path: req.url ?? '' });
      if (req.method !== 'POST' || req.url !== path) {
        res.writeHead(404).end();
        return;
      }
      try {
        spans.push(...decode(Buffer.concat(chunks), contentType));
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
        return;
      }
      res.writeHead(200, { 'content-type': reply.type }).end(reply.body);
      for (const w of [...waiters]) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    spans,
    requests,
    waitFor(pred, what, timeoutMs = 20_000) {
      if (pred(spans)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!pred(spans)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the collector did not receive ${what}; it has ${spans.length} span(s): ${JSON.stringify(spans.map((s) => [s.kind, s.name]))}`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** OTLP/HTTP with protobuf bodies, on /v1/traces, as a collector takes them. */
export function startOtlpReceiver(): Promise<TraceReceiver> {
  return startReceiver('/v1/traces', (body, contentType) => {
    if (!contentType.startsWith('application/x-protobuf')) throw new Error(`unexpected content type ${contentType}`);
    return decodeOtlp(body);
  }, { type: 'application/x-protobuf', body: Buffer.alloc(0) });
}

/** Zipkin's v2 JSON endpoint, /api/v2/spans. */
export function startZipkinReceiver(): Promise<TraceReceiver> {
  return startReceiver('/api/v2/spans', (body, contentType) => {
    if (!contentType.startsWith('application/json')) throw new Error(`unexpected content type ${contentType}`);
    return decodeZipkin(body);
  }, { type: 'application/json', body: '' });
}

/** A request counted once per SERVER span of that trace. */
export function byKind(spans: readonly ReceivedSpan[], kind: string): ReceivedSpan[] {
  return spans.filter((s) => s.kind === kind);
}
