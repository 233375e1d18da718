// Tracing on the request path: the sampling decision, a SERVER span per request and a CLIENT span
// per upstream attempt (retries and shadows too), and the trace headers each attempt carries upstream.
//
// A runtime without a TracingService has no RequestTracer, and the request path's hooks are one
// `undefined` test each. Spans are made only for sampled requests; an unsampled one still carries
// its trace context upstream (flagged "not sampled") so that services behind agree with the edge.
// Spans are Portico's own records (recorded-span.ts), not the SDK's Span objects: the API's
// propagators read and write trace context, the sink's exporter sends them.

import type { IncomingMessage } from 'node:http';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  isSpanContextValid,
  trace,
  type Attributes,
  type SpanContext,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { onDemand } from '../dataplane/on-demand-module.js';
import { formatOrigin } from '../api/origin.js';
import type { IRRoute, IRTracing } from '../ir/types.js';
import type { TraceSink } from './trace-exporters.js';
import { ATTRIBUTE_COUNT_LIMIT, AttributeBlock, AttributeKey, clockOffsetAt, limitAttributes, spanAttributes, type AttributeFields, type RecordedSpan } from './recorded-span.js';

/** The keys of Portico's span attributes (OpenTelemetry's semantic conventions, and Portico's own), each named once. */
const K = {
  method: new AttributeKey('http.request.method'),
  urlPath: new AttributeKey('url.path'),
  urlScheme: new AttributeKey('url.scheme'),
  urlFull: new AttributeKey('url.full'),
  serverAddress: new AttributeKey('server.address'),
  serverPort: new AttributeKey('server.port'),
  clientAddress: new AttributeKey('client.address'),
  protocolVersion: new AttributeKey('network.protocol.version'),
  status: new AttributeKey('http.response.status_code'),
  requestId: new AttributeKey('portico.request_id'),
  userAgent: new AttributeKey('user_agent.original'),
  route: new AttributeKey('http.route'),
  routeId: new AttributeKey('portico.route'),
  routeSource: new AttributeKey('portico.route.source'),
  cluster: new AttributeKey('portico.cluster'),
  localReply: new AttributeKey('portico.local_reply'),
  upstreamError: new AttributeKey('portico.upstream_error'),
  errorType: new AttributeKey('error.type'),
  peerAddress: new AttributeKey('network.peer.address'),
  peerPort: new AttributeKey('network.peer.port'),
  resendCount: new AttributeKey('http.request.resend_count'),
  shadow: new AttributeKey('portico.shadow'),
} as const;

/** Portico's own keys: a custom tag named as one of them makes a SERVER span's fields one object (RequestTracer.recordServer). */
const SERVER_KEY_NAMES: ReadonlySet<string> = new Set(Object.values(K).map((k) => k.name));

/** What the request path knows when a request ends (a subset of its RequestContext). */
export interface FinishedRequest {
  readonly req: IncomingMessage;
  readonly method: string;
  readonly path: string;
  readonly host: string;
  readonly requestId: string;
  readonly clientAddress: string;
  readonly secure: boolean;
  readonly status: number;
  readonly cluster: string | undefined;
  readonly localReply: string | undefined;
  readonly upstreamError: string | undefined;
  readonly conn: { readonly port: number; readonly listener: string };
}

/** Where one upstream attempt goes. */
export interface AttemptTarget {
  readonly method: string;
  readonly scheme: 'http' | 'https';
  /** The Host the upstream gets. */
  readonly authority: string;
  /** The upstream path, query included (left out of spans, as the access log leaves it out). */
  readonly path: string;
  readonly cluster: string;
  /** host:port of the endpoint. */
  readonly endpoint: string;
  /** 0 for the first try, then 1, 2, … for each resend (retries, the one implicit resend). */
  readonly resend: number;
}

/** The trace headers a request carries, lower-cased (first value of each), taken from its raw list. */
type TraceHeaders = Record<string, string>;

const headerGetter: TextMapGetter<TraceHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/** Lengths of the trace header names (traceparent, tracestate, b3, x-b3-*, x-client-trace-id), one bit each. */
const TRACE_NAME_LENGTHS = (1 << 2) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 17);

