// TLS key material lives here, beside the IR and never inside it, so that render, the admin API,
// logs and golden files can print the IR freely. The IR refers to entries by id and sha256.

export interface SecretEntry {
  /** PEM certificate chain (public). */
  readonly certPem?: string;
  /** PEM private key (secret). */
  readonly keyPem?: string;
  /** PEM CA bundle (public). */
  readonly caPem?: string;
}

/** id ("namespace/name") → material. A plain record so it can cross process boundaries. */
export type SecretStore = Readonly<Record<string, SecretEntry>>;

export const REDACTED = '[redacted]';

/** SecretStore id of the generated fallback certificate; compiled secrets are "namespace/name", so it never collides. */
export const FALLBACK_SECRET_ID = 'fallback';
