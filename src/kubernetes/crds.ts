// CustomResourceDefinitions for the kinds Portico reads from a cluster, generated from the very schemas
// the loader validates with (jsonSchemaFor), rewritten into the structural dialect Kubernetes requires.
//
// Three rules shape the rewrite, and why:
// - Unknown fields are kept (x-kubernetes-preserve-unknown-fields on every object), so that the loader
//   sees them and says so: a warning for Emissary's kinds (Emissary ignores them too), an error for a
//   Source (a misspelt claim must never pass). Pruning them in the API server would hide the typo.
// - The loader reads some fields in more than one written form and normalises them (a single string
//   for a list, a number for a duration string): those fields accept every written form here.
// - A union the structural dialect cannot express (string or object, object or list) accepts any
//   value here; the loader's validation still applies, and its verdict is the resource's condition.

import type { Kind } from '../api/resource.js';
import { jsonSchemaFor } from '../api/schemas.js';

export const EMISSARY_GROUP = 'getambassador.io';
export const EMISSARY_VERSION = 'v3alpha1';
export const PORTICO_GROUP = 'portico.dev';
export const PORTICO_VERSION = 'v1alpha1';

/** A kind as the API server knows it. */
export interface ClusterKind {
  readonly kind: Kind;
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly singular: string;
  /** Emissary defines no short names for its kinds; Portico adds none, so that none collides. */
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  /** Columns `kubectl get` shows besides NAME and AGE. */
  readonly columns: readonly { name: string; jsonPath: string; type: string; priority?: number }[];
}

const CONDITION_COLUMNS = [
  { name: 'Accepted', jsonPath: '.status.conditions[?(@.type=="Accepted")].status', type: 'string' },
  { name: 'Programmed', jsonPath: '.status.conditions[?(@.type=="Programmed")].status', type: 'string' },
  { name: 'Reason', jsonPath: '.status.conditions[?(@.type=="Accepted")].reason', type: 'string', priority: 1 },
];

function emissary(kind: Kind, plural: string, columns: ClusterKind['columns'] = []): ClusterKind {
  return { kind, group: EMISSARY_GROUP, version: EMISSARY_VERSION, plural, singular: kind.toLowerCase(), shortNames: [], categories: ['ambassador-crds'], columns: [...columns, ...CONDITION_COLUMNS] };
}

function portico(kind: Kind, plural: string, columns: ClusterKind['columns'] = []): ClusterKind {
  return { kind, group: PORTICO_GROUP, version: PORTICO_VERSION, plural, singular: kind.toLowerCase(), shortNames: [], categories: ['portico'], columns: [...columns, ...CONDITION_COLUMNS] };
}

/** Every custom kind Portico reads from a cluster, in a fixed order. (Secrets are core objects.) */
export const CLUSTER_KINDS: readonly ClusterKind[] = Object.freeze([
  emissary('Mapping', 'mappings', [
    { name: 'Source Host', jsonPath: '.spec.hostname', type: 'string' },
    { name: 'Source Prefix', jsonPath: '.spec.prefix', type: 'string' },
    { name: 'Dest Service', jsonPath: '.spec.service', type: 'string' },
  ]),
  emissary('Host', 'hosts', [{ name: 'Hostname', jsonPath: '.spec.hostname', type: 'string' }]),
  emissary('Listener', 'listeners', [
    { name: 'Port', jsonPath: '.spec.port', type: 'integer' },
    { name: 'Protocol', jsonPath: '.spec.protocol', type: 'string' },
  ]),
  emissary('TLSContext', 'tlscontexts'),
  emissary('TCPMapping', 'tcpmappings', [
    { name: 'Port', jsonPath: '.spec.port', type: 'integer' },
    { name: 'Dest Service', jsonPath: '.spec.service', type: 'string' },
  ]),
  emissary('Module', 'modules'),
  emissary('AuthService', 'authservices', [{ name: 'Service', jsonPath: '.spec.auth_service', type: 'string' }, { name: 'Proto', jsonPath: '.spec.proto', type: 'string' }]),
  emissary('Filter', 'filters'),
  emissary('FilterPolicy', 'filterpolicies'),
  emissary('RateLimitService', 'ratelimitservices', [{ name: 'Service', jsonPath: '.spec.service', type: 'string' }]),
  emissary('RateLimit', 'ratelimits'),
  emissary('TracingService', 'tracingservices', [{ name: 'Service', jsonPath: '.spec.service', type: 'string' }, { name: 'Driver', jsonPath: '.spec.driver', type: 'string' }]),
  portico('Resolver', 'resolvers'),
  portico('Source', 'sources', [{ name: 'Namespace', jsonPath: '.spec.kubernetes.namespace', type: 'string' }, { name: 'URL', jsonPath: '.spec.url', type: 'string' }]),
]);

