// The RateLimit kind (Edge Stack, getambassador.io/v3alpha1): limits of the built-in rate limiter,
// matched against the label groups Mappings attach to requests.

import { Type, type Static } from '@sinclair/typebox';
import { AmbassadorId, Closed } from './shared-fields.js';

/** A header a limit sets: its value is a template (docs/reference/policies.md). */
export const RateLimitHeaderSchema = Closed({
  name: Type.String({ minLength: 1, pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", description: 'a header name' }),
  value: Type.String(),
});

export const RateLimitLimitSchema = Closed({
  name: Type.Optional(Type.String({ minLength: 1 })),
  /** "Enforce" or "LogOnly", in any case. */
  action: Type.Optional(Type.String()),
  /** Items in order; each a map of label key → value ("" or "*": any value). */
  pattern: Type.Array(Type.Record(Type.String(), Type.String()), { minItems: 1 }),
  rate: Type.Integer({ minimum: 0 }),
  /** second, minute, hour or day, in any case. */
  unit: Type.String(),
  burstFactor: Type.Optional(Type.Integer({ minimum: 1 })),
  injectRequestHeaders: Type.Optional(Type.Array(RateLimitHeaderSchema)),
  injectResponseHeaders: Type.Optional(Type.Array(RateLimitHeaderSchema)),
  errorResponse: Type.Optional(
    Closed({
      headers: Type.Optional(Type.Array(RateLimitHeaderSchema)),
      bodyTemplate: Type.Optional(Type.String()),
    }),
  ),
});

export const RateLimitSpecSchema = Closed({
  ambassador_id: Type.Optional(AmbassadorId),
  domain: Type.String({ minLength: 1 }),
  limits: Type.Array(RateLimitLimitSchema),
});
export type RateLimitSpec = Static<typeof RateLimitSpecSchema>;

export const RATE_LIMIT_NOT_IMPLEMENTED = [] as const;
