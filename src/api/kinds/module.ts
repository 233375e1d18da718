// The Module kind, name `ambassador`: gateway-wide settings, every key Emissary documents. A typo
// (`use_remote_adress`) is a warning with a suggestion, a valid key Portico ignores is a warning.

import { Type, type Static } from '@sinclair/typebox';
import {
  AddedHeadersSchema,
  AmbassadorId,
  CircuitBreakerSchema,
  Closed,
  CORSSchema,
  ErrorResponseOverrideSchema,
  KeepAliveSchema,
  LoadBalancerSchema,
  Milliseconds,
  ObjectName,
  Port,
  RetryPolicySchema,
  StringList,
} from './shared-fields.js';

/** Used V8 heap over its limit; 0 turns the heap signal off for that action. */
const HeapRatio = Type.Number({ minimum: 0, maximum: 1, description: 'a fraction of the heap limit from 0 to 1 (0 = off)' });

/** The probe and diagnostics routes Emissary maps by itself: on or off, and where. */
const ProbeSchema = Closed({
  enabled: Type.Optional(Type.Boolean()),
  prefix: Type.Optional(Type.String()),
  rewrite: Type.Optional(Type.String()),
  service: Type.Optional(Type.String()),
});

/** The keys a Mapping takes from the Module's defaults when it does not set them (Emissary's lookup_default). */
const mappingDefaults = {
  add_request_headers: Type.Optional(AddedHeadersSchema),
  add_response_headers: Type.Optional(AddedHeadersSchema),
  remove_request_headers: Type.Optional(StringList),
  remove_response_headers: Type.Optional(StringList),
  stats_name: Type.Optional(Type.String()),
};

/**
 * Emissary's `defaults`: classes of defaults (only `httpmapping` is read, by Mappings), and
 * top-level keys used when a class does not set them. `tls_secret_namespacing` is the default of
 * TLSContext `secret_namespacing`.
 */
const DefaultsSchema = Closed({
  httpmapping: Type.Optional(Closed(mappingDefaults)),
  ...mappingDefaults,
  tls_secret_namespacing: Type.Optional(Type.Boolean()),
});

const IPRuleSchema = Type.Union([
  Closed({ peer: Type.String({ minLength: 1 }) }),
  Closed({ remote: Type.String({ minLength: 1 }) }),
]);

