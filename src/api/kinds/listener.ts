// The Listener kind: a port the gateway binds, its protocol stack, how it decides whether a request
// is secure (securityModel), and which Hosts it serves (hostBinding).

import { Type, type Static } from '@sinclair/typebox';
import { AmbassadorId, Closed, LabelSelectorSchema, Port } from './shared-fields.js';

export const ListenerProtocolSchema = Type.Union([
  Type.Literal('HTTP'),
  Type.Literal('HTTPS'),
  Type.Literal('HTTPPROXY'),
  Type.Literal('HTTPSPROXY'),
  Type.Literal('TCP'),
  Type.Literal('TLS'),
  Type.Literal('UDP'),
]);

export const ProtocolStackElementSchema = Type.Union([
  Type.Literal('HTTP'),
  Type.Literal('PROXY'),
  Type.Literal('TLS'),
  Type.Literal('TCP'),
  Type.Literal('UDP'),
]);

export const SecurityModelSchema = Type.Union([Type.Literal('XFP'), Type.Literal('SECURE'), Type.Literal('INSECURE')]);

export const ListenerSpecSchema = Closed({
  ambassador_id: Type.Optional(AmbassadorId),
  port: Port,
  protocol: Type.Optional(ListenerProtocolSchema),
  protocolStack: Type.Optional(Type.Array(ProtocolStackElementSchema, { minItems: 1 })),
  securityModel: SecurityModelSchema,
  l7Depth: Type.Optional(Type.Integer({ minimum: 0 })),
  statsPrefix: Type.Optional(Type.String()),
  hostBinding: Type.Optional(
    Closed({
      namespace: Type.Optional(
        Closed({ from: Type.Optional(Type.Union([Type.Literal('SELF'), Type.Literal('ALL'), Type.Literal('SELECTOR')])) }),
      ),
      selector: Type.Optional(LabelSelectorSchema),
    }),
  ),
});
export type ListenerSpec = Static<typeof ListenerSpecSchema>;

// l7Depth is not listed: the request path trusts that many proxies for X-Forwarded-For and -Proto.
export const LISTENER_NOT_IMPLEMENTED = ['statsPrefix'] as const;