export function clusterKind(kind: Kind): ClusterKind | undefined {
  return CLUSTER_KINDS.find((k) => k.kind === kind);
}

type Schema = Record<string, unknown>;

/** Accepts any value: the loader decides. */
const ANY: Schema = { 'x-kubernetes-preserve-unknown-fields': true };
/** A list of strings, or one string (the loader makes it a list). */
const STRING_OR_LIST: Schema = { ...ANY, description: 'a list of strings, or one string' };

/**
 * Fields the loader reads in more written forms than its schema (which describes the normalised
 * spec): see src/load/spec-normalise.ts. Paths are relative to spec; `*` is a map value.
 */
const WRITTEN_FORMS: Readonly<Partial<Record<Kind, Readonly<Record<string, Schema>>>>> = {
  Mapping: {
    ambassador_id: STRING_OR_LIST,
    remove_request_headers: STRING_OR_LIST,
    remove_response_headers: STRING_OR_LIST,
    allow_upgrade: STRING_OR_LIST,
    'cors.origins': STRING_OR_LIST,
    'cors.methods': STRING_OR_LIST,
    'cors.headers': STRING_OR_LIST,
    'cors.exposed_headers': STRING_OR_LIST,
    'cors.max_age': { 'x-kubernetes-int-or-string': true },
  },
  Module: {
    ambassador_id: STRING_OR_LIST,
    'config.cors.origins': STRING_OR_LIST,
    'config.cors.methods': STRING_OR_LIST,
    'config.cors.headers': STRING_OR_LIST,
    'config.cors.exposed_headers': STRING_OR_LIST,
    'config.cors.max_age': { 'x-kubernetes-int-or-string': true },
    'config.defaults.httpmapping.remove_request_headers': STRING_OR_LIST,
    'config.defaults.httpmapping.remove_response_headers': STRING_OR_LIST,
  },
  Host: { ambassador_id: STRING_OR_LIST },
  Listener: { ambassador_id: STRING_OR_LIST },
  TLSContext: { ambassador_id: STRING_OR_LIST },
  TCPMapping: { ambassador_id: STRING_OR_LIST },
  AuthService: { ambassador_id: STRING_OR_LIST },
  Filter: { ambassador_id: STRING_OR_LIST },
  FilterPolicy: { ambassador_id: STRING_OR_LIST },
  RateLimitService: { ambassador_id: STRING_OR_LIST },
  RateLimit: { ambassador_id: STRING_OR_LIST },
  TracingService: { ambassador_id: STRING_OR_LIST },
  Resolver: { ambassador_id: STRING_OR_LIST },
};

/** The structural OpenAPI v3 schema of a kind's spec. */
export function specSchema(kind: Kind): Schema {
  const out = structural(jsonSchemaFor(kind));
  for (const [path, schema] of Object.entries(WRITTEN_FORMS[kind] ?? {})) replaceAt(out, path.split('.'), schema);
  return out;
}

function replaceAt(root: Schema, segments: string[], schema: Schema): void {
  let node: Schema | undefined = root;
  for (const seg of segments.slice(0, -1)) {
    const props = node?.properties as Record<string, Schema> | undefined;
    node = seg === '*' ? (node?.additionalProperties as Schema | undefined) : props?.[seg];
  }
  const props = node?.properties as Record<string, Schema> | undefined;
  const last = segments[segments.length - 1]!;
  // A path that no longer exists in the schema is a mistake in the table: fail the generation loudly.
  if (!props || !(last in props)) throw new Error(`CRD written-form path ${segments.join('.')} is not in the schema`);
  const description = props[last]!.description;
  props[last] = { ...(description !== undefined ? { description } : {}), ...schema };
}

const TYPE_KEYWORDS = new Set(['type', 'properties', 'additionalProperties', 'items', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string']);

/** Rewrites a JSON schema (as jsonSchemaFor gives it) into a structural one. */
export function structural(node: Schema): Schema {
  if (Object.keys(node).length === 0 || (node.type === undefined && node.anyOf === undefined && node.enum === undefined && node.const === undefined)) return { ...keep(node, ['description']), ...ANY };
  if (Array.isArray(node.anyOf)) return union(node);
  const out: Schema = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'properties') {
      const props: Record<string, Schema> = {};
      for (const [name, child] of Object.entries(v as Record<string, Schema>)) props[name] = structural(child);
      out.properties = props;
    } else if (k === 'items') out.items = structural(v as Schema);
    else if (k === 'additionalProperties') {
      // Maps keep their value schema; closed objects are opened below (unknown fields reach the loader).
      if (typeof v === 'object' && v !== null && node.properties === undefined) out.additionalProperties = structural(v as Schema);
    } else if (k === 'const') out.enum = [v];
    else if (k === 'patternProperties' || k === 'propertyNames' || k === '$id' || k === '$schema' || k === 'default') continue;
    else out[k] = v;
  }
  if (out.type === 'object' && out.additionalProperties === undefined) out['x-kubernetes-preserve-unknown-fields'] = true;
  return out;
}