/**
 * Whether a header name may be a trace header, from its length and first letter: most requests carry
 * none, and the check spares lower-casing every name (or building req.headers, which the request
 * path otherwise never needs).
 */
function maybeTraceHeader(name: string): boolean {
  const n = name.length;
  if (n > 17 || ((TRACE_NAME_LENGTHS >>> n) & 1) === 0) return false;
  const c = name.charCodeAt(0) | 0x20;
  return c === 0x74 /* t */ || c === 0x62 /* b */ || c === 0x78 /* x */;
}

/** One pass over the raw header list; undefined when the request carries no trace header at all. */
function scanTraceHeaders(raw: readonly string[], fields: ReadonlySet<string>): TraceHeaders | undefined {
  let found: TraceHeaders | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!maybeTraceHeader(name)) continue;
    const lower = name.toLowerCase();
    if (!fields.has(lower) && lower !== CLIENT_TRACE_ID) continue;
    found ??= {};
    found[lower] ??= raw[i + 1] as string;
  }
  return found;
}

/** The first value of a header in a raw list (names compared without case). */
function rawHeader(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as string;
    if (n.length === name.length && n.toLowerCase() === name) return raw[i + 1];
  }
  return undefined;
}

const CLIENT_TRACE_ID = 'x-client-trace-id';

/** Appends name, value to a flat upstream header list. */
const listSetter: TextMapSetter<string[]> = {
  set: (carrier, key, value) => {
    carrier.push(key, value);
  },
};

/** Envoy's pseudo-headers, which HTTP/1.1 requests do not carry as fields (the path without its query). */
const PSEUDO_HEADERS: Readonly<Record<string, (r: FinishedRequest) => string>> = {
  ':authority': (r) => r.host,
  ':path': (r) => r.path,
  ':method': (r) => r.method,
  ':scheme': (r) => (r.secure ? 'https' : 'http'),
};

/** Trace flags as traceparent writes them: two lower-case hex digits (no number formatted per request). */
const FLAGS_HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

const W3C = new W3CTraceContextPropagator();
/** B3's propagator, loaded when a TracingService asks for it (a module not loaded is heap no collection walks). */
const b3Module = onDemand<typeof import('@opentelemetry/propagator-b3')>(import.meta.url, '@opentelemetry/propagator-b3');
let b3: TextMapPropagator | undefined;
function b3Propagator(): TextMapPropagator {
  if (b3 === undefined) {
    const m = b3Module();
    b3 = new m.B3Propagator({ injectEncoding: m.B3InjectEncoding.MULTI_HEADER });
  }
  return b3;
}

/** The per-generation tracer: built with the runtime from IRGlobal.tracing, released when it closes. */
export class RequestTracer {
  private readonly propagators: readonly TextMapPropagator[];
  /** Trace headers (lower case) taken off what the client sent before Portico writes its own. */
  private readonly fields: ReadonlySet<string>;
  /** Whether custom tags could take a span past the attribute count limit (then it is enforced). */
  private readonly mayOverflow: boolean;
  private readonly headerTags: readonly { readonly tag: string; readonly key: AttributeKey; readonly name: string; readonly defaultValue?: string }[];
  /** The tags whose values are known when the runtime is built (literals, the process's environment): a SERVER span's first fields. */
  private readonly fixedFields: AttributeFields;
  /** Custom tags repeat each other or one of Portico's keys: a SERVER span's fields become one object (one value a key, as the SDK's span keeps). */
  private readonly keysRepeat: boolean;
  /** Only W3C trace context is written: its one header is formatted here, without a Context per request. */
  private readonly w3cOnly: boolean;
  /** What every SERVER span of a route says about the route, worked out at its first request. */
  private readonly routeTags = new WeakMap<IRRoute, RouteTags>();

