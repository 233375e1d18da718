// The TracingService kind: where spans go (driver and collector service), which requests are traced
// (sampling), which headers carry the trace (propagation) and what each span is tagged with.

import { Type, type Static } from '@sinclair/typebox';
import { AmbassadorId, Closed } from './shared-fields.js';

/** A percentage of requests, 0 to 100, as Emissary writes sampling. */
const Percent = Type.Number({ minimum: 0, maximum: 100, description: 'a percentage from 0 to 100' });

export const TraceSamplingSchema = Closed({
  /** Requests that carry x-client-trace-id (the client asks for a trace). */
  client: Type.Optional(Percent),
  /** Requests that arrive without a trace decision. */
  random: Type.Optional(Percent),
  /** Applied after the other two. */
  overall: Type.Optional(Percent),
});

export const PropagationMode = Type.Union([
  Type.Literal('TRACE_CONTEXT'),
  Type.Literal('B3'),
  Type.Literal('ENVOY'),
  Type.Literal('LIGHTSTEP'),
]);

export const TraceConfigSchema = Closed({
  access_token_file: Type.Optional(Type.String()),
  collector_cluster: Type.Optional(Type.String()),
  collector_endpoint: Type.Optional(Type.String({ minLength: 1 })),
  collector_endpoint_version: Type.Optional(Type.Union([Type.Literal('HTTP_JSON_V1'), Type.Literal('HTTP_JSON'), Type.Literal('HTTP_PROTO')])),
  collector_hostname: Type.Optional(Type.String({ minLength: 1 })),
  propagation_modes: Type.Optional(Type.Array(PropagationMode)),
  trace_id_128bit: Type.Optional(Type.Boolean()),
  shared_span_context: Type.Optional(Type.Boolean()),
  service_name: Type.Optional(Type.String({ minLength: 1 })),
});

const TagSource = {
  name: Type.String({ minLength: 1 }),
  default_value: Type.Optional(Type.String()),
};

/** One tag on every span: a literal, an environment variable of the serving process, or a request header. */
export const CustomTagSchema = Closed({
  tag: Type.String({ minLength: 1 }),
  literal: Type.Optional(Closed({ value: Type.String() })),
  environment: Type.Optional(Closed(TagSource)),
  request_header: Type.Optional(Closed(TagSource)),
});

export const TracingServiceSpecSchema = Closed({
  ambassador_id: Type.Optional(AmbassadorId),
  driver: Type.Union([Type.Literal('opentelemetry'), Type.Literal('zipkin'), Type.Literal('lightstep'), Type.Literal('datadog')]),
  service: Type.String({ minLength: 1 }),
  sampling: Type.Optional(TraceSamplingSchema),
  /** Deprecated: each name becomes a request_header custom tag. */
  tag_headers: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  custom_tags: Type.Optional(Type.Array(CustomTagSchema)),
  config: Type.Optional(TraceConfigSchema),
  stats_name: Type.Optional(Type.String()),
});
export type TracingServiceSpec = Static<typeof TracingServiceSpecSchema>;

/** Valid fields without effect in Portico (the lightstep-only settings and Envoy's stats prefix). */
export const TRACING_SERVICE_NOT_IMPLEMENTED = ['config.access_token_file', 'config.collector_cluster', 'stats_name'] as const;
