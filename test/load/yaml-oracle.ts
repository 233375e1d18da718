// The yaml package read as the load stage read it before it had a reader of its own: the reference
// the tests hold the reader (src/load/yaml-documents.ts) to, on the corpus and on generated text.

import { Composer, Parser, Scalar, isAlias, isMap, isScalar, isSeq, type Document, type Node } from 'yaml';
import type { ProblemCode } from '../../src/api/problems.js';
import { LOAD_LIMITS } from '../../src/load/limits.js';
import { nullRecord } from '../../src/load/null-record.js';
import type { BlockScalarSource, NodeSource, ParsedDocument, ParseIssue, PositionMap, TextPosition } from '../../src/load/parsed-yaml.js';

export interface OracleResult {
  readonly documents: ParsedDocument[];
  readonly issues: ParseIssue[];
  /** Indexes of the documents the yaml package reported a problem in. */
  readonly refused: number[];
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

class LimitExceeded extends Error {
  constructor(
    readonly code: ProblemCode,
    message: string,
    readonly at: TextPosition,
  ) {
    super(message);
  }
}

/** Every document of `text` as the yaml package reads it, positions and problems included. */
export function parseWithYamlPackage(text: string, mapPos: PositionMap = (p) => p): OracleResult {
  const issues: ParseIssue[] = [];
  const documents: ParsedDocument[] = [];
  const refused: number[] = [];

  // Positions from the text itself: the yaml package's LineCounter misses the line breaks inside a
  // token it refuses, and every later line number is then one off.
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  const at = (offset: number): TextPosition => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return mapPos({ line: lo + 1, col: offset - (starts[lo] as number) + 1 });
  };
  const parser = new Parser();
  // YAML 1.2 core schema pinned: `on`/`no` stay strings, 0777 is decimal, `<<` is an ordinary key.
  const composer = new Composer({
    version: '1.2',
    schema: 'core',
    merge: false,
    uniqueKeys: true,
    strict: true,
    stringKeys: false,
    // YAML 1.1 tags (!!binary, !!timestamp, !!set) would turn values into non-JSON types.
    resolveKnownTags: false,
  });

  let index = 0;
  const env = process.env;
  try {
    // yaml reads process.env.LOG_TOKENS once per token, and every process.env read is a call into
    // the runtime: a fifth of parse time. Parsing is synchronous, so a plain object stands in for
    // process.env until this loop ends (native getenv is unaffected; `finally` restores it).
    process.env = Object.create(null) as NodeJS.ProcessEnv;
    for (const doc of composer.compose(parser.parse(text), true)) {
      if (index >= LOAD_LIMITS.maxDocumentsPerFile) {
        issues.push({
          code: 'TooManyDocuments',
          message: `more than ${LOAD_LIMITS.maxDocumentsPerFile} YAML documents in one file`,
          at: at(doc.range[0]),
        });
        break;
      }
      const parsed = composeDocument(doc, index, text, at, issues);
      if (parsed) documents.push(parsed);
      else refused.push(index);
      index++;
    }
  } catch (err) {
    // The yaml package is not expected to throw on any input; if it does, report rather than crash.
    issues.push({ code: 'YAMLSyntax', message: `YAML parser failed: ${(err as Error).message}`, at: at(0) });
  } finally {
    process.env = env;
  }
  return { documents, issues, refused };
}

function composeDocument(
  doc: Document.Parsed,
  index: number,
  text: string,
  at: (offset: number) => TextPosition,
  issues: ParseIssue[],
): ParsedDocument | undefined {
  let failed = false;
  for (const e of doc.errors) {
    issues.push({ code: e.code === 'DUPLICATE_KEY' ? 'YAMLDuplicateKey' : 'YAMLSyntax', message: firstLine(e.message), at: at(e.pos[0]) });
    failed = true;
  }
  // yaml only warns on unknown tags (and returns a string); an ignored tag is a silent change of meaning.
  for (const w of doc.warnings) {
    issues.push({
      code: w.code === 'TAG_RESOLVE_FAILED' ? 'YAMLTag' : 'YAMLSyntax',
      message: w.code === 'TAG_RESOLVE_FAILED' ? `unsupported tag: ${firstLine(w.message)}` : firstLine(w.message),
      at: at(w.pos[0]),
    });
    failed = true;
  }
  if (doc.directives?.yaml.explicit && doc.directives.yaml.version !== '1.2') {
    issues.push({ code: 'YAMLSyntax', message: `only YAML 1.2 is accepted (found %YAML ${doc.directives.yaml.version})`, at: at(doc.range[0]) });
    failed = true;
  }
  if (failed) return undefined;

  const walk = new TreeWalk(doc, text, at, issues);
  try {
    const value = doc.contents === null ? null : walk.value(doc.contents as Node, 0);
    const start = doc.contents ? at((doc.contents as Node).range?.[0] ?? doc.range[0]) : at(doc.range[0]);
    return { index, value, start, end: at(doc.range[2]), spoiled: walk.spoiled, sources: walk.sources };
  } catch (err) {
    if (err instanceof LimitExceeded) {
      issues.push({ code: err.code, message: err.message, at: err.at });
      return undefined;
    }
    throw err;
  }
}

