// The fast reader for the plain YAML subset against the full parser: wherever the fast reader takes a
// text, documents, values and every position must equal the full parser's; everywhere else it steps aside.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { readSimpleDocuments } from '../../src/load/simple-yaml.js';
import { parseDocuments, parseWithYamlPackage, type ParsedDocument } from '../../src/load/yaml-documents.js';
import { loadFiles, type LoadResult } from '../../src/load/index.js';

const CORPUS = join(process.cwd(), 'test', 'testdata', 'emissary');
const TESTDATA = join(process.cwd(), 'test', 'testdata');

/** The fast reader's documents, or undefined when it steps aside. */
function fast(text: string): ParsedDocument[] | undefined {
  const docs: ParsedDocument[] = [];
  return readSimpleDocuments(text, undefined, (d) => docs.push(d)) ? docs : undefined;
}

/** Everything a document tells the decoder: its value, start, and the position of every key, item and literal block. */
function shape(docs: readonly ParsedDocument[]): unknown[] {
  return docs
    .filter((d) => d.value !== null && d.value !== undefined)
    .map((d) => {
      const positions: unknown[] = [];
      const visit = (v: unknown, path: string): void => {
        if (typeof v !== 'object' || v === null) return;
        const src = d.sources.get(v);
        positions.push([path, src?.start, src ? [...src.entries] : null, src?.blocks ? [...src.blocks] : null]);
        for (const k of Object.keys(v)) visit((v as Record<string, unknown>)[k], `${path}/${k}`);
      };
      visit(d.value, '');
      return { value: d.value, start: d.start, spoiled: d.spoiled, positions };
    });
}

/** Asserts the fast reader either steps aside or agrees exactly with the full parser; returns whether it took the text. */
function agrees(text: string, label = ''): boolean {
  const mine = fast(text);
  if (!mine) return false;
  const full = parseWithYamlPackage(text);
  assert.deepEqual(full.issues, [], `${label}: the fast reader took text the full parser reports on:\n${text}`);
  assert.deepStrictEqual(shape(mine), shape(full.documents), `${label}: documents differ:\n${text}`);
  return true;
}

function yamlFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yamlFiles(p, out);
    else if (/\.(ya?ml|json)$/.test(name)) out.push(p);
  }
  return out;
}

test('fixtures and the Emissary corpus: the fast reader agrees with the full parser, and takes most files', () => {
  let taken = 0;
  const files = [...yamlFiles(CORPUS), ...yamlFiles(TESTDATA)];
  for (const f of files) {
    if (agrees(readFileSync(f, 'utf8'), f)) taken++;
  }
  assert.ok(files.length > 50, 'fixtures found');
  assert.ok(taken > files.length / 2, `the fast reader took only ${taken} of ${files.length} files`);
});

test('generated configurations (the benchmark corpus): taken by the fast reader, loaded as the full parser would', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portico-simple-yaml-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const gen = (await import(pathToFileURL(join(process.cwd(), 'bench', 'gen-config.js')).href)) as {
    routeModel: (o: { mappings: number; hosts: number; style: string }) => unknown;
    writePorticoConfig: (dir: string, model: unknown, o: { port: number; upstream: string }) => void;
  };
  for (const style of ['realistic', 'plain']) {
    await t.test(style, () => {
      const out = join(dir, style);
      gen.writePorticoConfig(out, gen.routeModel({ mappings: 400, hosts: 8, style }), { port: 8080, upstream: '127.0.0.1:8081' });
      for (const name of readdirSync(out)) {
        assert.ok(agrees(readFileSync(join(out, name), 'utf8'), name), `${name} should take the fast path`);
      }
    });
  }
});