export const AmbassadorModuleConfigSchema = Closed({
  // request handling and security
  use_remote_address: Type.Optional(Type.Boolean()),
  xff_num_trusted_hops: Type.Optional(Type.Integer({ minimum: 0 })),
  use_proxy_proto: Type.Optional(Type.Boolean()),
  x_forwarded_proto_redirect: Type.Optional(Type.Boolean()),
  merge_slashes: Type.Optional(Type.Boolean()),
  reject_requests_with_escaped_slashes: Type.Optional(Type.Boolean()),
  strip_matching_host_port: Type.Optional(Type.Boolean()),
  preserve_external_request_id: Type.Optional(Type.Boolean()),
  headers_with_underscores_action: Type.Optional(
    Type.Union([Type.Literal('ALLOW'), Type.Literal('REJECT_REQUEST'), Type.Literal('DROP_HEADER')]),
  ),
  max_request_headers_kb: Type.Optional(Type.Integer({ minimum: 1, maximum: 8192 })),
  server_name: Type.Optional(Type.String()),
  suppress_envoy_headers: Type.Optional(Type.Boolean()),
  buffer_limit_bytes: Type.Optional(Type.Integer({ minimum: 1 })),
  allow_chunked_length: Type.Optional(Type.Boolean()),
  enable_http10: Type.Optional(Type.Boolean()),
  ip_allow: Type.Optional(Type.Array(IPRuleSchema)),
  ip_deny: Type.Optional(Type.Array(IPRuleSchema)),
  forward_client_cert_details: Type.Optional(
    Type.Union([
      Type.Literal('SANITIZE'),
      Type.Literal('FORWARD_ONLY'),
      Type.Literal('APPEND_FORWARD'),
      Type.Literal('SANITIZE_SET'),
      Type.Literal('ALWAYS_FORWARD_ONLY'),
    ]),
  ),
  set_current_client_cert_details: Type.Optional(
    Closed({
      subject: Type.Optional(Type.Boolean()),
      cert: Type.Optional(Type.Boolean()),
      chain: Type.Optional(Type.Boolean()),
      dns: Type.Optional(Type.Boolean()),
      uri: Type.Optional(Type.Boolean()),
    }),
  ),
  header_case_overrides: Type.Optional(StringList),
  proper_case: Type.Optional(Type.Boolean()),

  // timeouts
  cluster_request_timeout_ms: Type.Optional(Milliseconds),
  cluster_idle_timeout_ms: Type.Optional(Milliseconds),
  cluster_max_connection_lifetime_ms: Type.Optional(Milliseconds),
  listener_idle_timeout_ms: Type.Optional(Milliseconds),

  // upstream defaults
  cors: Type.Optional(CORSSchema),
  retry_policy: Type.Optional(RetryPolicySchema),
  load_balancer: Type.Optional(LoadBalancerSchema),
  circuit_breakers: Type.Optional(Type.Union([CircuitBreakerSchema, Type.Array(CircuitBreakerSchema)])),
  keepalive: Type.Optional(KeepAliveSchema),
  enable_ipv4: Type.Optional(Type.Boolean()),
  enable_ipv6: Type.Optional(Type.Boolean()),
  add_linkerd_headers: Type.Optional(Type.Boolean()),
  resolver: Type.Optional(ObjectName),
  use_ambassador_namespace_for_service_resolution: Type.Optional(Type.Boolean()),
  defaults: Type.Optional(DefaultsSchema),
  error_response_overrides: Type.Optional(Type.Array(ErrorResponseOverrideSchema, { minItems: 1 })),
  prune_unreachable_routes: Type.Optional(Type.Boolean()),

  // regex engine
  regex_type: Type.Optional(Type.Union([Type.Literal('safe'), Type.Literal('unsafe')])),
  regex_max_size: Type.Optional(Type.Integer({ minimum: 1 })),

  // protocols
  enable_grpc_web: Type.Optional(Type.Boolean()),
  enable_grpc_http11_bridge: Type.Optional(Type.Boolean()),
  grpc_stats: Type.Optional(
    Closed({
      all_methods: Type.Optional(Type.Boolean()),
      upstream_stats: Type.Optional(Type.Boolean()),
      services: Type.Optional(
        Type.Array(Closed({ name: Type.String(), method_names: Type.Optional(StringList) })),
      ),
    }),
  ),
  lua_scripts: Type.Optional(Type.String()),
  gzip: Type.Optional(
    Closed({
      enabled: Type.Optional(Type.Boolean()),
      min_content_length: Type.Optional(Type.Integer({ minimum: 0 })),
      memory_level: Type.Optional(Type.Integer({ minimum: 1, maximum: 9 })),
      compression_level: Type.Optional(Type.Union([Type.Literal('BEST'), Type.Literal('SPEED'), Type.Literal('DEFAULT')])),
      compression_strategy: Type.Optional(
        Type.Union([Type.Literal('DEFAULT'), Type.Literal('FILTERED'), Type.Literal('HUFFMAN'), Type.Literal('RLE')]),
      ),
      window_bits: Type.Optional(Type.Integer({ minimum: 9, maximum: 15 })),
      content_type: Type.Optional(StringList),
      disable_on_etag_header: Type.Optional(Type.Boolean()),
      remove_accept_encoding_header: Type.Optional(Type.Boolean()),
    }),
  ),
  // Portico's own key (Emissary has no brotli): the same response rules as gzip, brotli's parameters.
  portico_brotli: Type.Optional(
    Closed({
      enabled: Type.Optional(Type.Boolean()),
      min_content_length: Type.Optional(Type.Integer({ minimum: 0 })),
      quality: Type.Optional(Type.Integer({ minimum: 0, maximum: 11 })),
      window_bits: Type.Optional(Type.Integer({ minimum: 10, maximum: 24 })),
      content_type: Type.Optional(StringList),
      disable_on_etag_header: Type.Optional(Type.Boolean()),
      remove_accept_encoding_header: Type.Optional(Type.Boolean()),
    }),
  ),
  buffer: Type.Optional(Closed({ max_request_bytes: Type.Integer({ minimum: 1 }) })),

  // observability and operations
  diagnostics: Type.Optional(Closed({ ...ProbeSchema.properties, allow_non_local: Type.Optional(Type.Boolean()) })),
  liveness_probe: Type.Optional(ProbeSchema),
  readiness_probe: Type.Optional(ProbeSchema),
  envoy_log_type: Type.Optional(Type.Union([Type.Literal('text'), Type.Literal('json'), Type.Literal('typed_json')])),
  envoy_log_path: Type.Optional(Type.String()),
  envoy_log_format: Type.Optional(Type.Union([Type.String(), Type.Record(Type.String(), Type.String())])),
  envoy_validation_timeout: Type.Optional(Type.Integer({ minimum: 0 })),
  default_label_domain: Type.Optional(Type.String()),
  default_labels: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  admin_port: Type.Optional(Port),
  diag_port: Type.Optional(Port),
  service_port: Type.Optional(Port),
  statsd: Type.Optional(Type.Unknown()),
  debug_mode: Type.Optional(Type.Boolean()),
  auth_enabled: Type.Optional(Type.Boolean()),
  /** Envoy runtime flags, passed through by Emissary. */
  runtime_flags: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  /** Deprecated in Emissary, which reports it and ignores it. */
  tls: Type.Optional(Type.Unknown()),

  // Portico's own keys (not Emissary's): connection caps per listener and serving process, and the
  // overload monitor's thresholds (docs/reference/overload.md).
  portico_max_connections: Type.Optional(Type.Integer({ minimum: 0, description: 'an integer >= 0 (0 = no cap)' })),
  portico_max_connections_per_client: Type.Optional(
    Type.Integer({ minimum: 0, description: 'an integer >= 0 (0 = no cap)' }),
  ),
  portico_credential_headers: Type.Optional(
    Type.Array(Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$', description: 'a header name' }), {
      description: 'more header names whose values are credentials (redacted wherever shown)',
    }),
  ),
  /** The admin addresses of the other replicas, when they reach each other without Redis (docs/fleet.md). */
  portico_fleet_peers: Type.Optional(
    Type.Array(Type.String({ pattern: '^https?://[^/?#\\s]+/?$', description: 'an admin URL: http(s)://HOST:PORT' }), { maxItems: 100 }),
  ),
  portico_rate_limit: Type.Optional(
    Closed({
      /** redis:// or rediss://, without credentials: compile checks it without echoing the value. */
      redis_url: Type.Optional(Type.String()),
      timeout_ms: Type.Optional(Type.Integer({ minimum: 1, description: 'milliseconds, integer >= 1' })),
      failure_mode_deny: Type.Optional(Type.Boolean()),
    }),
  ),
  portico_overload: Type.Optional(
    Closed({
      heap_disable_keepalive_ratio: Type.Optional(HeapRatio),
      heap_shed_ratio: Type.Optional(HeapRatio),
      event_loop_delay_disable_keepalive_ms: Type.Optional(Milliseconds),
      event_loop_delay_shed_ms: Type.Optional(Milliseconds),
    }),
  ),
});
export type AmbassadorModuleConfig = Static<typeof AmbassadorModuleConfigSchema>;

