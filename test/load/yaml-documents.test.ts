// The reader against the yaml package: on every file of the corpus and on generated and randomly
// edited text, documents, values, positions and problems must be the same, bar the listed differences.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { parseDocuments, readDocuments } from '../../src/load/yaml-documents.js';
import { loadFiles } from '../../src/load/index.js';
import { assertReadsLikeYamlPackage } from './yaml-equivalence.js';

const TESTDATA = join(process.cwd(), 'test', 'testdata');
/** The generated tests are the same on every run; another seed (and more runs) can be asked for to search further. */
const SEED = Number(process.env.PORTICO_FUZZ_SEED ?? 20261126);
const RUNS = Number(process.env.PORTICO_FUZZ_RUNS ?? 3000);

function yamlFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yamlFiles(p, out);
    else if (/\.(ya?ml|json)$/.test(name)) out.push(p);
  }
  return out;
}

/** The reader's value of a one-document text. */
function value(text: string): unknown {
  const r = parseDocuments(text);
  assert.deepEqual(r.issues, [], text);
  return r.documents[0]?.value;
}

test('every file of the corpus (the Emissary test data included) is read exactly as the yaml package reads it', () => {
  const files = yamlFiles(TESTDATA);
  assert.ok(files.filter((f) => f.includes('emissary')).length > 50, 'the Emissary corpus is there');
  for (const f of files) {
    const verdict = assertReadsLikeYamlPackage(readFileSync(f, 'utf8'), f);
    assert.equal(verdict.known, undefined, `${f}: ${verdict.known}`);
  }
});

test('generated configurations (the benchmark corpus) are read exactly as the yaml package reads them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portico-yaml-reader-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const gen = (await import(pathToFileURL(join(process.cwd(), 'bench', 'gen-config.js')).href)) as {
    routeModel: (o: { mappings: number; hosts: number; style: string }) => unknown;
    writePorticoConfig: (dir: string, model: unknown, o: { port: number; upstream: string }) => void;
  };
  for (const style of ['realistic', 'plain']) {
    await t.test(style, () => {
      const out = join(dir, style);
      gen.writePorticoConfig(out, gen.routeModel({ mappings: 400, hosts: 8, style }), { port: 8080, upstream: '127.0.0.1:8081' });
      for (const name of readdirSync(out)) assertReadsLikeYamlPackage(readFileSync(join(out, name), 'utf8'), name);
    });
  }
});

test('scalars resolve by the YAML 1.2 core schema, tagged or not, as the yaml package resolves them', () => {
  const cases: Record<string, unknown> = {
    yes: 'yes',
    no: 'no',
    on: 'on',
    y: 'y',
    '0o17': 15,
    '0777': 777,
    '0x1F': 31,
    '0b101': '0b101',
    '1_000': '1_000',
    '+12': 12,
    '-0': -0,
    '1e3': 1000,
    '.5': 0.5,
    '5.': 5,
    '-.inf': -Infinity,
    '.NaN': NaN,
    '~': null,
    NULL: null,
    nULL: 'nULL',
    TRUE: true,
    tRue: 'tRue',
    '12:30': '12:30',
    '2024-01-01': '2024-01-01',
    '"12"': '12',
    "'true'": 'true',
    '"a\\nb\\t\\"c\\" \\u00e9 \\/ \\x41 \\U0001F600 \\N \\_"': 'a\nb\t"c" é / A 😀 \u0085 \u00a0',
    "'it''s'": "it's",
    'a#b': 'a#b',
    'a b  # comment': 'a b',
    '!!str 12': '12',
    '!!int "12"': 12,
    '!!float 1.5': 1.5,
    '!!bool true': true,
    '!!null ~': null,
    '! 12': '12',
    '!<tag:yaml.org,2002:str> true': 'true',
    '!!str': '',
    '|\n  a\n   b\n\n': 'a\n b\n',
    '|-\n  a\n': 'a',
    '|+\n  a\n\n': 'a\n\n\n',
    '>\n  a\n  b\n\n  c\n   d\n': 'a b\nc\n d\n',
    '|2\n   a\n': ' a\n',
    '"a\n  b\n\n  c"': 'a b\nc',
    "'a\n  b'": 'a b',
    'a\n  b\n\n  c': 'a b\nc',
  };
  for (const [written, expected] of Object.entries(cases)) {
    const text = `k: ${written}\n`;
    assertReadsLikeYamlPackage(text, written);
    assert.deepStrictEqual((value(text) as Record<string, unknown>).k, expected, written);
  }
});

