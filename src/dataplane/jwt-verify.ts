// JWT checks of Edge Stack's JWT filter: the bearer token's signature (jose, against the filter's
// JWK Set and algorithms), then its claims (aud, iss, exp, nbf, iat with leeways, scope).
//
// Signatures are jose's; this module only decides which algorithms and keys jose may use and what
// the claims must say. `alg: none` passes only when the filter lists "none" and nothing else can
// have signed the token (no signature part). A verified token is remembered by its exact text
// until its key set changes, so a client repeating its token costs one map lookup, not one
// signature check; its time claims are checked again on every request.

import type * as Jose from 'jose';
import type { JWTVerifyGetKey } from 'jose';
import { onDemand } from './on-demand-module.js';
import type { KeySetResult } from './jwks-cache.js';
import type { IRJWTFilter } from '../ir/types.js';

/** jose, loaded with the first JWT filter served. */
const jose = onDemand<typeof Jose>(import.meta.url, 'jose');

/** The filter's rules a token is checked against ("none" is among the algorithms only when the filter lists it). */
export type JWTRules = Pick<
  IRJWTFilter,
  | 'algorithms' | 'audience' | 'requireAudience' | 'issuer' | 'requireIssuer' | 'requireExpiresAt' | 'leewayForExpiresAtMs'
  | 'requireNotBefore' | 'leewayForNotBeforeMs' | 'requireIssuedAt' | 'leewayForIssuedAtMs'
>;

export type JWTFailureKind =
  | 'missing' | 'malformed' | 'algorithm' | 'signature' | 'unknown_key' | 'keys_unavailable'
  | 'expired' | 'not_yet_valid' | 'issued_in_future' | 'audience' | 'issuer' | 'claim' | 'insufficient_scope';

export interface JWTFailure {
  readonly kind: JWTFailureKind;
  /** For the client (error_description): says what is wrong, never a key or the token. */
  readonly message: string;
}

export interface VerifiedToken {
  readonly raw: string;
  readonly header: Readonly<Record<string, unknown>>;
  readonly claims: Readonly<Record<string, unknown>>;
  /** The signature part (base64url), "" for alg none. */
  readonly signature: string;
}

export type JWTOutcome = { readonly ok: true; readonly token: VerifiedToken } | { readonly ok: false; readonly failure: JWTFailure };

/** The keys of one filter: the JWKS cache's answers (see jwks-cache.ts). */
export interface KeySource {
  current(): Promise<KeySetResult>;
  cached(): KeySetResult | undefined;
  refreshForUnknownKey(): Promise<KeySetResult>;
}

const fail = (kind: JWTFailureKind, message: string): JWTOutcome => ({ ok: false, failure: { kind, message } });

/** A token longer than this is refused before any parsing (Node's header block is 16 KiB anyway). */
export const MAX_TOKEN_LENGTH = 16_384;

/**
 * The bearer token of an Authorization header value: the token, undefined when there is none,
 * or a failure when the header is there but is not `Bearer <token>` (RFC 6750 §2.1).
 */
