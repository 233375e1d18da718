// JWT verification against a real JWKS endpoint with keys generated here: what passes, what each
// forgery or stale token gets, and how the key set is fetched (unknown kid, rotation, rate limit).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPublicKey } from 'node:crypto';
import { JWKSCache, JWKS_MIN_REFETCH_MS } from '../../src/dataplane/jwks-cache.js';
import { bearerToken, missingScope, verifyJWT, VerifiedTokens, type JWTRules } from '../../src/dataplane/jwt-verify.js';
import { DEFAULT_ALGORITHMS } from '../../src/ir/jwt-defaults.js';
import { signingKey, signToken, startJWKSServer, unsignedToken, type SigningKey } from '../support/jwks-server.js';

const NOW = 1_800_000_000_000; // ms
const sec = (ms: number): number => Math.floor(ms / 1000);

const RULES: JWTRules = {
  algorithms: DEFAULT_ALGORITHMS, requireAudience: false, requireIssuer: false,
  requireExpiresAt: false, leewayForExpiresAtMs: 0, requireNotBefore: false, leewayForNotBeforeMs: 0, requireIssuedAt: false, leewayForIssuedAtMs: 0,
};

function clock(start = NOW): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const keyA = await signingKey('key-a');
const keyB = await signingKey('key-b');
const server = await startJWKSServer([keyA]);
after(() => server.close());

async function cacheFor(keys: readonly SigningKey[], c = clock()): Promise<JWKSCache> {
  server.publish(keys);
  return new JWKSCache(server.uri, { insecureTLS: false, maxAgeMs: 60_000 }, c.now);
}

test('a token signed by a published key verifies, with its claims', async () => {
  const keys = await cacheFor([keyA]);
  const token = await signToken(keyA, { sub: 'alice', iss: 'https://idp.example', aud: 'shop', exp: sec(NOW) + 60 });
  const out = await verifyJWT(token, { ...RULES, issuer: 'https://idp.example', requireIssuer: true, audience: 'shop', requireAudience: true }, keys, NOW);
  assert.equal(out.ok, true);
  assert.equal(out.ok && out.token.claims.sub, 'alice');
  assert.equal(out.ok && out.token.header.kid, 'key-a');
});