test('the whole language: flow collections over lines, pairs, explicit keys, anchors and aliases, directives, markers', () => {
  const texts = [
    'a: 1\nb:\n  c: [x, "y", {z: 1, w: [2, 3]}]\n  d: {}\n  e: []\n',
    'list:\n- a\n- b: 1\n  c: 2\n-   d: 3\n-\n  e: 4\nnext: 5\n',
    '# lead\n---\napiVersion: v1 # trailing\n\n  # indented comment\nkind: Service\n---\n---\n- 1\n- [a, b]\n',
    'ann:\n  config: |\n    ---\n    a: 1\n\n    b:   2\n  other: |-\n    x\n      y\n\n\nz: 1\n',
    '"quoted key": 1\n\'single\': 2\n1: one\ntrue: t\n0x10: sixteen\n',
    'a: [1,\n  2, {b: c,\n   d: e}\n]\n',
    '[a: 1, "b":2, ? c : d]\n',
    '{a, b: , ? c}\n',
    '? a\n: b\n? c\n: d\n',
    'base: &b {x: 1, y: [1, 2]}\none: *b\ntwo: [*b, *b]\n',
    '- &a text\n- *a\n- !!str &c 1\n- *c\n',
    '%YAML 1.2\n%TAG !e! tag:yaml.org,2002:\n---\na: !e!str 1\n...\n---\nb\n',
    'a: >-\n  folded\n  text\n\n  kept\nb: "double\n  quoted"\n',
    'a: 1\r\nb:\r\n  - x\r\n  - "y"\r\n',
    '- - - a\n  - b\n- ? x\n  : y\n',
    'k: |\n  \ttab inside\n',
    'a:\tb\nc:  \t d # c\n',
  ];
  for (const text of texts) {
    const verdict = assertReadsLikeYamlPackage(text);
    assert.equal(verdict.known, undefined, text);
    assert.deepEqual(parseDocuments(text).issues, [], text);
  }
});

test('problems are found where the yaml package finds them, and cost the document they are in', () => {
  const texts: Record<string, string> = {
    duplicate: 'a: 1\na: 2\n',
    'duplicate by value': '0: a\n-0: b\n',
    'unknown tag': 'a: !foo 1\n',
    'tag that does not fit': 'a: !!int one\n',
    'unresolved alias': 'a: *x\n',
    'bad escape': 'a: "\\q"\n',
    'unclosed quote': 'a: "x\nb: 1\n',
    'unclosed flow': 'a: [1, 2\nb: 3\n',
    'tab indentation': 'a:\n\tb: 1\n',
    'compact nested mapping': 'a: b: c\n',
    'list on a key line': 'a: - b\n',
    'bad indentation': 'a: 1\n  b: 2\n',
    'YAML 1.1': '%YAML 1.1\n---\na: 1\n',
    'unknown directive': '%FOO\n---\na: 1\n',
    'long key': `${'k'.repeat(1100)}: 1\n`,
    'empty flow entry': '[a, , b]\n',
    'block scalar header': 'a: |x\n  b\n',
  };
  for (const [name, text] of Object.entries(texts)) {
    assertReadsLikeYamlPackage(text, name);
    assert.ok(parseDocuments(text).issues.length > 0, name);
  }
  // One broken document of three: the others still load.
  const r = parseDocuments('a: 1\n---\nb: - x\n---\nc: 3\n');
  assert.deepEqual(
    r.documents.map((d) => d.value),
    [{ a: 1 }, { c: 3 }].map((o) => Object.assign(Object.create(null) as object, o)),
  );
  assert.deepEqual(
    r.issues.map((i) => [i.code, i.at.line]),
    [['YAMLSyntax', 3]],
  );
});

test('keys that cannot be configuration are reported and lose their object, as before', () => {
  for (const text of ['a:\n  __proto__: 1\n', 'a: {constructor: 1}\n', 'x:\n  <<: {a: 2}\n', '? [a]\n: b\n', '~: 1\n', '- *a : 1\n', '[a]: b\n', 'a: [x]: y\n']) {
    assertReadsLikeYamlPackage(text, text);
    const r = parseDocuments(text);
    assert.ok(r.issues.length > 0 && r.issues.every((i) => i.path !== undefined), text);
    assert.ok(r.documents[0]?.spoiled.length, text);
  }
});

/**
 * Where the reader differs from the yaml package, on purpose: it is stricter, never more lenient,
 * and each case keeps the object from serving on both sides (docs/reference/yaml.md).
 */
