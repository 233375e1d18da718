// The registry of resource kinds: kind → spec schema, compiled validator and the fields Portico does
// not implement yet. The loader validates with it; `jsonSchemaFor` feeds CRD generation.

import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { Kind } from './resource.js';
import type { KindSchemaEntry } from './kinds/shared-fields.js';
import { MappingSpecSchema, MAPPING_NOT_IMPLEMENTED } from './kinds/mapping.js';
import { HostSpecSchema, HOST_NOT_IMPLEMENTED } from './kinds/host.js';
import { ListenerSpecSchema, LISTENER_NOT_IMPLEMENTED } from './kinds/listener.js';
import { TLSContextSpecSchema, TLS_CONTEXT_NOT_IMPLEMENTED } from './kinds/tls-context.js';
import { TCPMappingSpecSchema, TCP_MAPPING_NOT_IMPLEMENTED } from './kinds/tcp-mapping.js';
import { ModuleSpecSchema, MODULE_NOT_IMPLEMENTED } from './kinds/module.js';
import { AuthServiceSpecSchema, AUTH_SERVICE_NOT_IMPLEMENTED } from './kinds/auth-service.js';
import { SecretSpecSchema, SECRET_NOT_IMPLEMENTED } from './kinds/secret.js';
import { ResolverSpecSchema, RESOLVER_NOT_IMPLEMENTED } from './kinds/resolver.js';
import { SourceSpecSchema, SOURCE_NOT_IMPLEMENTED } from './kinds/source.js';
import { ReleasePolicySpecSchema, RELEASE_POLICY_NOT_IMPLEMENTED } from './kinds/release-policy.js';
import { FilterSpecSchema, FILTER_NOT_IMPLEMENTED, FilterPolicySpecSchema, FILTER_POLICY_NOT_IMPLEMENTED } from './kinds/filter.js';
import { RateLimitServiceSpecSchema, RATE_LIMIT_SERVICE_NOT_IMPLEMENTED } from './kinds/rate-limit-service.js';
import { RateLimitSpecSchema, RATE_LIMIT_NOT_IMPLEMENTED } from './kinds/rate-limit.js';
import { TracingServiceSpecSchema, TRACING_SERVICE_NOT_IMPLEMENTED } from './kinds/tracing-service.js';

export type { MappingSpec } from './kinds/mapping.js';
export type { HostSpec } from './kinds/host.js';
export type { ListenerSpec } from './kinds/listener.js';
export type { TLSContextSpec, HostTLSConfig } from './kinds/tls-context.js';
export type { TCPMappingSpec } from './kinds/tcp-mapping.js';
export type { ModuleSpec, AmbassadorModuleConfig } from './kinds/module.js';
export type { AuthServiceSpec } from './kinds/auth-service.js';
export type { SecretSpec } from './kinds/secret.js';
export type { ResolverSpec } from './kinds/resolver.js';
export type { SourceSpec } from './kinds/source.js';
export type { ReleasePolicySpec } from './kinds/release-policy.js';
export type { FilterSpec, FilterPolicySpec } from './kinds/filter.js';
export type { RateLimitServiceSpec } from './kinds/rate-limit-service.js';
export type { RateLimitSpec } from './kinds/rate-limit.js';
export type { TracingServiceSpec } from './kinds/tracing-service.js';
export type { KindSchemaEntry } from './kinds/shared-fields.js';

export const KIND_SCHEMAS: Readonly<Record<Kind, KindSchemaEntry>> = Object.freeze({
  Mapping: { schema: MappingSpecSchema, notImplemented: MAPPING_NOT_IMPLEMENTED },
  Host: { schema: HostSpecSchema, notImplemented: HOST_NOT_IMPLEMENTED },
  Listener: { schema: ListenerSpecSchema, notImplemented: LISTENER_NOT_IMPLEMENTED },
  TLSContext: { schema: TLSContextSpecSchema, notImplemented: TLS_CONTEXT_NOT_IMPLEMENTED },
  TCPMapping: { schema: TCPMappingSpecSchema, notImplemented: TCP_MAPPING_NOT_IMPLEMENTED },
  Module: { schema: ModuleSpecSchema, notImplemented: MODULE_NOT_IMPLEMENTED },
  AuthService: { schema: AuthServiceSpecSchema, notImplemented: AUTH_SERVICE_NOT_IMPLEMENTED },
  Secret: { schema: SecretSpecSchema, notImplemented: SECRET_NOT_IMPLEMENTED },
  Resolver: { schema: ResolverSpecSchema, notImplemented: RESOLVER_NOT_IMPLEMENTED },
  Source: { schema: SourceSpecSchema, notImplemented: SOURCE_NOT_IMPLEMENTED },
  ReleasePolicy: { schema: ReleasePolicySpecSchema, notImplemented: RELEASE_POLICY_NOT_IMPLEMENTED },
  Filter: { schema: FilterSpecSchema, notImplemented: FILTER_NOT_IMPLEMENTED },
  FilterPolicy: { schema: FilterPolicySpecSchema, notImplemented: FILTER_POLICY_NOT_IMPLEMENTED },
  RateLimitService: { schema: RateLimitServiceSpecSchema, notImplemented: RATE_LIMIT_SERVICE_NOT_IMPLEMENTED },
  RateLimit: { schema: RateLimitSpecSchema, notImplemented: RATE_LIMIT_NOT_IMPLEMENTED },
  TracingService: { schema: TracingServiceSpecSchema, notImplemented: TRACING_SERVICE_NOT_IMPLEMENTED },
});