/** Converts one document's nodes to plain values, recording positions; bounded in depth and aliases. */
class TreeWalk {
  private aliases = 0;
  readonly spoiled: (string | number)[][] = [];
  readonly sources = new Map<object, NodeSource>();
  /** The path of the node being converted; pushed and popped rather than copied, as it is hot. */
  private readonly path: (string | number)[] = [];

  constructor(
    private readonly doc: Document.Parsed,
    private readonly text: string,
    private readonly at: (offset: number) => TextPosition,
    private readonly issues: ParseIssue[],
  ) {}

  value(node: Node, depth: number): unknown {
    if (depth > LOAD_LIMITS.maxDepth) {
      throw new LimitExceeded('NestingTooDeep', `nesting deeper than ${LOAD_LIMITS.maxDepth} levels`, this.pos(node));
    }
    if (isAlias(node)) {
      // Each dereference is counted, so nested aliases (a "billion laughs") stop after a few steps.
      if (++this.aliases > LOAD_LIMITS.maxAliasCount) {
        throw new LimitExceeded('YAMLAlias', `more than ${LOAD_LIMITS.maxAliasCount} alias references in one document`, this.pos(node));
      }
      const target = node.resolve(this.doc);
      if (!target) throw new LimitExceeded('YAMLAlias', `unresolved alias *${node.source}`, this.pos(node));
      return this.value(target as Node, depth + 1);
    }
    if (isScalar(node)) {
      const v = node.value;
      return typeof v === 'bigint' ? Number(v) : v;
    }
    if (isMap(node)) {
      // Prototype-free from the start (see nullRecord); "__proto__" never gets this far either.
      const obj = nullRecord();
      const source: NodeSource = { start: this.pos(node), entries: new Map() };
      for (const pair of node.items) {
        const keyNode = pair.key as Node | null;
        const keyPos = keyNode ? this.pos(keyNode) : source.start;
        if (!isScalar(keyNode) || keyNode.value === null || typeof keyNode.value === 'object') {
          this.spoil('YAMLSyntax', 'mapping keys must be plain strings or numbers', keyPos, '?');
          continue;
        }
        const key = String(keyNode.value);
        if (FORBIDDEN_KEYS.has(key)) {
          this.spoil('ForbiddenKey', `key "${key}" is not allowed anywhere in configuration`, keyPos, key);
          continue;
        }
        if (key === '<<') {
          this.spoil('YAMLMergeKey', 'merge keys ("<<") are not supported; write the fields out', keyPos, key);
          continue;
        }
        const valueNode = pair.value as Node | null;
        if (valueNode) {
          this.path.push(key);
          obj[key] = this.value(valueNode, depth + 1);
          this.path.pop();
        } else {
          obj[key] = null;
        }
        source.entries.set(key, keyPos);
        if (isScalar(valueNode) && valueNode.type === Scalar.BLOCK_LITERAL && typeof valueNode.value === 'string') {
          const block = this.blockSource(valueNode);
          if (block) (source.blocks ??= new Map()).set(key, block);
        }
      }
      this.sources.set(obj, source);
      return obj;
    }
    if (isSeq(node)) {
      const arr: unknown[] = [];
      const source: NodeSource = { start: this.pos(node), entries: new Map() };
      node.items.forEach((item, i) => {
        const itemNode = item as Node | null;
        this.path.push(i);
        arr.push(itemNode ? this.value(itemNode, depth + 1) : null);
        this.path.pop();
        source.entries.set(i, itemNode ? this.pos(itemNode) : source.start);
      });
      this.sources.set(arr, source);
      return arr;
    }
    return null;
  }

  private spoil(code: ProblemCode, message: string, at: TextPosition, key: string): void {
    this.issues.push({ code, message, at, path: [...this.path], field: objectField([...this.path, key]) });
    this.spoiled.push([...this.path]);
  }

  private pos(node: Node): TextPosition {
    return this.at(node.range?.[0] ?? 0);
  }

  /** Content of `|` starts on the line after the header; its indentation is that of the first non-empty line. */
  private blockSource(node: Scalar): BlockScalarSource | undefined {
    const start = node.range?.[0];
    if (start === undefined) return undefined;
    const nl = this.text.indexOf('\n', start);
    if (nl < 0) return undefined;
    let p = nl + 1;
    // Skip blank lines to measure the indentation of the first content line.
    for (;;) {
      let q = p;
      while (this.text[q] === ' ') q++;
      if (this.text[q] === '\n') {
        p = q + 1;
        continue;
      }
      const first = this.at(nl + 1);
      return { firstLine: first.line, indent: q - p };
    }
  }
}

/** A dotted field path relative to the object a document (or list item) holds. */
function objectField(path: (string | number)[]): string {
  let i = 0;
  if (path[0] === 'items' && typeof path[1] === 'number') i = 2;
  else if (typeof path[0] === 'number') i = 1;
  let out = '';
  for (const p of path.slice(i)) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}

