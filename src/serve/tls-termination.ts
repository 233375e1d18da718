// TLS termination material for one generation: hostname → SecureContext built from the IR's
// TLS contexts and the SecretStore. Built before the swap, so bad key material never replaces good.

import { constants, createHash } from 'node:crypto';
import { createSecureContext, DEFAULT_CIPHERS, type SecureContext, type SecureContextOptions, type SecureVersion } from 'node:tls';
import type { IR, IRListener, IRTLSContext } from '../ir/types.js';
import { FALLBACK_SECRET_ID, type SecretStore } from '../ir/secrets.js';
import { TICKET_LIFETIME_S, type TicketKeyRing } from './session-tickets.js';

export class TLSMaterialError extends Error {
  readonly code = 'PORTICO_ERR_TLS_MATERIAL';
}

/** What the HTTP port can speak after TLS, in the server's order of preference (Emissary's default: both). */
export const DEFAULT_ALPN: readonly string[] = ['h2', 'http/1.1'];
const SPOKEN_ALPN: ReadonlySet<string> = new Set(DEFAULT_ALPN);

/** ALPN of each built context; a SecureContext carries no ALPN list of its own. */
const alpnByContext = new WeakMap<SecureContext, readonly string[]>();

/** The ALPN protocols the context offers (its `alpn_protocols` limited to what is spoken, else both). */
export function alpnProtocolsOf(sc: SecureContext | undefined): readonly string[] {
  return (sc !== undefined ? alpnByContext.get(sc) : undefined) ?? DEFAULT_ALPN;
}

/** `alpn_protocols` limited to h2 and http/1.1: another protocol would be handed to a parser that cannot speak it. */
export function alpnFor(ctx: IRTLSContext): readonly string[] {
  const list = ctx.alpnProtocols.map((p) => p.toLowerCase()).filter((p) => SPOKEN_ALPN.has(p));
  return list.length > 0 ? [...new Set(list)] : DEFAULT_ALPN;
}

export interface TerminationContexts {
  /** Context for an SNI name (exact, then wildcard, then the listener's default). */
  lookup(servername: string | undefined): SecureContext | undefined;
  /** The TLS context the same lookup picks has cert_required (mTLS). */
  certRequired(servername: string | undefined): boolean;
  /** Some context on the listener has a CA to verify clients with. */
  readonly verifiesClients: boolean;
  readonly empty: boolean;
}

/** Emissary spells TLS 1.0 "TLSv1.0"; Node calls it "TLSv1". */
function nodeTLSVersion(v: NonNullable<IRTLSContext['minVersion']>): SecureVersion {
  return v === 'TLSv1.0' ? 'TLSv1' : v;
}

/**
 * The server's order when a TLSContext names no cipher_suites. TLS 1.3: Node's three suites with
 * AES-128-GCM first (about a third less work per byte than AES-256-GCM, the clients' usual first
 * choice), ChaCha20 kept for clients that list it first (devices without AES instructions). TLS 1.2:
 * ECDHE with AES-GCM first (ECDSA before RSA, 128 before 256), then ECDHE ChaCha20, then the rest of
 * Node's defaults for old clients (finite-field DHE last: its key exchange costs several times ECDHE's).
 */
const TLS12_FIRST = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
];
const nodeTLS12 = DEFAULT_CIPHERS.split(':').filter((c) => !c.startsWith('TLS_') && !TLS12_FIRST.includes(c));
/** Node's named suites; its closing group words ("HIGH", "!aNULL", ...) stay last, where they add what is left and remove the weak. */
const named = nodeTLS12.filter((c) => c.includes('-'));
export const FAST_CIPHERS = [
  'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
  ...TLS12_FIRST,
  ...named.filter((c) => !c.startsWith('DHE-')),
  ...named.filter((c) => c.startsWith('DHE-')),
  ...nodeTLS12.filter((c) => !c.includes('-')),
].join(':');

/** Key exchange groups in the server's order: X25519 (the cheapest), then P-256, then P-384 for clients with neither. */
export const FAST_CURVES = 'X25519:P-256:P-384';

/**
 * What a session may be resumed under: a ticket sealed for one TLS context (its certificate, its
 * client CA and whether a client certificate is required) is refused by another, so a resumption
 * never skips a verification the host would have made.
 */
function sessionIdContext(ctx: IRTLSContext): string {
  const h = createHash('sha256');
  h.update(`${ctx.name}\0${ctx.certificate?.sha256 ?? ''}\0${ctx.ca?.sha256 ?? ''}\0${ctx.certRequired ? 'required' : 'optional'}`);
  // OpenSSL takes at most 32 bytes of session id context.
  return h.digest('hex').slice(0, 32);
}