/** The apiVersion each kind is written with in its current form. */
export const KIND_API_VERSIONS: Readonly<Record<Kind, string>> = Object.freeze({
  Mapping: 'getambassador.io/v3alpha1',
  Host: 'getambassador.io/v3alpha1',
  Listener: 'getambassador.io/v3alpha1',
  TLSContext: 'getambassador.io/v3alpha1',
  TCPMapping: 'getambassador.io/v3alpha1',
  Module: 'getambassador.io/v3alpha1',
  AuthService: 'getambassador.io/v3alpha1',
  Secret: 'v1',
  Resolver: 'portico.dev/v1alpha1',
  Source: 'portico.dev/v1alpha1',
  ReleasePolicy: 'portico.dev/v1alpha1',
  Filter: 'getambassador.io/v3alpha1',
  FilterPolicy: 'getambassador.io/v3alpha1',
  RateLimitService: 'getambassador.io/v3alpha1',
  RateLimit: 'getambassador.io/v3alpha1',
  TracingService: 'getambassador.io/v3alpha1',
});

const compiled = new Map<Kind, TypeCheck<TSchema>>();

/** The compiled validator of a kind's spec (compiled once, on first use). */
export function specValidator(kind: Kind): TypeCheck<TSchema> {
  let c = compiled.get(kind);
  if (!c) {
    c = TypeCompiler.Compile(KIND_SCHEMAS[kind].schema);
    compiled.set(kind, c);
  }
  return c;
}

/** A kind's closed object schema, checked one present property at a time (see specAccepts). */
interface PropertyChecks {
  readonly properties: Readonly<Record<string, TSchema>>;
  readonly required: readonly string[];
  readonly byKey: Map<string, TypeCheck<TSchema>>;
}

const propertyChecks = new Map<Kind, PropertyChecks | null>();

/**
 * Whether a spec satisfies its kind's schema: the same answer as specValidator(kind).Check(spec),
 * reached by checking only the properties the spec has, each with its own compiled check. The
 * whole-object check runs code for every one of dozens of properties, most of them absent, and is
 * slow to optimise; a few small checks are quick from the start. Anything but a prototype-free
 * object with every required property goes to the whole-object check.
 */
export function specAccepts(kind: Kind, spec: unknown): boolean {
  const checks = propertyChecksOf(kind);
  if (!checks || typeof spec !== 'object' || spec === null || Array.isArray(spec) || Object.getPrototypeOf(spec) !== null) {
    return specValidator(kind).Check(spec);
  }
  const value = spec as Record<string, unknown>;
  const { properties, required, byKey } = checks;
  for (const key of Object.getOwnPropertyNames(value)) {
    // The kind's schemas are closed: an unknown property fails the object.
    if (!Object.hasOwn(properties, key)) return false;
    const v = value[key];
    if (v !== undefined && !propertyCheck(byKey, properties, key).Check(v)) return false;
  }
  for (const key of required) {
    if (!(key in value)) return specValidator(kind).Check(spec);
    if (value[key] === undefined && !propertyCheck(byKey, properties, key).Check(undefined)) return false;
  }
  return true;
}

function propertyChecksOf(kind: Kind): PropertyChecks | null {
  let checks = propertyChecks.get(kind);
  if (checks === undefined) {
    const schema = KIND_SCHEMAS[kind].schema as TSchema & { properties?: Record<string, TSchema>; required?: string[]; additionalProperties?: unknown };
    // Only what every kind is today: a closed object with no other object-level keywords.
    const plain = Object.keys(schema).every((k) => ['type', 'properties', 'required', 'additionalProperties'].includes(k));
    checks = schema.type === 'object' && schema.additionalProperties === false && schema.properties && plain
      ? { properties: schema.properties, required: schema.required ?? [], byKey: new Map() }
      : null;
    propertyChecks.set(kind, checks);
  }
  return checks;
}

function propertyCheck(byKey: Map<string, TypeCheck<TSchema>>, properties: Readonly<Record<string, TSchema>>, key: string): TypeCheck<TSchema> {
  let check = byKey.get(key);
  if (!check) {
    check = TypeCompiler.Compile(properties[key] as TSchema);
    byKey.set(key, check);
  }
  return check;
}

/**
 * The JSON Schema of a kind's spec, as plain JSON, in the dialect a CRD's openAPIV3Schema accepts:
 * maps are `additionalProperties: <schema>` (not patternProperties) and literal unions are `enum`.
 * The loader's own validation stays stricter (for example on Secret data key names).
 */
export function jsonSchemaFor(kind: Kind): Record<string, unknown> {
  return toCRDDialect(JSON.parse(JSON.stringify(KIND_SCHEMAS[kind].schema))) as Record<string, unknown>;
}

type JSONValue = null | boolean | number | string | JSONValue[] | { [k: string]: JSONValue };

function toCRDDialect(v: JSONValue): JSONValue {
  if (Array.isArray(v)) return v.map(toCRDDialect);
  if (v === null || typeof v !== 'object') return v;
  const out: { [k: string]: JSONValue } = {};
  for (const [k, x] of Object.entries(v)) out[k] = toCRDDialect(x);
  const pattern = out.patternProperties;
  if (pattern && typeof pattern === 'object' && !Array.isArray(pattern)) {
    const values = Object.values(pattern);
    if (values.length === 1) {
      out.additionalProperties = values[0] as JSONValue;
      delete out.patternProperties;
    }
  }
  const anyOf = out.anyOf;
  if (Array.isArray(anyOf) && anyOf.length > 0 && anyOf.every((b) => b !== null && typeof b === 'object' && !Array.isArray(b) && 'const' in b)) {
    const branches = anyOf as { [k: string]: JSONValue }[];
    const types = new Set(branches.map((b) => b.type));
    delete out.anyOf;
    if (types.size === 1 && branches[0]?.type !== undefined) out.type = branches[0].type as JSONValue;
    out.enum = branches.map((b) => b.const as JSONValue);
  }
  return out;
}
