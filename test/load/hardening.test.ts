// HARDENING.md §5 A, the config-file cases the loader owns (1, 2, 3, 4, 6, 9, 10, 11, 12): hostile or
// mistaken input is refused with a clear problem naming path:line:col, and costs nothing else.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFiles, loadPaths, LOAD_LIMITS, type LoadResult } from '../../src/load/index.js';
import { formatOrigin } from '../../src/api/origin.js';

const good = `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: good}
spec: {prefix: /good/, service: good, hostname: "*"}
`;

function load(yaml: string, path = 'repo/edge.yaml'): LoadResult {
  return loadFiles([{ path, content: yaml }], { source: 'repo', revision: 'abc123' });
}

function codes(r: LoadResult): string[] {
  return r.problems.filter((p) => p.severity === 'error').map((p) => p.code);
}

test('case 1: invalid YAML syntax is rejected with repo:path:line:col; other files still load', async (t) => {
  const cases: Record<string, { yaml: string; at: string }> = {
    // yaml notices the missing quote where the input ends.
    'an unclosed quote': { yaml: 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata:\n  name: "broken\n', at: 'repo@abc123:repo/bad.yaml:5:1' },
    'tab indentation': { yaml: 'apiVersion: v1\nkind: Mapping\nmetadata:\n\tname: x\n', at: 'repo@abc123:repo/bad.yaml:4:1' },
  };
  for (const [name, c] of Object.entries(cases)) {
    await t.test(name, () => {
      const r = loadFiles(
        [
          { path: 'repo/bad.yaml', content: c.yaml },
          { path: 'repo/good.yaml', content: good },
        ],
        { source: 'repo', revision: 'abc123' },
      );
      const p = r.problems.find((x) => x.code === 'YAMLSyntax');
      assert.ok(p, JSON.stringify(r.problems));
      assert.equal(formatOrigin(p.origin), c.at);
      assert.deepEqual(r.resources.map((x) => x.name), ['good']);
    });
  }
});

test('a file that is not UTF-8 is refused rather than decoded with replacement characters', () => {
  const bytes = Buffer.concat([Buffer.from(good.replace('name: good', 'name: caf')), Buffer.from([0xe9, 0x0a])]);
  const r = loadFiles([{ path: 'latin1.yaml', content: bytes }]);
  assert.deepEqual(codes(r), ['FileUnreadable']);
  assert.match(r.problems[0]?.message ?? '', /UTF-8/);
});

test('case 2: an unknown kind or apiVersion is rejected, naming the kind and the file', async (t) => {
  await t.test('kind: Mappping', () => {
    const r = load(good.replace('kind: Mapping', 'kind: Mappping'));
    assert.deepEqual(codes(r), ['UnknownKind']);
    assert.match(r.problems[0]?.message ?? '', /Mappping/);
    assert.equal(formatOrigin(r.problems[0]!.origin), 'repo@abc123:repo/edge.yaml:2:1');
  });
  await t.test('apiVersion: getambassador.io/v9', () => {
    const r = load(good.replace('v3alpha1', 'v9'));
    assert.deepEqual(codes(r), ['UnknownAPIVersion']);
    assert.match(r.problems[0]?.message ?? '', /getambassador.io\/v9/);
  });
});

// COMPAT.md: Emissary ignores unknown fields (Kubernetes prunes them), so Portico reports them as a
// warning with their path and ignores them; `validate --strict` makes them errors for CI. A typo
// that leaves a required field missing still refuses the object.
test('case 3: unknown or misspelled fields are reported with their path and line, and ignored', async (t) => {
  const cases: Record<string, { yaml: string; field: string; loads: boolean }> = {
    'timout in a Mapping': { yaml: good.replace('hostname: "*"', 'hostname: "*", timout: 5s'), field: 'spec.timout', loads: true },
    'use_remote_adress in the Module': {
      yaml: 'apiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata: {name: ambassador}\nspec:\n  config:\n    use_remote_adress: true\n',
      field: 'spec.config.use_remote_adress',
      loads: true,
    },
    'a typo inside a nested Host object (its required name is then missing)': {
      yaml: 'apiVersion: getambassador.io/v3alpha1\nkind: Host\nmetadata: {name: h}\nspec:\n  tlsSecret: {nmae: cert}\n',
      field: 'spec.tlsSecret.nmae',
      loads: false,
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    await t.test(name, () => {
      const r = load(c.yaml);
      assert.equal(r.resources.length, c.loads ? 1 : 0);
      const p = r.problems.find((x) => x.code === 'UnknownField');
      assert.ok(p);
      assert.equal(p.severity, 'warning');
      assert.equal(p.field, c.field);
      assert.ok(p.origin.line > 0 && p.origin.col > 0);
      if (c.loads) assert.ok(!JSON.stringify(r.resources[0]!.spec).includes(c.field.split('.').pop()!), 'the field is ignored');
      else assert.ok(r.problems.some((x) => x.severity === 'error' && x.code === 'SchemaViolation'));
    });
  }
});

test('case 4: wrong types and YAML traps give schema errors with field paths', async (t) => {
  const listener = (port: string) =>
    `apiVersion: getambassador.io/v3alpha1\nkind: Listener\nmetadata: {name: l}\nspec: {port: ${port}, protocol: HTTP, securityModel: XFP}\n`;
  const retry = (timeout: string) => good.replace('hostname: "*"', `hostname: "*", retry_policy: {per_try_timeout: ${timeout}}`);
  const cases: Record<string, { yaml: string; field?: string; loads?: (r: LoadResult) => void; kept?: boolean }> = {
    'port: "8080" is a string, not a port': { yaml: listener('"8080"'), field: 'spec.port' },
    'port: 0777 is decimal 777 in YAML 1.2': {
      yaml: listener('0777'),
      loads: (r) => assert.equal((r.resources[0]?.spec as { port: number }).port, 777),
    },
    'a duration without a unit': { yaml: retry('5'), field: 'spec.retry_policy.per_try_timeout' },
    'a negative duration': { yaml: retry('-1s'), field: 'spec.retry_policy.per_try_timeout' },
    'a negative millisecond timeout': { yaml: good.replace('hostname: "*"', 'hostname: "*", timeout_ms: -1'), field: 'spec.timeout_ms' },
    // The Module is refused key by key: the bad key is an error, the Module's other keys still load.
    'enabled: on is the string "on" in YAML 1.2': {
      yaml: 'apiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata: {name: ambassador}\nspec:\n  config:\n    diagnostics: {enabled: on}\n',
      field: 'spec.config.diagnostics.enabled',
      kept: true,
    },
    'weight above 100': { yaml: good.replace('hostname: "*"', 'hostname: "*", weight: 150'), field: 'spec.weight' },
  };
  for (const [name, c] of Object.entries(cases)) {
    await t.test(name, () => {
      const r = load(c.yaml);
      if (c.loads) {
        assert.deepEqual(codes(r), []);
        c.loads(r);
        return;
      }
      assert.equal(r.resources.length, c.kept ? 1 : 0);
      const p = r.problems.find((x) => x.code === 'SchemaViolation');
      assert.ok(p, JSON.stringify(r.problems));
      assert.equal(p.severity, 'error');
      assert.equal(p.field, c.field);
    });
  }
});

test('case 6: a duplicate key in one mapping is a parse error', () => {
  const r = load('apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata:\n  name: a\n  name: b\nspec: {prefix: /a/, service: a}\n');
  assert.deepEqual(codes(r), ['YAMLDuplicateKey']);
  assert.equal(formatOrigin(r.problems[0]!.origin), 'repo@abc123:repo/edge.yaml:5:3');
  assert.equal(r.resources.length, 0);
});

test('case 9: an alias bomb is rejected without expanding it', () => {
  // 9 levels of 10 aliases each: 10^9 leaves if expanded.
  let yaml = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
  for (let i = 1; i <= 9; i++) yaml += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
  const r = load(`${yaml}---\n${good}`);
  assert.deepEqual(codes(r), ['YAMLAlias']);
  assert.match(r.problems[0]?.message ?? '', /more than 100 alias/);
  assert.deepEqual(r.resources.map((x) => x.name), ['good'], 'the next document still loads');
});

test('case 10: size, depth and count caps', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portico-caps-'));
  after(() => rm(dir, { recursive: true, force: true }));

  await t.test('10,000-level flow nesting is refused before parsing', () => {
    const r = load(`x: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`);
    assert.deepEqual(codes(r), ['NestingTooDeep']);
  });
  await t.test('65-level block nesting is refused', () => {
    let yaml = '';
    for (let i = 0; i < 66; i++) yaml += `${' '.repeat(i)}k${i}:\n`;
    const r = load(yaml);
    assert.deepEqual(codes(r), ['NestingTooDeep']);
  });
  await t.test('64 levels are still fine', () => {
    let yaml = 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: {name: deep}\nspec:\n  prefix: /d/\n  service: d\n  envoy_override:\n';
    for (let i = 0; i < 60; i++) yaml += `${' '.repeat(4 + i)}k${i}:\n`;
    const r = load(yaml);
    assert.deepEqual(codes(r), []);
  });
  await t.test('a file over 1 MiB is refused', () => {
    const r = load(`# ${'x'.repeat(LOAD_LIMITS.maxFileBytes)}\n`);
    assert.deepEqual(codes(r), ['FileTooLarge']);
  });
  await t.test('a 50 MB file on disk is refused from its size, without being read', async () => {
    const big = join(dir, 'big.yaml');
    await writeFile(big, '');
    await truncate(big, 50 * 1024 * 1024);
    const r = await loadPaths([dir]);
    assert.deepEqual(codes(r), ['FileTooLarge']);
    assert.match(r.problems[0]?.message ?? '', /52428800 bytes/);
  });
  await t.test('more than 1000 documents in one file are refused', () => {
    const r = load('---\na: 1\n'.repeat(LOAD_LIMITS.maxDocumentsPerFile + 1));
    assert.ok(codes(r).includes('TooManyDocuments'));
  });
  await t.test('a folder of more than 10,000 files loads nothing', async () => {
    const many = join(dir, 'many');
    await mkdir(many);
    await writeFile(join(many, 'a-real.yaml'), good);
    // Written in batches: bounded concurrency, and still a few seconds at most.
    for (let i = 0; i < LOAD_LIMITS.maxFiles; i += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, j) => writeFile(join(many, `f${String(i + j).padStart(5, '0')}.yaml`), '')));
    }
    const r = await loadPaths([many]);
    assert.deepEqual(codes(r), ['TooManyFiles']);
    assert.equal(r.resources.length, 0, 'no partial configuration');
  });
  await t.test('more than 10,000 files are refused', () => {
    const files = Array.from({ length: LOAD_LIMITS.maxFiles + 1 }, (_, i) => ({ path: `f${i}.yaml`, content: '' }));
    const r = loadFiles(files);
    assert.deepEqual(codes(r), ['TooManyFiles']);
    assert.equal(r.resources.length, 0);
  });
});