test('the known differences: the reader refuses what the yaml package silently reads otherwise', () => {
  const refused = (text: string): string[] => parseDocuments(text).issues.map((i) => i.message);
  // Characters YAML forbids: the yaml package reads them as text.
  for (const text of ['a: b\u0000c\n', 'a: b\rc\n', 'a: \ud800\n', 'a: \u0007\n', 'a: x\ufeffy\n']) {
    assert.equal(refused(text).length, 1, JSON.stringify(text));
    assert.equal(parseDocuments(text).documents.length, 0);
  }
  // A NEL, a BOM at the very start and CRLF line ends are fine.
  assert.deepEqual(parseDocuments('\ufeffa: "x\u0085y"\r\n').issues, []);
  // Content after an explicit key without a ": " line: the yaml package drops it.
  assert.match(refused('? a\n- b\n')[0] ?? '', /needs a ": " line/);
  assert.match(refused("? 'a' 'b'\n")[0] ?? '', /needs a ": " line/);
  // A double-quoted scalar ending its line with \" before a line not indented enough: the yaml
  // package takes the escaped quote as the closing one.
  assert.deepEqual(refused('a:\n  b: "x\\"\n  c: d\n'), ['Missing closing "quote']);
  // A document marker after a block scalar header: the yaml package starts a new document there.
  assert.equal(refused('a: |  ---\n  x\n').length, 1);
});

// Generated documents: trees of mappings, lists, flow collections, block and quoted scalars, with
// keys and scalars mostly ordinary and sometimes not, then edited by line (indentation, comments,
// markers, tabs, anchors, aliases, tags).
const SAFE_PLAIN = ['a', 'b c', 'yes', 'on', '0o17', '0777', '0x1F', '1_000', '1e3', '.5', '-.inf', '.nan', '~', 'null', 'True', '-1', '-x', '12:30', 'a#b', 'é', 'x]', 'a:b', '/p/{id}'];
const RISKY_PLAIN = ['@a', '%a', '`a', '&a', '*a', '!a', '? a', ': a', '- a', 'a: b', 'a #c', '|', '>', '---', '...', ',a', '&a b', '!!str 1', '!!int x', '&a [1, 2]', '!!null', '! x'];
const SAFE_QUOTED = ['"q"', '"a\\nb"', '"\\u00e9"', "'s'", "'it''s'", '""', "''", '"a: b"', "'# x'"];
const RISKY_QUOTED = ['"\\x41"', '"\\q"', '"a"#c', '"open', "'open", '"a\n  b"', "'a\n\n  b'", '"a\\\n  b"'];
const SAFE_KEYS = ['a', 'b', 'k', 'name', '1', 'true', '0x10', '"q k"', "'s k'", 'a b', 'x-y', 'a.b/c'];
const RISKY_KEYS = ['null', '~', '__proto__', '<<', 'a[0]', '-k', '?k', 'k:', '"k"x', '&a k', '!t k', '*a', '[a]', '{a: 1}', '? k', 'constructor', '!!str 1', '1.0', '-0', '0'];
const pick = (safe: string[], risky: string[]) => fc.oneof({ arbitrary: fc.constantFrom(...safe), weight: 8 }, { arbitrary: fc.constantFrom(...risky), weight: 2 });
const scalar = fc.oneof({ arbitrary: pick(SAFE_PLAIN, RISKY_PLAIN), weight: 3 }, { arbitrary: pick(SAFE_QUOTED, RISKY_QUOTED), weight: 1 });
const key = pick(SAFE_KEYS, RISKY_KEYS);
const flowItem = fc.oneof(
  { arbitrary: scalar, weight: 6 },
  { arbitrary: fc.constantFrom('[a, b]', '{a: 1}', '[]', '{}', '[[1], {b: [2]}]', 'a: 1', '? a : b', '"a":1', '&x [1]', '*x', '{? a}'), weight: 2 },
  { arbitrary: fc.constantFrom('[a,]', '{a}', '{a:1}', '[a\n  , b]', '{a\n  : b}'), weight: 1 },
);

type Tree = { kind: 'scalar'; text: string } | { kind: 'map'; entries: [string, Tree][] } | { kind: 'seq'; items: Tree[] } | { kind: 'flow'; text: string } | { kind: 'block'; header: string; lines: string[] };

