// The Mapping kind (getambassador.io/v3alpha1): an HTTP/gRPC/WebSocket route from a request match to
// an upstream service. Field names keep Emissary's snake_case spelling; compile reads MappingSpec.

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
  RetryPolicySchema,
  StringList,
  StringMap,
  V2ExplicitTLSSchema,
} from './shared-fields.js';

export const RegexMapSchema = Closed({
  pattern: Type.String(),
  substitution: Type.String(),
});

/** One rate-limit label specifier: exactly one of the five forms. */
export const MappingLabelSpecifierSchema = Type.Union([
  Closed({ source_cluster: Closed({ key: Type.Literal('source_cluster') }) }),
  Closed({ destination_cluster: Closed({ key: Type.Literal('destination_cluster') }) }),
  Closed({
    request_headers: Closed({
      key: Type.String({ minLength: 1 }),
      header_name: Type.String({ minLength: 1 }),
      omit_if_not_present: Type.Optional(Type.Boolean()),
    }),
  }),
  Closed({ remote_address: Closed({ key: Type.Literal('remote_address') }) }),
  // v2Shorthand: Emissary's own mark on a label its v2 → v3alpha1 conversion wrote (no effect).
  Closed({ generic_key: Closed({ key: Type.Optional(Type.String()), value: Type.String(), v2Shorthand: Type.Optional(Type.Boolean()) }) }),
]);

/** labels: domain → list of groups; a group is a one-key map from its name to specifiers. */
export const MappingLabelsSchema = Type.Record(
  Type.String(),
  Type.Array(Type.Record(Type.String(), Type.Array(MappingLabelSpecifierSchema), { minProperties: 1, maxProperties: 1 })),
);

export const DocsInfoSchema = Closed({
  path: Type.Optional(Type.String()),
  url: Type.Optional(Type.String()),
  ignored: Type.Optional(Type.Boolean()),
  display_name: Type.Optional(Type.String()),
  timeout_ms: Type.Optional(Milliseconds),
});

export const HealthCheckSchema = Closed({
  unhealthy_threshold: Type.Optional(Type.Integer({ minimum: 0 })),
  healthy_threshold: Type.Optional(Type.Integer({ minimum: 0 })),
  interval: Type.Optional(Type.String()),
  timeout: Type.Optional(Type.String()),
  health_check: Closed({
    http: Type.Optional(
      Closed({
        path: Type.String(),
        hostname: Type.Optional(Type.String()),
        add_request_headers: Type.Optional(AddedHeadersSchema),
        remove_request_headers: Type.Optional(StringList),
        expected_statuses: Type.Optional(
          Type.Array(Closed({ min: Type.Integer({ minimum: 100, maximum: 599 }), max: Type.Integer({ minimum: 100, maximum: 599 }) })),
        ),
      }),
    ),
    grpc: Type.Optional(Closed({ upstream_name: Type.String(), authority: Type.Optional(Type.String()) })),
  }),
});

