// Loader behaviour as a user sees it: which shapes, apiVersions and kinds load, how v2 is
// normalised, which problems come back and where they point. Table tests keyed by a sentence.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadFiles, type LoadResult } from '../../src/load/index.js';
import { formatOrigin } from '../../src/api/origin.js';
import { fieldOrigin, type Resource } from '../../src/api/resource.js';
import type { MappingSpec, HostSpec, TCPMappingSpec, ModuleSpec } from '../../src/api/schemas.js';

function load(yaml: string, opts: { ambassadorId?: string; path?: string } = {}): LoadResult {
  const o: { ambassadorId?: string; source: string; revision: string } = { source: 'edge', revision: '0123456789abcdef0123' };
  if (opts.ambassadorId) o.ambassadorId = opts.ambassadorId;
  return loadFiles([{ path: opts.path ?? 'deploy/edge.yaml', content: yaml }], o);
}

function errors(r: LoadResult) {
  return r.problems.filter((p) => p.severity === 'error');
}

function only(r: LoadResult): Resource {
  assert.deepEqual(errors(r), [], 'no errors expected');
  assert.equal(r.resources.length, 1, 'exactly one resource expected');
  return r.resources[0] as Resource;
}

/** A plain-object copy of a spec (specs are frozen null-prototype objects). */
function plain(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v));
}

const mapping = (spec: string, meta = 'name: m1') => `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
  ${meta}
spec:
${spec.replace(/^/gm, '  ')}
`;

