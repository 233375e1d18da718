// The CRDs `portico crds` prints: structural (as apiextensions.k8s.io/v1 requires), with Emissary's
// group, kinds and plurals and a status subresource; and the upgrade test: every example object in the
// repository's test data that the loader accepts is accepted by the CRDs (validated with ajv, with the
// API server's rules for int-or-string, preserve-unknown-fields and nulls), and each one the CRDs
// refuse is one the loader refuses too.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { customResourceDefinitions, CLUSTER_KINDS } from '../../src/kubernetes/crds.js';
import { objectYaml } from '../../src/kubernetes/object-yaml.js';
import { loadFiles } from '../../src/load/index.js';
import { CrdValidator, structuralIssues, type CrdLike } from '../support/crd-validator.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const testdata = join(repo, 'test/testdata');
const crds = customResourceDefinitions() as unknown as (CrdLike & { metadata: { name: string }; spec: { scope: string; names: Record<string, unknown>; versions: { name: string; served: boolean; storage: boolean; subresources?: Record<string, unknown>; schema: { openAPIV3Schema: Record<string, unknown> } }[] } })[];
const validator = new CrdValidator(crds);

type Obj = Record<string, unknown>;

function files(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) files(p, out);
    else if (/\.(ya?ml|json)$/.test(e)) out.push(p);
  }
  return out;
}

/** Every object in the test data whose group and version the CRDs serve, with its file. */
function examples(): { file: string; obj: Obj }[] {
  const out: { file: string; obj: Obj }[] = [];
  for (const file of files(testdata)) {
    let docs;
    try {
      docs = parseAllDocuments(readFileSync(file, 'utf8'), { uniqueKeys: false });
    } catch {
      continue;
    }
    for (const d of Array.isArray(docs) ? docs : [docs]) {
      if (d.errors.length > 0) continue; // not YAML: the loader refuses the file; nothing reaches a cluster
      let v: unknown;
      try {
        v = d.toJS({ maxAliasCount: 100 });
      } catch {
        continue;
      }
      const items = Array.isArray(v) ? v : v && typeof v === 'object' && (v as Obj).kind === 'List' ? ((v as Obj).items as unknown[]) : [v];
      for (const o of items ?? []) {
        if (o && typeof o === 'object' && validator.has(String((o as Obj).apiVersion), String((o as Obj).kind))) out.push({ file: relative(repo, file), obj: o as Obj });
      }
    }
  }
  return out;
}

/** The loader's errors on this one object, under its own ambassador_id (so that it is judged at all). */
function loaderErrors(obj: Obj): string[] {
  const spec = (obj.spec ?? {}) as Obj;
  const ids = spec.ambassador_id;
  const id = typeof ids === 'string' ? ids : Array.isArray(ids) && typeof ids[0] === 'string' ? ids[0] : 'default';
  const r = loadFiles([{ path: 'object.yaml', content: objectYaml(obj) }], { ambassadorId: id });
  return r.problems.filter((p) => p.severity === 'error').map((p) => `${p.code} ${p.field ?? ''}: ${p.message}`);
}