export const ModuleSpecSchema = Closed({
  ambassador_id: Type.Optional(AmbassadorId),
  config: Type.Optional(AmbassadorModuleConfigSchema),
});
export type ModuleSpec = Static<typeof ModuleSpecSchema>;

/** Keys of `config` Portico accepts but does not act on yet (paths relative to spec). */
export const MODULE_NOT_IMPLEMENTED = [
  'config.x_forwarded_proto_redirect',
  'config.suppress_envoy_headers',
  'config.buffer_limit_bytes',
  'config.allow_chunked_length',
  'config.enable_http10',
  'config.header_case_overrides',
  'config.proper_case',
  'config.cluster_max_connection_lifetime_ms',
  'config.keepalive',
  'config.enable_ipv4',
  'config.enable_ipv6',
  'config.add_linkerd_headers',
  'config.resolver',
  'config.error_response_overrides',
  'config.prune_unreachable_routes',
  'config.regex_type',
  'config.diagnostics',
  'config.enable_grpc_web',
  'config.enable_grpc_http11_bridge',
  'config.grpc_stats',
  'config.liveness_probe',
  'config.readiness_probe',
  'config.envoy_log_type',
  'config.envoy_log_path',
  'config.envoy_log_format',
  'config.envoy_validation_timeout',
  'config.admin_port',
  'config.diag_port',
  'config.service_port',
  'config.statsd',
  'config.debug_mode',
  'config.auth_enabled',
  'config.runtime_flags',
  'config.tls',
  'config.defaults.httpmapping.stats_name',
  'config.defaults.stats_name',
] as const;
