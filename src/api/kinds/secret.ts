// The Kubernetes v1 Secret, as far as the gateway needs it: TLS key material (kubernetes.io/tls)
// and opaque CA bundles. Values are base64 in `data`; the loader checks the encoding.

import { Type, type Static } from '@sinclair/typebox';
import { Closed } from './shared-fields.js';

/** Secret data keys as Kubernetes allows them: [-._a-zA-Z0-9]+. */
const SecretKey = Type.String({ pattern: '^[-._a-zA-Z0-9]+$', maxLength: 253 });

export const SecretSpecSchema = Closed({
  type: Type.Optional(Type.Union([Type.Literal('kubernetes.io/tls'), Type.Literal('Opaque')])),
  data: Type.Optional(Type.Record(SecretKey, Type.String())),
  stringData: Type.Optional(Type.Record(SecretKey, Type.String())),
  immutable: Type.Optional(Type.Boolean()),
});
export type SecretSpec = Static<typeof SecretSpecSchema>;

export const SECRET_NOT_IMPLEMENTED = [] as const;