const tree: fc.Arbitrary<Tree> = fc.letrec<{ node: Tree }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar.map((text) => ({ kind: 'scalar' as const, text })),
    fc.array(flowItem, { maxLength: 3 }).map((xs) => ({ kind: 'flow' as const, text: `[${xs.join(', ')}]` })),
    fc.array(fc.tuple(key, flowItem), { maxLength: 3 }).map((xs) => ({ kind: 'flow' as const, text: `{${xs.map(([k, v]) => `${k}: ${v}`).join(', ')}}` })),
    fc
      .record({
        header: pick(['|', '|-', '| # c', '>', '>-'], ['|+', '>+', '|2', '|#c', '>1-', '|-2', '|0']),
        lines: fc.array(fc.constantFrom('x', 'x', '', '  y', '# not a comment', '---', ' ', '\tt', ' x'), { minLength: 0, maxLength: 4 }),
      })
      .map((b) => ({ kind: 'block' as const, ...b })),
    fc.array(fc.tuple(key, tie('node')), { minLength: 1, maxLength: 4 }).map((entries) => ({ kind: 'map' as const, entries })),
    fc.array(tie('node'), { minLength: 1, maxLength: 3 }).map((items) => ({ kind: 'seq' as const, items })),
  ),
})).node;

function render(t: Tree, indent: number, out: string[], lead: string): void {
  const pad = ' '.repeat(indent);
  switch (t.kind) {
    case 'scalar':
    case 'flow':
      out.push(`${lead}${t.text}`);
      return;
    case 'block':
      out.push(`${lead}${t.header}`);
      for (const l of t.lines) out.push(l === '' ? '' : `${pad}  ${l}`);
      return;
    case 'map':
      t.entries.forEach(([k, v], i) => {
        const first = i === 0 ? lead : pad;
        if (v.kind === 'map' || v.kind === 'seq') {
          const inner = v.kind === 'seq' && i % 2 === 0 ? indent : indent + 2;
          out.push(`${first}${k}:`);
          render(v, inner, out, ' '.repeat(inner));
        } else {
          render(v, indent, out, `${first}${k}: `);
        }
      });
      return;
    case 'seq':
      t.items.forEach((v, i) => render(v, indent + 2, out, `${i === 0 ? lead : pad}- `));
      return;
  }
}

test('generated documents, edited line by line: read exactly as the yaml package reads them', () => {
  const mutation = fc.constantFrom('indent', 'dedent', 'comment', 'blank', 'marker', 'tab', 'cr', 'trailing', 'anchor', 'alias', 'tag', 'dots');
  let clean = 0;
  let runs = 0;
  fc.assert(
    fc.property(
      fc.array(tree, { minLength: 1, maxLength: 3 }),
      fc.oneof({ arbitrary: fc.constant([] as [string, number][]), weight: 2 }, { arbitrary: fc.array(fc.tuple(mutation, fc.nat()), { minLength: 1, maxLength: 3 }), weight: 2 }),
      (docs, mutations) => {
        const lines: string[] = [];
        docs.forEach((d, i) => {
          if (i > 0) lines.push('---');
          render(d, 0, lines, '');
        });
        for (const [m, n] of mutations) {
          const i = n % lines.length;
          const l = lines[i] as string;
          if (m === 'indent') lines[i] = ` ${l}`;
          else if (m === 'dedent') lines[i] = l.replace(/^ /, '');
          else if (m === 'comment') lines.splice(i, 0, `${' '.repeat(n % 5)}# note`);
          else if (m === 'blank') lines.splice(i, 0, ' '.repeat(n % 3));
          else if (m === 'marker') lines.splice(i, 0, '---');
          else if (m === 'tab') lines[i] = `\t${l}`;
          else if (m === 'cr') lines[i] = `${l}\r`;
          else if (m === 'trailing') lines[i] = `${l}  # t`;
          else if (m === 'anchor') lines[i] = l.replace(/: /, ': &x ');
          else if (m === 'alias') lines[i] = l.replace(/: .*/, ': *x');
          else if (m === 'tag') lines[i] = l.replace(/: /, ': !!str ');
          else lines.splice(i, 0, '...');
        }
        const text = `${lines.join('\n')}\n`;
        runs++;
        assertReadsLikeYamlPackage(text);
        if (parseDocuments(text).issues.length === 0) clean++;
      },
    ),
    { numRuns: RUNS, seed: SEED },
  );
  // The generator must keep producing valid YAML, not only problems.
  assert.ok(clean > runs / 4, `only ${clean} of ${runs} generated texts were free of problems`);
});

