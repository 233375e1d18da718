// Load stage, step 4: check a normalised spec against its kind's schema and turn each failure into a
// problem with a field path ("spec.retry_policy.num_retries") and, where known, the field's line:col.

import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import type { TSchema } from '@sinclair/typebox';
import { KIND_SCHEMAS, specAccepts, specValidator } from '../api/schemas.js';
import type { Kind } from '../api/resource.js';
import type { ProblemCode } from '../api/problems.js';
import { closestName } from './closest-name.js';
import { isObject } from './spec-normalise.js';

export interface SpecIssue {
  readonly code: ProblemCode;
  readonly message: string;
  /** Path from the resource root, e.g. "spec.headers.x-user". */
  readonly field: string;
  /** Dotted paths to try for a position, most precise first. */
  readonly positionKeys: readonly string[];
}

const MAX_ISSUES_PER_RESOURCE = 20;

/** Schema errors of one spec, at most one per field and at most 20. */
export function validateSpec(kind: Kind, spec: unknown, opts: { echoValues: boolean }): SpecIssue[] {
  if (specAccepts(kind, spec)) return [];
  const check = specValidator(kind);
  const schema = KIND_SCHEMAS[kind].schema;
  const issues: SpecIssue[] = [];
  const seen = new Set<string>();
  for (const e of check.Errors(spec)) {
    const segments = pointerSegments(e.path);
    const field = dottedPath(spec, segments);
    if (seen.has(field)) continue;
    // A union error is reported along with the errors of each of its branches; one line is enough.
    if ([...seen].some((s) => s.startsWith(field + '.') || s.startsWith(field + '['))) continue;
    seen.add(field);
    issues.push(describe(e, schema, spec, segments, field, opts.echoValues));
    if (issues.length >= MAX_ISSUES_PER_RESOURCE) break;
  }
  return issues;
}

function describe(
  e: ValueError,
  root: TSchema,
  spec: unknown,
  segments: string[],
  field: string,
  echo: boolean,
): SpecIssue {
  const full = field ? `spec.${field}` : 'spec';
  const parent = segments.slice(0, -1);
  const parentField = dottedPath(spec, parent);
  const parentFull = parentField ? `spec.${parentField}` : 'spec';
  const last = segments[segments.length - 1] ?? '';
  if (e.type === ValueErrorType.ObjectAdditionalProperties) {
    const known = propertyNames(schemaAt(root, spec, parent));
    const guess = closestName(last, known);
    return {
      code: 'UnknownField',
      message: `unknown field "${last}"${guess ? ` (did you mean "${guess}"?)` : ''}`,
      field: full,
      positionKeys: [full, parentFull],
    };
  }
  if (e.type === ValueErrorType.ObjectRequiredProperty) {
    return { code: 'SchemaViolation', message: `missing required field "${last}"`, field: full, positionKeys: [parentFull] };
  }
  let expected = e.message.replace(/^Expected /, 'expected ');
  const literals = literalChoices(e.schema);
  if (literals) expected = `expected one of ${literals}`;
  else if (typeof e.schema.description === 'string') expected = `expected ${e.schema.description}`;
  else if (e.type === ValueErrorType.Union) expected = 'value has the wrong shape';
  const got = echo ? `, got ${show(e.value)}` : '';
  return { code: 'SchemaViolation', message: `${field || 'spec'}: ${expected}${got}`, field: full, positionKeys: [full, parentFull] };
}

function literalChoices(schema: TSchema): string | undefined {
  const anyOf = (schema as { anyOf?: TSchema[] }).anyOf;
  if (!anyOf || !anyOf.every((s) => 'const' in s)) return undefined;
  return anyOf.map((s) => JSON.stringify((s as unknown as { const: unknown }).const)).join(', ');
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return v.length > 40 ? `${JSON.stringify(v.slice(0, 40))}…` : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return Array.isArray(v) ? 'a list' : 'a mapping';
}

