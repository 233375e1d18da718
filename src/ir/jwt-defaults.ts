// What a JWT filter verifies with when its configuration leaves a choice open: the signing algorithms
// and how long a fetched key set is used. Compile reads them without loading the data plane's JWT code.

/**
 * The algorithms Portico verifies: RSA (as Edge Stack documents), RSA-PSS and ECDSA. HMAC (HS*)
 * is refused at compile: its key would have to be published in the JWK Set, i.e. made public.
 */
export const SIGNING_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const;
/** What a filter that lists no validAlgorithms accepts: every one of them (never `none`). */
export const DEFAULT_ALGORITHMS: readonly string[] = SIGNING_ALGORITHMS;

/** A set is used this long before a refresh when the filter does not say (maxStale). */
export const JWKS_DEFAULT_MAX_AGE_MS = 5 * 60_000;
