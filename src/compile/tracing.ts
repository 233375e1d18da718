// The TracingService processor: at most one per instance, as in Emissary. It becomes IRGlobal.tracing
// (collector URL, sampling, propagation, tags); a driver Portico cannot export to is a warning, no tracing.

import type { Resource } from '../api/resource.js';
import type { TracingServiceSpec } from '../api/schemas.js';
import type { IRTraceTag, IRTracing } from '../ir/types.js';
import type { CompileContext } from './context.js';

/** The resource attribute service.name when the TracingService does not set config.service_name. */
export const DEFAULT_TRACE_SERVICE_NAME = 'portico';

const DEFAULT_PATHS = { opentelemetry: '/v1/traces', zipkin: '/api/v2/spans' } as const;
const DEFAULT_PROPAGATION = { opentelemetry: ['TRACE_CONTEXT'], zipkin: ['B3'] } as const;

export function compileTracing(services: readonly Resource[], ctx: CompileContext): IRTracing | undefined {
  if (services.length === 0) return undefined;
  if (services.length > 1) {
    const names = services.map((r) => `${r.namespace}/${r.name}`).join(', ');
    for (const r of services) ctx.report(r, 'TracingServiceConflict', `only one TracingService may configure tracing, found ${services.length} (${names}); none is used`, 'metadata.name');
    return undefined;
  }
  const r = services[0]!;
  const spec = r.spec as unknown as TracingServiceSpec;
  if (spec.driver !== 'opentelemetry' && spec.driver !== 'zipkin') {
    ctx.report(r, 'NotImplemented', `driver '${spec.driver}' is valid Emissary configuration but Portico exports only to 'opentelemetry' (OTLP over HTTP) and 'zipkin'; requests are not traced`, 'spec.driver');
    return undefined;
  }
  const driver = spec.driver;
  const parsed = ctx.parsedService(spec.service, false);
  if (typeof parsed === 'string') {
    ctx.report(r, 'InvalidService', parsed, 'spec.service');
    return undefined;
  }
  const config = spec.config ?? {};
  if (driver === 'opentelemetry' && parsed.port === 4317) {
    ctx.report(r, 'NotImplemented', `port 4317 is where collectors take OTLP over gRPC; Portico exports OTLP over HTTP (protobuf), usually on port 4318`, 'spec.service');
  }
  const path = config.collector_endpoint ?? DEFAULT_PATHS[driver];
  if (!path.startsWith('/')) {
    ctx.report(r, 'SchemaViolation', `config.collector_endpoint '${path}' must be a path starting with "/"`, 'spec.config.collector_endpoint');
    return undefined;
  }
  const version = config.collector_endpoint_version;
  if (version !== undefined && (driver === 'opentelemetry' || version !== 'HTTP_JSON')) {
    ctx.report(r, 'NotImplemented', `collector_endpoint_version '${version}' has no effect: the ${driver} driver sends ${driver === 'zipkin' ? 'Zipkin v2 JSON' : 'OTLP protobuf'}`, 'spec.config.collector_endpoint_version');
  }
  if (config.shared_span_context === true) {
    ctx.report(r, 'NotImplemented', 'shared_span_context has no effect: the server and client spans of a request always have their own span ids', 'spec.config.shared_span_context');
  }
  if (driver === 'opentelemetry' && config.trace_id_128bit === false) {
    ctx.report(r, 'NotImplemented', 'trace_id_128bit: false has no effect with the opentelemetry driver: W3C trace ids are 128-bit', 'spec.config.trace_id_128bit');
  }

  const propagation: ('TRACE_CONTEXT' | 'B3')[] = [];
  for (const [i, mode] of (config.propagation_modes ?? []).entries()) {
    if (mode === 'TRACE_CONTEXT' || mode === 'B3') {
      if (!propagation.includes(mode)) propagation.push(mode);
    } else {
      ctx.report(r, 'NotImplemented', `propagation mode '${mode}' is not implemented (Portico reads and writes TRACE_CONTEXT and B3); it is left out`, `spec.config.propagation_modes[${i}]`);
    }
  }
  if (propagation.length === 0) propagation.push(...DEFAULT_PROPAGATION[driver]);

  const customTags: IRTraceTag[] = [];
  for (const [i, t] of (spec.custom_tags ?? []).entries()) {
    const kinds = [t.literal, t.environment, t.request_header].filter((x) => x !== undefined).length;
    if (kinds !== 1) {
      ctx.report(r, 'SchemaViolation', `custom tag '${t.tag}' needs exactly one of literal, environment and request_header (found ${kinds})`, `spec.custom_tags[${i}]`);
      return undefined;
    }
    if (t.literal) customTags.push({ tag: t.tag, literal: t.literal.value });
    else if (t.environment) customTags.push({ tag: t.tag, environment: tagSource(t.environment) });
    else if (t.request_header) customTags.push({ tag: t.tag, requestHeader: tagSource({ ...t.request_header, name: t.request_header.name.toLowerCase() }) });
  }

  const sampling = spec.sampling ?? {};
  const host = parsed.host.includes(':') ? `[${parsed.host}]` : parsed.host;
  return {
    driver,
    endpoint: `${parsed.scheme}://${host}:${parsed.port}${path}`,
    ...(config.collector_hostname !== undefined ? { collectorHostname: config.collector_hostname } : {}),
    serviceName: config.service_name ?? DEFAULT_TRACE_SERVICE_NAME,
    sampling: { client: sampling.client ?? 100, random: sampling.random ?? 100, overall: sampling.overall ?? 100 },
    propagation,
    traceId64Bit: driver === 'zipkin' && config.trace_id_128bit === false,
    customTags,
    source: { kind: r.kind, name: r.name, namespace: r.namespace, origin: r.origin },
  };
}

function tagSource(s: { name: string; default_value?: string }): { name: string; defaultValue?: string } {
  return s.default_value !== undefined ? { name: s.name, defaultValue: s.default_value } : { name: s.name };
}