  constructor(
    readonly ir: IRTracing,
    private readonly sink: TraceSink,
    private readonly random: () => number,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.propagators = ir.propagation.map((m) => (m === 'B3' ? b3Propagator() : W3C));
    const fields = new Set<string>();
    for (const p of this.propagators) for (const f of p.fields()) fields.add(f.toLowerCase());
    // B3's single header and its multi-header form are read alike; neither may reach upstream stale.
    if (ir.propagation.includes('B3')) for (const f of ['b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags']) fields.add(f);
    this.fields = fields;
    this.w3cOnly = ir.propagation.length === 1 && ir.propagation[0] === 'TRACE_CONTEXT';
    const fixed: Attributes = {};
    const headerTags: { tag: string; key: AttributeKey; name: string; defaultValue?: string }[] = [];
    for (const t of ir.customTags) {
      if (t.literal !== undefined) fixed[t.tag] = t.literal;
      else if (t.environment !== undefined) {
        const v = env[t.environment.name] ?? t.environment.defaultValue;
        if (v !== undefined) fixed[t.tag] = v;
      } else if (t.requestHeader !== undefined) headerTags.push({ tag: t.tag, key: new AttributeKey(t.tag), ...t.requestHeader });
    }
    this.headerTags = headerTags;
    // Portico's own attributes are fewer than 20 a span.
    this.mayOverflow = ir.customTags.length + 20 > ATTRIBUTE_COUNT_LIMIT;
    const tagNames = ir.customTags.map((t) => t.tag);
    this.keysRepeat = new Set(tagNames).size !== tagNames.length || tagNames.some((n) => SERVER_KEY_NAMES.has(n));
    this.fixedFields = Object.entries(fixed).flatMap(([k, v]) => (v === undefined || v === null ? [] : [new AttributeKey(k), v]));
  }

  release(): void {
    this.sink.release();
  }

  /** A request arrived: read its trace context, decide whether it is sampled, open its SERVER span. */
  begin(req: IncomingMessage, start: number): RequestTrace {
    const headers = scanTraceHeaders(req.rawHeaders, this.fields);
    let parent: SpanContext | undefined;
    if (headers !== undefined) {
      for (const p of this.propagators) {
        const sc = trace.getSpanContext(p.extract(ROOT_CONTEXT, headers, headerGetter));
        if (sc !== undefined && isSpanContextValid(sc)) {
          parent = sc;
          break;
        }
      }
    }
    if (!this.sampled(parent, headers)) {
      // Not recorded: the upstream still learns the trace and that it is not sampled.
      if (parent !== undefined) return new RequestTrace(this, parent.traceId, parent.spanId, parent.traceFlags, parent.traceState, undefined, headers !== undefined);
      const ids = this.sink.ids;
      return new RequestTrace(this, ids.generateTraceId(), ids.generateSpanId(), TraceFlags.NONE, undefined, undefined, headers !== undefined);
    }
    const ids = this.sink.ids;
    const traceId = parent?.traceId ?? ids.generateTraceId();
    const span: RecordedSpan = {
      traceId, spanId: ids.generateSpanId(), traceFlags: TraceFlags.SAMPLED, traceState: parent?.traceState,
      parentSpanId: parent?.spanId, parentRemote: parent?.isRemote === true, name: req.method ?? 'GET', kind: SpanKind.SERVER,
      start, end: start, clockOffset: clockOffsetAt(start), attributes: NO_ATTRIBUTES,
      droppedAttributes: 0, statusCode: SpanStatusCode.UNSET, statusMessage: undefined,
    };
    return new RequestTrace(this, traceId, span.spanId, span.traceFlags, span.traceState, span, headers !== undefined);
  }

  ids(): TraceSink['ids'] {
    return this.sink.ids;
  }

  /** A span is finished: to the exporter. */
  record(span: RecordedSpan): void {
    if (this.mayOverflow) limitAttributes(span);
    this.sink.record(span);
  }

  /**
   * A SERVER span is finished. When custom tags repeat a key, its fields become one object first, as
   * the SDK's span keeps them: a key set again keeps its first place and takes the later value.
   */
  recordServer(span: RecordedSpan): void {
    if (this.keysRepeat) spanAttributes(span);
    this.record(span);
  }

