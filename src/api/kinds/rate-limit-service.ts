// The RateLimitService kind (getambassador.io/v3alpha1): the gRPC service (Envoy's
// envoy.service.ratelimit.v3 API) that labelled routes ask before they forward a request.

import { Type, type Static } from '@sinclair/typebox';
import { AmbassadorId, Closed, Milliseconds, V2ExplicitTLSSchema } from './shared-fields.js';

export const RateLimitServiceSpecSchema = Closed({
  ambassador_id: Type.Optional(AmbassadorId),
  service: Type.String({ minLength: 1 }),
  timeout_ms: Type.Optional(Milliseconds),
  domain: Type.Optional(Type.String()),
  /** A TLSContext name: TLS to the service with its CA and client certificate. */
  tls: Type.Optional(Type.String()),
  protocol_version: Type.Optional(Type.Union([Type.Literal('v2'), Type.Literal('v3')])),
  stats_name: Type.Optional(Type.String()),
  failure_mode_deny: Type.Optional(Type.Boolean()),
  grpc: Type.Optional(Closed({ use_resource_exhausted_code: Type.Optional(Type.Boolean()) })),
  v2ExplicitTLS: Type.Optional(V2ExplicitTLSSchema),
});
export type RateLimitServiceSpec = Static<typeof RateLimitServiceSpecSchema>;

/** Accepted, without effect in Portico: Envoy statistics names. */
export const RATE_LIMIT_SERVICE_NOT_IMPLEMENTED = ['stats_name'] as const;