function contextOptions(ctx: IRTLSContext, secrets: SecretStore): SecureContextOptions {
  const opts: SecureContextOptions = {
    ciphers: FAST_CIPHERS,
    ecdhCurve: FAST_CURVES,
    honorCipherOrder: true,
    secureOptions: constants.SSL_OP_PRIORITIZE_CHACHA,
    sessionIdContext: sessionIdContext(ctx),
    sessionTimeout: TICKET_LIFETIME_S,
  };
  if (ctx.fallback) {
    const entry = secrets[FALLBACK_SECRET_ID];
    if (!entry?.certPem || !entry.keyPem) throw new TLSMaterialError(`TLSContext ${ctx.name}: the generated fallback certificate is missing`);
    opts.cert = entry.certPem;
    opts.key = entry.keyPem;
  }
  if (ctx.certificate) {
    const entry = secrets[ctx.certificate.secret];
    if (!entry?.certPem || !entry.keyPem) {
      throw new TLSMaterialError(`TLSContext ${ctx.name}: secret ${ctx.certificate.secret} has no certificate and key`);
    }
    opts.cert = entry.certPem;
    opts.key = entry.keyPem;
  }
  if (ctx.ca) {
    const entry = secrets[ctx.ca.secret];
    if (!entry?.caPem && !entry?.certPem) throw new TLSMaterialError(`TLSContext ${ctx.name}: secret ${ctx.ca.secret} has no CA bundle`);
    opts.ca = entry.caPem ?? entry.certPem;
  }
  if (ctx.minVersion) opts.minVersion = nodeTLSVersion(ctx.minVersion);
  if (ctx.maxVersion) opts.maxVersion = nodeTLSVersion(ctx.maxVersion);
  if (ctx.cipherSuites.length > 0) opts.ciphers = ctx.cipherSuites.join(':');
  return opts;
}

/**
 * Build every context a listener terminates; throws TLSMaterialError naming the context. Each seals
 * its session tickets with `tickets` (shared by every generation and, through the primary, every worker).
 */
export function buildTerminationContexts(ir: IR, listener: IRListener, secrets: SecretStore, tickets: TicketKeyRing): TerminationContexts {
  const byName = new Map(ir.tlsContexts.map((c) => [c.name, c]));
  const built = new Map<string, SecureContext>();
  const contextFor = (name: string): SecureContext => {
    let sc = built.get(name);
    if (sc) return sc;
    const ctx = byName.get(name);
    if (!ctx) throw new TLSMaterialError(`listener ${listener.name}: TLSContext ${name} is not in the configuration`);
    try {
      sc = createSecureContext(contextOptions(ctx, secrets));
    } catch (err) {
      if (err instanceof TLSMaterialError) throw err;
      // The message from OpenSSL names the failure (key mismatch, bad PEM) but never the bytes.
      throw new TLSMaterialError(`TLSContext ${ctx.name}: ${(err as Error).message}`);
    }
    tickets.attach(sc);
    alpnByContext.set(sc, alpnFor(ctx));
    built.set(name, sc);
    return sc;
  };
  const exact = new Map<string, SecureContext>();
  const wildcards: { suffix: string; sc: SecureContext }[] = [];
  let fallback: SecureContext | undefined;
  const required = new Set<SecureContext>();
  let verifiesClients = false;
  /** Contexts that can complete a handshake (a Host whose Secret does not exist yet has one without a certificate). */
  const serving = new Set<SecureContext>();
  const names: { host: string; ctx: string }[] = [];
  for (const vh of listener.virtualHosts) if (vh.tlsContext) names.push({ host: vh.hostname, ctx: vh.tlsContext });
  for (const r of listener.tcpRoutes) if (r.tlsContext) names.push({ host: r.sni ?? '*', ctx: r.tlsContext });
  for (const { host, ctx } of names) {
    const sc = contextFor(ctx);
    const irCtx = byName.get(ctx);
    if (irCtx?.ca !== undefined) verifiesClients = true;
    if (irCtx?.certRequired === true) required.add(sc);
    if (irCtx?.certificate !== undefined || irCtx?.fallback === true) serving.add(sc);
    if (host === '*') fallback ??= sc;
    else if (host.startsWith('*.')) wildcards.push({ suffix: host.slice(1), sc });
    else if (!exact.has(host)) exact.set(host, sc);
  }
  // Longest wildcard first so "*.a.example.com" wins over "*.example.com".
  wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
  // Without SNI (or an unknown name): the "*" context, else the first that can complete a handshake.
  fallback ??= [...exact.values(), ...wildcards.map((w) => w.sc)].find((sc) => serving.has(sc)) ?? exact.values().next().value ?? wildcards[0]?.sc;
  return {
    empty: built.size === 0,
    verifiesClients,
    certRequired(servername) {
      const sc = this.lookup(servername);
      return sc !== undefined && required.has(sc);
    },
    lookup(servername) {
      if (servername) {
        const host = servername.toLowerCase();
        const hit = exact.get(host);
        if (hit) return hit;
        for (const w of wildcards) if (host.endsWith(w.suffix) && host.length > w.suffix.length) return w.sc;
      }
      return fallback;
    },
  };
}