test('case 11: tags and documents', async (t) => {
  const cases: Record<string, string> = {
    '!!js/function': 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: {name: m}\nspec: {prefix: !!js/function "function(){}", service: a}\n',
    '!Secret': 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: {name: m}\nspec: {prefix: /a/, service: !Secret a}\n',
    '!!binary (not in the YAML 1.2 core schema)': 'apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {tls.crt: !!binary aGk=}\n',
  };
  for (const [name, yaml] of Object.entries(cases)) {
    await t.test(`an unknown tag ${name} is an error, not a silent string`, () => {
      const r = load(yaml);
      assert.deepEqual(codes(r), ['YAMLTag']);
      assert.equal(r.resources.length, 0);
    });
  }
  await t.test('each document is validated on its own; empty documents are skipped consistently', () => {
    const r = load(`---\n---\n${good}---\n\n---\n${good.replace('name: good', 'name: other').replace('service: good', 'servce: good')}---\n`);
    assert.deepEqual(r.resources.map((x) => x.name), ['good']);
    // "servce" is unknown (a warning: ignored) and leaves the required "service" missing (an error).
    assert.deepEqual(codes(r), ['SchemaViolation']);
    assert.deepEqual(r.problems.filter((p) => p.severity === 'warning').map((p) => [p.code, p.field]), [['UnknownField', 'spec.servce']]);
  });
  await t.test('a %YAML 1.1 document is refused (its booleans and merge keys differ)', () => {
    const r = load(`%YAML 1.1\n---\n${good}`);
    assert.ok(codes(r).length > 0);
    assert.equal(r.resources.length, 0);
  });
});

