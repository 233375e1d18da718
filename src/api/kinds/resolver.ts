// Portico's own Resolver kind (portico.dev/v1alpha1): names upstream endpoints that live outside
// Kubernetes, service name → list of "host:port". IP literals and DNS names work without it.

import { Type, type Static } from '@sinclair/typebox';
import { AmbassadorId, Closed } from './shared-fields.js';

/** host:port, where host is a DNS name, an IPv4 literal or a bracketed IPv6 literal. */
export const EndpointAddress = Type.String({
  pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):[0-9]{1,5}$',
  description: 'host:port',
});

export const ResolverSpecSchema = Closed({
  ambassador_id: Type.Optional(AmbassadorId),
  services: Type.Record(Type.String({ minLength: 1 }), Type.Array(EndpointAddress, { minItems: 1 })),
});
export type ResolverSpec = Static<typeof ResolverSpecSchema>;

export const RESOLVER_NOT_IMPLEMENTED = [] as const;