  /**
   * Emissary's sampling: a decision that came with the request is kept; otherwise `client` percent
   * of requests with x-client-trace-id, then `random` percent of the rest, and `overall` of both.
   */
  private sampled(parent: SpanContext | undefined, headers: TraceHeaders | undefined): boolean {
    if (parent !== undefined) return (parent.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED;
    const s = this.ir.sampling;
    const hit = (headers?.[CLIENT_TRACE_ID] !== undefined && this.roll(s.client)) || this.roll(s.random);
    return hit && this.roll(s.overall);
  }

  private roll(percent: number): boolean {
    if (percent >= 100) return true;
    return percent > 0 && this.random() * 100 < percent;
  }

  /** Take the client's trace headers off the upstream header list; Portico's go at its end. */
  stripTraceHeaders(headers: string[]): void {
    let w = 2;
    for (let r = 2; r < headers.length; r += 2) {
      const name = headers[r] as string;
      if (maybeTraceHeader(name) && this.fields.has(name.toLowerCase())) continue;
      headers[w] = name;
      headers[w + 1] = headers[r + 1] as string;
      w += 2;
    }
    headers.length = w;
  }

  inject(context: InjectedContext, headers: string[]): void {
    if (this.w3cOnly) {
      // The propagator's own format (version 00), without the Context it needs built per request.
      headers.push('traceparent', `00-${context.traceId}-${context.spanId}-${FLAGS_HEX[context.traceFlags & 0xff] as string}`);
      const state = context.traceState?.serialize();
      if (state) headers.push('tracestate', state);
      return;
    }
    const c = trace.setSpanContext(ROOT_CONTEXT, { traceId: context.traceId, spanId: context.spanId, traceFlags: context.traceFlags, ...(context.traceState ? { traceState: context.traceState } : {}) });
    for (const p of this.propagators) p.inject(c, headers, listSetter);
  }

  /** The route's part of its SERVER spans: its template, id and the Mapping it is named for. */
  routeTagsOf(route: IRRoute): RouteTags {
    let tags = this.routeTags.get(route);
    if (tags === undefined) {
      const template = route.match.prefix ?? route.match.path ?? route.match.regex;
      // The route is named for its first Mapping: where that Mapping is written.
      const mapping = route.mappings[0];
      const source = mapping !== undefined ? formatOrigin(mapping.origin) : undefined;
      const entries: (AttributeKey | string)[] = [];
      if (template !== undefined) entries.push(K.route, template);
      entries.push(K.routeId, route.id);
      if (source !== undefined) entries.push(K.routeSource, source);
      tags = { template, block: new AttributeBlock(entries), names: new Map() };
      this.routeTags.set(route, tags);
    }
    return tags;
  }

  /** A SERVER span's fields: the fixed tags first, then `own` (the request's). */
  withFixedFields(own: AttributeFields): AttributeFields {
    return this.fixedFields.length === 0 ? own : this.fixedFields.concat(own);
  }

  headerTagFields(r: FinishedRequest, into: AttributeFields): void {
    for (const t of this.headerTags) {
      // Emissary's examples tag Envoy's pseudo-headers: they are the request's own parts here.
      const pseudo = PSEUDO_HEADERS[t.name];
      const value = pseudo !== undefined ? pseudo(r) : rawHeader(r.req.rawHeaders, t.name) ?? t.defaultValue;
      if (value !== undefined) into.push(t.key, value);
    }
  }
}

interface RouteTags {
  readonly template: string | undefined;
  /** The template, the route's id and its source as one block of span attributes, encoded once. */
  readonly block: AttributeBlock;
  /** SERVER span names by method ("GET /orders/"). */
  readonly names: Map<string, string>;
}

function spanName(route: RouteTags, method: string): string {
  if (route.template === undefined) return method;
  let name = route.names.get(method);
  if (name === undefined) {
    name = `${method} ${route.template}`;
    if (route.names.size < 16) route.names.set(method, name);
  }
  return name;
}

/** A SERVER span's attributes until it ends (set then, all at once). */
const NO_ATTRIBUTES: Attributes = Object.freeze({});

/** What an upstream request is told: a span's ids, flags and trace state (a SpanContext, or a recorded span). */
type InjectedContext = Pick<SpanContext, 'traceId' | 'spanId' | 'traceFlags' | 'traceState'>;

/**
 * One request's trace: its id (for the access log), its SERVER span when sampled, its upstream
 * attempts. It is also the context an unsampled request's upstream attempts carry (one object fewer a request).
 */
export class RequestTrace implements InjectedContext {
  private route: IRRoute | undefined;
  /** Length of the upstream header list before Portico's trace headers (−1: not prepared yet). */
  private base = -1;