test('scalars resolve by the YAML 1.2 core schema, exactly as the full parser resolves them', () => {
  const cases: Record<string, unknown> = {
    yes: 'yes',
    no: 'no',
    on: 'on',
    off: 'off',
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
    '1.50': 1.5,
    '-.inf': -Infinity,
    '.NaN': NaN,
    '~': null,
    Null: null,
    NULL: null,
    nULL: 'nULL',
    TRUE: true,
    tRue: 'tRue',
    False: false,
    '12:30': '12:30',
    '2024-01-01': '2024-01-01',
    '"12"': '12',
    "'true'": 'true',
    '"a\\nb\\t\\"c\\" \\u00e9 \\/"': 'a\nb\t"c" é /',
    "'it''s'": "it's",
    'a#b': 'a#b',
    'a b  # comment': 'a b',
    '-x': '-x',
    'x-y': 'x-y',
    'http://h:8080/p': 'http://h:8080/p',
    '/api/{id}[0]': '/api/{id}[0]',
  };
  for (const [written, expected] of Object.entries(cases)) {
    // The same scalar inside a flow list, where the text allows it.
    const text = `k: ${written}\nl: [${/^[^"'#{}[\],]+$/.test(written) ? written : '0'}]\n`;
    assert.ok(agrees(text, written), `fast path expected for ${written}`);
    const docs = fast(text) as ParsedDocument[];
    assert.deepStrictEqual((docs[0]?.value as Record<string, unknown>).k, expected, written);
  }
});

test('the subset: block mappings and lists, flow collections, literal blocks, comments, several documents', () => {
  const texts = [
    'a: 1\nb:\n  c: [x, "y", {z: 1, w: [2, 3]}]\n  d: {}\n  e: []\n',
    'list:\n- a\n- b: 1\n  c: 2\n-   d: 3\n-\n  e: 4\nnext: 5\n',
    '# lead\n---\napiVersion: v1 # trailing\n\n  # indented comment\nkind: Service\n---\n---\n- 1\n- [a, b]\n',
    'ann:\n  config: |\n    ---\n    a: 1\n\n    b:   2\n  other: |-\n    x\n      y\n\n\nz: 1\n',
    '"quoted key": 1\n\'single\': 2\n1: one\ntrue: t\n0x10: sixteen\n',
    '  indented: root\n  second: 2\n',
    'just a scalar\n',
    'k:\n',
    'a:\n  b:\n    c:\n      - x\n',
  ];
  for (const text of texts) assert.ok(agrees(text, text), `fast path expected for:\n${text}`);
});

test('outside the subset the fast reader steps aside, and the full parser gives the usual result', () => {
  const texts = {
    anchor: 'a: &x 1\nb: *x\n',
    tag: 'a: !!str 1\n',
    merge: 'base: {a: 1}\nx:\n  <<: {a: 2}\n',
    duplicate: 'a: 1\na: 2\n',
    proto: 'a:\n  __proto__: 1\n',
    tab: 'a:\n\tb: 1\n',
    crlf: 'a: 1\r\nb: 2\r\n',
    'multi-line plain': 'a: one\n  two\n',
    'multi-line quoted': 'a: "one\n  two"\n',
    'multi-line flow': 'a: [1,\n  2]\n',
    folded: 'a: >\n  x\n',
    keep: 'a: |+\n  x\n\n',
    'explicit key': '? a\n: b\n',
    directive: '%YAML 1.2\n---\na: 1\n',
    'document end': 'a: 1\n...\n',
    'nested compact list': '- - a\n',
    'comment without space': 'a: "x"#c\n',
    'nested mapping on one line': 'a: b: c\n',
    'empty list item': 'a:\n-\n- b\n',
    'bad escape': 'a: "\\q"\n',
    'yaml escape': 'a: "\\x41"\n',
    'over-indented key': 'a: 1\n  b: 2\n',
    'null key': '~: 1\n',
    'scalar below key': 'a:\n  text\n',
  };
  for (const [name, text] of Object.entries(texts)) {
    assert.equal(fast(text), undefined, `${name} should go to the full parser`);
    const viaDispatcher = parseDocuments(text);
    const full = parseWithYamlPackage(text);
    assert.deepEqual(viaDispatcher.issues, full.issues, name);
    assert.deepStrictEqual(shape(viaDispatcher.documents), shape(full.documents), name);
  }
});

