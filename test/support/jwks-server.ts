// A real JWKS endpoint for JWT tests: keys generated in the test, served over HTTP on 127.0.0.1, the
// set replaceable mid-test (rotation) and every fetch counted; and tokens signed with those keys.

import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';

export interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

export async function signingKey(kid: string, alg = 'RS256'): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, jwk };
}

/** A signed token; `header` adds to (or overrides) the protected header. */
export function signToken(key: SigningKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey);
}

/** An unsigned token (alg none), as an attacker would write one. */
export function unsignedToken(claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT', ...header })}.${b64(claims)}.`;
}

export interface JWKSServer {
  readonly uri: string;
  /** Fetches served so far. */
  fetches(): number;
  /** Replace the published keys (rotation). */
  publish(keys: readonly SigningKey[]): void;
  /** Answer every fetch with this status instead (an identity provider that is down). */
  fail(status: number | undefined): void;
  close(): Promise<void>;
}

export async function startJWKSServer(keys: readonly SigningKey[]): Promise<JWKSServer> {
  let published = keys;
  let count = 0;
  let failing: number | undefined;
  const server: Server = http.createServer((req, res) => {
    count++;
    if (failing !== undefined) {
      res.writeHead(failing).end();
      return;
    }
    const body = JSON.stringify({ keys: published.map((k) => k.jwk) });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    uri: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    fetches: () => count,
    publish: (k) => {
      published = k;
    },
    fail: (s) => {
      failing = s;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