function pointerSegments(pointer: string): string[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** "circuit_breakers[0].max_connections": indexes only where the value really is a list. */
export function dottedPath(value: unknown, segments: readonly string[]): string {
  let out = '';
  let cur: unknown = value;
  for (const s of segments) {
    if (Array.isArray(cur)) {
      out += `[${s}]`;
      cur = cur[Number(s)];
    } else {
      out += out ? `.${s}` : s;
      cur = isObject(cur) ? cur[s] : undefined;
    }
  }
  return out;
}

/** The sub-schema describing the value at `segments`, following objects, records, arrays and unions. */
function schemaAt(schema: TSchema, value: unknown, segments: readonly string[]): TSchema | undefined {
  let s: TSchema | undefined = schema;
  let v: unknown = value;
  for (const seg of segments) {
    if (!s) return undefined;
    s = pickBranch(s, v);
    const next: unknown = Array.isArray(v) ? v[Number(seg)] : isObject(v) ? v[seg] : undefined;
    const props = (s as { properties?: Record<string, TSchema> }).properties;
    const pattern = (s as { patternProperties?: Record<string, TSchema> }).patternProperties;
    const items = (s as { items?: TSchema }).items;
    if (props && seg in props) s = props[seg];
    else if (pattern) s = Object.values(pattern)[0];
    else if (items) s = items;
    else return undefined;
    v = next;
  }
  return s ? pickBranch(s, v) : undefined;
}

/** For a union, the object branch that shares the most keys with the value. */
function pickBranch(s: TSchema, v: unknown): TSchema {
  const anyOf = (s as { anyOf?: TSchema[] }).anyOf;
  if (!anyOf) return s;
  const keys = isObject(v) ? Object.keys(v) : [];
  let best = anyOf[0] as TSchema;
  let score = -1;
  for (const b of anyOf) {
    const props = (b as { properties?: Record<string, TSchema> }).properties;
    if (!props) continue;
    const n = keys.filter((k) => k in props).length;
    if (n > score) {
      best = b;
      score = n;
    }
  }
  return best;
}

function propertyNames(s: TSchema | undefined): string[] {
  const props = (s as { properties?: Record<string, TSchema> } | undefined)?.properties;
  return props ? Object.keys(props) : [];
}

/**
 * Removes the fields a kind does not have, anywhere in the spec, and returns an UnknownField
 * warning for each (with the closest known name): Emissary ignores them, and Kubernetes prunes
 * them from its objects. Called only for a spec that failed validation, so valid specs pay nothing.
 */
export function pruneUnknownFields(kind: Kind, spec: Record<string, unknown>): SpecIssue[] {
  const out: SpecIssue[] = [];
  pruneValue(KIND_SCHEMAS[kind].schema, spec, 'spec', out);
  return out;
}

interface ShapeSchema {
  readonly type?: string;
  readonly properties?: Record<string, TSchema>;
  readonly patternProperties?: Record<string, TSchema>;
  readonly additionalProperties?: boolean | TSchema;
  readonly items?: TSchema;
  readonly anyOf?: TSchema[];
}

function pruneValue(schema: TSchema, value: unknown, path: string, out: SpecIssue[]): void {
  if (typeof value !== 'object' || value === null) return;
  const s = branchFor(schema as ShapeSchema, value);
  if (!s) return;
  if (Array.isArray(value)) {
    if (s.items) for (let i = 0; i < value.length; i++) pruneValue(s.items, value[i], `${path}[${i}]`, out);
    return;
  }
  const obj = value as Record<string, unknown>;
  if (s.properties) {
    for (const key of Object.keys(obj)) {
      const child = s.properties[key];
      if (child && Object.hasOwn(s.properties, key)) {
        pruneValue(child, obj[key], `${path}.${key}`, out);
      } else if (s.additionalProperties === false) {
        const guess = closestName(key, Object.keys(s.properties));
        out.push({
          code: 'UnknownField',
          message: `unknown field "${key}"${guess ? ` (did you mean "${guess}"?)` : ''}; ignored, as Emissary ignores it`,
          field: `${path}.${key}`,
          positionKeys: [`${path}.${key}`, path],
        });
        delete obj[key];
      }
    }
  } else if (s.patternProperties) {
    const child = Object.values(s.patternProperties)[0];
    if (child) for (const key of Object.keys(obj)) pruneValue(child, obj[key], `${path}.${key}`, out);
  }
}

/**
 * The schema that describes a value: itself, or the branch of a union of its shape. Among object
 * branches, the one sharing the most keys with the value; none when no key decides (the value is
 * then left whole for validation to report).
 */
function branchFor(s: ShapeSchema, value: object): ShapeSchema | undefined {
  if (!s.anyOf) return s;
  const isList = Array.isArray(value);
  const shaped = s.anyOf.map((b) => b as ShapeSchema).filter((b) => (isList ? b.type === 'array' : b.type === 'object'));
  if (shaped.length <= 1) return shaped[0];
  const keys = Object.keys(value);
  let best: ShapeSchema | undefined;
  let score = 0;
  let tie = false;
  for (const b of shaped) {
    const n = b.properties ? keys.filter((k) => Object.hasOwn(b.properties as object, k)).length : 0;
    if (n > score) {
      best = b;
      score = n;
      tie = false;
    } else if (n === score && n > 0) tie = true;
  }
  return tie ? undefined : best;
}

/** Dotted paths already split: the same few (notImplemented fields) are read for every resource. */
const splitPaths = new Map<string, string[]>();

/** The value at a dotted path like "config.gzip" or "tls.cert_chain_file" (no list indexes). */
export function valueAt(spec: unknown, dotted: string): unknown {
  let cur: unknown = spec;
  let parts = splitPaths.get(dotted);
  if (!parts) splitPaths.set(dotted, (parts = dotted.split('.')));
  for (const part of parts) {
    if (!isObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** Rules the schemas cannot express: mutually exclusive fields, and deprecated v3alpha1 spellings. */
export function crossFieldIssues(kind: Kind, spec: Record<string, unknown>, flavour: 'v3' | 'v2'): SpecIssue[] {
  const out: SpecIssue[] = [];
  const issue = (code: ProblemCode, message: string, field: string): void => {
    out.push({ code, message, field: `spec.${field}`, positionKeys: [`spec.${field}`] });
  };
  if (kind === 'Listener') {
    const has = (f: string) => spec[f] !== undefined;
    if (has('protocol') === has('protocolStack')) {
      issue('SchemaViolation', 'exactly one of "protocol" and "protocolStack" must be set', has('protocol') ? 'protocolStack' : 'port');
    }
  }
  if (kind === 'Host' && spec.tls !== undefined && spec.tlsContext !== undefined) {
    issue('SchemaViolation', '"tls" and "tlsContext" cannot both be set; use one', 'tlsContext');
  }
  if (kind === 'Mapping' && flavour === 'v3') {
    if (typeof spec.host === 'string' && spec.host_regex !== true && spec.host.includes('*')) {
      // Emissary refuses the Mapping (irhttpmapping.py): v2's host became hostname, v3alpha1's is exact.
      issue('SchemaViolation', `host ${JSON.stringify(spec.host)} is an exact match in v3alpha1 and contains *, which cannot match anything (Emissary refuses it too); a DNS glob is written as hostname: ${JSON.stringify(spec.host)}`, 'host');
    } else if (spec.host !== undefined) {
      issue('Deprecated', '"host" is deprecated in v3alpha1 (an exact or regex match); "hostname" is a DNS glob', 'host');
    }
    if (spec.use_websocket !== undefined) {
      issue('Deprecated', '"use_websocket" is deprecated; write allow_upgrade: [websocket]', 'use_websocket');
    }
  }
  return out;
}