test('accepted shapes', async (t) => {
  const cases: Record<string, { yaml: string; kind: string; name: string; namespace: string; spec: Record<string, unknown> }> = {
    'a Kubernetes object loads with its namespace and labels': {
      yaml: mapping('prefix: /a/\nservice: a\nhostname: "*"', 'name: m1\n  namespace: team-a\n  labels: {tier: edge}'),
      kind: 'Mapping',
      name: 'm1',
      namespace: 'team-a',
      spec: { prefix: '/a/', service: 'a', hostname: '*' },
    },
    'a resource without a namespace lands in "default"': {
      yaml: mapping('prefix: /a/\nservice: a'),
      kind: 'Mapping',
      name: 'm1',
      namespace: 'default',
      spec: { prefix: '/a/', service: 'a' },
    },
    'the flattened form: top-level name, everything else is spec': {
      yaml: 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nname: flat\nnamespace: ns1\nprefix: /f/\nservice: f:8080\n',
      kind: 'Mapping',
      name: 'flat',
      namespace: 'ns1',
      spec: { prefix: '/f/', service: 'f:8080' },
    },
    'bookkeeping metadata and status written by Kubernetes are accepted and ignored': {
      yaml: `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata:
  name: h1
  creationTimestamp: null
  generation: 3
  resourceVersion: "77"
  uid: 0f4c
  annotations: {note: x}
  finalizers: [a]
  managedFields: []
spec:
  hostname: example.com
status:
  state: Ready
`,
      kind: 'Host',
      name: 'h1',
      namespace: 'default',
      spec: { hostname: 'example.com' },
    },
    'a Portico Resolver names endpoints outside Kubernetes': {
      yaml: 'apiVersion: portico.dev/v1alpha1\nkind: Resolver\nmetadata: {name: static}\nspec:\n  services:\n    billing: ["10.0.0.5:8080", "billing.example.net:443", "[::1]:9000"]\n',
      kind: 'Resolver',
      name: 'static',
      namespace: 'default',
      spec: { services: { billing: ['10.0.0.5:8080', 'billing.example.net:443', '[::1]:9000'] } },
    },
    'a Kubernetes TLS Secret keeps type and base64 data as its spec': {
      yaml: 'apiVersion: v1\nkind: Secret\nmetadata: {name: tls-cert, namespace: edge}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: Y2VydA==\n  tls.key: a2V5\n',
      kind: 'Secret',
      name: 'tls-cert',
      namespace: 'edge',
      spec: { type: 'kubernetes.io/tls', data: { 'tls.crt': 'Y2VydA==', 'tls.key': 'a2V5' } },
    },
    'a JSON file loads like YAML': {
      yaml: '{"apiVersion": "getambassador.io/v3alpha1", "kind": "Listener", "metadata": {"name": "l8080"}, "spec": {"port": 8080, "protocol": "HTTP", "securityModel": "XFP"}}',
      kind: 'Listener',
      name: 'l8080',
      namespace: 'default',
      spec: { port: 8080, protocol: 'HTTP', securityModel: 'XFP' },
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    await t.test(name, () => {
      const r = only(load(c.yaml));
      assert.equal(r.kind, c.kind);
      assert.equal(r.name, c.name);
      assert.equal(r.namespace, c.namespace);
      assert.deepEqual(plain(r.spec), c.spec);
    });
  }
});

test('several objects per file', async (t) => {
  await t.test('multi-document files load every document; empty documents are skipped', () => {
    const r = load(`---\n${mapping('prefix: /a/\nservice: a', 'name: a')}---\n---\n${mapping('prefix: /b/\nservice: b', 'name: b')}...\n`);
    assert.deepEqual(errors(r), []);
    assert.deepEqual(r.resources.map((x) => x.name), ['a', 'b']);
  });
  await t.test('a top-level sequence of objects loads each item', () => {
    const r = load(`- apiVersion: getambassador.io/v3alpha1\n  kind: Host\n  metadata: {name: h1}\n  spec: {hostname: a.example}\n- apiVersion: getambassador.io/v3alpha1\n  kind: Host\n  metadata: {name: h2}\n  spec: {hostname: b.example}\n`);
    assert.deepEqual(errors(r), []);
    assert.deepEqual(r.resources.map((x) => x.name), ['h1', 'h2']);
  });
  await t.test('a kind: List loads its items', () => {
    const r = load(`apiVersion: v1\nkind: List\nitems:\n- apiVersion: getambassador.io/v3alpha1\n  kind: Host\n  metadata: {name: h1}\n  spec: {hostname: a.example}\n`);
    assert.deepEqual(errors(r), []);
    assert.deepEqual(r.resources.map((x) => x.name), ['h1']);
  });
  await t.test('one bad object does not stop the others in the same file', () => {
    const r = load(`${mapping('prefix: /a/\nservice: a\ntimeout_ms: five', 'name: bad')}---\n${mapping('prefix: /b/\nservice: b', 'name: good')}`);
    assert.deepEqual(r.resources.map((x) => x.name), ['good']);
    assert.deepEqual(errors(r).map((p) => [p.code, p.resource?.name, p.field]), [['SchemaViolation', 'bad', 'spec.timeout_ms']]);
  });
});

test('the getambassador.io/config annotation on a Service', async (t) => {
  const yaml = `apiVersion: v1
kind: Service
metadata:
  name: billing
  namespace: payments
  annotations:
    getambassador.io/config: |
      ---
      apiVersion: getambassador.io/v3alpha1
      kind: Mapping
      name: billing-mapping
      prefix: /billing/
      service: billing:8080
      ---
      apiVersion: getambassador.io/v2
      kind: Mapping
      name: billing-v2
      namespace: other
      prefix: /billing-v2/
      service: billing:8080
      timout: 5
spec:
  ports: [{port: 8080}]
`;
  const r = load(yaml);
  await t.test('objects inherit the Service namespace unless they name their own', () => {
    assert.deepEqual(r.resources.map((x) => [x.name, x.namespace]), [['billing-mapping', 'payments'], ['billing-v2', 'other']]);
  });
  await t.test('positions point at the annotation lines in the file', () => {
    const res = r.resources[0] as Resource;
    assert.deepEqual([res.origin.line, res.origin.col], [9, 7]);
    const prefix = fieldOrigin(res, 'spec.prefix');
    assert.deepEqual([prefix.line, prefix.col], [12, 7]);
    const bad = r.problems.find((p) => p.code === 'UnknownField');
    assert.ok(bad);
    assert.equal(bad.severity, 'warning');
    assert.equal(formatOrigin(bad.origin), 'edge@0123456789ab:deploy/edge.yaml:21:7');
    assert.match(bad.message, /annotation/);
  });
  await t.test('the carrier Service itself is not reported as skipped', () => {
    assert.equal(r.problems.filter((p) => p.code === 'NonEmissaryKind').length, 0);
  });
  await t.test('a Service without the annotation is skipped with a note', () => {
    const s = load('apiVersion: v1\nkind: Service\nmetadata: {name: plain}\nspec: {ports: [{port: 80}]}\n');
    assert.deepEqual(s.resources, []);
    assert.deepEqual(s.problems.map((p) => [p.code, p.severity]), [['NonEmissaryKind', 'warning']]);
  });
});

test('a resource that names no namespace is in Portico\'s own (LoadOptions.ambassadorNamespace, default "default"), as in Emissary', () => {
  const yaml = `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: bare }
spec: { prefix: /bare/, service: quote }
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
name: flat
prefix: /flat/
service: quote
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: named, namespace: shop }
spec: { prefix: /named/, service: quote }
---
apiVersion: v1
kind: Service
metadata:
  name: quote
  annotations:
    getambassador.io/config: |
      apiVersion: getambassador.io/v3alpha1
      kind: Mapping
      name: annotated
      prefix: /annotated/
      service: quote
---
apiVersion: v1
kind: Service
metadata:
  name: quote
  namespace: payments
  annotations:
    getambassador.io/config: |
      apiVersion: getambassador.io/v3alpha1
      kind: Mapping
      name: inherited
      prefix: /inherited/
      service: quote
`;
  const where = (r: LoadResult) => Object.fromEntries(r.resources.map((x) => [x.name, x.namespace]));
  assert.deepEqual(where(load(yaml)), { bare: 'default', flat: 'default', named: 'shop', annotated: 'default', inherited: 'payments' });
  const inPortico = loadFiles([{ path: 'deploy/edge.yaml', content: yaml }], { ambassadorNamespace: 'portico' });
  assert.deepEqual(where(inPortico), { bare: 'portico', flat: 'portico', named: 'shop', annotated: 'portico', inherited: 'payments' });
});

test('kinds and apiVersions', async (t) => {
  const cases: Record<string, { yaml: string; code: string; severity: string; message: RegExp }> = {
    'a misspelled kind is an error that suggests the right one': {
      yaml: 'apiVersion: getambassador.io/v3alpha1\nkind: Mappping\nmetadata: {name: x}\nspec: {}\n',
      code: 'UnknownKind',
      severity: 'error',
      message: /"Mappping".*did you mean "Mapping"/,
    },
    'an unknown getambassador.io version is an error': {
      yaml: 'apiVersion: getambassador.io/v4\nkind: Mapping\nmetadata: {name: x}\nspec: {}\n',
      code: 'UnknownAPIVersion',
      severity: 'error',
      message: /getambassador.io\/v4/,
    },
    'a misspelled API group is an error, not a skipped foreign object': {
      yaml: 'apiVersion: getambasador.io/v3alpha1\nkind: Mapping\nmetadata: {name: x}\nspec: {}\n',
      code: 'UnknownAPIVersion',
      severity: 'error',
      message: /did you mean "getambassador.io/,
    },
    'an Emissary kind Portico does not implement is a warning naming the kind': {
      yaml: 'apiVersion: getambassador.io/v3alpha1\nkind: LogService\nmetadata: {name: logs}\nspec: {service: logs:9001, driver: http}\n',
      code: 'NotImplemented',
      severity: 'warning',
      message: /LogService/,
    },
    'an Emissary kind that would guard routes, which Portico does not enforce, is refused': {
      yaml: 'apiVersion: getambassador.io/v3alpha1\nkind: WebApplicationFirewall\nmetadata: {name: waf}\nspec: {firewallRules: []}\n',
      code: 'NotEnforced',
      severity: 'error',
      message: /WebApplicationFirewall default\/waf is refused: Portico does not enforce web application firewall rules/,
    },
    'a Deployment is skipped with a note': {
      yaml: 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 1}\n',
      code: 'NonEmissaryKind',
      severity: 'warning',
      message: /apps\/v1 Deployment web .*skipped/,
    },
    'an object without apiVersion is an error': {
      yaml: 'kind: Mapping\nmetadata: {name: x}\nspec: {}\n',
      code: 'UnknownAPIVersion',
      severity: 'error',
      message: /no "apiVersion"/,
    },
    'a scalar document is an error': {
      yaml: 'just a string\n',
      code: 'NotAnObject',
      severity: 'error',
      message: /expected a mapping/,
    },
    'a Module not named ambassador is an error (checked by the loader)': {
      yaml: 'apiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata: {name: global}\nspec: {config: {}}\n',
      code: 'ModuleNameInvalid',
      severity: 'error',
      message: /must be named "ambassador"/,
    },
    'a misspelled Portico kind is an error': {
      yaml: 'apiVersion: portico.dev/v1alpha1\nkind: Resolvr\nmetadata: {name: r}\nspec: {services: {}}\n',
      code: 'UnknownKind',
      severity: 'error',
      message: /did you mean "Resolver"/,
    },
    'a Secret of another type is skipped with a note': {
      yaml: 'apiVersion: v1\nkind: Secret\nmetadata: {name: pull}\ntype: kubernetes.io/dockerconfigjson\ndata: {".dockerconfigjson": e30=}\n',
      code: 'NonEmissaryKind',
      severity: 'warning',
      message: /dockerconfigjson/,
    },
    'Secret data that is not base64 is an error that does not echo the value': {
      yaml: 'apiVersion: v1\nkind: Secret\nmetadata: {name: tls}\ntype: kubernetes.io/tls\ndata: {tls.crt: "not base64!!", tls.key: a2V5}\n',
      code: 'SchemaViolation',
      severity: 'error',
      message: /^(?!.*not base64!!).*"tls.crt" is not valid base64/,
    },
    'a missing name is an error': {
      yaml: 'apiVersion: getambassador.io/v3alpha1\nkind: Host\nmetadata: {namespace: a}\nspec: {}\n',
      code: 'MissingName',
      severity: 'error',
      message: /no name/,
    },
    'a name with spaces is an error': {
      yaml: 'apiVersion: getambassador.io/v3alpha1\nkind: Host\nmetadata: {name: "my host"}\nspec: {}\n',
      code: 'InvalidName',
      severity: 'error',
      message: /"my host"/,
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    await t.test(name, () => {
      const r = load(c.yaml);
      assert.equal(r.resources.length, 0);
      assert.equal(r.problems.length, 1, JSON.stringify(r.problems));
      const p = r.problems[0];
      assert.ok(p);
      assert.equal(p.code, c.code);
      assert.equal(p.severity, c.severity);
      assert.match(p.message, c.message);
      assert.equal(p.origin.path, 'deploy/edge.yaml');
      assert.ok(p.origin.line >= 1);
    });
  }
  await t.test('an unknown metadata field is a warning with a suggestion; the object loads', () => {
    const r = load('apiVersion: getambassador.io/v3alpha1\nkind: Host\nmetadata: {name: h, namespase: a}\nspec: {}\n');
    assert.deepEqual(r.resources.map((x) => [x.name, x.namespace]), [['h', 'default']]);
    assert.deepEqual(r.problems.map((p) => [p.code, p.severity, p.field]), [['UnknownField', 'warning', 'metadata.namespase']]);
    assert.match(r.problems[0]!.message, /"namespase".*did you mean "namespace"/);
  });
  await t.test('problems about a kind still name the resource when its name is known', () => {
    const r = load('apiVersion: getambassador.io/v3alpha1\nkind: Mappping\nmetadata: {name: x, namespace: team-a}\nspec: {}\n');
    assert.deepEqual(r.problems[0]?.resource, { kind: 'Mappping', name: 'x', namespace: 'team-a' });
    assert.equal(r.problems[0]?.field, 'kind');
  });
  await t.test('the "tls" Module is reported as not implemented', () => {
    const r = load('apiVersion: getambassador.io/v2\nkind: Module\nmetadata: {name: tls}\nspec: {config: {server: {enabled: true}}}\n');
    assert.deepEqual(r.problems.map((p) => [p.code, p.severity]), [['NotImplemented', 'warning']]);
  });
});

test('ambassador_id filtering', async (t) => {
  const withId = (id: string) => mapping(`prefix: /a/\nservice: a\nambassador_id: ${id}`);
  const cases: Record<string, { yaml: string; instance?: string; loads: boolean }> = {
    'a resource without ambassador_id belongs to "default"': { yaml: mapping('prefix: /a/\nservice: a'), loads: true },
    'a resource without ambassador_id is not loaded by another instance': {
      yaml: mapping('prefix: /a/\nservice: a'),
      instance: 'blue',
      loads: false,
    },
    'a list naming the instance loads': { yaml: withId('[green, blue]'), instance: 'blue', loads: true },
    'a v2-style single string naming the instance loads': { yaml: withId('blue'), instance: 'blue', loads: true },
    'another instance\'s resource is dropped silently, even when invalid': {
      yaml: mapping('prefix: /a/\nambassador_id: [green]\ntimout: 3'),
      instance: 'blue',
      loads: false,
    },
    '_automatic_ matches every instance': { yaml: withId('[_automatic_]'), instance: 'anything', loads: true },
  };
  for (const [name, c] of Object.entries(cases)) {
    await t.test(name, () => {
      const r = load(c.yaml, c.instance ? { ambassadorId: c.instance } : {});
      assert.deepEqual(r.problems, []);
      assert.equal(r.resources.length, c.loads ? 1 : 0);
    });
  }
  await t.test('ambassadorIds is always a list after loading', () => {
    const r = only(load(withId('blue'), { ambassadorId: 'blue' }));
    assert.deepEqual([...r.ambassadorIds], ['blue']);
    assert.deepEqual(plain((r.spec as MappingSpec).ambassador_id), ['blue']);
    assert.deepEqual([...only(load(mapping('prefix: /a/\nservice: a'))).ambassadorIds], ['default']);
  });
});

test('v2 normalisation to v3alpha1', async (t) => {
  const v2 = (spec: string, kind = 'Mapping') =>
    `apiVersion: getambassador.io/v2\nkind: ${kind}\nmetadata: {name: old}\nspec:\n${spec.replace(/^/gm, '  ')}\n`;
  const cases: Record<string, { yaml: string; spec: Record<string, unknown>; warnings?: string[] }> = {
    'a v2 Mapping without host gets hostname "*"': {
      yaml: v2('prefix: /a/\nservice: a'),
      spec: { prefix: '/a/', service: 'a', hostname: '*' },
    },
    'a v2 Mapping keeps host as host': {
      yaml: v2('prefix: /a/\nservice: a\nhost: a.example.com'),
      spec: { prefix: '/a/', service: 'a', host: 'a.example.com' },
    },
    'boolean header and query matches become presence lists': {
      yaml: v2('prefix: /a/\nservice: a\nhost: h\nheaders: {x-user: true, x-env: prod}\nquery_parameters: {debug: true}'),
      spec: {
        prefix: '/a/',
        service: 'a',
        host: 'h',
        headers: { 'x-env': 'prod' },
        v2BoolHeaders: ['x-user'],
        v2BoolQueryParameters: ['debug'],
      },
    },
    'a false header match is dropped with a warning': {
      yaml: v2('prefix: /a/\nservice: a\nhost: h\nheaders: {x-user: false}'),
      spec: { prefix: '/a/', service: 'a', host: 'h' },
      warnings: ['Deprecated'],
    },
    'tls: true turns the service into https://': {
      yaml: v2('prefix: /a/\nservice: a:8443\nhost: h\ntls: true'),
      spec: { prefix: '/a/', service: 'https://a:8443', host: 'h' },
    },
    'tls naming a TLSContext stays': {
      yaml: v2('prefix: /a/\nservice: a\nhost: h\ntls: upstream-ctx'),
      spec: { prefix: '/a/', service: 'a', host: 'h', tls: 'upstream-ctx' },
    },
    'a comma-separated CORS origins string becomes a list': {
      yaml: v2('prefix: /a/\nservice: a\nhost: h\ncors: {origins: "https://a.com, https://b.com", max_age: 600}'),
      spec: { prefix: '/a/', service: 'a', host: 'h', cors: { origins: ['https://a.com', 'https://b.com'], max_age: '600' } },
    },
    'a single string for remove_request_headers becomes a list': {
      yaml: v2('prefix: /a/\nservice: a\nhost: h\nremove_request_headers: x-internal'),
      spec: { prefix: '/a/', service: 'a', host: 'h', remove_request_headers: ['x-internal'] },
    },
    'v2 rate-limit label shorthand becomes v3alpha1 specifiers': {
      yaml: v2('prefix: /a/\nservice: a\nhost: h\nlabels:\n  ambassador:\n  - group:\n    - remote_address\n    - minute\n    - xid: {header: X-Id}'),
      spec: {
        prefix: '/a/',
        service: 'a',
        host: 'h',
        labels: {
          ambassador: [
            {
              group: [
                { remote_address: { key: 'remote_address' } },
                { generic_key: { value: 'minute' } },
                { request_headers: { key: 'xid', header_name: 'X-Id' } },
              ],
            },
          ],
        },
      },
    },
    'a v2 Host selector becomes mappingSelector': {
      yaml: v2('hostname: a.example.com\nselector: {matchLabels: {team: a}}', 'Host'),
      spec: { hostname: 'a.example.com', mappingSelector: { matchLabels: { team: 'a' } } },
      warnings: ['Deprecated'],
    },
    'a v2 TCPMapping with tls: true originates TLS through the service scheme': {
      yaml: v2('port: 6789\nservice: db:5432\ntls: true', 'TCPMapping'),
      spec: { port: 6789, service: 'https://db:5432' },
    },
    'a v2 TCPMapping with tls: false drops the field': {
      yaml: v2('port: 6789\nservice: db:5432\ntls: false', 'TCPMapping'),
      spec: { port: 6789, service: 'db:5432' },
    },
    'getambassador.io/v1 has the v2 shape and is normalised the same way': {
      yaml: v2('prefix: /a/\nservice: a').replace('getambassador.io/v2', 'getambassador.io/v1'),
      spec: { prefix: '/a/', service: 'a', hostname: '*' },
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    await t.test(name, () => {
      const r = load(c.yaml);
      assert.deepEqual(errors(r), []);
      assert.equal(r.resources.length, 1);
      assert.deepEqual(plain(r.resources[0]?.spec), c.spec);
      assert.deepEqual(r.problems.map((p) => p.code), c.warnings ?? []);
    });
  }
});

test('schema problems name the field and its line:col', async (t) => {
  const cases: Record<string, { yaml: string; code: string; field: string; at: [number, number]; message: RegExp }> = {
    'an unknown Mapping field, with a suggestion': {
      yaml: mapping('prefix: /a/\nservice: a\ntimeout: 5'),
      code: 'UnknownField',
      field: 'spec.timeout',
      at: [8, 3],
      message: /unknown field "timeout" \(did you mean "timeout_ms"\?\)/,
    },
    'a field cut short gets no guess (the start of a name suggests it only for commands and flags)': {
      yaml: mapping('prefix: /a/\nservice: a\nhost_rew: x'),
      code: 'UnknownField',
      field: 'spec.host_rew',
      at: [8, 3],
      message: /unknown field "host_rew"; ignored/,
    },
    'a field with two letters swapped is one typo': {
      yaml: mapping('prefix: /a/\nservice: a\nrewirte: /b/'),
      code: 'UnknownField',
      field: 'spec.rewirte',
      at: [8, 3],
      message: /unknown field "rewirte" \(did you mean "rewrite"\?\)/,
    },
    'a missing required field points at the spec': {
      yaml: mapping('prefix: /a/'),
      code: 'SchemaViolation',
      field: 'spec.service',
      at: [5, 1],
      message: /missing required field "service"/,
    },
    'a wrong type names the expected type and the value': {
      yaml: 'apiVersion: getambassador.io/v3alpha1\nkind: Listener\nmetadata: {name: l}\nspec:\n  securityModel: XFP\n  protocol: HTTP\n  port: "8080"\n',
      code: 'SchemaViolation',
      field: 'spec.port',
      at: [7, 3],
      message: /port: expected integer, got "8080"/,
    },
    'an enum violation lists the choices': {
      yaml: 'apiVersion: getambassador.io/v3alpha1\nkind: Host\nmetadata: {name: h}\nspec:\n  requestPolicy:\n    insecure:\n      action: Redirekt\n',
      code: 'SchemaViolation',
      field: 'spec.requestPolicy.insecure.action',
      at: [7, 7],
      message: /expected one of "Redirect", "Reject", "Route"/,
    },
    'a nested list item is addressed with its index': {
      yaml: mapping('prefix: /a/\nservice: a\ncircuit_breakers:\n- max_connections: 10\n- max_conections: 5'),
      code: 'UnknownField',
      field: 'spec.circuit_breakers[1].max_conections',
      at: [10, 5],
      message: /did you mean "max_connections"/,
    },
    'an unknown Module config key is a warning with a suggestion (Emissary ignores it)': {
      yaml: 'apiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata: {name: ambassador}\nspec:\n  config:\n    use_remote_adress: true\n',
      code: 'UnknownField',
      field: 'spec.config.use_remote_adress',
      at: [6, 5],
      message: /did you mean "use_remote_address"/,
    },
    'a duration without a unit is rejected': {
      yaml: mapping('prefix: /a/\nservice: a\nretry_policy: {retry_on: 5xx, per_try_timeout: "5"}'),
      code: 'SchemaViolation',
      field: 'spec.retry_policy.per_try_timeout',
      at: [8, 33],
      message: /duration with a unit/,
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    await t.test(name, () => {
      const r = load(c.yaml);
      // An unknown field is ignored with a warning and the object loads without it, as in Emissary.
      const kept = c.code === 'UnknownField';
      assert.equal(r.resources.length, kept ? 1 : 0);
      if (kept) assert.doesNotMatch(JSON.stringify(r.resources[0]!.spec), new RegExp(c.field.split('.').pop()!.replace(/\W/g, '')));
      const p = kept ? r.problems.find((x) => x.code === 'UnknownField' && x.severity === 'warning') : errors(r)[0];
      assert.ok(p, 'a problem is expected');
      assert.equal(p.code, c.code);
      assert.equal(p.field, c.field);
      assert.deepEqual([p.origin.line, p.origin.col], c.at);
      assert.match(p.message, c.message);
      assert.ok(p.resource, 'the problem names its resource');
    });
  }
  await t.test('a problem on line 7 col 5 says so in its origin', () => {
    const r = load(mapping('headers:\n  x-user: 5\nprefix: /a/\nservice: a'));
    const p = errors(r)[0];
    assert.ok(p);
    assert.equal(formatOrigin(p.origin), 'edge@0123456789ab:deploy/edge.yaml:7:5');
    assert.equal(p.field, 'spec.headers.x-user');
  });
});

test('valid Emissary fields Portico does not implement are warnings naming the field', async (t) => {
  await t.test('Mapping fields', () => {
    const r = load(mapping('prefix: /a/\nservice: a\nhostname: "*"\nkeepalive: {probes: 3}\ndocs: {path: /docs}'));
    assert.equal(r.resources.length, 1);
    assert.deepEqual(
      r.problems.map((p) => [p.code, p.severity, p.field]),
      [
        ['NotImplemented', 'warning', 'spec.keepalive'],
        ['NotImplemented', 'warning', 'spec.docs'],
      ],
    );
    assert.match(r.problems[0]?.message ?? '', /"keepalive"/);
  });
  await t.test('Module config keys', () => {
    const r = load('apiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata: {name: ambassador}\nspec:\n  config:\n    use_remote_address: true\n    grpc_stats: {all_methods: true}\n');
    const m = r.resources[0] as Resource<ModuleSpec>;
    assert.equal(m.spec.config?.use_remote_address, true);
    assert.deepEqual(r.problems.map((p) => [p.code, p.field]), [['NotImplemented', 'spec.config.grpc_stats']]);
  });
  await t.test('keys set to what Portico does anyway are not reported; the other value is', () => {
    const r = load('apiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata: {name: ambassador}\nspec:\n  config:\n    use_proxy_proto: false\n    x_forwarded_proto_redirect: false\n    allow_chunked_length: false\n    enable_ipv4: true\n    add_linkerd_headers: false\n    enable_ipv6: true\n');
    assert.deepEqual(r.problems.map((p) => [p.code, p.field]), [['NotImplemented', 'spec.config.enable_ipv6']]);
    const on = load('apiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata: {name: ambassador}\nspec:\n  config:\n    use_proxy_proto: true\n');
    // Not a field Portico leaves out: Emissary 2 moved it to the Listener (the compile says so).
    assert.deepEqual(on.problems, []);
    const mapping = load('apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: {name: m}\nspec: {hostname: "*", prefix: /m/, service: m, add_linkerd_headers: false}\n');
    assert.deepEqual(mapping.problems, []);
  });
  await t.test("Envoy's dynamic header values Portico fills in are not reported; the others are, by name; a plain percent sign is not", () => {
    const mapping = (rules: string): string => `apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: {name: m}\nspec:\n  hostname: "*"\n  prefix: /m/\n  service: m\n${rules}`;
    const filled = load(mapping('  add_request_headers:\n    x-client-ip: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"\n    x-share: "100%"\n    x-literal: "100%%"\n    x-user: "%REQ(x-user?x-login):16%"\n    x-start: "%START_TIME(%s.%3f)%"\n    x-client-subject: "%DOWNSTREAM_PEER_SUBJECT%"\n  add_response_headers:\n    x-proto: {value: "%PROTOCOL%"}\n    x-served-by: "%UPSTREAM_REMOTE_ADDRESS% %RESP(server)%"\n'));
    assert.deepEqual(filled.problems, []);
    const r = load(mapping('  add_request_headers:\n    x-flags: "%PROTOCOL% %RESPONSE_FLAGS%"\n    x-meta: \'%UPSTREAM_METADATA(["lb", "zone"])%\'\n    x-when: "%START_TIME(%Q)%"\n    x-no-name: "%REQ%"\n  add_response_headers:\n    x-code: {value: "%RESPONSE_CODE_DETAILS%"}\n'));
    assert.deepEqual(r.problems.map((p) => [p.code, p.severity, p.field]), [
      ['NotImplemented', 'warning', 'spec.add_request_headers.x-flags'],
      ['NotImplemented', 'warning', 'spec.add_request_headers.x-meta'],
      ['NotImplemented', 'warning', 'spec.add_request_headers.x-when'],
      ['NotImplemented', 'warning', 'spec.add_request_headers.x-no-name'],
      ['NotImplemented', 'warning', 'spec.add_response_headers.x-code.value'],
    ]);
    assert.match(r.problems[0]!.message, /^Mapping default\/m: add_request_headers\.x-flags: %RESPONSE_FLAGS% is one of Envoy's dynamic values, which Emissary fills in; Portico does not fill it in and sends it as written$/);
    assert.match(r.problems[2]!.message, /%START_TIME\(%Q\)%/);
    assert.equal(r.resources.length, 1, 'the Mapping loads');
  });
  await t.test('an Ingress of class ambassador loads as the Mapping it stands for; other Ingresses are skipped', () => {
    const ingress = (meta: string, spec: string): string => `apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: shop${meta}}\nspec: {${spec}rules: [{http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]}\n`;
    for (const [meta, spec] of [['', 'ingressClassName: ambassador, '], [', annotations: {kubernetes.io/ingress.class: ambassador}', '']] as const) {
      const r = load(ingress(meta, spec));
      assert.deepEqual(r.problems, []);
      assert.deepEqual(r.resources.map((m) => [m.kind, `${m.namespace}/${m.name}`, (m.spec as { service?: string }).service]), [['Mapping', 'shop/web-0-0', 'web.shop:80']]);
    }
    assert.deepEqual(load(ingress('', 'ingressClassName: nginx, ')).problems.map((p) => p.code), ['NonEmissaryKind']);
  });
  await t.test('a Host with ACME explicitly off is not reported', () => {
    const r = load('apiVersion: getambassador.io/v3alpha1\nkind: Host\nmetadata: {name: h}\nspec: {hostname: a.example, acmeProvider: {authority: none}}\n');
    assert.deepEqual(r.problems, []);
    assert.equal((r.resources[0] as Resource<HostSpec>).spec.hostname, 'a.example');
  });
});

test('resources are frozen and carry their origin', () => {
  const r = load(mapping('prefix: /a/\nservice: a\nhostname: "*"'));
  const res = r.resources[0] as Resource<MappingSpec>;
  assert.equal(formatOrigin(res.origin), 'edge@0123456789ab:deploy/edge.yaml:1:1');
  assert.deepEqual(fieldOrigin(res, 'metadata.name'), { source: 'edge', revision: '0123456789abcdef0123', path: 'deploy/edge.yaml', line: 4, col: 3 });
  assert.ok(Object.isFrozen(res.spec));
  assert.equal(Object.getPrototypeOf(res.spec), null, 'specs are null-prototype objects');
  assert.equal(Object.getPrototypeOf(res.positions), null);
  assert.equal(Object.getPrototypeOf(res.labels), null);
  assert.throws(() => {
    (res.spec as { prefix: string }).prefix = '/b/';
  });
});

test('field positions: every key and list item, in one frozen record read on demand', async (t) => {
  await t.test('a Mapping', () => {
    const res = only(load(mapping('prefix: /a/\nservice: a\nhostname: "*"\nremove_request_headers: [x-a, x-b]\nadd_request_headers:\n  x-c: {value: c}')));
    const at = (field: string) => {
      const o = fieldOrigin(res, field);
      return `${o.line}:${o.col}`;
    };
    assert.deepEqual(Object.keys(res.positions), [
      'apiVersion',
      'kind',
      'metadata',
      'metadata.name',
      'spec',
      'spec.prefix',
      'spec.service',
      'spec.hostname',
      'spec.remove_request_headers',
      'spec.remove_request_headers[0]',
      'spec.remove_request_headers[1]',
      'spec.add_request_headers',
      'spec.add_request_headers.x-c',
      'spec.add_request_headers.x-c.value',
    ]);
    assert.deepEqual(
      ['kind', 'spec.service', 'spec.remove_request_headers[1]', 'spec.add_request_headers.x-c.value'].map(at),
      ['2:1', '7:3', '9:33', '11:11'],
    );
    assert.equal(res.positions, res.positions, 'one record');
    assert.ok(Object.isFrozen(res.positions));
    assert.equal(fieldOrigin(res, 'spec.nothing'), res.origin);
  });
  await t.test('a v2 Host whose selector is renamed, after a problem was placed', () => {
    const r = load('apiVersion: getambassador.io/v2\nkind: Host\nmetadata: {name: h}\nspec:\n  hostname: a.example.com\n  selector: {matchLabels: {team: a}}\n');
    const res = r.resources[0] as Resource<HostSpec>;
    assert.deepEqual(r.problems.map((p) => [p.code, p.origin.line, p.origin.col]), [['Deprecated', 6, 3]]);
    assert.deepEqual(fieldOrigin(res, 'spec.mappingSelector.matchLabels.team'), { ...res.origin, line: 6, col: 28 });
    assert.deepEqual(fieldOrigin(res, 'spec.selector'), { ...res.origin, line: 6, col: 3 });
  });
});

test('file order does not change the result', () => {
  const files = [
    { path: 'b.yaml', content: mapping('prefix: /b/\nservice: b', 'name: b') },
    { path: 'a.yaml', content: mapping('prefix: /a/\nservice: a', 'name: a') },
    { path: 'c.yaml', content: 'kind: Nope\n' },
  ];
  const one = loadFiles(files);
  const two = loadFiles([...files].reverse());
  assert.deepEqual(JSON.stringify(one), JSON.stringify(two));
  assert.deepEqual(one.resources.map((r) => r.name), ['a', 'b']);
});

test('TCPMapping and Module specs have the typed shape compile reads', () => {
  const r = load(
    'apiVersion: getambassador.io/v3alpha1\nkind: TCPMapping\nmetadata: {name: t}\nspec: {port: 6789, host: db.example.com, service: db:5432, idle_timeout_ms: "60000"}\n',
  );
  const t = only(r) as Resource<TCPMappingSpec>;
  assert.equal(t.spec.port, 6789);
  assert.equal(t.spec.host, 'db.example.com');
  assert.equal(t.spec.idle_timeout_ms, '60000');
});

test('rules across fields', async (t) => {
  const listener = (extra: string) =>
    `apiVersion: getambassador.io/v3alpha1\nkind: Listener\nmetadata: {name: l}\nspec:\n  port: 8080\n  securityModel: XFP\n${extra}`;
  const cases: Record<string, { yaml: string; problems: [string, string][]; loads: boolean }> = {
    'a Listener needs protocol or protocolStack': { yaml: listener(''), problems: [['SchemaViolation', 'spec.port']], loads: false },
    'a Listener may not have both protocol and protocolStack': {
      yaml: listener('  protocol: HTTP\n  protocolStack: [HTTP, TCP]\n'),
      problems: [['SchemaViolation', 'spec.protocolStack']],
      loads: false,
    },
    'a Listener with a protocolStack alone is fine': { yaml: listener('  protocolStack: [TLS, HTTP, TCP]\n'), problems: [], loads: true },
    'a Host may not have both tls and tlsContext': {
      yaml: 'apiVersion: getambassador.io/v3alpha1\nkind: Host\nmetadata: {name: h}\nspec: {hostname: a, tls: {min_tls_version: v1.2}, tlsContext: {name: ctx}}\n',
      problems: [['SchemaViolation', 'spec.tlsContext']],
      loads: false,
    },
    'host on a v3alpha1 Mapping still works, with a deprecation warning': {
      yaml: mapping('prefix: /a/\nservice: a\nhost: a.example.com'),
      problems: [['Deprecated', 'spec.host']],
      loads: true,
    },
    'use_websocket on a v3alpha1 Mapping still works, with a deprecation warning': {
      yaml: mapping('prefix: /a/\nservice: a\nhostname: "*"\nuse_websocket: true'),
      problems: [['Deprecated', 'spec.use_websocket']],
      loads: true,
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    await t.test(name, () => {
      const r = load(c.yaml);
      assert.deepEqual(r.problems.map((p) => [p.code, p.field]), c.problems);
      assert.equal(r.resources.length, c.loads ? 1 : 0);
    });
  }
});

test('a Mapping with both hostname and host: hostname is used and host is ignored with one warning naming both, as in Emissary', async (t) => {
  for (const [name, yaml] of [
    ['v3alpha1', mapping('prefix: /a/\nservice: a\nhostname: "*"\nhost: api.example.com')],
    ['v3alpha1 with host_regex', mapping('prefix: /a/\nservice: a\nhostname: "*.example.com"\nhost: "^api[.]"\nhost_regex: true')],
    ['v2', mapping('prefix: /a/\nservice: a\nhostname: "*"\nhost: api.example.com').replace('v3alpha1', 'v2')],
  ] as const) {
    await t.test(name, () => {
      const r = load(yaml);
      const m = only(r) as Resource<MappingSpec>;
      assert.deepEqual(r.problems.map((p) => [p.code, p.severity, p.field, p.origin.line]), [['Deprecated', 'warning', 'spec.host', yaml.split('\n').findIndex((l) => l.startsWith('  host:')) + 1]]);
      assert.match(r.problems[0]!.message, /both "hostname" \(".*"\) and "host" \(".*"\) are set: "host".* is ignored and "hostname" is used/);
      assert.equal(m.spec.host, undefined);
      assert.equal(m.spec.host_regex, undefined);
      assert.ok(m.spec.hostname);
    });
  }
});

test("Portico's own kinds are strict: an unknown field in a Resolver is an error, and it is not loaded", () => {
  const r = load('apiVersion: portico.dev/v1alpha1\nkind: Resolver\nmetadata: {name: static}\nspec:\n  services: {quote: ["10.0.0.1:8080"]}\n  servcies: {}\n');
  assert.deepEqual(r.problems.map((p) => [p.code, p.severity, p.field]), [['UnknownField', 'error', 'spec.servcies']]);
  assert.equal(r.resources.length, 0);
});