test('a file that leaves the subset part-way is loaded once, wholly by the full parser', async (t) => {
  const mapping = (name: string) => `apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata:\n  name: ${name}\nspec:\n  prefix: /${name}/\n  service: s\n  hostname: "*"\n`;
  const firstTwo = `${mapping('one')}---\n${mapping('two')}---\n`;
  const names = (r: LoadResult) => r.resources.map((x) => x.name);
  await t.test('an alias in the last document', () => {
    const text = `${firstTwo}apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata:\n  name: &n three\nspec:\n  prefix: /three/\n  service: *n\n  hostname: "*"\n`;
    assert.equal(fast(text), undefined);
    const r = loadFiles([{ path: 'm.yaml', content: text }]);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(names(r), ['one', 'two', 'three']);
    assert.equal(r.resources[2]?.spec.service, 'three');
  });
  await t.test('a duplicate key in the last document', () => {
    const text = `${firstTwo}${mapping('three')}  service: again\n`;
    const r = loadFiles([{ path: 'm.yaml', content: text }]);
    assert.deepEqual(names(r), ['one', 'two']);
    assert.deepEqual(
      r.problems.map((p) => [p.code, p.origin.line, p.origin.col]),
      [['YAMLDuplicateKey', 27, 3]],
    );
  });
  await t.test('a problem in a document read before the file left the subset is reported once', () => {
    const text = `${mapping('one').replace('service: s', 'service: s\n  timout: 5')}---\na: &x 1\n`;
    const r = loadFiles([{ path: 'm.yaml', content: text }]);
    assert.deepEqual(
      r.problems.map((p) => [p.code, p.origin.line]),
      [
        ['UnknownField', 8],
        ['UnknownKind', 11],
      ],
    );
  });
});

/** Pieces of YAML to build documents from: mostly inside the subset, some just outside it. */
const SAFE_PLAIN = ['a', 'b c', 'yes', 'on', '0o17', '0777', '0x1F', '1_000', '1e3', '.5', '-.inf', '.nan', '~', 'null', 'True', '-1', '-x', '12:30', 'a#b', 'é', 'x]', 'a:b', '/p/{id}'];
const RISKY_PLAIN = ['@a', '%a', '`a', '&a', '*a', '!a', '? a', ': a', '- a', 'a: b', 'a #c', '|', '>', '---', '...', ',a'];
const SAFE_QUOTED = ['"q"', '"a\\nb"', '"\\u00e9"', "'s'", "'it''s'", '""', "''", '"a: b"', "'# x'"];
const RISKY_QUOTED = ['"\\x41"', '"\\q"', '"a"#c', '"open', "'open"];
const SAFE_KEYS = ['a', 'b', 'k', 'name', '1', 'true', '0x10', '"q k"', "'s k'", 'a b', 'x-y', 'a.b/c'];
const RISKY_KEYS = ['null', '~', '__proto__', '<<', 'a[0]', '-k', '?k', 'k:', '"k"x', '&a k', '!t k'];
const pick = (safe: string[], risky: string[]) =>
  fc.oneof({ arbitrary: fc.constantFrom(...safe), weight: 12 }, { arbitrary: fc.constantFrom(...risky), weight: 1 });
const scalar = fc.oneof({ arbitrary: pick(SAFE_PLAIN, RISKY_PLAIN), weight: 3 }, { arbitrary: pick(SAFE_QUOTED, RISKY_QUOTED), weight: 1 });
const key = pick(SAFE_KEYS, RISKY_KEYS);
const flowItem = fc.oneof({ arbitrary: scalar, weight: 6 }, { arbitrary: fc.constantFrom('[a, b]', '{a: 1}', '[]', '{}', '[[1], {b: [2]}]'), weight: 2 }, { arbitrary: fc.constantFrom('[a,]', '{a}', '{a:1}'), weight: 1 });

