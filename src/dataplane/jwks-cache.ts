// The JWK Sets that JWT filters verify with: fetched over HTTP(S), cached per URI for the process
// (a reload keeps them), refreshed when stale, and refetched when a token names an unknown key.
//
// Fetches are bounded: one in flight per URI (requests that need it wait on that one), a timeout,
// a size cap, and a minimum interval between refetches, so a client sending random `kid`s cannot
// make the gateway hammer the identity provider. A failed refresh keeps the keys it had.

import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import type * as Jose from 'jose';
import { onDemand } from './on-demand-module.js';

/** jose, loaded with the first key set. */
const jose = onDemand<typeof Jose>(import.meta.url, 'jose');

export interface JWKSOptions {
  /** Disable certificate checks for an https URI (Edge Stack's insecureTLS). */
  readonly insecureTLS: boolean;
  /** How long a fetched set is used before a refresh (Edge Stack's maxStale, when given). */
  readonly maxAgeMs: number;
}

/** A fetched set at most this large (a JWKS is a few KiB). */
export const MAX_JWKS_BYTES = 1 << 20;
export const JWKS_FETCH_TIMEOUT_MS = 5000;
/** At most one refetch per URI in this interval, whatever tokens arrive (unknown kid, failures). */
export const JWKS_MIN_REFETCH_MS = 10_000;
const MAX_CACHED_URIS = 256;

export interface KeySetResult {
  readonly keys: JWTVerifyGetKey | undefined;
  /** Why there are no keys (the fetch failed and nothing was cached). */
  readonly error?: string;
  /** Changes whenever the key set does (a verified-token cache keyed on it drops old entries). */
  readonly version: number;
}

export type Clock = () => number;

/** One URI's keys and its fetch state. */
export class JWKSCache {
  private keys: JWTVerifyGetKey | undefined;
  private version = 0;
  private fetchedAt = -Infinity;
  private attemptedAt = -Infinity;
  private lastError: string | undefined;
  private inflight: Promise<void> | undefined;
  /** Fetches made (for tests and metrics). */
  fetches = 0;

  constructor(
    readonly uri: string,
    private readonly options: JWKSOptions,
    private readonly now: Clock = () => Date.now(),
    private readonly fetchText: (uri: string, insecureTLS: boolean) => Promise<string> = fetchJWKSText,
  ) {}

  /**
   * The keys to verify with. The first call waits for the first fetch; later ones get the cached
   * set at once and start a refresh in the background when it is older than maxAgeMs.
   */
  async current(): Promise<KeySetResult> {
    if (this.keys === undefined) {
      await this.fetchOnce(true);
    } else if (this.now() - this.fetchedAt >= this.options.maxAgeMs) {
      void this.fetchOnce(false);
    }
    return this.result();
  }

  /** The cached set without waiting, if there is one (the hot path of verified tokens); a stale one starts a refresh. */
  cached(): KeySetResult | undefined {
    if (this.keys === undefined) return undefined;
    if (this.now() - this.fetchedAt >= this.options.maxAgeMs) void this.fetchOnce(false);
    return this.result();
  }

  /**
   * A token named a key the set does not have: refetch, unless one was made within the minimum
   * interval (then the answer is the set as it is). Resolves to the set after the refetch.
   */
  async refreshForUnknownKey(): Promise<KeySetResult> {
    await this.fetchOnce(false);
    return this.result();
  }

  /** Resolves when no fetch is under way (a background refresh has landed). */
  async idle(): Promise<void> {
    while (this.inflight !== undefined) await this.inflight;
  }

  /** Starts the first fetch without waiting for it (at runtime build, before the first request). */
  prefetch(): void {
    if (this.keys === undefined) void this.fetchOnce(true).catch(() => {});
  }

  private result(): KeySetResult {
    return this.lastError !== undefined && this.keys === undefined ? { keys: undefined, error: this.lastError, version: this.version } : { keys: this.keys, version: this.version };
  }

  private fetchOnce(first: boolean): Promise<void> {
    if (this.inflight !== undefined) return this.inflight;
    // Rate limit: a set that was never fetched is retried at the same pace as one being refreshed.
    if (this.now() - this.attemptedAt < JWKS_MIN_REFETCH_MS && !(first && this.attemptedAt === -Infinity)) return Promise.resolve();
    this.attemptedAt = this.now();
    this.fetches++;
    this.inflight = this.fetchText(this.uri, this.options.insecureTLS)
      .then((text) => {
        const set = parseJWKS(text);
        this.keys = jose().createLocalJWKSet(set);
        this.version++;
        this.fetchedAt = this.now();
        this.lastError = undefined;
      })
      .catch((err: unknown) => {
        this.lastError = (err as Error).message;
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }
}

/** The body as a JWK Set; throws with a message for anything else. */
export function parseJWKS(text: string): JSONWebKeySet {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error('the JWKS response is not JSON');
  }
  if (typeof v !== 'object' || v === null || !Array.isArray((v as { keys?: unknown }).keys)) throw new Error('the JWKS response has no "keys" list');
  // Keys jose cannot use (unknown kty, private members) are left out rather than failing the set.
  const keys = ((v as { keys: unknown[] }).keys).filter((k): k is Record<string, unknown> => typeof k === 'object' && k !== null && typeof (k as { kty?: unknown }).kty === 'string');
  return { keys: keys as unknown as JSONWebKeySet['keys'] };
}

const registry = new Map<string, JWKSCache>();

/** The process's cache for this URI and these options (shared by every filter and runtime that names it). */
export function jwksCacheFor(uri: string, options: JWKSOptions): JWKSCache {
  const key = `${options.insecureTLS ? 'insecure ' : ''}${options.maxAgeMs} ${uri}`;
  let c = registry.get(key);
  if (c === undefined) {
    // bounded: configurations that churn through URIs do not grow memory
    if (registry.size >= MAX_CACHED_URIS) registry.clear();
    c = new JWKSCache(uri, options);
    registry.set(key, c);
  }
  return c;
}

/** GET the URI: 200 only, at most MAX_JWKS_BYTES, within JWKS_FETCH_TIMEOUT_MS. */
export function fetchJWKSText(uri: string, insecureTLS: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      reject(new Error(`jwksURI ${uri} is not a URL`));
      return;
    }
    const secure = url.protocol === 'https:';
    const send = secure ? httpsRequest : httpRequest;
    const req = send(url, { method: 'GET', headers: { accept: 'application/json' }, timeout: JWKS_FETCH_TIMEOUT_MS, ...(secure ? { rejectUnauthorized: !insecureTLS } : {}) }, (res: IncomingMessage) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`the JWKS endpoint answered ${res.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_JWKS_BYTES) {
          req.destroy(new Error(`the JWKS response is larger than ${MAX_JWKS_BYTES} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`the JWKS endpoint did not answer within ${JWKS_FETCH_TIMEOUT_MS} ms`)), JWKS_FETCH_TIMEOUT_MS);
    timer.unref();
    req.on('timeout', () => req.destroy(new Error(`the JWKS endpoint did not answer within ${JWKS_FETCH_TIMEOUT_MS} ms`)));
    req.on('error', (err) => reject(err));
    req.on('close', () => clearTimeout(timer));
    req.end();
  });
}