test('each bad token is refused with its reason', async (t) => {
  const keys = await cacheFor([keyA]);
  const now = sec(NOW);
  const cases: Record<string, { token: () => Promise<string>; rules?: Partial<JWTRules>; kind: string }> = {
    'expired': { token: () => signToken(keyA, { exp: now - 10 }), kind: 'expired' },
    'not valid yet (nbf)': { token: () => signToken(keyA, { nbf: now + 60 }), kind: 'not_yet_valid' },
    'issued in the future (iat)': { token: () => signToken(keyA, { iat: now + 60 }), kind: 'issued_in_future' },
    'another issuer': { token: () => signToken(keyA, { iss: 'https://evil.example' }), rules: { issuer: 'https://idp.example' }, kind: 'issuer' },
    'no issuer where one is required': { token: () => signToken(keyA, {}), rules: { issuer: 'https://idp.example', requireIssuer: true }, kind: 'issuer' },
    'another audience': { token: () => signToken(keyA, { aud: ['billing', 'admin'] }), rules: { audience: 'shop' }, kind: 'audience' },
    'no audience where one is required': { token: () => signToken(keyA, {}), rules: { audience: 'shop', requireAudience: true }, kind: 'audience' },
    'no exp where one is required': { token: () => signToken(keyA, {}), rules: { requireExpiresAt: true }, kind: 'claim' },
    'alg none, not listed': { token: async () => unsignedToken({ sub: 'mallory' }), kind: 'algorithm' },
    'alg none naming a real kid': { token: async () => unsignedToken({ sub: 'mallory' }, { kid: 'key-a' }), kind: 'algorithm' },
    'a tampered payload': {
      token: async () => {
        const [h, , s] = (await signToken(keyA, { sub: 'alice' })).split('.');
        return `${h}.${Buffer.from(JSON.stringify({ sub: 'admin' })).toString('base64url')}.${s}`;
      },
      kind: 'signature',
    },
    'a tampered signature': {
      token: async () => {
        const t = await signToken(keyA, { sub: 'alice' });
        const last = t.at(-2) === 'A' ? 'B' : 'A';
        return `${t.slice(0, -2)}${last}${t.at(-1)}`;
      },
      kind: 'signature',
    },
    'signed by a key the set does not have (same kid)': { token: async () => signToken({ ...keyB, kid: 'key-a' }, { sub: 'alice' }), kind: 'signature' },
    'not a JWT': { token: async () => 'not.a.jwt', kind: 'malformed' },
    'HS256 with the RSA public key as the secret (algorithm confusion)': {
      token: async () => {
        const pem = createPublicKey({ key: keyA.jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
        const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
        const input = `${b64({ alg: 'HS256', kid: 'key-a', typ: 'JWT' })}.${b64({ sub: 'admin' })}`;
        return `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
      },
      rules: { algorithms: [...DEFAULT_ALGORITHMS, 'HS256'] },
      kind: 'algorithm',
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    await t.test(name, async () => {
      const out = await verifyJWT(await c.token(), { ...RULES, ...c.rules }, keys, NOW);
      assert.equal(out.ok, false, 'refused');
      assert.equal(!out.ok && out.failure.kind, c.kind);
    });
  }
});

test('leeways admit tokens just outside their times', async () => {
  const keys = await cacheFor([keyA]);
  const now = sec(NOW);
  const token = await signToken(keyA, { exp: now - 5, nbf: now + 5, iat: now + 5 });
  assert.equal((await verifyJWT(token, RULES, keys, NOW)).ok, false);
  const out = await verifyJWT(token, { ...RULES, leewayForExpiresAtMs: 10_000, leewayForNotBeforeMs: 10_000, leewayForIssuedAtMs: 10_000 }, keys, NOW);
  assert.equal(out.ok, true);
});

test('alg none passes only when the filter lists "none", and never with a signature', async () => {
  const keys = await cacheFor([keyA]);
  const none: JWTRules = { ...RULES, algorithms: ['none'] };
  assert.equal((await verifyJWT(unsignedToken({ sub: 'x' }), none, undefined, NOW)).ok, true);
  const withSig = `${unsignedToken({ sub: 'x' })}c2lnbmF0dXJl`;
  const out = await verifyJWT(withSig, none, keys, NOW);
  assert.equal(!out.ok && out.failure.kind, 'signature');
});

test('ES256 and PS256 tokens verify when published; a filter that lists only RS256 refuses them', async () => {
  const es = await signingKey('es', 'ES256');
  const ps = await signingKey('ps', 'PS256');
  const keys = await cacheFor([es, ps]);
  assert.equal((await verifyJWT(await signToken(es, { sub: 'e' }), RULES, keys, NOW)).ok, true);
  assert.equal((await verifyJWT(await signToken(ps, { sub: 'p' }), RULES, keys, NOW)).ok, true);
  const only = await verifyJWT(await signToken(es, { sub: 'e' }), { ...RULES, algorithms: ['RS256'] }, keys, NOW);
  assert.equal(!only.ok && only.failure.kind, 'algorithm');
});

test('an unknown kid refetches the set once (a rotated-in key verifies); refetches are rate-limited', async () => {
  const c = clock();
  const keys = await cacheFor([keyA], c);
  assert.equal((await verifyJWT(await signToken(keyA, {}), RULES, keys, c.now())).ok, true);
  const before = server.fetches();
  // The identity provider publishes key-b; a token signed with it arrives at once.
  server.publish([keyA, keyB]);
  c.advance(JWKS_MIN_REFETCH_MS);
  assert.equal((await verifyJWT(await signToken(keyB, {}), RULES, keys, c.now())).ok, true);
  assert.equal(server.fetches(), before + 1, 'one refetch for the unknown kid');
  // A client spraying random kids does not make the gateway refetch for each one.
  const key = await signingKey('random');
  for (let i = 0; i < 5; i++) {
    const out = await verifyJWT(await signToken({ ...key, kid: `random-${i}` }, {}), RULES, keys, c.now());
    assert.equal(!out.ok && out.failure.kind, 'unknown_key');
  }
  assert.equal(server.fetches(), before + 1, 'no refetch within the minimum interval');
  c.advance(JWKS_MIN_REFETCH_MS);
  await verifyJWT(await signToken({ ...key, kid: 'random-x' }, {}), RULES, keys, c.now());
  assert.equal(server.fetches(), before + 2, 'one more once the interval has passed');
});

test('key rotation: once the set drops a key, its tokens fail, even ones verified (and remembered) before', async () => {
  const c = clock();
  const keys = await cacheFor([keyA, keyB], c);
  const remembered = new VerifiedTokens();
  const old = await signToken(keyA, { sub: 'alice' });
  assert.equal((await verifyJWT(old, RULES, keys, c.now(), remembered)).ok, true);
  assert.equal((await verifyJWT(old, RULES, keys, c.now(), remembered)).ok, true, 'from memory');
  server.publish([keyB]);
  c.advance(60_000); // the set's max age: the next request refreshes it in the background
  await verifyJWT(old, RULES, keys, c.now(), remembered);
  await keys.idle();
  const out = await verifyJWT(old, RULES, keys, c.now(), remembered);
  assert.equal(!out.ok && out.failure.kind, 'unknown_key');
  assert.equal((await verifyJWT(await signToken(keyB, {}), RULES, keys, c.now(), remembered)).ok, true);
});

test('a remembered token is still checked for expiry on every use', async () => {
  const c = clock();
  const keys = await cacheFor([keyA], c);
  const remembered = new VerifiedTokens();
  const token = await signToken(keyA, { exp: sec(NOW) + 30 });
  assert.equal((await verifyJWT(token, RULES, keys, c.now(), remembered)).ok, true);
  c.advance(31_000);
  const out = await verifyJWT(token, RULES, keys, c.now(), remembered);
  assert.equal(!out.ok && out.failure.kind, 'expired');
});

test('a JWKS endpoint that is down: keys unavailable, and the next fetch waits for the interval', async () => {
  const c = clock();
  const keys = await cacheFor([keyA], c);
  server.fail(503);
  try {
    const before = server.fetches();
    const out = await verifyJWT(await signToken(keyA, {}), RULES, keys, c.now());
    assert.equal(!out.ok && out.failure.kind, 'keys_unavailable');
    await verifyJWT(await signToken(keyA, {}), RULES, keys, c.now());
    assert.equal(server.fetches(), before + 1);
    server.fail(undefined);
    c.advance(JWKS_MIN_REFETCH_MS);
    assert.equal((await verifyJWT(await signToken(keyA, {}), RULES, keys, c.now())).ok, true);
  } finally {
    server.fail(undefined);
  }
});

test('Authorization header parsing and scopes', () => {
  assert.equal(bearerToken(undefined), undefined);
  assert.equal(bearerToken('Bearer abc.def.ghi'), 'abc.def.ghi');
  assert.equal(bearerToken('bearer  abc.def.ghi'), 'abc.def.ghi');
  assert.equal((bearerToken('Basic dXNlcjpwYXNz') as { kind: string }).kind, 'malformed');
  // the same header again (parsed once), then a different one: each answered for itself
  assert.equal(bearerToken('Bearer abc.def.ghi'), 'abc.def.ghi');
  assert.equal(bearerToken('Bearer abc.def.ghi'), 'abc.def.ghi');
  assert.equal((bearerToken('Bearer abc.def.ghi extra') as { kind: string }).kind, 'malformed');
  assert.equal(bearerToken('Bearer xyz.def.ghi'), 'xyz.def.ghi');
  assert.equal(missingScope({ scope: 'read write' }, ['read']), undefined);
  assert.equal(missingScope({ scope: ['read'] }, ['read', 'admin']), 'admin');
  assert.equal(missingScope({}, ['read']), 'read');
});