type Tree = { kind: 'scalar'; text: string } | { kind: 'map'; entries: [string, Tree][] } | { kind: 'seq'; items: Tree[] } | { kind: 'flow'; text: string } | { kind: 'block'; header: string; lines: string[] };

const tree: fc.Arbitrary<Tree> = fc.letrec<{ node: Tree }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar.map((text) => ({ kind: 'scalar' as const, text })),
    fc
      .array(flowItem, { maxLength: 3 })
      .map((xs) => ({ kind: 'flow' as const, text: `[${xs.join(', ')}]` })),
    fc
      .record({
        header: pick(['|', '|-', '| # c'], ['|+', '>', '|2', '|#c']),
        lines: fc.array(fc.constantFrom('x', 'x', '', '  y', '# not a comment', '---', ' '), { minLength: 0, maxLength: 4 }),
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
          out.push(`${first}${k}:`);
          render(v, v.kind === 'seq' && i % 2 === 0 ? indent : indent + 2, out, ' '.repeat(v.kind === 'seq' && i % 2 === 0 ? indent : indent + 2));
        } else {
          render(v, indent, out, `${first}${k}: `);
        }
      });
      return;
    case 'seq':
      t.items.forEach((v, i) => {
        const first = i === 0 ? lead : pad;
        render(v, indent + 2, out, `${first}- `);
      });
      return;
  }
}

test('generated documents: whatever the fast reader takes, it reads exactly as the full parser does', () => {
  const mutation = fc.constantFrom('indent', 'dedent', 'comment', 'blank', 'marker', 'tab', 'cr', 'trailing');
  let taken = 0;
  let runs = 0;
  fc.assert(
    fc.property(fc.array(tree, { minLength: 1, maxLength: 3 }), fc.oneof({ arbitrary: fc.constant([]), weight: 2 }, { arbitrary: fc.array(fc.tuple(mutation, fc.nat()), { minLength: 1, maxLength: 2 }), weight: 1 }), (docs, mutations) => {
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
      }
      const text = `${lines.join('\n')}\n`;
      runs++;
      if (agrees(text)) taken++;
    }),
    { numRuns: 3000, seed: 20261126 },
  );
  // The generator must keep exercising the fast reader, not only its refusals.
  if (process.env.PORTICO_SHOW_TAKEN) console.log(`taken ${taken} of ${runs}`);
  assert.ok(taken > runs / 10, `the fast reader took ${taken} of ${runs} generated texts`);
});

test('real files, edited at random: whatever the fast reader takes, it reads exactly as the full parser does', () => {
  const files = [...yamlFiles(CORPUS), ...yamlFiles(TESTDATA)].filter((f) => !f.endsWith('.json')).map((f) => readFileSync(f, 'utf8').split('\n'));
  const tokens = [' ', '  ', '\n', ':', ': ', '- ', '#', ' #', '"', "'", '[', ']', '{', '}', ',', '|', '|-', '>', '&a', '*a', '!', '~', '0', '.', 'e', '\\', '---\n', '? ', '%', 'null', '0x', '  - ', '\n  ', '\n- ', '\\n', '""'];
  const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom('insert', 'delete', 'copy'), token: fc.constantFrom(...tokens), from: fc.nat(), length: fc.integer({ min: 1, max: 4 }) });
  let taken = 0;
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
      if (agrees(text)) taken++;
    }),
    { numRuns: 3000, seed: 20261126 },
  );
  assert.ok(taken > runs / 10, `the fast reader took ${taken} of ${runs} edited texts`);
});

test('repeated and look-alike keys and scalars (same length, same first, middle and last character) keep their own text', () => {
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
  const text = `${lines.join('\n')}\n`;
  assert.ok(agrees(text, 'look-alikes'), 'fast path expected');
});
