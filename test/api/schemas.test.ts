// The kind registry: one closed schema per kind, JSON Schema export for CRDs, and the
// not-implemented lists naming fields that really exist in each schema.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KINDS } from '../../src/api/resource.js';
import { KIND_SCHEMAS, jsonSchemaFor, specValidator, type MappingSpec, type ListenerSpec } from '../../src/api/schemas.js';

type JSONSchema = {
  type?: string;
  properties?: Record<string, JSONSchema>;
  patternProperties?: Record<string, JSONSchema>;
  items?: JSONSchema;
  anyOf?: JSONSchema[];
  additionalProperties?: boolean | JSONSchema;
};

/** Every object schema reachable from `s`, with its path. */
function objectSchemas(s: JSONSchema, path: string, out: [string, JSONSchema][]): [string, JSONSchema][] {
  if (s.type === 'object' && s.properties) out.push([path, s]);
  for (const [k, v] of Object.entries(s.properties ?? {})) objectSchemas(v, `${path}.${k}`, out);
  for (const v of Object.values(s.patternProperties ?? {})) objectSchemas(v, `${path}.*`, out);
  if (typeof s.additionalProperties === 'object') objectSchemas(s.additionalProperties, `${path}.*`, out);
  if (s.items) objectSchemas(s.items, `${path}[]`, out);
  for (const v of s.anyOf ?? []) objectSchemas(v, path, out);
  return out;
}

test('every kind has a registry entry', () => {
  assert.deepEqual(Object.keys(KIND_SCHEMAS).sort(), [...KINDS].sort());
});

test('every object in every schema is closed (an unknown field is an error)', async (t) => {
  for (const kind of KINDS) {
    await t.test(kind, () => {
      const objects = objectSchemas(jsonSchemaFor(kind) as JSONSchema, 'spec', []);
      assert.ok(objects.length > 0);
      for (const [path, s] of objects) assert.equal(s.additionalProperties, false, `${kind} ${path}`);
    });
  }
});

test('the JSON Schema uses the CRD dialect: maps as additionalProperties, literal unions as enum', () => {
  const s = jsonSchemaFor('Mapping') as JSONSchema & { properties: Record<string, Record<string, unknown>> };
  assert.deepEqual(s.properties.headers, { type: 'object', additionalProperties: { type: 'string' } });
  assert.deepEqual(s.properties.redirect_response_code, { type: 'number', enum: [301, 302, 303, 307, 308] });
  for (const kind of KINDS) assert.ok(!JSON.stringify(jsonSchemaFor(kind)).includes('patternProperties'), kind);
});

test('the JSON Schema is plain JSON, ready for a CRD', () => {
  const s = jsonSchemaFor('Listener') as JSONSchema & { required?: string[] };
  assert.equal(s.type, 'object');
  assert.deepEqual(s.required?.sort(), ['port', 'securityModel']);
  assert.equal(JSON.stringify(s), JSON.stringify(JSON.parse(JSON.stringify(s))));
  // A copy: changing it cannot change the registry.
  s.type = 'string';
  assert.equal((jsonSchemaFor('Listener') as JSONSchema).type, 'object');
});

test('every not-implemented field exists in its kind\'s schema', async (t) => {
  for (const kind of KINDS) {
    await t.test(kind, () => {
      for (const field of KIND_SCHEMAS[kind].notImplemented) {
        let s: JSONSchema | undefined = jsonSchemaFor(kind) as JSONSchema;
        for (const part of field.split('.')) s = s?.properties?.[part];
        assert.ok(s, `${kind}.${field}`);
      }
    });
  }
});

test('validators accept the documented shapes and reject near misses', async (t) => {
  const cases: Record<string, { kind: (typeof KINDS)[number]; spec: unknown; valid: boolean }> = {
    'a minimal Mapping': { kind: 'Mapping', spec: { prefix: '/', service: 'a' } satisfies MappingSpec, valid: true },
    'a Mapping without service': { kind: 'Mapping', spec: { prefix: '/' }, valid: false },
    'added headers as strings or {value, append}': {
      kind: 'Mapping',
      spec: { prefix: '/', service: 'a', add_request_headers: { a: 'x', b: { value: 'y', append: false } } } satisfies MappingSpec,
      valid: true,
    },
    'an added header object with an unknown key': {
      kind: 'Mapping',
      spec: { prefix: '/', service: 'a', add_request_headers: { b: { value: 'y', apend: false } } },
      valid: false,
    },
    'a Listener on port 0': { kind: 'Listener', spec: { port: 0, securityModel: 'XFP' }, valid: false },
    'a Listener with hostBinding from ALL': {
      kind: 'Listener',
      spec: { port: 8443, protocol: 'HTTPS', securityModel: 'SECURE', hostBinding: { namespace: { from: 'ALL' } } } satisfies ListenerSpec,
      valid: true,
    },
    'a Resolver endpoint without a port': { kind: 'Resolver', spec: { services: { a: ['10.0.0.1'] } }, valid: false },
    'a TLSContext with TLS 1.4': { kind: 'TLSContext', spec: { hosts: ['a'], min_tls_version: 'v1.4' }, valid: false },
    'a Secret of type Opaque': { kind: 'Secret', spec: { type: 'Opaque', data: { 'ca.crt': 'eA==' } }, valid: true },
    'a Module with a gzip block': { kind: 'Module', spec: { config: { gzip: { enabled: true, window_bits: 15 } } }, valid: true },
  };
  for (const [name, c] of Object.entries(cases)) {
    await t.test(name, () => assert.equal(specValidator(c.kind).Check(c.spec), c.valid));
  }
});
