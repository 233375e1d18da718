// Load stage, step 1: YAML text → plain value trees (null-prototype objects) with the line and
// column of every key and item, one tree per document. Parser warnings, duplicate keys, unknown tags,
// prototype keys, merge keys, deep nesting and alias bombs are reported here, never passed on.

import { Composer, LineCounter, Parser, Scalar, isAlias, isMap, isScalar, isSeq, type Document, type Node } from 'yaml';
import type { ProblemCode } from '../api/problems.js';
import { LOAD_LIMITS } from './limits.js';
import { nullRecord } from './null-record.js';
import { readSimpleDocuments } from './simple-yaml.js';

export interface TextPosition {
  readonly line: number;
  readonly col: number;
}

/** Where a decoded map or sequence came from: its start, and the position of each key or item. */
export interface NodeSource {
  readonly start: TextPosition;
  readonly entries: Map<string | number, TextPosition>;
  /** For string values written as literal block scalars (`|`): where their content lines begin. */
  blocks?: Map<string, BlockScalarSource>;
}

/** A literal block scalar's content: line N of the string is file line firstLine+N-1, shifted by indent columns. */
export interface BlockScalarSource {
  readonly firstLine: number;
  readonly indent: number;
}

/**
 * Positions of one document's maps and sequences, by object. It lives only as long as the document
 * is being decoded (a WeakMap would keep every position alive as long as the loaded specs).
 */
export interface SourceMap {
  get(value: object): NodeSource | undefined;
}

/** A problem found while parsing; `path` (from the document root) says which object it spoils. */
export interface ParseIssue {
  readonly code: ProblemCode;
  readonly message: string;
  readonly at: TextPosition;
  /** Path from the document root; undefined when the whole document is unusable. */
  readonly path?: readonly (string | number)[];
  /** The offending key's dotted path inside its object ("spec.headers.__proto__"). */
  readonly field?: string;
}

export interface ParsedDocument {
  /** 0-based index of the document in the file. */
  readonly index: number;
  readonly value: unknown;
  readonly start: TextPosition;
  /** Issues that spoil part of this document (prototype or merge keys), by path. */
  readonly spoiled: readonly (readonly (string | number)[])[];
  /** Where each map and sequence of `value` came from. */
  readonly sources: SourceMap;
}

export interface ParseResult {
  readonly documents: ParsedDocument[];
  readonly issues: ParseIssue[];
}

/** Maps a position in the parsed text to a position in the file (identity for whole files). */
export type PositionMap = (p: TextPosition) => TextPosition;

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

/**
 * Parse every document of `text`. Never throws on bad input; problems come back as issues.
 * Text in the plain subset most configuration uses takes the fast reader (simple-yaml.ts), which
 * gives the same documents and positions; everything else, and every problem, comes from `yaml`.
 */
export function parseDocuments(text: string, mapPos?: PositionMap): ParseResult {
  const tooDeep = nestingIssue(text, mapPos);
  if (tooDeep) return { documents: [], issues: [tooDeep] };
  const documents: ParsedDocument[] = [];
  if (readSimpleDocuments(text, mapPos, (doc) => documents.push(doc))) return { documents, issues: [] };
  return parseWithYamlPackage(text, mapPos);
}

/** Deep input is refused before either parser spends time on it. */
export function nestingIssue(text: string, mapPos?: PositionMap): ParseIssue | undefined {
  const tooDeep = prescanNesting(text);
  if (!tooDeep) return undefined;
  return { code: 'NestingTooDeep', message: `nesting deeper than ${LOAD_LIMITS.maxDepth} levels`, at: mapPos ? mapPos(tooDeep) : tooDeep };
}

/** The full parser: any YAML 1.2 text, every problem reported. Exported so tests can hold the fast reader to it. */
export function parseWithYamlPackage(text: string, mapPos: PositionMap = (p) => p): ParseResult {
  const issues: ParseIssue[] = [];
  const documents: ParsedDocument[] = [];

  const lines = new LineCounter();
  const at = (offset: number): TextPosition => {
    const p = lines.linePos(offset);
    return mapPos({ line: p.line, col: p.col });
  };
  const parser = new Parser(lines.addNewLine);
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
      index++;
    }
  } catch (err) {
    // The yaml package is not expected to throw on any input; if it does, report rather than crash.
    issues.push({ code: 'YAMLSyntax', message: `YAML parser failed: ${(err as Error).message}`, at: at(0) });
  } finally {
    process.env = env;
  }
  return { documents, issues };
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
    return { index, value, start, spoiled: walk.spoiled, sources: walk.sources };
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

/**
 * A cheap upper bound on nesting, computed before parsing: flow brackets, and compact `- - -` or
 * `a: b: c:` chains on one line. Deep input is refused before the parser spends time on it.
 */
function prescanNesting(text: string): TextPosition | undefined {
  // Character codes rather than one-character strings: this reads every byte of every file.
  const max = LOAD_LIMITS.maxDepth;
  const n = text.length;
  let flow = 0;
  let line = 1;
  /** Offset of the current line's first character (a column is counted from it). */
  let lineBegin = 0;
  let lineStart = true;
  let compact = 0;
  let quote = 0;
  let prev = NL;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    // Letters, digits, "." and "/" (most of any file) change nothing but the previous character,
    // and end the indentation; none of them closes a quote. Brackets and braces are the exception.
    if ((c >= 0x40 && (c | 0x20) !== 0x7b && (c | 0x20) !== 0x7d) || (c >= 0x2e && c <= 0x39)) {
      lineStart = false;
      prev = c;
      continue;
    }
    const col = i - lineBegin + 1;
    if (c === NL) {
      line++;
      lineBegin = i + 1;
      lineStart = true;
      compact = 0;
      quote = 0;
      prev = c;
      continue;
    }
    if (quote !== 0) {
      if (c === quote) quote = 0;
      prev = c;
      continue;
    }
    if (lineStart && c === SP) {
      prev = c;
      continue;
    }
    if ((c === 0x2d /* - */ || c === 0x3f /* ? */) && (lineStart || prev === SP)) {
      const next = text.charCodeAt(i + 1);
      if (next === SP || next === NL) {
        if (++compact > max) return { line, col };
        prev = c;
        continue;
      }
    }
    lineStart = false;
    if (c === 0x23 /* # */ && (prev === SP || prev === NL)) {
      // A comment runs to the end of the line.
      const nl = text.indexOf('\n', i);
      if (nl < 0) break;
      i = nl - 1;
      continue;
    }
    if ((c === 0x22 || c === 0x27) /* " ' */ && (prev === SP || prev === 0x5b || prev === 0x7b || prev === 0x2c || prev === 0x3a)) quote = c;
    else if (c === 0x5b || c === 0x7b) {
      if (++flow > max) return { line, col };
    } else if (c === 0x5d || c === 0x7d) flow = Math.max(0, flow - 1);
    else if (c === 0x3a /* : */) {
      const next = text.charCodeAt(i + 1);
      if ((next === SP || next === NL) && ++compact > max) return { line, col };
    }
    prev = c;
  }
  return undefined;
}

const NL = 0x0a;
const SP = 0x20;
