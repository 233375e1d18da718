// The TCPMapping kind: a layer-4 route from a port (and optionally a TLS SNI name) to an upstream
// service. A port without a Listener implies one.

import { Type, type Static } from '@sinclair/typebox';
import { AmbassadorId, CircuitBreakerSchema, Closed, ObjectName, Port, V2ExplicitTLSSchema } from './shared-fields.js';

export const TCPMappingSpecSchema = Closed({
  ambassador_id: Type.Optional(AmbassadorId),
  port: Port,
  /** SNI name to match; setting it makes the implied listener terminate TLS. */
  host: Type.Optional(Type.String({ minLength: 1 })),
  address: Type.Optional(Type.String({ minLength: 1 })),
  service: Type.String({ minLength: 1 }),
  weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  /** A TLSContext name; v2's boolean form is normalised by the loader (true → https:// service). */
  tls: Type.Optional(Type.Union([Type.String(), Type.Boolean()])),
  /** Emissary types this as a string of digits; both forms are accepted. */
  idle_timeout_ms: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^[0-9]+$' })])),
  resolver: Type.Optional(ObjectName),
  enable_ipv4: Type.Optional(Type.Boolean()),
  enable_ipv6: Type.Optional(Type.Boolean()),
  circuit_breakers: Type.Optional(Type.Array(CircuitBreakerSchema)),
  cluster_tag: Type.Optional(Type.String()),
  stats_name: Type.Optional(Type.String()),
  v2ExplicitTLS: Type.Optional(V2ExplicitTLSSchema),
});
export type TCPMappingSpec = Static<typeof TCPMappingSpecSchema>;

export const TCP_MAPPING_NOT_IMPLEMENTED = ['address', 'enable_ipv4', 'enable_ipv6', 'cluster_tag', 'stats_name'] as const;