  constructor(
    private readonly tracer: RequestTracer,
    readonly traceId: string,
    /** The SERVER span's id; when not sampled, the id upstream requests name as their parent (the client's, or a new one). */
    readonly spanId: string,
    readonly traceFlags: number,
    readonly traceState: SpanContext['traceState'],
    private readonly span: RecordedSpan | undefined,
    /** Whether the client sent trace headers (only then are there any to take off). */
    private readonly clientHeaders: boolean,
  ) {}

  get sampled(): boolean {
    return this.span !== undefined;
  }

  routed(route: IRRoute): void {
    this.route = route;
  }

  /**
   * Before an upstream attempt goes out: its CLIENT span (when sampled) and its trace headers. The
   * header list is the one every attempt of the request reuses; each attempt rewrites its own tail.
   */
  attempt(headers: string[], target: AttemptTarget, shadow = false): AttemptTrace | undefined {
    if (this.span === undefined) return this.propagate(headers, shadow);
    this.resetHeaders(headers, shadow);
    const spanId = this.tracer.ids().generateSpanId();
    this.tracer.inject({ traceId: this.span.traceId, spanId, traceFlags: this.span.traceFlags, traceState: this.span.traceState }, headers);
    return new AttemptTrace(this.tracer, this.span, target, shadow, spanId, performance.now());
  }

  /**
   * An upstream attempt of a request that is not sampled: its trace headers, and nothing else (no
   * span, so nothing describes the attempt; the caller need not build its AttemptTarget).
   */
  propagate(headers: string[], shadow = false): undefined {
    this.resetHeaders(headers, shadow);
    this.tracer.inject(this, headers);
    return undefined;
  }

  /** The header list without the client's trace headers or an earlier attempt's: Portico's go after it. */
  private resetHeaders(headers: string[], shadow: boolean): void {
    if (this.base < 0 || shadow) {
      // A shadow's list is a copy of the first attempt's, which holds Portico's own trace headers.
      if (this.clientHeaders || shadow) this.tracer.stripTraceHeaders(headers);
      if (!shadow) this.base = headers.length;
    } else headers.length = this.base;
  }

  /** The request ended (response sent, local reply, or the client went away). */
  end(r: FinishedRequest, endTime: number): void {
    const span = this.span;
    if (span === undefined) return;
    const req = r.req;
    const route = this.route === undefined ? undefined : this.tracer.routeTagsOf(this.route);
    const f = this.tracer.withFixedFields([
      K.method, r.method, K.urlPath, r.path, K.urlScheme, r.secure ? 'https' : 'http', K.serverAddress, r.host, K.serverPort, r.conn.port,
      K.clientAddress, r.clientAddress, K.protocolVersion, protocolVersion(req), K.status, r.status, K.requestId, r.requestId,
    ]);
    const agent = rawHeader(req.rawHeaders, 'user-agent');
    if (agent !== undefined) f.push(K.userAgent, agent);
    if (route !== undefined) f.push(route.block);
    if (r.cluster !== undefined) f.push(K.cluster, r.cluster);
    if (r.localReply !== undefined) f.push(K.localReply, r.localReply);
    if (r.upstreamError !== undefined) f.push(K.upstreamError, r.upstreamError);
    this.tracer.headerTagFields(r, f);
    if (r.status >= 500) {
      f.push(K.errorType, r.upstreamError ?? String(r.status));
      span.statusCode = SpanStatusCode.ERROR;
    }
    span.fields = f;
    span.name = route === undefined ? r.method : spanName(route, r.method);
    span.end = endTime;
    this.tracer.recordServer(span);
  }
}

/** The CLIENT span of one upstream attempt. */
export class AttemptTrace {
  private ended = false;
  /** What the attempt learnt, made into attributes when it ends (a span record lives only as long as its encoding). */
  private status: number | undefined;
  private errorType: string | undefined;
  /** Whether error.type was set before the status code (the order a span's attributes keep). */
  private errorFirst = false;
  private statusCode = SpanStatusCode.UNSET;
  private statusMessage: string | undefined;

