// TLS key material and credential header values live here, beside the IR and never inside it, so
// that render, the admin API, logs and golden files can print the IR freely. The IR refers to
// entries by id and digest.

export interface SecretEntry {
  /** PEM certificate chain (public). */
  readonly certPem?: string;
  /** PEM private key (secret). */
  readonly keyPem?: string;
  /** PEM CA bundle (public). */
  readonly caPem?: string;
  /** A header value (secret): an IRHeaderValue whose `secret.id` names this entry sends it. */
  readonly value?: string;
}

/**
 * id → material. A plain record so it can cross process boundaries. Ids: "namespace/name" for a
 * Secret resource, "secrets:NAME" for an entry of the secrets directory, "file:PATH[+PATH]" for
 * cert_chain_file / private_key_file / cacert_chain_file, "secrets:NAME/KEY" and "inline:DIGEST"
 * for header values.
 */
export type SecretStore = Readonly<Record<string, SecretEntry>>;

export const REDACTED = '[redacted]';

const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** "PRIVATE KEY" as it appears inside base64 text at each of the three byte alignments. */
const BASE64_PRIVATE_KEY: readonly string[] = [0, 1, 2].map((pad) => {
  const text = Buffer.concat([Buffer.alloc(pad), Buffer.from('PRIVATE KEY')]).toString('base64');
  // Only the characters made of the marker's bytes alone: the padding and what follows vary.
  return text.slice(pad === 0 ? 0 : 4, Math.floor((pad + 11) / 3) * 4);
});

/** Text that holds a PEM private key, plain or base64-encoded (a Secret's data.tls.key). */
export function holdsPrivateKey(text: string): boolean {
  if (PEM_PRIVATE_KEY.test(text)) return true;
  for (const needle of BASE64_PRIVATE_KEY) if (text.includes(needle)) return true;
  return false;
}

/** SecretStore id of the generated fallback certificate; compiled secrets are "namespace/name", so it never collides. */
export const FALLBACK_SECRET_ID = 'fallback';

/** A header value written in the resource itself ("inline:"), not taken from the secrets directory. */
export function isInlineHeaderValue(id: string): boolean {
  return id.startsWith('inline:');
}