export function bearerToken(authorization: string | undefined): string | undefined | JWTFailure {
  if (authorization === undefined || authorization === '') return undefined;
  // A client sends the same token on request after request: its header is parsed once, and the
  // same string then finds its verified token by identity (VerifiedTokens), not by hashing it.
  if (authorization === lastAuthorization) return lastBearer;
  const m = /^bearer[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i.exec(authorization);
  if (m === null) return { kind: 'malformed', message: 'the Authorization header is not a Bearer token' };
  lastAuthorization = authorization;
  lastBearer = m[1]!;
  return lastBearer;
}

let lastAuthorization: string | undefined;
let lastBearer: string | undefined;

/** Verified tokens by their text; bounded, dropped whole when a key set changes. */
export class VerifiedTokens {
  private readonly entries = new Map<string, VerifiedToken>();
  private version = -1;

  constructor(private readonly limit = 10_000) {}

  /** The token found or stored last (same key-set version): a repeated token skips the hash look-up. */
  private lastRaw: string | undefined;
  private lastToken: VerifiedToken | undefined;

  get(raw: string, version: number): VerifiedToken | undefined {
    if (version !== this.version) return undefined;
    if (raw === this.lastRaw) return this.lastToken;
    const token = this.entries.get(raw);
    if (token !== undefined) {
      this.lastRaw = raw;
      this.lastToken = token;
    }
    return token;
  }

  set(raw: string, version: number, token: VerifiedToken): void {
    if (version !== this.version) {
      this.entries.clear();
      this.version = version;
    }
    if (this.entries.size >= this.limit) this.entries.clear();
    this.entries.set(raw, token);
    this.lastRaw = raw;
    this.lastToken = token;
  }
}

/**
 * A token verified before with the key set as it is now: its claims checked at `nowMs`, without
 * waiting for anything. Undefined when it is not remembered (then verifyJWT decides).
 */
export function verifyRemembered(raw: string, rules: JWTRules, keys: KeySource | undefined, nowMs: number, cache: VerifiedTokens): JWTOutcome | undefined {
  const set = keys?.cached();
  if (set === undefined) return undefined;
  const token = cache.get(raw, set.version);
  if (token === undefined) return undefined;
  const claimFailure = checkClaims(token.claims, rules, nowMs);
  return claimFailure === undefined ? { ok: true, token } : { ok: false, failure: claimFailure };
}

/**
 * Verify a token: its signature against the key source, then its claims at `nowMs`. Resolves to
 * the verified token or the first failure; never rejects.
 */
export async function verifyJWT(raw: string, rules: JWTRules, keys: KeySource | undefined, nowMs: number, cache?: VerifiedTokens): Promise<JWTOutcome> {
  if (raw.length > MAX_TOKEN_LENGTH) return fail('malformed', 'the token is too long');
  const parts = raw.split('.');
  if (parts.length !== 3) return fail('malformed', 'the token is not a JWS compact serialisation (three dot-separated parts)');
  let header: Record<string, unknown>;
  try {
    header = jose().decodeProtectedHeader(raw) as Record<string, unknown>;
  } catch {
    return fail('malformed', 'the token header is not valid base64url JSON');
  }
  const alg = header.alg;
  if (typeof alg !== 'string' || !rules.algorithms.includes(alg)) {
    return fail('algorithm', `the token's algorithm ${typeof alg === 'string' ? JSON.stringify(alg) : '(none given)'} is not accepted`);
  }
  let token: VerifiedToken;
  if (alg === 'none') {
    // Unsigned: accepted only because the filter lists "none"; a signature part would be a lie.
    if (parts[2] !== '') return fail('signature', 'an unsigned token (alg none) carries a signature');
    const claims = decodeClaims(parts[1]!);
    if (claims === undefined) return fail('malformed', 'the token claims are not valid base64url JSON');
    token = { raw, header, claims, signature: '' };
  } else {
    if (keys === undefined) return fail('keys_unavailable', 'no keys to verify the token with');
    const cachedSet = keys.cached();
    const hit = cachedSet !== undefined && cache !== undefined ? cache.get(raw, cachedSet.version) : undefined;
    if (hit !== undefined) token = hit;
    else {
      const verified = await verifySignature(raw, rules, keys);
      if (!verified.ok) return verified;
      token = verified.token;
      if (cache !== undefined) {
        const now = keys.cached();
        if (now !== undefined) cache.set(raw, now.version, token);
      }
    }
  }
  const claimFailure = checkClaims(token.claims, rules, nowMs);
  return claimFailure === undefined ? { ok: true, token } : { ok: false, failure: claimFailure };
}

async function verifySignature(raw: string, rules: JWTRules, keys: KeySource): Promise<JWTOutcome> {
  let set = await keys.current();
  for (let attempt = 0; attempt < 2; attempt++) {
    if (set.keys === undefined) return fail('keys_unavailable', 'the signing keys could not be fetched');
    try {
      const r = await jose().compactVerify(raw, set.keys as JWTVerifyGetKey, { algorithms: rules.algorithms.filter((a) => a !== 'none') });
      const claims = parseClaims(r.payload);
      if (claims === undefined) return fail('malformed', 'the token claims are not a JSON object');
      return { ok: true, token: { raw, header: r.protectedHeader as Record<string, unknown>, claims, signature: raw.slice(raw.lastIndexOf('.') + 1) } };
    } catch (err) {
      if (err instanceof jose().errors.JWKSNoMatchingKey && attempt === 0) {
        // A key the set does not have: it may be newly rotated in. Refetch (rate-limited) and retry once.
        const before = set.version;
        set = await keys.refreshForUnknownKey();
        if (set.version !== before) continue;
        return fail('unknown_key', 'no key in the key set matches the token');
      }
      if (err instanceof jose().errors.JWKSNoMatchingKey) return fail('unknown_key', 'no key in the key set matches the token');
      if (err instanceof jose().errors.JWSSignatureVerificationFailed) return fail('signature', 'the token signature is invalid');
      if (err instanceof jose().errors.JOSEAlgNotAllowed) return fail('algorithm', 'the token algorithm is not accepted');
      if (err instanceof jose().errors.JOSENotSupported) return fail('algorithm', 'the token algorithm is not supported');
      if (err instanceof jose().errors.JWSInvalid) return fail('malformed', 'the token is not a valid JWS');
      return fail('signature', 'the token signature could not be verified');
    }
  }
  return fail('unknown_key', 'no key in the key set matches the token');
}

function decodeClaims(part: string): Record<string, unknown> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) return undefined;
  return parseClaims(Buffer.from(part, 'base64url'));
}