  constructor(
    private readonly tracer: RequestTracer,
    private readonly server: RecordedSpan,
    private readonly target: AttemptTarget,
    private readonly shadow: boolean,
    private readonly spanId: string,
    private readonly start: number,
  ) {}

  /** The upstream answered (even with a status that will be retried). */
  response(status: number): void {
    this.status = status;
    if (status >= 400) {
      this.setError(String(status));
      this.statusCode = SpanStatusCode.ERROR;
      this.statusMessage = undefined;
    }
  }

  /** The attempt failed without a usable answer: connect failure, reset, timeout, bad response. */
  failed(kind: string, code?: string): void {
    this.setError(code ?? kind);
    this.statusCode = SpanStatusCode.ERROR;
    this.statusMessage = kind;
  }

  private setError(type: string): void {
    if (this.errorType === undefined && this.status === undefined) this.errorFirst = true;
    this.errorType = type;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    const end = performance.now();
    const target = this.target;
    // The attributes as fields, in the order the SDK's span would keep them (no object per span).
    const f: AttributeFields = [
      K.method, target.method, K.urlFull, `${target.scheme}://${target.authority}${pathOnly(target.path)}`,
      K.serverAddress, memoHostOf(target.authority), K.peerAddress, memoHostOf(target.endpoint), K.cluster, target.cluster,
    ];
    const peerPort = memoPortOf(target.endpoint);
    if (peerPort !== undefined) f.push(K.peerPort, peerPort);
    if (target.resend > 0) f.push(K.resendCount, target.resend);
    if (this.shadow) f.push(K.shadow, true);
    // error.type keeps the place it was first set at (before or after the status code), as an object's key does.
    if (this.errorFirst && this.errorType !== undefined) f.push(K.errorType, this.errorType);
    if (this.status !== undefined) f.push(K.status, this.status);
    if (!this.errorFirst && this.errorType !== undefined) f.push(K.errorType, this.errorType);
    const server = this.server;
    this.tracer.record({
      traceId: server.traceId, spanId: this.spanId, traceFlags: server.traceFlags, traceState: server.traceState,
      parentSpanId: server.spanId, parentRemote: false, name: this.shadow ? `${target.method} (shadow)` : target.method, kind: SpanKind.CLIENT,
      start: this.start, end, clockOffset: server.clockOffset, attributes: NO_ATTRIBUTES, fields: f, droppedAttributes: 0, statusCode: this.statusCode, statusMessage: this.statusMessage,
    });
  }
}

function protocolVersion(req: IncomingMessage): string {
  if (req.httpVersionMajor === 2) return '2';
  if (req.httpVersionMajor === 1) return req.httpVersionMinor === 1 ? '1.1' : `1.${req.httpVersionMinor}`;
  return `${req.httpVersionMajor}.${req.httpVersionMinor}`;
}

function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

/** The last few host:port splits: a gateway sends most requests to the same authorities and endpoints (no new string per span). */
const hostMemo = new Map<string, string>();
const portMemo = new Map<string, number | undefined>();

function memoHostOf(hostPort: string): string {
  let host = hostMemo.get(hostPort);
  if (host === undefined) {
    if (hostMemo.size >= 64) hostMemo.clear();
    hostMemo.set(hostPort, (host = hostOf(hostPort)));
  }
  return host;
}

function memoPortOf(hostPort: string): number | undefined {
  if (portMemo.has(hostPort)) return portMemo.get(hostPort);
  if (portMemo.size >= 64) portMemo.clear();
  const port = portOf(hostPort);
  portMemo.set(hostPort, port);
  return port;
}

function hostOf(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(1, Math.max(1, hostPort.indexOf(']')));
  const i = hostPort.lastIndexOf(':');
  return i < 0 ? hostPort : hostPort.slice(0, i);
}

function portOf(hostPort: string): number | undefined {
  const i = hostPort.lastIndexOf(':');
  if (i < 0 || hostPort.endsWith(']')) return undefined;
  const n = Number(hostPort.slice(i + 1));
  return Number.isInteger(n) ? n : undefined;
}