export const MappingSpecSchema = Closed({
  ambassador_id: Type.Optional(AmbassadorId),

  // match
  prefix: Type.String({ minLength: 1 }),
  prefix_regex: Type.Optional(Type.Boolean()),
  prefix_exact: Type.Optional(Type.Boolean()),
  case_sensitive: Type.Optional(Type.Boolean()),
  hostname: Type.Optional(Type.String({ minLength: 1 })),
  host: Type.Optional(Type.String({ minLength: 1 })),
  host_regex: Type.Optional(Type.Boolean()),
  method: Type.Optional(Type.String({ minLength: 1 })),
  method_regex: Type.Optional(Type.Boolean()),
  headers: Type.Optional(StringMap),
  regex_headers: Type.Optional(StringMap),
  query_parameters: Type.Optional(StringMap),
  regex_query_parameters: Type.Optional(StringMap),
  precedence: Type.Optional(Type.Integer()),
  /** Header names whose v2 value was `true` (match on presence). Set only by v2 normalisation. */
  v2BoolHeaders: Type.Optional(StringList),
  /** Query parameter names whose v2 value was `true` (match on presence). */
  v2BoolQueryParameters: Type.Optional(StringList),

  // action
  service: Type.String({ minLength: 1 }),
  weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  shadow: Type.Optional(Type.Boolean()),
  rewrite: Type.Optional(Type.String()),
  regex_rewrite: Type.Optional(RegexMapSchema),
  host_rewrite: Type.Optional(Type.String()),
  auto_host_rewrite: Type.Optional(Type.Boolean()),
  add_request_headers: Type.Optional(AddedHeadersSchema),
  add_response_headers: Type.Optional(AddedHeadersSchema),
  remove_request_headers: Type.Optional(StringList),
  remove_response_headers: Type.Optional(StringList),
  host_redirect: Type.Optional(Type.Boolean()),
  path_redirect: Type.Optional(Type.String()),
  prefix_redirect: Type.Optional(Type.String()),
  regex_redirect: Type.Optional(RegexMapSchema),
  redirect_response_code: Type.Optional(
    Type.Union([Type.Literal(301), Type.Literal(302), Type.Literal(303), Type.Literal(307), Type.Literal(308)]),
  ),
  grpc: Type.Optional(Type.Boolean()),
  allow_upgrade: Type.Optional(StringList),
  use_websocket: Type.Optional(Type.Boolean()),
  cors: Type.Optional(CORSSchema),
  bypass_auth: Type.Optional(Type.Boolean()),
  auth_context_extensions: Type.Optional(StringMap),
  bypass_error_response_overrides: Type.Optional(Type.Boolean()),
  error_response_overrides: Type.Optional(Type.Array(ErrorResponseOverrideSchema, { minItems: 1 })),

  // upstream
  tls: Type.Optional(Type.String()),
  resolver: Type.Optional(ObjectName),
  timeout_ms: Type.Optional(Milliseconds),
  connect_timeout_ms: Type.Optional(Milliseconds),
  idle_timeout_ms: Type.Optional(Milliseconds),
  cluster_idle_timeout_ms: Type.Optional(Milliseconds),
  cluster_max_connection_lifetime_ms: Type.Optional(Milliseconds),
  retry_policy: Type.Optional(RetryPolicySchema),
  load_balancer: Type.Optional(LoadBalancerSchema),
  circuit_breakers: Type.Optional(Type.Array(CircuitBreakerSchema)),
  keepalive: Type.Optional(KeepAliveSchema),
  health_checks: Type.Optional(Type.Array(HealthCheckSchema, { minItems: 1 })),
  outlier_detection: Type.Optional(Type.String()),
  dns_type: Type.Optional(Type.Union([Type.Literal('strict_dns'), Type.Literal('logical_dns')])),
  respect_dns_ttl: Type.Optional(Type.Boolean()),
  enable_ipv4: Type.Optional(Type.Boolean()),
  enable_ipv6: Type.Optional(Type.Boolean()),
  cluster_tag: Type.Optional(Type.String()),
  stats_name: Type.Optional(Type.String()),
  add_linkerd_headers: Type.Optional(Type.Boolean()),
  priority: Type.Optional(Type.String()),

  // other
  labels: Type.Optional(MappingLabelsSchema),
  docs: Type.Optional(DocsInfoSchema),
  envoy_override: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  modules: Type.Optional(Type.Array(Type.Record(Type.String(), Type.Unknown()))),
  v2ExplicitTLS: Type.Optional(V2ExplicitTLSSchema),
});

export type MappingSpec = Static<typeof MappingSpecSchema>;

/** Valid Emissary fields Portico does not act on yet: loading warns (NotImplemented) naming each. */
export const MAPPING_NOT_IMPLEMENTED = [
  'docs',
  'envoy_override',
  'modules',
  'keepalive',
  'outlier_detection',
  'dns_type',
  'respect_dns_ttl',
  'enable_ipv4',
  'enable_ipv6',
  'cluster_tag',
  'stats_name',
  'add_linkerd_headers',
  'priority',
  'cluster_max_connection_lifetime_ms',
  'error_response_overrides',
  'bypass_error_response_overrides',
  'retry_policy.retry_back_off',
] as const;

/**
 * A Mapping's exact `:authority` header (the name in any case), Emissary's older spelling of its host:
 * load, claims and compile read the Mapping's host from it alike.
 */
export function exactAuthorityHeader(headers: unknown): { readonly key: string; readonly value: string } | undefined {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return undefined;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === ':authority' && typeof value === 'string') return { key, value };
  return undefined;
}
