// The Host kind: a hostname (DNS glob) served by the gateway, with its TLS certificate, its
// insecure-request policy and the selector that attaches Mappings. camelCase, as Emissary spells it.

import { Type, type Static } from '@sinclair/typebox';
import { AmbassadorId, Closed, LabelSelectorSchema, ObjectName } from './shared-fields.js';
import { HostTLSConfigSchema } from './tls-context.js';

export const InsecureActionSchema = Type.Union([Type.Literal('Redirect'), Type.Literal('Reject'), Type.Literal('Route')]);

export const HostSpecSchema = Closed({
  ambassador_id: Type.Optional(AmbassadorId),
  hostname: Type.Optional(Type.String({ minLength: 1 })),
  /** Deprecated synonym of mappingSelector; the loader moves it to mappingSelector. */
  selector: Type.Optional(LabelSelectorSchema),
  mappingSelector: Type.Optional(LabelSelectorSchema),
  acmeProvider: Type.Optional(
    Closed({
      authority: Type.Optional(Type.String()),
      email: Type.Optional(Type.String()),
      privateKeySecret: Type.Optional(Closed({ name: ObjectName })),
      registration: Type.Optional(Type.String()),
    }),
  ),
  tlsSecret: Type.Optional(Closed({ name: ObjectName, namespace: Type.Optional(ObjectName) })),
  tlsContext: Type.Optional(Closed({ name: ObjectName })),
  tls: Type.Optional(HostTLSConfigSchema),
  requestPolicy: Type.Optional(
    Closed({
      insecure: Type.Optional(
        Closed({
          action: Type.Optional(InsecureActionSchema),
          /** -1 disables the extra cleartext port; 0 means none. */
          additionalPort: Type.Optional(Type.Integer({ minimum: -1, maximum: 65535 })),
        }),
      ),
    }),
  ),
  previewUrl: Type.Optional(
    Closed({ enabled: Type.Optional(Type.Boolean()), type: Type.Optional(Type.Literal('Path')) }),
  ),
});
export type HostSpec = Static<typeof HostSpecSchema>;

/**
 * ACME is not done by Portico (certificates arrive as Secrets from Git); previewUrl belongs to a
 * product Portico does not emulate. acmeProvider with authority "none" is the explicit opt-out and
 * is not reported (the loader checks that value).
 */
export const HOST_NOT_IMPLEMENTED = [
  'acmeProvider',
  'previewUrl',
  'tls.ecdh_curves',
  'tls.redirect_cleartext_from',
] as const;
