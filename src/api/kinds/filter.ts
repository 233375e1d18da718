// Edge Stack's Filter and FilterPolicy (getambassador.io/v3alpha1): a Filter says how to check a
// request (JWT, APIKey, External); a FilterPolicy says which requests, by host and path glob.
//
// OAuth2 and Plugin filters are accepted by the schema so that their problem can name them: compile
// refuses them (fail closed), since Portico does not run them.

import { Type, type Static } from '@sinclair/typebox';
import { AmbassadorId, Closed, StringList } from './shared-fields.js';

/** A Go duration ("300ms", "1.5h", "2h45m"), as Edge Stack parses it. */
export const GoDuration = Type.String({
  pattern: '^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h)(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h))*$|^0$',
  description: 'a Go duration: "30s", "1.5h", "2h45m"',
});

const HeaderTemplate = Closed({ name: Type.String({ minLength: 1 }), value: Type.String() });

export const JWTAlgorithm = Type.Union(
  ['none', 'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512'].map((a) => Type.Literal(a)),
);

export const JWTFilterSchema = Closed({
  jwksURI: Type.Optional(Type.String({ minLength: 1 })),
  insecureTLS: Type.Optional(Type.Boolean()),
  renegotiateTLS: Type.Optional(Type.Union([Type.Literal('never'), Type.Literal('onceAsClient'), Type.Literal('freelyAsClient')])),
  validAlgorithms: Type.Optional(Type.Array(JWTAlgorithm)),
  audience: Type.Optional(Type.String()),
  requireAudience: Type.Optional(Type.Boolean()),
  issuer: Type.Optional(Type.String()),
  requireIssuer: Type.Optional(Type.Boolean()),
  requireExpiresAt: Type.Optional(Type.Boolean()),
  leewayForExpiresAt: Type.Optional(GoDuration),
  requireNotBefore: Type.Optional(Type.Boolean()),
  leewayForNotBefore: Type.Optional(GoDuration),
  requireIssuedAt: Type.Optional(Type.Boolean()),
  leewayForIssuedAt: Type.Optional(GoDuration),
  maxStale: Type.Optional(GoDuration),
  injectRequestHeaders: Type.Optional(Type.Array(HeaderTemplate)),
  errorResponse: Type.Optional(
    Closed({
      contentType: Type.Optional(Type.String()),
      realm: Type.Optional(Type.String()),
      headers: Type.Optional(Type.Array(HeaderTemplate)),
      bodyTemplate: Type.Optional(Type.String()),
    }),
  ),
});

export const APIKeyFilterSchema = Closed({
  httpHeader: Type.Optional(Type.String({ minLength: 1 })),
  keys: Type.Array(Closed({ secretName: Type.String({ minLength: 1 }) }), { minItems: 1 }),
});

export const FilterSpecSchema = Closed({
  ambassador_id: Type.Optional(AmbassadorId),
  JWT: Type.Optional(JWTFilterSchema),
  APIKey: Type.Optional(APIKeyFilterSchema),
  /** The AuthService spec as a filter: checked when it is compiled, by the AuthService's rules. */
  External: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  OAuth2: Type.Optional(Type.Unknown()),
  Plugin: Type.Optional(Type.Unknown()),
});
export type FilterSpec = Static<typeof FilterSpecSchema>;

export const FILTER_NOT_IMPLEMENTED = ['JWT.renegotiateTLS'] as const;

const HeaderCondition = Closed({
  name: Type.String({ minLength: 1 }),
  negate: Type.Optional(Type.Boolean()),
  value: Type.Optional(Type.String()),
  valueRegex: Type.Optional(Type.String()),
});

const FilterReference = Closed({
  name: Type.String({ minLength: 1 }),
  namespace: Type.Optional(Type.String({ minLength: 1 })),
  ifRequestHeader: Type.Optional(HeaderCondition),
  onDeny: Type.Optional(Type.Union([Type.Literal('break'), Type.Literal('continue')])),
  onAllow: Type.Optional(Type.Union([Type.Literal('break'), Type.Literal('continue')])),
  arguments: Type.Optional(
    Closed({
      scope: Type.Optional(StringList),
      /** OAuth2 arguments: only meaningful for OAuth2 filters, which are refused anyway. */
      scopes: Type.Optional(StringList),
      insteadOfRedirect: Type.Optional(Type.Unknown()),
      sameSite: Type.Optional(Type.String()),
    }),
  ),
});

export const FilterPolicySpecSchema = Closed({
  ambassador_id: Type.Optional(AmbassadorId),
  rules: Type.Array(
    Closed({
      host: Type.Optional(Type.String({ minLength: 1 })),
      path: Type.Optional(Type.String({ minLength: 1 })),
      filters: Type.Optional(Type.Union([Type.Null(), Type.Array(FilterReference)])),
    }),
  ),
});
export type FilterPolicySpec = Static<typeof FilterPolicySpecSchema>;

export const FILTER_POLICY_NOT_IMPLEMENTED = [] as const;