function parseClaims(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The claim checks, as Edge Stack makes them: an absent aud/iss/exp/nbf/iat passes unless its
 * require* flag is set; a present one must be right. Times are NumericDate seconds.
 */
export function checkClaims(claims: Readonly<Record<string, unknown>>, rules: JWTRules, nowMs: number): JWTFailure | undefined {
  const now = nowMs / 1000;
  const exp = claims.exp;
  if (exp === undefined) {
    if (rules.requireExpiresAt) return { kind: 'claim', message: 'the token has no exp claim' };
  } else if (typeof exp !== 'number') return { kind: 'claim', message: 'the exp claim is not a number' };
  else if (now > exp + rules.leewayForExpiresAtMs / 1000) return { kind: 'expired', message: 'the token is expired' };
  const nbf = claims.nbf;
  if (nbf === undefined) {
    if (rules.requireNotBefore) return { kind: 'claim', message: 'the token has no nbf claim' };
  } else if (typeof nbf !== 'number') return { kind: 'claim', message: 'the nbf claim is not a number' };
  else if (now + rules.leewayForNotBeforeMs / 1000 < nbf) return { kind: 'not_yet_valid', message: 'the token is not valid yet' };
  const iat = claims.iat;
  if (iat === undefined) {
    if (rules.requireIssuedAt) return { kind: 'claim', message: 'the token has no iat claim' };
  } else if (typeof iat !== 'number') return { kind: 'claim', message: 'the iat claim is not a number' };
  else if (now + rules.leewayForIssuedAtMs / 1000 < iat) return { kind: 'issued_in_future', message: 'the token was issued in the future' };
  const aud = claims.aud;
  if (aud === undefined) {
    if (rules.requireAudience) return { kind: 'audience', message: 'the token has no aud claim' };
  } else if (rules.audience !== undefined) {
    const list = Array.isArray(aud) ? aud : [aud];
    if (!list.includes(rules.audience)) return { kind: 'audience', message: 'the token is not meant for this audience' };
  }
  const iss = claims.iss;
  if (iss === undefined) {
    if (rules.requireIssuer) return { kind: 'issuer', message: 'the token has no iss claim' };
  } else if (rules.issuer !== undefined && iss !== rules.issuer) return { kind: 'issuer', message: 'the token was issued by another issuer' };
  return undefined;
}

/**
 * The scopes a FilterPolicy rule requires (its `arguments.scope`), each of which the token's `scope`
 * claim must list: a space-separated string, or (as Edge Stack also accepts) a list of strings.
 */
export function missingScope(claims: Readonly<Record<string, unknown>>, required: readonly string[]): string | undefined {
  if (required.length === 0) return undefined;
  const s = claims.scope;
  const have = new Set(typeof s === 'string' ? s.split(' ').filter((x) => x !== '') : Array.isArray(s) ? s.filter((x): x is string => typeof x === 'string') : []);
  return required.find((r) => !have.has(r));
}
