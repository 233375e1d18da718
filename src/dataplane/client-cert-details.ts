// The verified client identity of a TLS connection, as the upstream sees it: x-forwarded-client-cert
// in Envoy's format, decided by the Module's forward_client_cert_details after the header scan.

import { createHash, type X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket, PeerCertificate, DetailedPeerCertificate } from 'node:tls';
import type { IRClientCertDetails } from '../ir/types.js';
import { connectionSocket } from './proxied-peer.js';

type SetFields = IRClientCertDetails['set'];

/** One connection's element, kept per socket: every request on a connection has the same peer. */
const elements = new WeakMap<object, { readonly set: SetFields; readonly element: string | undefined }>();

/** Subject in RFC 2253 order (last RDN first); Node prints one RDN per line, already escaped. */
function rfc2253(subject: string): string {
  return subject.split('\n').filter((l) => l !== '').reverse().join(',');
}

/** "DNS:a, URI:spiffe://x, DNS:\"b, c\"" → entries; Node quotes values that hold separators. */
export function parseSubjectAltNames(san: string | undefined): { type: string; value: string }[] {
  const out: { type: string; value: string }[] = [];
  if (san === undefined || san === '') return out;
  const re = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:,\s*|$)/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < san.length && (m = re.exec(san)) !== null) {
    const raw = m[2] as string;
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        value = raw.slice(1, -1);
      }
    }
    out.push({ type: (m[1] as string).trim(), value });
    if (m[0] === '') break;
  }
  return out;
}

function pem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/** Quoted when the value could be mistaken for a separator; `"` and `\` are escaped inside quotes. */
function xfccValue(v: string, alwaysQuote = false): string {
  if (!alwaysQuote && !/[,;="\\]/.test(v)) return v;
  return `"${v.replace(/["\\]/g, '\\$&')}"`;
}

/** The verified chain as Node reports it, leaf first, each certificate once. */
function chainPem(socket: TLSSocket): string {
  let c: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true) as DetailedPeerCertificate;
  const seen = new Set<string>();
  let out = '';
  for (let i = 0; c !== undefined && c.raw !== undefined && i < 16; i++) {
    const fp = c.fingerprint256;
    if (seen.has(fp)) break;
    seen.add(fp);
    out += pem(c.raw);
    const next: DetailedPeerCertificate | undefined = c.issuerCertificate;
    if (next === undefined || next === c) break;
    c = next;
  }
  return out;
}

/** By=<local URI SAN>;Hash=<sha256 of the DER>;Cert=…;Chain=…;Subject="…";URI=…;DNS=… (Envoy's order). */
function elementFor(socket: TLSSocket, cert: X509Certificate, set: SetFields): string {
  const parts: string[] = [];
  const local = socket.getCertificate() as PeerCertificate | null | Record<string, never>;
  const localUri = parseSubjectAltNames((local as PeerCertificate | null)?.subjectaltname).find((e) => e.type === 'URI');
  if (localUri !== undefined) parts.push(`By=${xfccValue(localUri.value)}`);
  parts.push(`Hash=${createHash('sha256').update(cert.raw).digest('hex')}`);
  if (set.cert) parts.push(`Cert=${xfccValue(encodeURIComponent(cert.toString()), true)}`);
  if (set.chain) parts.push(`Chain=${xfccValue(encodeURIComponent(chainPem(socket)), true)}`);
  // Envoy keeps the Subject key even when the subject is empty.
  if (set.subject) parts.push(`Subject=${xfccValue(rfc2253(cert.subject), true)}`);
  const sans = set.uri || set.dns ? parseSubjectAltNames(cert.subjectAltName) : [];
  if (set.uri) for (const e of sans) if (e.type === 'URI') parts.push(`URI=${xfccValue(e.value)}`);
  if (set.dns) for (const e of sans) if (e.type === 'DNS') parts.push(`DNS=${xfccValue(e.value)}`);
  return parts.join(';');
}

/**
 * This connection's element when the client presented a certificate that the TLS context's CA
 * verified (`authorized`); undefined for cleartext, no certificate, or one that did not verify.
 */
export function verifiedClientElement(req: IncomingMessage, set: SetFields): string | undefined {
  const socket = connectionSocket(req);
  const cached = elements.get(socket);
  if (cached !== undefined && cached.set === set) return cached.element;
  let element: string | undefined;
  if (socket.encrypted === true && socket.authorized === true) {
    const cert = socket.getPeerX509Certificate();
    if (cert !== undefined) element = elementFor(socket, cert, set);
  }
  elements.set(socket, { set, element });
  return element;
}

/**
 * The x-forwarded-client-cert to send upstream (undefined = none). A client's own value is passed on
 * only by FORWARD_ONLY / APPEND_FORWARD on a verified mTLS connection, or by ALWAYS_FORWARD_ONLY.
 */
export function forwardedClientCert(policy: IRClientCertDetails | undefined, element: string | undefined, clientValue: string | undefined): string | undefined {
  switch (policy?.forward) {
    case undefined:
    case 'SANITIZE':
      return undefined;
    case 'ALWAYS_FORWARD_ONLY':
      return clientValue;
    case 'FORWARD_ONLY':
      return element !== undefined ? clientValue : undefined;
    case 'APPEND_FORWARD':
      if (element === undefined) return undefined;
      return clientValue !== undefined && clientValue !== '' ? `${clientValue},${element}` : element;
    case 'SANITIZE_SET':
      return element;
  }
}

// ── Envoy's %DOWNSTREAM_PEER_*% values in header rules (header-values.ts) ──

/** The verified client certificate, as header rules can name it. */
export interface PeerFields {
  readonly subject: string;
  readonly issuer: string;
  readonly uriSan: string;
  readonly dnsSan: string;
  readonly fingerprint256: string;
  readonly serial: string;
}

const peers = new WeakMap<object, PeerFields | null>();

/** Same rule as the XFCC element: only a certificate the context's CA verified is an identity. */
export function verifiedPeerFields(req: IncomingMessage): PeerFields | undefined {
  const socket = connectionSocket(req);
  const cached = peers.get(socket);
  if (cached !== undefined) return cached ?? undefined;
  let fields: PeerFields | null = null;
  const cert = socket.encrypted === true && socket.authorized === true ? socket.getPeerX509Certificate() : undefined;
  if (cert !== undefined) {
    const sans = parseSubjectAltNames(cert.subjectAltName);
    fields = {
      subject: rfc2253(cert.subject),
      issuer: rfc2253(cert.issuer),
      uriSan: sans.filter((e) => e.type === 'URI').map((e) => e.value).join(','),
      dnsSan: sans.filter((e) => e.type === 'DNS').map((e) => e.value).join(','),
      fingerprint256: createHash('sha256').update(cert.raw).digest('hex'),
      serial: cert.serialNumber.toLowerCase(),
    };
  }
  peers.set(socket, fields);
  return fields ?? undefined;
}