test('real files, edited at random: read exactly as the yaml package reads them', () => {
  const files = yamlFiles(TESTDATA)
    .filter((f) => !f.endsWith('.json'))
    .map((f) => readFileSync(f, 'utf8').split('\n'));
  const tokens = [' ', '  ', '\n', ':', ': ', '- ', '#', ' #', '"', "'", '[', ']', '{', '}', ',', '|', '|-', '>', '&a', '*a', '!', '~', '0', '.', 'e', '\\', '---\n', '? ', '%', 'null', '0x', '  - ', '\n  ', '\n- ', '\\n', '""', '\t', '&a ', ' *a', '!!str ', '...\n', '\r\n'];
  const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom('insert', 'delete', 'copy'), token: fc.constantFrom(...tokens), from: fc.nat(), length: fc.integer({ min: 1, max: 4 }) });
  let clean = 0;
  let runs = 0;
  fc.assert(
    fc.property(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 30 }), fc.array(edit, { minLength: 1, maxLength: 3 }), (file, line, count, edits) => {
      const lines = files[file % files.length] as string[];
      const first = line % lines.length;
      let text = `${lines.slice(first, first + count).join('\n')}\n`;
      for (const e of edits) {
        const i = e.at % (text.length + 1);
        if (e.kind === 'insert') text = text.slice(0, i) + e.token + text.slice(i);
        else if (e.kind === 'delete') text = text.slice(0, i) + text.slice(i + e.length);
        else text = text.slice(0, i) + text.slice(e.from % text.length, (e.from % text.length) + 5) + text.slice(i);
      }
      runs++;
      assertReadsLikeYamlPackage(text);
      if (parseDocuments(text).issues.length === 0) clean++;
    }),
    { numRuns: RUNS, seed: SEED },
  );
  assert.ok(clean > runs / 5, `only ${clean} of ${runs} edited texts were free of problems`);
});

test('aliases copy their node with its positions, and are counted with the aliases inside it', () => {
  const text = 'base: &b\n  name: x\n  list: [1, {deep: y}]\ncopy: *b\n';
  assertReadsLikeYamlPackage(text);
  const doc = parseDocuments(text).documents[0];
  const v = doc?.value as Record<string, Record<string, unknown>>;
  assert.notEqual(v.copy, v.base, 'a copy, not the same object');
  assert.deepEqual(doc?.sources.get(v.copy as object)?.entries.get('list'), { line: 3, col: 3 });
  // A "billion laughs": each level doubles; the count stops it after a few levels.
  const laughs = ['a: &a [x, x]', 'b: &b [*a, *a]', 'c: &c [*b, *b]', 'd: &d [*c, *c]', 'e: &e [*d, *d]', 'f: &f [*e, *e]', 'g: &g [*f, *f]', 'h: [*g, *g]'].join('\n');
  assert.deepEqual(
    parseDocuments(laughs).issues.map((i) => i.code),
    ['YAMLAlias'],
  );
  assert.deepEqual(
    parseDocuments('a: &a [1, *a]\n').issues.map((i) => i.code),
    ['YAMLAlias'],
  );
});

test('look-alike keys and scalars (same length, same first, middle and last character) keep their own text', () => {
  // The reader shares the string of a text it has just read; texts that differ only in characters
  // it does not hash must still come out as written.
  const words = ['axbyc', 'azbwc', 'a1b2c', 'a1b3c', 'true', 'tRue', '12', '1_2', '0x1F', '0x2F', '"axbyc"', "'azbwc'", 'x-debug', 'x-debux'];
  const lines: string[] = [];
  for (let i = 0; i < 4; i++) {
    words.forEach((w, j) => {
      const quote = w.startsWith('"') || w.startsWith("'") ? w[0] : '';
      const bare = w.replace(/["']/g, '');
      lines.push(`${quote}${bare}${i}${j}${quote}: ${w}`, `${bare}_${i}_${j}: ${w}`);
      lines.push(`list ${bare} ${i} ${j}:`, `  - ${w}`, `  - [${w}, ${words[(i + j) % words.length]}]`);
    });
  }
  assertReadsLikeYamlPackage(`${lines.join('\n')}\n`, 'look-alikes');
});

test('a document is handed over as soon as it is read, and the caches of one load serve every file', () => {
  const seen: number[] = [];
  const issues = readDocuments('a: 1\n---\nb: 2\n---\nc: [\n', (d) => seen.push(d.index));
  assert.deepEqual(seen, [0, 1]);
  assert.equal(issues.length, 1);
  const r = loadFiles([
    { path: 'a.yaml', content: 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: {name: a}\nspec: {prefix: /a/, service: s, hostname: "*"}\n' },
    { path: 'b.yaml', content: 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata:\n  name: b\nspec:\n  prefix: /b/\n  service: s\n  hostname: "*"\n' },
  ]);
  assert.deepEqual(r.problems, []);
  assert.deepEqual(
    r.resources.map((x) => [x.name, x.origin.line, x.positions['spec.prefix']]),
    [
      ['a', 1, { line: 4, col: 8 }],
      ['b', 1, { line: 6, col: 3 }],
    ],
  );
});
