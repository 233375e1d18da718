// Configuration problems are data, never exceptions: each has a stable code (documented in
// docs/reference/problems.md, kept in step by a test), a severity, an origin and a field path.

import type { Origin } from './origin.js';

export type Severity = 'error' | 'warning';

/** The catalogue of problem codes. Add here, then document in docs/reference/problems.md. */
export const PROBLEM_CODES = {
  // load: files and YAML
  YAMLSyntax: 'error',
  YAMLDuplicateKey: 'error',
  YAMLTag: 'error',
  YAMLAlias: 'error',
  YAMLMergeKey: 'error',
  FileTooLarge: 'error',
  TooManyDocuments: 'error',
  TooManyFiles: 'error',
  NestingTooDeep: 'error',
  FileUnreadable: 'error',
  PathOutsideRoot: 'error',
  // decode: resource shape
  NotAnObject: 'error',
  UnknownKind: 'error',
  UnknownAPIVersion: 'error',
  NonEmissaryKind: 'warning',
  MissingName: 'error',
  InvalidName: 'error',
  SchemaViolation: 'error',
  UnknownField: 'warning',
  NotImplemented: 'warning',
  NotEnforced: 'error',
  InvalidHeaderRule: 'error',
  AboveLimit: 'warning',
  ServicePathIgnored: 'warning',
  Deprecated: 'warning',
  ForbiddenKey: 'error',
  AnnotationInvalid: 'error',
  // compile: semantics
  DuplicateResource: 'error',
  InvalidRegex: 'error',
  UnsafeRegex: 'error',
  InvalidService: 'error',
  WeightOverflow: 'error',
  RouteConflict: 'error',
  RouteSplit: 'warning',
  MultipleShadows: 'error',
  ListenerConflict: 'error',
  SecretNotFound: 'error',
  TLSSecretMissing: 'warning',
  SecretInvalid: 'error',
  SecretFileOutside: 'error',
  SecretShadowed: 'warning',
  PrivateKeyInGit: 'warning',
  TLSContextNotFound: 'error',
  TLSSecretMismatch: 'error',
  TLSContextNotUsed: 'warning',
  ResolverNotFound: 'error',
  BuiltinResolver: 'warning',
  InvalidCORS: 'warning',
  ModuleNameInvalid: 'error',
  HostNotAttached: 'warning',
  MappingNotAttached: 'warning',
  HostnameConflict: 'warning',
  UnsupportedSelector: 'error',
  ReleasePolicyConflict: 'error',
  ReleasePolicyUnknownSource: 'warning',
  TracingServiceConflict: 'error',
  // compile: edge policies
  InvalidCIDR: 'error',
  AuthServicesDiffer: 'warning',
  // Edge Stack filters
  FilterNotFound: 'error',
  InvalidTemplate: 'error',
  // compile: rate limits
  RateLimitServiceConflict: 'error',
  InvalidRateLimitService: 'error',
  InvalidRateLimit: 'error',
  InvalidLabel: 'error',
  RateLimitNotUsed: 'warning',
  // ownership (claims)
  ClaimViolation: 'error',
} as const satisfies Record<string, Severity>;

export type ProblemCode = keyof typeof PROBLEM_CODES;

export interface ResourceRef {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
}

export interface Problem {
  readonly code: ProblemCode;
  readonly severity: Severity;
  readonly message: string;
  readonly origin: Origin;
  /** The resource the problem belongs to, when it belongs to one. */
  readonly resource?: ResourceRef;
  /** JSON-path-like field path inside the resource, e.g. "spec.headers.x-foo". */
  readonly field?: string;
}

export function problem(
  code: ProblemCode,
  message: string,
  origin: Origin,
  extra: { resource?: ResourceRef; field?: string; severity?: Severity } = {},
): Problem {
  const p: { -readonly [K in keyof Problem]: Problem[K] } = {
    code,
    severity: extra.severity ?? PROBLEM_CODES[code],
    message,
    origin,
  };
  if (extra.resource) p.resource = extra.resource;
  if (extra.field) p.field = extra.field;
  return p;
}

/** Stable order for problems: by origin, then code, then message. */
export function compareProblems(a: Problem, b: Problem): number {
  return (
    cmp(a.origin.source ?? '', b.origin.source ?? '') ||
    cmp(a.origin.path, b.origin.path) ||
    a.origin.line - b.origin.line ||
    a.origin.col - b.origin.col ||
    cmp(a.code, b.code) ||
    cmp(a.message, b.message)
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Codes `--strict` leaves as they are: notes that an object is not gateway configuration at all. */
const STRICT_KEEPS: ReadonlySet<ProblemCode> = new Set<ProblemCode>(['NonEmissaryKind']);

/**
 * Problems as `--strict` judges them, for CI: every warning where Portico knows better than the
 * configuration (unknown fields, not implemented, above limits, ...) becomes an error.
 */
export function strictProblems(problems: readonly Problem[]): Problem[] {
  return problems.map((p) => (p.severity === 'warning' && !STRICT_KEEPS.has(p.code) ? { ...p, severity: 'error' } : p));
}
