// Portico's own Source kind (portico.dev/v1alpha1): a central repository declares each team source —
// where its configuration lives, what it may configure (claims) and how its commits are verified.

import { Type, type Static } from '@sinclair/typebox';
import { Closed } from './shared-fields.js';

/** "30s", "500ms", "2m", "1h", or a number of seconds. */
export const SourceDuration = Type.Union([Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$' }), Type.Number({ minimum: 0 })], {
  description: 'a duration like "30s", "500ms", "2m", or a number of seconds',
});

/** A full commit id (SHA-1 or SHA-256). */
export const CommitId = Type.String({ pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$', description: 'a full commit id (40 or 64 lower-case hex digits)' });

export const SourceClaimsSchema = Closed({
  kinds: Type.Array(Type.String({ minLength: 1 })),
  hostnames: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  pathPrefixes: Type.Optional(Type.Array(Type.String({ minLength: 1, pattern: '^/', description: 'a path prefix starting with "/"' }))),
  ports: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }))),
});

export const SourceVerifySchema = Closed({
  mode: Type.Union([Type.Literal('head'), Type.Literal('strict')]),
  allowedSigners: Type.Optional(Type.String({ minLength: 1 })),
  gpgKeys: Type.Optional(Type.String({ minLength: 1 })),
  gpgFingerprints: Type.Optional(Type.Array(Type.String({ pattern: '^[0-9A-Fa-f ]{40,}$', description: 'a GPG key fingerprint' }))),
});

/**
 * A team source read from a Kubernetes cluster instead of a repository: the objects of one namespace
 * (optionally only those with matching labels), or of every namespace with matching labels.
 */
export const SourceKubernetesSchema = Closed({
  namespace: Type.Optional(Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', description: 'a namespace name' })),
  labelSelector: Type.Optional(Type.String({ minLength: 1, maxLength: 1000, description: 'equality-based label selector: "team=shop,tier!=test"' })),
});

export const SourceSpecSchema = Closed({
  /** A git repository (or a local path); exactly one of url and kubernetes. */
  url: Type.Optional(Type.String({ minLength: 1 })),
  kubernetes: Type.Optional(SourceKubernetesSchema),
  branch: Type.Optional(Type.String({ minLength: 1 })),
  path: Type.Optional(Type.String()),
  interval: Type.Optional(SourceDuration),
  claims: SourceClaimsSchema,
  verify: Type.Optional(SourceVerifySchema),
  onForcePush: Type.Optional(Type.Union([Type.Literal('refuse'), Type.Literal('accept-with-strict')])),
  /**
   * A commit the central repository vouches for: history up to it is trusted. A force-pushed branch
   * that descends from it is accepted once, and strict signing checks only the commits after it.
   */
  anchor: Type.Optional(CommitId),
});
export type SourceSpec = Static<typeof SourceSpecSchema>;

export const SOURCE_NOT_IMPLEMENTED = [] as const;
