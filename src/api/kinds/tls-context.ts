// The TLSContext kind: TLS settings for terminating (by `hosts`) or originating (named by a Mapping's
// `tls`) connections. Also the shape of a Host's inline `tls` block, which shares most fields.

import { Type, type Static } from '@sinclair/typebox';
import { AmbassadorId, Closed, ObjectName, StringList } from './shared-fields.js';

export const TLSVersion = Type.Union([
  Type.Literal('v1.0'),
  Type.Literal('v1.1'),
  Type.Literal('v1.2'),
  Type.Literal('v1.3'),
]);

/** Fields common to TLSContext and Host.tls. */
const tlsSettings = {
  cert_chain_file: Type.Optional(Type.String()),
  private_key_file: Type.Optional(Type.String()),
  cacert_chain_file: Type.Optional(Type.String()),
  ca_secret: Type.Optional(ObjectName),
  crl_secret: Type.Optional(ObjectName),
  cert_required: Type.Optional(Type.Boolean()),
  min_tls_version: Type.Optional(TLSVersion),
  max_tls_version: Type.Optional(TLSVersion),
  cipher_suites: Type.Optional(StringList),
  ecdh_curves: Type.Optional(StringList),
  /** Comma-separated, as Emissary writes it ("h2,http/1.1"). */
  alpn_protocols: Type.Optional(Type.String()),
  redirect_cleartext_from: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  sni: Type.Optional(Type.String()),
};

export const TLSContextSpecSchema = Closed({
  ambassador_id: Type.Optional(AmbassadorId),
  hosts: Type.Optional(StringList),
  secret: Type.Optional(ObjectName),
  secret_namespacing: Type.Optional(Type.Boolean()),
  signature_algorithms: Type.Optional(StringList),
  ...tlsSettings,
});
export type TLSContextSpec = Static<typeof TLSContextSpecSchema>;

/** A Host's inline `tls` block (Emissary's TLSConfig). */
export const HostTLSConfigSchema = Closed(tlsSettings);
export type HostTLSConfig = Static<typeof HostTLSConfigSchema>;

/** cert_chain_file & co. are read from the secrets directory only (compile/secret-files.ts). */
export const TLS_CONTEXT_NOT_IMPLEMENTED = [
  'ecdh_curves',
  'signature_algorithms',
  'redirect_cleartext_from',
] as const;
