// The default Host's fallback certificate: self-signed, generated once per serving process when a
// configuration first needs it, and kept only in memory (never in git, state files or the IR).

import { webcrypto } from 'node:crypto';
import type { IR } from '../ir/types.js';
import { FALLBACK_SECRET_ID, type SecretEntry, type SecretStore } from '../ir/secrets.js';

/** Emissary's fallback certificate names itself this way too; clients see an untrusted issuer either way. */
const SUBJECT = 'CN=portico-fallback, O=Portico self-signed fallback';
const VALID_DAYS = 365;

let pending: Promise<SecretEntry> | undefined;

/** The configuration terminates TLS with the generated certificate somewhere. */
export function needsFallbackCertificate(ir: IR): boolean {
  return ir.tlsContexts.some((c) => c.fallback === true);
}

/**
 * `secrets` with the fallback certificate added when the IR needs it and it is not there yet (a
 * worker receives the primary's). The same certificate serves every generation of this process.
 */
export async function withFallbackCertificate(ir: IR, secrets: SecretStore): Promise<SecretStore> {
  if (!needsFallbackCertificate(ir) || secrets[FALLBACK_SECRET_ID] !== undefined) return secrets;
  pending ??= generate();
  return { ...secrets, [FALLBACK_SECRET_ID]: await pending };
}

async function generate(): Promise<SecretEntry> {
  // Loaded only when needed: the library installs a reflect-metadata polyfill on first import.
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const serial = Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)));
  // A positive serial number: the high bit clear (RFC 5280 §4.1.2.2).
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: SUBJECT,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + VALID_DAYS * 86_400_000),
    signingAlgorithm: alg,
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'localhost' }]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: cert.toString('pem'), keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}
