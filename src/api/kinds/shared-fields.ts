// Field shapes that several kinds share (ambassador_id, circuit breakers, CORS, retry policy, label
// selectors); each kind file composes its schema from these so a field means the same thing everywhere.

import { Type, type TSchema, type TProperties, type ObjectOptions } from '@sinclair/typebox';

/** Every object in a spec is closed: an unknown field is reported (a warning naming it) and ignored, never silently dropped. */
export function Closed<T extends TProperties>(properties: T, options: ObjectOptions = {}) {
  return Type.Object(properties, { ...options, additionalProperties: false });
}

export const StringMap = Type.Record(Type.String(), Type.String());
export const StringList = Type.Array(Type.String());
export const Port = Type.Integer({ minimum: 1, maximum: 65535 });
export const Milliseconds = Type.Integer({ minimum: 0, description: 'milliseconds, integer' });

/** A duration written with a unit, as Emissary accepts it ("0.5s", "500ms", "1m"). */
export const DurationString = Type.String({
  pattern: '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$',
  description: 'duration with a unit: "500ms", "0.5s", "1m"',
});

/** After normalisation ambassador_id is always a list (v2 allowed a single string). */
export const AmbassadorId = Type.Array(Type.String({ minLength: 1 }));

/** A name of an object in the cluster (DNS-1123-ish), used for references. */
export const ObjectName = Type.String({ minLength: 1, maxLength: 253 });

export const CircuitBreakerSchema = Closed({
  priority: Type.Optional(Type.Union([Type.Literal('default'), Type.Literal('high')])),
  max_connections: Type.Optional(Type.Integer({ minimum: 0 })),
  max_pending_requests: Type.Optional(Type.Integer({ minimum: 0 })),
  max_requests: Type.Optional(Type.Integer({ minimum: 0 })),
  max_retries: Type.Optional(Type.Integer({ minimum: 0 })),
});

export const RetryOn = Type.Union([
  Type.Literal('5xx'),
  Type.Literal('gateway-error'),
  Type.Literal('connect-failure'),
  Type.Literal('retriable-4xx'),
  Type.Literal('refused-stream'),
  Type.Literal('retriable-status-codes'),
]);

export const RetryPolicySchema = Closed({
  retry_on: Type.Optional(RetryOn),
  /** Envoy's uint32; above 10 is a warning (AboveLimit), kept as Emissary keeps it. */
  num_retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295 })),
  per_try_timeout: Type.Optional(DurationString),
  retry_back_off: Type.Optional(
    Closed({
      base_interval: Type.String({ pattern: '^[0-9]+(\\.[0-9]{1,9})?s$' }),
      max_interval: Type.Optional(Type.String({ pattern: '^[0-9]+(\\.[0-9]{1,9})?s$' })),
    }),
  ),
});

/**
 * CORS. `origins` (and the other lists) may be written as one comma-separated string; the loader
 * normalises every list field to string[] before validation, so the schema holds only the list form.
 */
export const CORSSchema = Closed({
  origins: Type.Optional(StringList),
  methods: Type.Optional(StringList),
  headers: Type.Optional(StringList),
  exposed_headers: Type.Optional(StringList),
  credentials: Type.Optional(Type.Boolean()),
  max_age: Type.Optional(Type.String()),
});

export const LoadBalancerSchema = Closed({
  policy: Type.Union([
    Type.Literal('round_robin'),
    Type.Literal('ring_hash'),
    Type.Literal('maglev'),
    Type.Literal('least_request'),
  ]),
  header: Type.Optional(Type.String({ minLength: 1 })),
  cookie: Type.Optional(
    Closed({
      name: Type.String({ minLength: 1 }),
      ttl: Type.Optional(Type.String()),
      path: Type.Optional(Type.String()),
    }),
  ),
  source_ip: Type.Optional(Type.Boolean()),
});

export const KeepAliveSchema = Closed({
  probes: Type.Optional(Type.Integer({ minimum: 0 })),
  idle_time: Type.Optional(Type.Integer({ minimum: 0 })),
  /** What Emissary's cluster code reads (its CRD says idle_time); both are accepted. */
  time: Type.Optional(Type.Integer({ minimum: 0 })),
  interval: Type.Optional(Type.Integer({ minimum: 0 })),
});

export const ErrorResponseOverrideSchema = Closed({
  on_status_code: Type.Integer({ minimum: 400, maximum: 599 }),
  body: Closed({
    text_format: Type.Optional(Type.String()),
    json_format: Type.Optional(StringMap),
    text_format_source: Type.Optional(Closed({ filename: Type.String() })),
    content_type: Type.Optional(Type.String()),
  }),
});

export const LabelSelectorSchema = Closed({
  matchLabels: Type.Optional(StringMap),
  matchExpressions: Type.Optional(
    Type.Array(
      Closed({
        key: Type.String({ minLength: 1 }),
        operator: Type.Union([
          Type.Literal('In'),
          Type.Literal('NotIn'),
          Type.Literal('Exists'),
          Type.Literal('DoesNotExist'),
        ]),
        values: Type.Optional(StringList),
      }),
    ),
  ),
});

/**
 * A header value to add: a plain string, or {value, append}, or {valueFrom: {secretKeyRef: {name,
 * key}}, append} (Portico's: from the secrets directory). One object shape, so that a misspelt field
 * gets a did-you-mean; compile requires exactly one of value and valueFrom.
 */
export const AddedHeaderSchema = Type.Union([
  Type.String(),
  Closed({
    value: Type.Optional(Type.String()),
    valueFrom: Type.Optional(Closed({ secretKeyRef: Closed({ name: Type.String({ minLength: 1, maxLength: 253 }), key: Type.String({ minLength: 1, maxLength: 253 }) }) })),
    append: Type.Optional(Type.Boolean()),
  }),
]);
export const AddedHeadersSchema = Type.Record(Type.String({ minLength: 1 }), AddedHeaderSchema);

/** Emissary's bookkeeping for v2 round-trips: accepted, no effect on routing. */
export const V2ExplicitTLSSchema = Closed({
  tls: Type.Optional(Type.String()),
  serviceScheme: Type.Optional(Type.String()),
});

/** Every kind's registry entry: the spec schema and the fields Portico does not implement yet. */
export interface KindSchemaEntry {
  readonly schema: TSchema;
  /** Spec field paths ("spec." omitted) valid in Emissary but not implemented by Portico. */
  readonly notImplemented: readonly string[];
}