describe('CRDs', () => {
  it('are structural, one per kind, with Emissary names and a status subresource', () => {
    assert.deepEqual(
      crds.map((c) => c.metadata.name),
      ['mappings.getambassador.io', 'hosts.getambassador.io', 'listeners.getambassador.io', 'tlscontexts.getambassador.io', 'tcpmappings.getambassador.io', 'modules.getambassador.io', 'authservices.getambassador.io', 'filters.getambassador.io', 'filterpolicies.getambassador.io', 'ratelimitservices.getambassador.io', 'ratelimits.getambassador.io', 'tracingservices.getambassador.io', 'resolvers.portico.dev', 'sources.portico.dev'],
    );
    for (const c of crds) {
      assert.equal(c.spec.scope, 'Namespaced');
      assert.equal(c.spec.versions.length, 1);
      const v = c.spec.versions[0]!;
      assert.deepEqual([v.served, v.storage], [true, true]);
      assert.deepEqual(v.subresources, { status: {} }, `${c.metadata.name} has a status subresource`);
      assert.deepEqual(structuralIssues(v.schema.openAPIV3Schema), [], `${c.metadata.name} is structural`);
    }
    const mapping = crds[0]!;
    assert.deepEqual(mapping.spec.names, { kind: 'Mapping', listKind: 'MappingList', plural: 'mappings', singular: 'mapping', categories: ['ambassador-crds'] });
    assert.equal(mapping.spec.versions[0]!.name, 'v3alpha1');
    assert.deepEqual(CLUSTER_KINDS.map((k) => k.shortNames.length), CLUSTER_KINDS.map(() => 0), 'Emissary defines no short names; Portico adds none');
  });

  it('the structural check can fail (a schema with properties beside additionalProperties, a type inside anyOf)', () => {
    assert.deepEqual(structuralIssues({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'string' } }), ['/: properties and additionalProperties together']);
    assert.deepEqual(structuralIssues({ type: 'object', properties: { a: { anyOf: [{ type: 'string' }, { type: 'object' }] } } }), ['.a: no type', '.a: type inside anyOf', '.a: type inside anyOf']);
  });

  it('upgrade: accept every example in the test data that the loader accepts; refuse only what the loader refuses', () => {
    const all = examples();
    assert.ok(all.length > 350, `found ${all.length} example objects`);
    const refusedByCrd: string[] = [];
    for (const { file, obj } of all) {
      const name = `${file} ${String(obj.kind)} ${String(((obj.metadata ?? {}) as Obj).name ?? '')}`;
      const crd = validator.validate(obj).errors;
      const loader = loaderErrors(obj);
      if (loader.length === 0) assert.deepEqual(crd, [], `the CRD refuses ${name}, which the loader accepts`);
      if (crd.length > 0) {
        assert.ok(loader.length > 0, `${name}: refused by the CRD (${crd.join('; ')}) but not by the loader`);
        refusedByCrd.push(name);
      }
    }
    // The few Emissary examples that are wrong on purpose or by mistake (a redirect code of 400, a
    // load balancer without a policy, alpn_protocols as a list, ...): refused by both.
    assert.ok(refusedByCrd.length < 20, refusedByCrd.join('\n'));
  });

  it('upgrade: the v1 and v2 examples, written as v3alpha1 (the only version the CRDs serve), are accepted when the loader accepts them', () => {
    const dir = join(testdata, 'emissary/api-versions');
    let checked = 0;
    for (const version of ['v1', 'v2']) {
      for (const f of readdirSync(join(dir, version))) {
        const old = parseAllDocuments(readFileSync(join(dir, version, f), 'utf8'))
          .flatMap((d) => d.toJS() as Obj[])
          .filter((o) => validator.has('getambassador.io/v3alpha1', String(o.kind)));
        for (const o of old) {
          const v3 = { ...o, apiVersion: 'getambassador.io/v3alpha1' };
          if (loaderErrors(v3).length > 0) continue;
          checked++;
          assert.deepEqual(validator.validate(v3).errors, [], `${version}/${f} ${String(o.kind)} ${String(((o.metadata ?? {}) as Obj).name)}`);
        }
      }
    }
    assert.ok(checked > 100, `checked ${checked}`);
  });

  it('keep unknown fields for the loader to report, and refuse a wrong type at admission', () => {
    const typo = { apiVersion: 'getambassador.io/v3alpha1', kind: 'Mapping', metadata: { name: 'm' }, spec: { prefix: '/a/', service: 's', prefx: '/typo/' } };
    assert.deepEqual(validator.validate(typo).errors, []);
    assert.equal((validator.validate(typo).pruned.spec as Obj).prefx, '/typo/', 'the unknown field reaches the loader');
    const wrong = { apiVersion: 'getambassador.io/v3alpha1', kind: 'Mapping', metadata: { name: 'm' }, spec: { prefix: '/a/', service: 's', timeout_ms: 'soon' } };
    assert.match(validator.validate(wrong).errors.join(), /\/spec\/timeout_ms: must be integer/);
    const source = { apiVersion: 'portico.dev/v1alpha1', kind: 'Source', metadata: { name: 'shop' }, spec: { kubernetes: { namespace: 'Shop_1' }, claims: { kinds: ['Mapping'] } } };
    assert.match(validator.validate(source).errors.join(), /namespace: must match pattern/);
  });

  it('`portico crds` prints them as YAML documents, and one kind with --kind', () => {
    const bin = join(repo, 'bin/portico.js');
    const all = spawnSync(process.execPath, [bin, 'crds'], { encoding: 'utf8' });
    assert.equal(all.status, 0, all.stderr);
    const docs = parseAllDocuments(all.stdout).map((d) => d.toJS() as Obj);
    assert.deepEqual(docs, JSON.parse(JSON.stringify(crds)));
    const one = spawnSync(process.execPath, [bin, 'crds', '--kind', 'Source', '--format', 'json'], { encoding: 'utf8' });
    assert.equal(one.status, 0, one.stderr);
    assert.deepEqual((JSON.parse(one.stdout) as { items: { metadata: { name: string } }[] }).items.map((i) => i.metadata.name), ['sources.portico.dev']);
    const bad = spawnSync(process.execPath, [bin, 'crds', '--kind', 'Mapings'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^portico crds: --kind 'Mapings' is not a kind with a CRD \(did you mean 'Mapping'\?\)/);
  });
});