test('case 12: prototype keys and merge keys', async (t) => {
  const cases: Record<string, { yaml: string; code: string }> = {
    '__proto__ in a header map': { yaml: good.replace('hostname: "*"', 'hostname: "*", headers: {__proto__: {polluted: yes}}'), code: 'ForbiddenKey' },
    'constructor in metadata': { yaml: good.replace('{name: good}', '{name: good, constructor: x}'), code: 'ForbiddenKey' },
    'prototype in add_request_headers': {
      yaml: good.replace('hostname: "*"', 'hostname: "*", add_request_headers: {prototype: {polluted: yes}}'),
      code: 'ForbiddenKey',
    },
    'a merge key <<: *base': {
      yaml: 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: {name: m}\nspec:\n  base: &base {service: a}\n  <<: *base\n  prefix: /a/\n',
      code: 'YAMLMergeKey',
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    await t.test(name, () => {
      const r = load(c.yaml);
      assert.ok(codes(r).includes(c.code), JSON.stringify(r.problems));
      assert.equal(r.resources.length, 0);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
    });
  }
  await t.test('a bad key in one list item spoils only that item', () => {
    const r = load(
      `- apiVersion: getambassador.io/v3alpha1\n  kind: Host\n  metadata: {name: h1, __proto__: x}\n  spec: {}\n- apiVersion: getambassador.io/v3alpha1\n  kind: Host\n  metadata: {name: h2}\n  spec: {}\n`,
    );
    assert.deepEqual(codes(r), ['ForbiddenKey']);
    assert.equal(r.problems[0]?.field, 'metadata.__proto__');
    assert.deepEqual(r.resources.map((x) => x.name), ['h2']);
  });
});
