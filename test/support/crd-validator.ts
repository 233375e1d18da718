// Validates objects against CRDs' openAPIV3Schema the way a Kubernetes API server does, with ajv:
// x-kubernetes-int-or-string and x-kubernetes-preserve-unknown-fields honoured, unknown fields of an
// object kept (as preserve-unknown-fields or pruning would, never an error), nulls of non-nullable
// fields pruned before validation; and checks that a schema is structural at all.

import { Ajv, type ValidateFunction } from 'ajv';

type Schema = Record<string, unknown>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function newAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: true });
  ajv.addKeyword({ keyword: 'x-kubernetes-preserve-unknown-fields' });
  ajv.addKeyword({ keyword: 'x-kubernetes-list-type' });
  ajv.addKeyword({ keyword: 'x-kubernetes-list-map-keys' });
  ajv.addKeyword({ keyword: 'x-kubernetes-embedded-resource' });
  ajv.addKeyword({
    keyword: 'x-kubernetes-int-or-string',
    schemaType: 'boolean',
    validate: (on: boolean, data: unknown) => !on || typeof data === 'string' || (typeof data === 'number' && Number.isInteger(data)),
    errors: false,
  });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  return ajv;
}

/** Drops null values of fields whose schema is not nullable, as the API server does before validating. */
export function pruneNulls(value: unknown, schema: Schema | undefined): unknown {
  if (!schema) return value;
  if (Array.isArray(value)) return value.map((v) => pruneNulls(v, schema.items as Schema | undefined));
  if (!isObject(value)) return value;
  const props = (schema.properties ?? {}) as Record<string, Schema>;
  const extra = isObject(schema.additionalProperties) ? (schema.additionalProperties as Schema) : undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const child = props[k] ?? extra;
    // A node without a type (any value) takes null as a value; a typed one drops it unless nullable.
    if (v === null && child && child.type !== undefined && child.nullable !== true) continue;
    out[k] = pruneNulls(v, child);
  }
  return out;
}

export interface CrdLike {
  readonly spec: { readonly group: string; readonly names: { readonly kind: string; readonly plural: string }; readonly versions: readonly { readonly name: string; readonly schema: { readonly openAPIV3Schema: Schema } }[] };
}

/** One validator per group, version and kind. */
export class CrdValidator {
  private readonly ajv = newAjv();
  private readonly byKey = new Map<string, { schema: Schema; check: ValidateFunction }>();

  constructor(crds: readonly CrdLike[]) {
    for (const crd of crds) {
      for (const v of crd.spec.versions) {
        const schema = v.schema.openAPIV3Schema;
        this.byKey.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, { schema, check: this.ajv.compile(schema) });
      }
    }
  }

  has(apiVersion: string, kind: string): boolean {
    return this.byKey.has(`${apiVersion}/${kind}`);
  }

  /** Errors as "path: message" (empty when valid); the object as the API server would store it. */
  validate(obj: Record<string, unknown>): { errors: string[]; pruned: Record<string, unknown> } {
    const entry = this.byKey.get(`${String(obj.apiVersion)}/${String(obj.kind)}`);
    if (!entry) return { errors: [`no CRD for ${String(obj.apiVersion)} ${String(obj.kind)}`], pruned: obj };
    const pruned = pruneNulls(obj, entry.schema) as Record<string, unknown>;
    if (entry.check(pruned)) return { errors: [], pruned };
    return { errors: (entry.check.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message ?? e.keyword}`), pruned };
  }
}

/**
 * Why a schema is not structural (empty when it is), after the rules of apiextensions.k8s.io/v1:
 * a type on every node (except int-or-string and preserve-unknown-fields nodes), no properties beside
 * additionalProperties, no type, description, default, additionalProperties or nullable inside a
 * logical junctor, and nothing but name restrictions on metadata.
 */
export function structuralIssues(schema: Schema, path = ''): string[] {
  const issues: string[] = [];
  const at = path || '/';
  const types = ['object', 'array', 'string', 'integer', 'number', 'boolean'];
  const exempt = schema['x-kubernetes-int-or-string'] === true || schema['x-kubernetes-preserve-unknown-fields'] === true;
  if (schema.type === undefined && !exempt) issues.push(`${at}: no type`);
  if (schema.type !== undefined && !types.includes(schema.type as string)) issues.push(`${at}: type ${String(schema.type)} is not one of ${types.join(', ')}`);
  if (schema.properties !== undefined && schema.additionalProperties !== undefined) issues.push(`${at}: properties and additionalProperties together`);
  if (schema.additionalProperties === false) issues.push(`${at}: additionalProperties: false`);
  if (schema.items !== undefined && !isObject(schema.items)) issues.push(`${at}: items must be one schema`);
  for (const k of ['anyOf', 'allOf', 'oneOf', 'not']) {
    const branches = k === 'not' ? (schema.not ? [schema.not] : []) : ((schema[k] as Schema[] | undefined) ?? []);
    for (const b of branches) {
      for (const bad of ['type', 'description', 'default', 'additionalProperties', 'nullable']) {
        const intOrString = schema['x-kubernetes-int-or-string'] === true && bad === 'type';
        if ((b as Schema)[bad] !== undefined && !intOrString) issues.push(`${at}: ${bad} inside ${k}`);
      }
    }
  }
  for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) {
    if (path === '' && name === 'metadata') {
      const extra = Object.keys(child).filter((k) => k !== 'type');
      if (extra.length > 0) issues.push(`metadata: only its type may be given (found ${extra.join(', ')})`);
      continue;
    }
    issues.push(...structuralIssues(child, `${path}.${name}`));
  }
  if (isObject(schema.additionalProperties)) issues.push(...structuralIssues(schema.additionalProperties as Schema, `${path}.*`));
  if (isObject(schema.items)) issues.push(...structuralIssues(schema.items as Schema, `${path}[]`));
  return issues;
}