function keep(node: Schema, keys: string[]): Schema {
  return Object.fromEntries(keys.filter((k) => node[k] !== undefined).map((k) => [k, node[k]]));
}

/** A union: merged when its branches are objects, int-or-string when they are those two, else any value. */
function union(node: Schema): Schema {
  const branches = (node.anyOf as Schema[]).map(structural);
  const desc = keep(node, ['description']);
  const types = new Set(branches.map((b) => b.type));
  if (types.size === 1 && branches[0]!.type === 'object' && branches.every((b) => b.additionalProperties === undefined)) {
    const props: Record<string, Schema> = {};
    for (const b of branches) {
      for (const [name, child] of Object.entries((b.properties ?? {}) as Record<string, Schema>)) {
        // The same field in two branches with different shapes: any value, the loader decides.
        props[name] = props[name] === undefined || JSON.stringify(props[name]) === JSON.stringify(child) ? child : { ...ANY };
      }
    }
    return { ...desc, type: 'object', properties: props, 'x-kubernetes-preserve-unknown-fields': true };
  }
  if (types.size === 1 && branches[0]!.type !== undefined && branches.every((b) => Object.keys(b).every((k) => TYPE_KEYWORDS.has(k) || k === 'description' || k === 'enum'))) {
    const enums = branches.every((b) => Array.isArray(b.enum)) ? { enum: branches.flatMap((b) => b.enum as unknown[]) } : {};
    return { ...desc, type: branches[0]!.type, ...enums };
  }
  if (types.size === 2 && types.has('integer') && types.has('string')) return { ...desc, 'x-kubernetes-int-or-string': true };
  return { ...desc, ...ANY };
}

/** Kubernetes' own condition shape (metav1.Condition). */
const CONDITION: Schema = {
  type: 'object',
  required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  properties: {
    type: { type: 'string', maxLength: 316, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
    lastTransitionTime: { type: 'string', format: 'date-time' },
    reason: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' },
    message: { type: 'string', maxLength: 32768 },
  },
};

/**
 * What Portico writes to `status` (see docs/kubernetes.md). Other fields are kept: objects carried over
 * from Emissary may hold its `state` and `reason`.
 */
export const STATUS_SCHEMA: Schema = {
  type: 'object',
  'x-kubernetes-preserve-unknown-fields': true,
  properties: {
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0, description: 'the metadata.generation the conditions describe' },
    conditions: {
      type: 'array',
      items: CONDITION,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    },
    source: { type: 'string', description: 'the Portico source (team) the object belongs to' },
    revision: { type: 'string', description: "the source revision that serves the object (Portico's hash of the source's objects)" },
    servedGeneration: { type: 'integer', format: 'int64', minimum: 0, description: 'the generation of the object that is served now' },
  },
};

/** The whole object's schema: apiVersion, kind, metadata (left to the API server), spec and status. */
export function objectSchema(kind: Kind): Schema {
  return {
    type: 'object',
    description: `${kind}: see Portico's docs/reference/resources.md`,
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: specSchema(kind),
      status: STATUS_SCHEMA,
    },
    ...(kind === 'Source' ? { required: ['spec'] } : {}),
  };
}

/** One CustomResourceDefinition (apiextensions.k8s.io/v1). */
export function customResourceDefinition(k: ClusterKind): Schema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${k.group}`, labels: { 'app.kubernetes.io/name': 'portico', 'app.kubernetes.io/component': 'crds' } },
    spec: {
      group: k.group,
      names: { kind: k.kind, listKind: `${k.kind}List`, plural: k.plural, singular: k.singular, ...(k.shortNames.length > 0 ? { shortNames: [...k.shortNames] } : {}), categories: [...k.categories] },
      scope: 'Namespaced',
      versions: [
        {
          name: k.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [...k.columns.map((c) => ({ ...c })), { name: 'Age', jsonPath: '.metadata.creationTimestamp', type: 'date' }],
          schema: { openAPIV3Schema: objectSchema(k.kind) },
        },
      ],
    },
  };
}

/** Every CRD, in CLUSTER_KINDS order. */
export function customResourceDefinitions(): Schema[] {
  return CLUSTER_KINDS.map(customResourceDefinition);
}
