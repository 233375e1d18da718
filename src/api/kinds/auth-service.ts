// The AuthService kind (getambassador.io): an external authorization service every routed request
// is checked with (HTTP or gRPC ext_authz), unless its Mapping sets bypass_auth.

import { Type, type Static } from '@sinclair/typebox';
import { AmbassadorId, CircuitBreakerSchema, Closed, Milliseconds, StringList, StringMap, V2ExplicitTLSSchema } from './shared-fields.js';

export const AuthServiceSpecSchema = Closed({
  ambassador_id: Type.Optional(AmbassadorId),
  /** [scheme://]host[:port]: https:// (or `tls`) means TLS to the service. */
  auth_service: Type.String({ minLength: 1 }),
  path_prefix: Type.Optional(Type.String()),
  /** A TLSContext name, or true (v2's spelling) for TLS without one. */
  tls: Type.Optional(Type.Union([Type.String(), Type.Boolean()])),
  proto: Type.Optional(Type.Union([Type.Literal('http'), Type.Literal('grpc')])),
  timeout_ms: Type.Optional(Milliseconds),
  allowed_request_headers: Type.Optional(StringList),
  allowed_authorization_headers: Type.Optional(StringList),
  add_auth_headers: Type.Optional(StringMap),
  /** Deprecated: include_body {max_bytes: 4096, allow_partial: true}. */
  allow_request_body: Type.Optional(Type.Boolean()),
  add_linkerd_headers: Type.Optional(Type.Boolean()),
  failure_mode_allow: Type.Optional(Type.Boolean()),
  include_body: Type.Optional(Closed({ max_bytes: Type.Integer({ minimum: 1 }), allow_partial: Type.Boolean() })),
  status_on_error: Type.Optional(Closed({ code: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })) })),
  protocol_version: Type.Optional(Type.Union([Type.Literal('v2'), Type.Literal('v3')])),
  stats_name: Type.Optional(Type.String()),
  circuit_breakers: Type.Optional(Type.Array(CircuitBreakerSchema)),
  v2ExplicitTLS: Type.Optional(V2ExplicitTLSSchema),
});
export type AuthServiceSpec = Static<typeof AuthServiceSpecSchema>;

/** Valid fields without effect in Portico (paths relative to spec). */
export const AUTH_SERVICE_NOT_IMPLEMENTED = ['stats_name'] as const;
