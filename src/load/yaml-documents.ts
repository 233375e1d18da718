// Load stage, step 1: YAML text → plain value trees with the line and column of every key and item,
// one document at a time. The only YAML reader of the load stage; the tests hold it to the `yaml` package.

import type { ProblemCode } from '../api/problems.js';
import { LOAD_LIMITS } from './limits.js';
import { nullRecord } from './null-record.js';
import { RecordedSources, type BlockScalarSource, type ParsedDocument, type ParseIssue, type PositionMap, type TextPosition } from './parsed-yaml.js';

export { RecordedSources } from './parsed-yaml.js';
export type { BlockScalarSource, NodeSource, ParsedDocument, ParseIssue, PositionMap, SourceMap, TextPosition } from './parsed-yaml.js';

export interface ParseResult {
  readonly documents: ParsedDocument[];
  readonly issues: ParseIssue[];
}

export interface ReadOptions {
  /** Maps positions in the text to positions in the file (for YAML held in a Service annotation). */
  readonly mapPos?: PositionMap;
  /** Caches shared by the files of one load (see ReaderCaches). */
  readonly caches?: ReaderCaches;
}

/**
 * Reads every document of `text`, handing each one over as soon as it is read (so its positions
 * can die young), and returns the problems found. A document with a problem is not handed over; the
 * others are. Problems that cost a document only a key (prototype keys, merge keys, keys that are
 * not scalars) are returned too, and the document names the objects they spoil. Never throws on bad input.
 */
export function readDocuments(text: string, onDocument: (doc: ParsedDocument) => void, options: ReadOptions = {}): ParseIssue[] {
  const reader = new YamlReader(text, options.mapPos, onDocument, options.caches ?? new ReaderCaches());
  reader.read();
  return reader.issues;
}

/** readDocuments, collected. */
export function parseDocuments(text: string, options: ReadOptions = {}): ParseResult {
  const documents: ParsedDocument[] = [];
  const issues = readDocuments(text, (d) => documents.push(d), options);
  return { documents, issues };
}

const SPACE = 0x20;
const TAB = 0x09;
const NEWLINE = 0x0a;
const CR = 0x0d;
const HASH = 0x23;
const COLON = 0x3a;
const DASH = 0x2d;
const DOT = 0x2e;
const QUESTION = 0x3f;
const DQUOTE = 0x22;
const SQUOTE = 0x27;
const BACKSLASH = 0x5c;
const AMP = 0x26;
const STAR = 0x2a;
const BANG = 0x21;
const PIPE = 0x7c;
const GT = 0x3e;
const COMMA = 0x2c;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const PERCENT = 0x25;
const AT = 0x40;
const BACKTICK = 0x60;
const BOM = 0xfeff;

/** What a block node is the value of: it decides which compact forms may start on the indicator's line. */
const MAP_VALUE = 0;
const SEQ_ITEM = 1;
const EXPLICIT_KEY = 2;
const EXPLICIT_VALUE = 3;
const DOC_LINE = 4;
const ROOT = 5;

/** What the last node read was (see YamlReader.nodeKind). */
const SCALAR = 0;
const ALIAS = 1;
const COLLECTION = 2;
const LITERAL = 3;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_IMPLICIT_KEY = 1024;
const CORE = 'tag:yaml.org,2002:';

/**
 * Characters YAML does not allow in a stream (outside escapes): control characters but tab and
 * line breaks, DEL and C1 controls but NEL, lone surrogates, non-characters, a byte order mark
 * after the start, and a carriage return not followed by a line feed.
 */
// A plain character class is one fast scan; a hit on "\r" or a surrogate is then looked at closely.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHARS = /[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufeff\ufffe\uffff]/g;

const ESCAPES: Record<string, string> = {
  '0': '\0',
  a: '\x07',
  b: '\b',
  e: '\x1b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  N: '\u0085',
  _: '\u00a0',
  L: '\u2028',
  P: '\u2029',
  ' ': ' ',
  '"': '"',
  '/': '/',
  '\\': '\\',
  '\t': '\t',
};

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB;
}

/** After "?" or ":" in a flow collection: a blank, a flow indicator, a line break or the end of the text make it an indicator. */
function endsIndicator(c: number): boolean {
  return isBlank(c) || isFlowIndicator(c) || c !== c || c === NEWLINE || c === CR;
}

function isFlowIndicator(c: number): boolean {
  return c === COMMA || c === LBRACKET || c === RBRACKET || c === LBRACE || c === RBRACE;
}

/** Characters a tag may hold (URI characters and "!"), besides %-escapes. */
function isTagChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === DASH ||
    c === HASH ||
    c === 0x3b ||
    c === 0x2f ||
    c === QUESTION ||
    c === COLON ||
    c === AT ||
    c === AMP ||
    c === 0x3d ||
    c === 0x2b ||
    c === 0x24 ||
    c === 0x5f ||
    c === DOT ||
    c === BANG ||
    c === 0x7e ||
    c === STAR ||
    c === SQUOTE ||
    c === 0x28 ||
    c === 0x29
  );
}

/** A character that can start a plain scalar and means nothing else there (letters, digits, "/", "."), or any beyond ASCII. */
function isPlainLetter(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2f || c === DOT || c === 0x5f || (c >= 0x80 && c !== BOM);
}

function isHexDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/**
 * Whether text holds `s` at `p`. Written out rather than with startsWith: these run for every key
 * and value, and an optimised caller with startsWith inlined takes the compiler far longer to build
 * (on one core, time taken from the load itself).
 */
function sameText(s: string, text: string, p: number): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== text.charCodeAt(p + i)) return false;
  return true;
}

/** Slots of a reader's text caches (a power of two), and the longest text they keep. */
const TEXT_CACHE_SIZE = 256;
const TEXT_CACHE_MAX_LENGTH = 64;
const MISSING: unique symbol = Symbol('missing');

/**
 * Values read from short texts, by a hash of a few of their characters: a slot holds the last text
 * that fell into it, and a hit is confirmed by comparing the text itself.
 */
class TextCache {
  private readonly texts: (string | undefined)[] = new Array<string | undefined>(TEXT_CACHE_SIZE).fill(undefined);
  private readonly values: unknown[] = new Array<unknown>(TEXT_CACHE_SIZE).fill(undefined);
  /** The slot of the last find, for put. */
  private slot = -1;

  /** The value cached for text[p, end), or MISSING (and put then stores one for it). */
  find(text: string, p: number, end: number): unknown {
    const len = end - p;
    if (len > TEXT_CACHE_MAX_LENGTH || len <= 0) {
      this.slot = -1;
      return MISSING;
    }
    const h = Math.imul(len, 0x9e3779b1) ^ Math.imul(text.charCodeAt(p), 0x85ebca6b) ^ Math.imul(text.charCodeAt(end - 1), 0xc2b2ae35) ^ Math.imul(text.charCodeAt(p + (len >> 1)), 0x27d4eb2f);
    const slot = (h ^ (h >>> 15)) & (TEXT_CACHE_SIZE - 1);
    this.slot = slot;
    const cached = this.texts[slot];
    return cached !== undefined && cached.length === len && sameText(cached, text, p) ? this.values[slot] : MISSING;
  }

  put(text: string, value: unknown): void {
    if (this.slot < 0) return;
    this.texts[this.slot] = text;
    this.values[this.slot] = value;
  }
}

/**
 * The reader's caches of recently read texts. One set serves every file of a load (files of one
 * configuration repeat each other's keys and values, and small files would spend more on new caches
 * than they save); the cached strings are slices of texts the loaded values hold anyway. Made before
 * the first file, never on first use: code optimised for a reader whose cache was still missing is
 * thrown away when the next one is made.
 */
export class ReaderCaches {
  readonly keys = new TextCache();
  readonly plains = new TextCache();
  readonly quotes = new TextCache();
}

const INT = /^[-+]?[0-9]+$/;
const INT_OCT = /^0o[0-7]+$/;
const INT_HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT_SPECIAL = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const FLOAT_EXP = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;

/** A character none of the core-schema patterns can match, so one test spares them for hosts, addresses and paths. */
const NOT_TYPED = /[^-+.~0-9A-Za-z]/;

function nullValue(s: string): boolean {
  return s === '' || s === '~' || s === 'null' || s === 'Null' || s === 'NULL';
}

function boolValue(s: string): boolean | undefined {
  if (s === 'true' || s === 'True' || s === 'TRUE') return true;
  if (s === 'false' || s === 'False' || s === 'FALSE') return false;
  return undefined;
}

function intValue(s: string): number | undefined {
  if (INT_OCT.test(s)) return parseInt(s.slice(2), 8);
  if (INT.test(s)) return parseInt(s, 10);
  if (INT_HEX.test(s)) return parseInt(s.slice(2), 16);
  return undefined;
}

function floatValue(s: string): number | undefined {
  if (FLOAT_SPECIAL.test(s)) return s.slice(-3).toLowerCase() === 'nan' ? NaN : s.charCodeAt(0) === DASH ? -Infinity : Infinity;
  if (FLOAT_EXP.test(s) || FLOAT.test(s)) return parseFloat(s);
  return undefined;
}

/** A plain (unquoted, untagged) scalar's value under the YAML 1.2 core schema. */
function resolvePlain(s: string): unknown {
  const c = s.charCodeAt(0);
  // Every core pattern (null, bool, int, float) starts with a digit or one of "+-.~nNtTfF".
  const maybeTyped = (c >= 0x30 && c <= 0x39) || c === 0x2b || c === DASH || c === DOT || c === 0x7e || c === 0x6e || c === 0x4e || c === 0x74 || c === 0x54 || c === 0x66 || c === 0x46;
  if (!maybeTyped || NOT_TYPED.test(s)) return s.length === 0 ? null : s;
  if (nullValue(s)) return null;
  const b = boolValue(s);
  if (b !== undefined) return b;
  const i = intValue(s);
  if (i !== undefined) return i;
  const f = floatValue(s);
  return f === undefined ? s : f;
}

/** A problem that ends the document being read. */
class YamlProblem {
  constructor(
    readonly code: ProblemCode,
    readonly message: string,
    readonly offset: number,
  ) {}
}

/** A node's anchor and tag, as written before it. */
interface Props {
  readonly anchor: string | undefined;
  readonly tag: string | undefined;
  /** Offset of the tag, for its problems. */
  readonly tagAt: number;
  /** Offset just after the properties and the blanks after them. */
  readonly end: number;
}

const NO_PROPS: Props = Object.freeze({ anchor: undefined, tag: undefined, tagAt: -1, end: -1 });

/** The spoiled list of the (most) documents that lost no key. */
const NOTHING_SPOILED: (string | number)[][] = Object.freeze([]) as unknown as (string | number)[][];

/** A key lost to a problem, relative to the node an anchor names (so an alias can report it again). */
interface Spoil {
  readonly path: readonly (string | number)[];
  readonly key: string;
  readonly code: ProblemCode;
  readonly message: string;
  readonly at: TextPosition;
}

/** What an anchor names: its value, and what an alias to it must repeat (positions, lost keys, depth, aliases). */
interface Anchor {
  value: unknown;
  done: boolean;
  /** Levels of nesting inside the value (0 for a scalar). */
  height: number;
  /** Aliases dereferenced while the value was read; an alias to it counts them again. */
  weight: number;
  /** Where the value's positions were recorded, and which nodes and entries they are. */
  records: RecordedSources | undefined;
  n0: number;
  n1: number;
  e0: number;
  e1: number;
  spoils: Spoil[];
}

/** What an anchored node started with, to finish its Anchor. */
interface AnchorStart {
  readonly anchor: Anchor;
  readonly aliases: number;
  readonly spoils: number;
  readonly path: number;
  readonly maxLevel: number;
  readonly level: number;
}

class YamlReader {
  readonly issues: ParseIssue[] = [];
  private readonly len: number;
  /** 1-based number of the current line, the offsets of its start, its "\n" (or the end), and its content's end (before a "\r"). */
  private lineNo = 1;
  private lineStart = 0;
  private lineEnd = 0;
  private contentEnd = 0;
  /** Spaces before the current content line's first character. */
  private indent = 0;
  /** Offset of the current content line's first character (after any tabs). */
  private at = 0;
  private eof = false;
  /** The current line is a document marker ("---" or "...") at column 1. */
  private marker = false;
  /** The current content line's indentation holds a tab. */
  private tabbed = false;
  /** The line toContent started from (the one after the last content line). */
  private afterLine = 1;
  /** Lines toContent passed over: blank ones, and whether one was a comment. */
  private blankLines = 0;
  private passedComment = false;
  /** The cursor: where reading goes on, on the current line. */
  private pos = 0;
  /** 0 when the text opens with a byte order mark (read as a blank), else -1. */
  private bomAt = -1;

  /** Per document. */
  private sources = new RecordedSources(undefined);
  private anchors = new Map<string, Anchor>();
  private anchorList: Anchor[] = [];
  private aliasCount = 0;
  /** Inside keys and the values of lost keys: positions are not kept, problems there not reported. */
  private muted = 0;
  private level = 0;
  private maxLevel = 0;
  private readonly path: (string | number)[] = [];
  private spoils: { path: (string | number)[]; key: string; code: ProblemCode; message: string; at: TextPosition }[] = [];
  private tags: Map<string, string> | undefined;

  /** The last node read: where it starts, what it is, and whether it ran over more than one line. */
  private nodeLine = 0;
  private nodeCol = 0;
  private nodeKind = SCALAR;
  /** Offset of the header of the last literal block scalar read. */
  private literalHeader = -1;
  /** Set by scanKey for plain keys: the offset after the key's last character. */
  private keyEnd = 0;
  /** Set by empty(): the last value read had no content, and where it stands. */
  private wasEmpty = false;
  private emptyLine = 0;
  private emptyCol = 0;
  /** Set by flowInBlock: a flow collection value is followed on its line by ":", which starts another entry with an empty key. */
  private pendingColon = -1;
  /** Set by flowSkip: it went past a line break. */
  private crossedLine = false;
  /** Nesting of flow collections being read. */
  private flowDepth = 0;

  private readonly keys: TextCache;
  private readonly plains: TextCache;
  private readonly quotes: TextCache;
  private nextForbidden: number;
  /** What ended the last plainRun (see there). */
  private runStop = 0;

  constructor(
    private readonly text: string,
    private readonly mapPos: PositionMap | undefined,
    private readonly onDocument: (doc: ParsedDocument) => void,
    caches: ReaderCaches,
  ) {
    this.len = text.length;
    this.keys = caches.keys;
    this.plains = caches.plains;
    this.quotes = caches.quotes;
    this.nextForbidden = this.forbiddenFrom(text.charCodeAt(0) === BOM ? 1 : 0);
  }

  // ---------------------------------------------------------------------------------------------
  // Documents

  read(): void {
    const text = this.text;
    // A byte order mark may open the stream (the loader strips it from files; text given directly may hold it).
    this.bomAt = text.charCodeAt(0) === BOM ? 0 : -1;
    this.toContent();
    let index = 0;
    let regionStart = 0;
    for (;;) {
      let failure: YamlProblem | undefined;
      let directives = false;
      this.tags = undefined;
      let yamlDirective = false;
      if (this.nextForbidden < regionStart) this.nextForbidden = this.forbiddenFrom(regionStart);
      // Between documents: "..." lines (each ends an empty document) and directives.
      while (!this.eof) {
        const c = text.charCodeAt(this.at);
        if (this.marker && c === DOT) {
          if (index >= LOAD_LIMITS.maxDocumentsPerFile) break;
          this.flushHeld();
          const at = this.at;
          this.beginDocument();
          try {
            // Directives before it were for this (empty) document, which had no "---".
            if (directives) throw failure ?? new YamlProblem('YAMLSyntax', 'Missing directives-end/doc-start indicator line', at);
            this.checkLineRest(at + 3);
            if (this.nextForbidden < this.lineEnd) throw this.forbiddenProblem();
            this.hold(index, null, this.position(at));
          } catch (err) {
            if (!(err instanceof YamlProblem)) throw err;
            this.report(err, regionStart);
          }
          index++;
          directives = false;
          failure = undefined;
          yamlDirective = false;
          this.tags = undefined;
          this.nextLine();
          regionStart = this.eof ? this.len : this.lineStart;
          if (this.nextForbidden < regionStart) this.nextForbidden = this.forbiddenFrom(regionStart);
          continue;
        }
        if (this.indent === 0 && !this.tabbed && c === PERCENT) {
          directives = true;
          const problem = this.directive(yamlDirective);
          if (text.startsWith('%YAML', this.at)) yamlDirective = true;
          failure ??= problem;
          this.nextLine();
          continue;
        }
        break;
      }
      if (this.eof) {
        // A problem in directives with no document after them belongs to the document before them.
        if (failure) {
          if (this.held) {
            this.held = undefined;
            this.report(failure, regionStart);
          } else {
            this.report(failure, regionStart);
          }
        } else {
          this.flushHeld();
          if (index === 0) {
            this.beginDocument();
            if (this.nextForbidden < this.len) this.report(this.forbiddenProblem(), regionStart);
            else this.emit(index, null, { line: 1, col: 1 });
          }
        }
        break;
      }
      this.flushHeld();
      if (index >= LOAD_LIMITS.maxDocumentsPerFile) {
        this.issues.push({ code: 'TooManyDocuments', message: `more than ${LOAD_LIMITS.maxDocumentsPerFile} YAML documents in one file`, at: this.position(this.at) });
        break;
      }
      const explicit = this.marker;
      if (directives && !explicit) failure ??= new YamlProblem('YAMLSyntax', 'Missing directives-end indicator line', this.at);
      const firstLine = this.lineStart;
      this.beginDocument();
      try {
        if (failure) throw failure;
        let value: unknown;
        if (explicit) {
          this.pos = this.at + 3;
          value = this.valueOnLine(-1, DOC_LINE);
        } else {
          value = this.valueBelow(-1, ROOT, NO_PROPS, this.at);
        }
        const start = this.nodePosition();
        if (!this.eof && !this.marker) this.fail('Unexpected content after the document', this.at);
        const end = this.eof ? this.len : this.lineStart;
        if (this.nextForbidden < end) throw this.forbiddenProblem();
        // A document ended by "..." waits: a problem in directives after it, with no document to follow, is its own.
        if (!this.eof && text.charCodeAt(this.at) === DOT) this.hold(index, value, start);
        else this.emit(index, value, start);
      } catch (err) {
        if (!(err instanceof YamlProblem)) throw err;
        this.report(err, regionStart);
        this.resync(err.offset, firstLine);
      }
      regionStart = this.eof ? this.len : this.lineStart;
      // "..." ends the document.
      if (!this.eof && this.marker && text.charCodeAt(this.at) === DOT) {
        try {
          this.checkLineRest(this.at + 3);
        } catch (err) {
          if (!(err instanceof YamlProblem)) throw err;
          if (this.held) {
            this.held = undefined;
            this.report(err, regionStart);
          }
        }
        this.nextLine();
        regionStart = this.eof ? this.len : this.lineStart;
      }
      index++;
    }
  }

  /** A document read but not yet handed over (see read). */
  private held: { index: number; value: unknown; start: TextPosition; end: TextPosition; sources: RecordedSources; spoils: YamlReader['spoils'] } | undefined;

  private hold(index: number, value: unknown, start: TextPosition): void {
    this.held = { index, value, start, end: this.position(this.lineStart), sources: this.sources, spoils: this.spoils };
  }

  private flushHeld(): void {
    const h = this.held;
    if (!h) return;
    this.held = undefined;
    this.handOver(h.index, h.value, h.start, h.end, h.sources, h.spoils);
  }

  private beginDocument(): void {
    this.sources = new RecordedSources(this.mapPos);
    if (this.anchors.size > 0) this.anchors = new Map();
    if (this.anchorList.length > 0) this.anchorList = [];
    this.spoils = [];
    this.aliasCount = 0;
    this.muted = 0;
    this.level = 0;
    this.maxLevel = 0;
    this.flowDepth = 0;
    this.path.length = 0;
    this.nodeLine = this.lineNo;
    this.nodeCol = this.at - this.lineStart + 1;
  }

  private emit(index: number, value: unknown, start: TextPosition): void {
    this.handOver(index, value, start, this.position(this.eof ? this.len : this.lineStart), this.sources, this.spoils);
  }

  private handOver(index: number, value: unknown, start: TextPosition, end: TextPosition, sources: RecordedSources, spoils: YamlReader['spoils']): void {
    const spoiled: (string | number)[][] = spoils.length === 0 ? NOTHING_SPOILED : [];
    for (const s of spoils) {
      this.issues.push({ code: s.code, message: s.message, at: s.at, path: s.path, field: objectField([...s.path, s.key]) });
      spoiled.push(s.path);
    }
    this.onDocument({ index, value, start, end, spoiled, sources });
  }

  /** Reports the problem that ended a document, or a forbidden character before it in the document. */
  private report(problem: YamlProblem, regionStart: number): void {
    if (this.nextForbidden < regionStart) this.nextForbidden = this.forbiddenFrom(regionStart);
    const p = this.nextForbidden <= Math.max(problem.offset, this.lineStart) ? this.forbiddenProblem() : problem;
    this.issues.push({ code: p.code, message: p.message, at: this.position(Math.min(p.offset, this.len)) });
  }

  private forbiddenFrom(from: number): number {
    const text = this.text;
    FORBIDDEN_CHARS.lastIndex = from;
    for (;;) {
      const m = FORBIDDEN_CHARS.exec(text);
      if (!m) return Infinity;
      const i = m.index;
      const c = text.charCodeAt(i);
      // A line feed after "\r", and a surrogate in a valid pair, are allowed.
      if (c === CR && text.charCodeAt(i + 1) === NEWLINE) continue;
      if (c >= 0xd800 && c <= 0xdbff) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          FORBIDDEN_CHARS.lastIndex = i + 2;
          continue;
        }
      }
      return i;
    }
  }

  private forbiddenProblem(): YamlProblem {
    const at = this.nextForbidden;
    const code = this.text.codePointAt(at) ?? 0;
    const name = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
    const message = code === CR ? 'a carriage return must be followed by a line feed' : `character ${name} is not allowed in YAML`;
    return new YamlProblem('YAMLSyntax', message, at);
  }

  /** After a problem: on to the next document marker after the failed document's first line. */
  private resync(offset: number, docFirstLine: number): void {
    const text = this.text;
    let ls = Math.min(Math.max(offset, this.lineStart), this.len);
    while (ls > 0 && text.charCodeAt(ls - 1) !== NEWLINE) ls--;
    if (ls <= docFirstLine) {
      const nl = text.indexOf('\n', docFirstLine);
      ls = nl < 0 ? this.len : nl + 1;
    }
    // Line numbers are counted again from the last known line.
    let lineNo = this.lineNo;
    let from = this.lineStart;
    if (ls < from) {
      from = 0;
      lineNo = 1;
    }
    for (let i = text.indexOf('\n', from); i >= 0 && i < ls; i = text.indexOf('\n', i + 1)) lineNo++;
    this.lineNo = lineNo;
    // The yaml package reads on through a broken document: a quote opened there and never closed
    // anywhere after takes the rest of the text with it.
    if (this.unclosedQuoteFrom(Math.min(Math.max(offset, this.lineStart), this.len))) {
      this.lineStart = this.len + 1;
      this.toContent();
      return;
    }
    while (ls < this.len) {
      if (this.isMarkerAt(ls)) break;
      const nl = text.indexOf('\n', ls);
      if (nl < 0) {
        ls = this.len;
        break;
      }
      ls = nl + 1;
      this.lineNo++;
    }
    this.lineStart = ls;
    this.toContent();
  }

  /**
   * Whether, from `from` to the next document marker, a quote starts a scalar (at the start of a
   * line's content, or after a blank or a flow indicator) and no quote after it could close it.
   */
  private unclosedQuoteFrom(from: number): boolean {
    const text = this.text;
    let i = from;
    while (i < this.len) {
      const c = text.charCodeAt(i);
      if (c === NEWLINE) {
        if (this.isMarkerAt(i + 1)) return false;
        i++;
        continue;
      }
      if (c === HASH && (i === 0 || isBlank(text.charCodeAt(i - 1)) || text.charCodeAt(i - 1) === NEWLINE)) {
        const nl = text.indexOf('\n', i);
        if (nl < 0) return false;
        i = nl;
        continue;
      }
      if (c === DQUOTE || c === SQUOTE) {
        const before = i === 0 ? NEWLINE : text.charCodeAt(i - 1);
        if (i === from || before === NEWLINE || isBlank(before) || isFlowIndicator(before) || before === COLON) {
          if (!this.quoteAnywhere(i)) return true;
          // Closed somewhere: on past the closing quote when it is on this line.
          const close = this.closingOnLine(i);
          if (close >= 0) {
            i = close + 1;
            continue;
          }
        }
      }
      i++;
    }
    return false;
  }

  /** The quote closing the one at `q` on the same line, or -1. */
  private closingOnLine(q: number): number {
    const text = this.text;
    let nl = text.indexOf('\n', q);
    if (nl < 0) nl = this.len;
    const single = text.charCodeAt(q) === SQUOTE;
    for (let j = q + 1; j < nl; j++) {
      const c = text.charCodeAt(j);
      if (single) {
        if (c === SQUOTE) {
          if (text.charCodeAt(j + 1) === SQUOTE) {
            j++;
            continue;
          }
          return j;
        }
      } else if (c === BACKSLASH) j++;
      else if (c === DQUOTE) return j;
    }
    return -1;
  }

  /** A "%" line between documents. Returns the problem it has, if any. */
  private directive(seenYaml: boolean): YamlProblem | undefined {
    const text = this.text;
    let end = this.contentEnd;
    // A comment after the directive needs a blank before it.
    for (let q = this.at; q < end; q++) {
      if (text.charCodeAt(q) === HASH && isBlank(text.charCodeAt(q - 1))) {
        end = q;
        break;
      }
    }
    const parts = text.slice(this.at, end).trim().split(/[ \t]+/);
    const name = parts.shift();
    if (name === '%YAML') {
      if (seenYaml) return new YamlProblem('YAMLSyntax', 'The %YAML directive must only be given at most once per document.', this.at);
      if (parts.length !== 1) return new YamlProblem('YAMLSyntax', '%YAML directive should contain exactly one part', this.at);
      if (parts[0] === '1.2') return undefined;
      if (parts[0] === '1.1') return new YamlProblem('YAMLSyntax', 'only YAML 1.2 is accepted (found %YAML 1.1)', this.at);
      return new YamlProblem('YAMLSyntax', `Unsupported YAML version ${parts[0] ?? ''}`, this.at + 6);
    }
    if (name === '%TAG') {
      if (parts.length !== 2) return new YamlProblem('YAMLSyntax', '%TAG directive should contain exactly two parts', this.at);
      (this.tags ??= new Map()).set(parts[0] as string, parts[1] as string);
      return undefined;
    }
    return new YamlProblem('YAMLSyntax', `Unknown directive ${name ?? ''}`, this.at);
  }

  // ---------------------------------------------------------------------------------------------
  // Lines

  /** From lineStart: skips blank and comment-only lines and sets up the first line with content. */
  private toContent(): void {
    const text = this.text;
    this.afterLine = this.lineNo;
    this.blankLines = 0;
    this.passedComment = false;
    for (;;) {
      if (this.lineStart >= this.len) {
        this.eof = true;
        this.marker = false;
        this.tabbed = false;
        this.lineEnd = this.contentEnd = this.at = this.pos = this.len;
        this.indent = 0;
        return;
      }
      let nl = text.indexOf('\n', this.lineStart);
      if (nl < 0) nl = this.len;
      this.lineEnd = nl;
      this.contentEnd = nl > this.lineStart && text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
      let p = this.lineStart;
      if (p === this.bomAt) p++;
      while (text.charCodeAt(p) === SPACE) p++;
      const spaces = p - this.lineStart;
      let q = p;
      while (text.charCodeAt(q) === TAB || text.charCodeAt(q) === SPACE) q++;
      if (q >= this.contentEnd || text.charCodeAt(q) === HASH) {
        if (q < this.contentEnd) this.passedComment = true;
        else this.blankLines++;
        this.lineStart = nl + 1;
        this.lineNo++;
        continue;
      }
      this.indent = spaces;
      this.tabbed = q !== p;
      this.at = this.pos = q;
      // Any line opening with "---" or "..." ends every block; documents then check it is a marker.
      this.marker = spaces === 0 && q === p && this.isMarkerAt(p);
      this.eof = false;
      return;
    }
  }

  /** Moves to the line after the current one, then on to its next content line. */
  private nextLine(): void {
    this.lineStart = this.lineEnd + 1;
    this.lineNo++;
    this.toContent();
  }

  /** "---" or "..." at `p`, followed by a blank or the end of the line. */
  private isMarkerAt(p: number): boolean {
    const text = this.text;
    const c = text.charCodeAt(p);
    if ((c !== DASH && c !== DOT) || text.charCodeAt(p + 1) !== c || text.charCodeAt(p + 2) !== c) return false;
    const d = text.charCodeAt(p + 3);
    return p + 3 >= this.len || d === SPACE || d === TAB || d === NEWLINE || (d === CR && text.charCodeAt(p + 4) === NEWLINE);
  }

  /** Sets up the line that starts at `ls` (line number `lineNo`) as the current line, without skipping it. */
  private setLine(ls: number, lineNo: number): void {
    const text = this.text;
    this.lineStart = ls;
    this.lineNo = lineNo;
    let nl = text.indexOf('\n', ls);
    if (nl < 0) nl = this.len;
    this.lineEnd = nl;
    this.contentEnd = nl > ls && text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
  }

  private skipBlanks(p: number): number {
    const text = this.text;
    while (isBlank(text.charCodeAt(p))) p++;
    return p;
  }

  /** After a complete node on this line: blanks, then the end of the line or a comment. */
  private checkLineRest(p: number): void {
    const q = this.skipBlanks(p);
    if (q >= this.contentEnd) return;
    if (this.text.charCodeAt(q) === HASH) {
      if (q === p) this.fail('Comments must be separated from other tokens by white space characters', q);
      return;
    }
    this.fail('Unexpected content at the end of the line', q);
  }

  /** A blank, the end of the line, or the end of the text at `p`. */
  private blankOrEnd(p: number): boolean {
    return p >= this.contentEnd || isBlank(this.text.charCodeAt(p));
  }

  private isDashItem(p: number): boolean {
    return this.text.charCodeAt(p) === DASH && this.blankOrEnd(p + 1);
  }

  private position(offset: number): TextPosition {
    // The offset is on the current line or before it (problems are found where reading stands).
    let line = this.lineNo;
    let ls = this.lineStart;
    const text = this.text;
    if (offset < ls) {
      while (offset < ls) {
        ls = text.lastIndexOf('\n', ls - 2) + 1;
        line--;
      }
    } else {
      for (let nl = text.indexOf('\n', ls); nl >= 0 && nl < offset; nl = text.indexOf('\n', nl + 1)) {
        line++;
        ls = nl + 1;
      }
    }
    const p = { line, col: offset - ls + 1 };
    return this.mapPos ? this.mapPos(p) : p;
  }

  private nodePosition(): TextPosition {
    const p = { line: this.nodeLine, col: this.nodeCol };
    return this.mapPos ? this.mapPos(p) : p;
  }

  /** setNode for an offset that may be on a line before the current one. */
  private setNodeBack(offset: number, kind: number): void {
    const at = this.lineBefore(offset);
    this.nodeLine = at.line;
    this.nodeCol = offset - at.lineStart + 1;
    this.nodeKind = kind;
  }

  private setNode(offset: number, kind: number): void {
    this.nodeLine = this.lineNo;
    this.nodeCol = offset - this.lineStart + 1;
    this.nodeKind = kind;
  }

  private fail(message: string, offset: number, code: ProblemCode = 'YAMLSyntax'): never {
    throw new YamlProblem(code, message, offset);
  }

  // ---------------------------------------------------------------------------------------------
  // Block nodes

  /** The value after an indicator (`- `, `? `, `: `, `---`) on the current line, at `this.pos`; `n` is the parent's column. */
  private valueOnLine(n: number, kind: number): unknown {
    const text = this.text;
    let p = this.skipBlanks(this.pos);
    let c = text.charCodeAt(p);
    // Most values after a key are a plain scalar starting with a letter, digit or "/": straight there.
    if (kind === MAP_VALUE && p < this.contentEnd && isPlainLetter(c)) return this.plainInBlock(p, n, NO_PROPS, true);
    let props = NO_PROPS;
    if (c === AMP || c === BANG) {
      props = this.readProps(p, NO_PROPS, false);
      p = props.end;
      c = text.charCodeAt(p);
    }
    if (p >= this.contentEnd || c === HASH) {
      this.nextLine();
      return this.valueBelow(n, kind, props, p);
    }
    if (c === PIPE || c === GT) return this.blockScalar(p, n, props);
    const compact = kind === SEQ_ITEM || kind === EXPLICIT_KEY || kind === EXPLICIT_VALUE;
    if (this.isDashItem(p)) {
      if (kind === MAP_VALUE) this.fail('Unexpected block-seq-ind on same line with key', p);
      if (!compact) this.fail('Block collection cannot start on same line with directives-end marker', p);
      if (props !== NO_PROPS) this.fail('Missing newline after block sequence props', p);
      this.tabBefore(p);
      return this.blockSeq(p, p - this.lineStart, NO_PROPS);
    }
    if (kind !== MAP_VALUE) {
      const explicitKey = c === QUESTION && this.blankOrEnd(p + 1);
      const colon = explicitKey ? -1 : this.scanKey(p);
      if (explicitKey || colon >= 0) {
        if (!compact) this.fail('Block collection cannot start on same line with directives-end marker', p);
        this.tabBefore(p);
        const m = (props === NO_PROPS ? p : this.propsStart) - this.lineStart;
        const line = this.lineNo;
        const colonCol = colon - this.lineStart + 1;
        const map = this.blockMap(p, m, NO_PROPS, props);
        // A mapping written as an explicit key starts, for the yaml package, at its first ":".
        if (kind === EXPLICIT_KEY && colon >= 0) {
          this.nodeLine = line;
          this.nodeCol = colonCol;
        }
        return map;
      }
    } else if (c === QUESTION && this.blankOrEnd(p + 1)) {
      this.fail('Nested mappings are not allowed in compact mappings', p);
    }
    return this.flowInBlock(p, n, props, kind);
  }

  /** A tab between an indicator and a collection that starts on its line would be the collection's indentation. */
  private tabBefore(p: number): void {
    for (let i = this.pos; i < p; i++) if (this.text.charCodeAt(i) === TAB) this.fail('Tabs are not allowed as indentation', i);
  }

  /** Where the properties read last began (for the column of a compact mapping whose first key has them). */
  private propsStart = 0;

  /**
   * The value of a node whose indicator line holds nothing more: on the current content line if that
   * is indented past the parent's column `n`, else empty. `emptyAt` is where an empty value stands.
   */
  private valueBelow(n: number, kind: number, props: Props, emptyAt: number): unknown {
    if (!this.eof && !this.marker) {
      const m = this.indent;
      const p = this.at;
      const text = this.text;
      if (m > n) {
        const c = text.charCodeAt(p);
        // A tab before a document's root node is read as indentation, unless a flow collection follows.
        if (this.tabbed) {
          // A tab in the indentation: refused before properties, and at the start of a document's
          // root, unless a flow collection follows (the yaml package's rules).
          const atRoot = kind === ROOT || kind === DOC_LINE;
          const f = text.charCodeAt(this.skipProps(p));
          const flow = atRoot && (f === LBRACKET || f === LBRACE);
          if (!flow && ((c === AMP || c === BANG) || (atRoot && m === 0))) this.fail('Tabs are not allowed as indentation', this.lineStart + m);
        }
        if (this.isDashItem(p)) {
          if (this.tabbed) this.fail('Tabs are not allowed as indentation', this.lineStart + m);
          return this.blockSeq(p, m, props);
        }
        const colon = c === QUESTION && this.blankOrEnd(p + 1) ? -1 : this.scanKey(p);
        if (colon >= 0 || (c === QUESTION && this.blankOrEnd(p + 1))) {
          if (this.tabbed) this.fail('Tabs are not allowed as indentation', this.lineStart + m);
          const line = this.lineNo;
          const colonCol = colon - this.lineStart + 1;
          const map = this.blockMap(p, m, props, NO_PROPS);
          // A mapping written as an explicit key starts, for the yaml package, at its first ":".
          if (kind === EXPLICIT_KEY && colon >= 0) {
            this.nodeLine = line;
            this.nodeCol = colonCol;
          }
          return map;
        }
        if (c === AMP || c === BANG) {
          // Properties alone on their line belong to the node below them.
          const more = this.readProps(p, props, false);
          if (more.end >= this.contentEnd || text.charCodeAt(more.end) === HASH) {
            this.nextLine();
            return this.valueBelow(n, kind, more, more.end);
          }
          if (text.charCodeAt(more.end) === PIPE || text.charCodeAt(more.end) === GT) return this.blockScalar(more.end, n, more);
          return this.flowInBlock(more.end, n, more, kind);
        }
        if (c === PIPE || c === GT) return this.blockScalar(p, n, props);
        return this.flowInBlock(p, n, props, kind);
      }
      // (After an explicit key's ":", the yaml package reads another ": value" line at the same column as a mapping with an empty key.)
      if (m === n && kind === EXPLICIT_VALUE && this.colonLine() && !this.tabbed) return this.blockMap(p, m, props, NO_PROPS);
      if (m === n && kind !== SEQ_ITEM && kind !== ROOT && kind !== DOC_LINE && this.isDashItem(p)) {
        if (this.tabbed) this.fail('Tabs are not allowed as indentation', this.lineStart + m);
        return this.blockSeq(p, m, props);
      }
    }
    if (this.eof) this.checkLastLine(n);
    return this.empty(props, emptyAt);
  }

  /** An empty value at the end of the text: a last line of blanks with a tab no deeper than the parent is read as indentation. */
  private checkLastLine(n: number): void {
    const text = this.text;
    const ls = text.lastIndexOf('\n') + 1;
    let spaces = 0;
    while (text.charCodeAt(ls + spaces) === SPACE) spaces++;
    if (text.charCodeAt(ls + spaces) !== TAB || spaces > Math.max(n, 0)) return;
    for (let i = ls + spaces; i < this.len; i++) if (!isBlank(text.charCodeAt(i))) return;
    this.fail('Tabs are not allowed as indentation', ls + spaces);
  }

  /** An empty node (null, or "" when tagged as a string) at `offset` on the line it was written on. */
  private empty(props: Props, offset: number): unknown {
    // The empty node stands on the indicator's line, which may be behind the current one.
    const at = this.lineBefore(offset);
    this.nodeLine = at.line;
    this.nodeCol = offset - at.lineStart + 1;
    this.nodeKind = SCALAR;
    this.wasEmpty = true;
    this.emptyLine = this.nodeLine;
    this.emptyCol = this.nodeCol;
    const value = props.tag === undefined ? null : this.tagged('', props);
    if (props.anchor !== undefined) this.defineScalar(props.anchor, value);
    return value;
  }

  /** The line holding `offset`, searched back from the current line. */
  private lineBefore(offset: number): { line: number; lineStart: number } {
    let line = this.lineNo;
    let ls = this.lineStart;
    while (offset < ls && ls > 0) {
      ls = this.text.lastIndexOf('\n', ls - 2) + 1;
      line--;
    }
    return { line, lineStart: ls };
  }

  /** A block list whose first "-" is at `p`, column `m`. Ends on the next content line after it. */
  private blockSeq(p: number, m: number, props: Props): unknown[] {
    const anchored = props.anchor !== undefined ? this.beginAnchor(props.anchor) : undefined;
    this.checkCollectionTag(props, 'seq');
    this.enterCollection(p);
    const arr: unknown[] = [];
    const sources = this.sources;
    const line = this.lineNo;
    const col = p - this.lineStart + 1;
    const node = sources.node(arr, line, col);
    const path = this.path;
    for (;;) {
      const i = arr.length;
      const entry = sources.entryKeys.length;
      sources.entry(node, i, this.lineNo, p - this.lineStart + 2);
      path.push(i);
      this.pos = p + 1;
      const value = this.valueOnLine(m, SEQ_ITEM);
      path.pop();
      sources.entryInfo[3 * entry + 1] = this.nodeLine;
      sources.entryInfo[3 * entry + 2] = this.nodeCol;
      arr.push(value);
      if (this.eof || this.marker || this.indent < m) break;
      if (this.indent > m) this.fail('All sequence items must start at the same column', this.at);
      p = this.at;
      // Same indentation without a dash: the list ends and its parent mapping goes on.
      if (!this.isDashItem(p)) break;
      if (this.tabbed) this.fail('Tabs are not allowed as indentation', this.lineStart + m);
    }
    this.level--;
    const exact = sources.exactList(node, arr);
    this.nodeLine = line;
    this.nodeCol = col;
    this.nodeKind = COLLECTION;
    if (anchored) this.endAnchor(anchored, exact);
    return exact;
  }

  /**
   * A block mapping whose first entry is at `p` (after the properties `keyProps`, if any), keys at
   * column `m`. Ends on the next content line after it.
   */
  private blockMap(p: number, m: number, props: Props, keyProps: Props): Record<string, unknown> {
    const anchored = props.anchor !== undefined ? this.beginAnchor(props.anchor) : undefined;
    this.checkCollectionTag(props, 'map');
    this.enterCollection(p);
    const text = this.text;
    const obj = nullRecord();
    const sources = this.sources;
    const line = this.lineNo;
    const col = this.skipProps(p) - this.lineStart + 1;
    const node = sources.node(obj, line, col);
    let values: unknown[] | undefined;
    /** The entry before was an explicit key with no value. */
    let afterBareKey = false;
    let first = true;
    /** The value before was empty, and where it stands. */
    let prevEmpty = false;
    let prevEmptyLine = 0;
    let prevEmptyCol = 0;
    for (;;) {
      let key: unknown;
      let keyAt: number;
      let hasValue = true;
      let valueAt = -1;
      const explicit = text.charCodeAt(p) === QUESTION && this.blankOrEnd(p + 1);
      const entryAfterLine = this.afterLine;
      let colonOnOwnLine = false;
      /** The key was read by keyOf (plain, no tag) on the current line. */
      let plainKey = false;
      if (explicit) {
        if (keyProps !== NO_PROPS) this.fail('Anchors and tags must be after the ? indicator', p);
        // An explicit key; its value follows on a line of its own that starts with ":".
        this.pos = p + 1;
        keyAt = p;
        key = this.muteWhile(() => this.valueOnLine(m, EXPLICIT_KEY));
        // (The yaml package also takes a ":" line indented past the "?".)
        if (!this.eof && !this.marker && this.indent >= m && text.charCodeAt(this.at) === COLON && this.blankOrEnd(this.at + 1)) {
          if (this.tabbed) this.fail('Tabs are not allowed as indentation', this.lineStart + m);
          valueAt = this.at;
        } else {
          hasValue = false;
        }
      } else {
        // An implicit key: one line, then ":".
        let q = p;
        let kp = keyProps;
        const start = kp === NO_PROPS ? p : this.propsStart;
        const cq = text.charCodeAt(q);
        if (cq === AMP || cq === BANG) {
          kp = this.readProps(q, kp, false);
          q = kp.end;
        }
        let colon = this.scanKey(q);
        if (colon < 0 && !first && kp === NO_PROPS) colon = this.keyBeforeColonLine(q, m);
        if (colon < 0) {
          // (The yaml package takes such a list as the value of an explicit key before it, and drops it.)
          if (this.isDashItem(q) && afterBareKey) this.fail('what follows an explicit key ("? key") needs a ": " line before it', q);
          if (this.isDashItem(q)) this.fail('A block sequence may not be used as an implicit map key', q);
          this.fail('Implicit map keys need to be followed by map values', q);
        }
        if (colon - start > MAX_IMPLICIT_KEY) this.fail('The : indicator must be at most 1024 chars after the start of an implicit block mapping key', start);
        keyAt = q;
        if (this.keyLine >= 0) {
          // The key is on the line before its ":".
          colonOnOwnLine = true;
          const c2 = text.charCodeAt(q);
          key = c2 === DQUOTE || c2 === SQUOTE ? this.quotedOnLine(q) : this.keyOf(q, this.keyEnd);
          this.nodeLine = this.keyLine;
          this.nodeCol = q - this.keyLineStart + 1;
          this.nodeKind = SCALAR;
          this.keyLine = -1;
        } else {
          this.keySafe = false;
          key = this.implicitKey(q, colon, kp, m);
          plainKey = this.keySafe;
        }
        valueAt = colon;
        if (q === colon && !first && kp === NO_PROPS) {
          // An empty key stands where the yaml package puts it: after an empty value before it, else at the start of its line.
          if (prevEmpty) {
            this.emptyKeyAfterEmptyValue(prevEmptyLine, prevEmptyCol, m);
          } else {
            this.nodeLine = entryAfterLine;
            this.nodeCol = 1;
          }
        }
      }
      const keyKind = this.nodeKind;
      const keyLine = this.nodeLine;
      const keyCol = this.nodeCol;
      let name: string | undefined;
      if (plainKey && this.keySafe && values === undefined) {
        name = key as string;
        if (name in obj) this.fail('Map keys must be unique', keyAt, 'YAMLDuplicateKey');
      } else {
        name = this.entryName(key, keyKind, keyLine, keyCol);
        if (keyKind === SCALAR || keyKind === LITERAL) values = this.checkDuplicate(obj, values, key, keyAt, name !== undefined);
      }
      // After a ":" on a line of its own, a compact mapping may follow.
      const kind = explicit || colonOnOwnLine ? EXPLICIT_VALUE : MAP_VALUE;
      this.wasEmpty = !hasValue;
      if (name !== undefined) {
        sources.entry(node, name, keyLine, keyCol);
        let value: unknown = null;
        if (hasValue) {
          this.path.push(name);
          this.pos = valueAt + 1;
          this.wasEmpty = false;
          value = this.valueOnLine(m, kind);
          this.path.pop();
          if (this.nodeKind === LITERAL && typeof value === 'string') {
            const block = this.blockSource(this.literalHeader);
            if (block) sources.block(node, name, block);
          }
        }
        obj[name] = value;
      } else if (hasValue) {
        this.pos = valueAt + 1;
        this.wasEmpty = false;
        this.muteWhile(() => this.valueOnLine(m, kind));
      }
      prevEmpty = this.wasEmpty;
      prevEmptyLine = this.emptyLine;
      prevEmptyCol = this.emptyCol;
      first = false;
      afterBareKey = explicit && !hasValue;
      if (this.pendingColon >= 0) {
        // "a: [x]: y": another entry, with an empty key at the ":".
        const colon = this.pendingColon;
        this.pendingColon = -1;
        values = this.checkDuplicate(obj, values, null, colon, false);
        this.spoil('YAMLSyntax', 'mapping keys must be plain strings or numbers', { line: this.lineNo, col: colon - this.lineStart + 1 }, '?');
        this.pos = colon + 1;
        this.muteWhile(() => this.valueOnLine(m, MAP_VALUE));
        prevEmpty = false;
      }
      if (this.eof || this.marker || this.indent < m) break;
      // (The yaml package takes a more indented ": value" line as an entry with an empty key.)
      if (this.indent > m && !(text.charCodeAt(this.at) === COLON && this.blankOrEnd(this.at + 1))) {
        // (The yaml package takes what follows an explicit key as its value, and drops it.)
        if (afterBareKey) this.fail('what follows an explicit key ("? key") needs a ": " line before it', this.at);
        this.fail('All mapping items must start at the same column', this.at);
      }
      p = this.at;
      keyProps = NO_PROPS;
      if (this.tabbed) this.fail('Tabs are not allowed as indentation', this.lineStart + m);
    }
    this.level--;
    this.nodeLine = line;
    this.nodeCol = col;
    this.nodeKind = COLLECTION;
    if (anchored) this.endAnchor(anchored, obj);
    return obj;
  }

  /**
   * The yaml package reads a scalar alone on its line, inside a mapping, with the next line (more
   * indented) starting with ": ", as a key and its value. Returns the offset of that ":" (the cursor
   * then stands on its line, and keyEnd marks the key's end), or -1 with nothing moved.
   */
  private keyBeforeColonLine(q: number, m: number): number {
    const text = this.text;
    const c = text.charCodeAt(q);
    let end: number;
    if (c === DQUOTE || c === SQUOTE) {
      const close = this.quoteEndOnLine(q);
      if (close < 0) return -1;
      end = close + 1;
      if (this.skipBlanks(end) < this.contentEnd) return -1;
    } else {
      if (c === STAR || c === LBRACKET || c === LBRACE || c === AMP || c === BANG || c === PIPE || c === GT || this.isDashItem(q)) return -1;
      end = q;
      for (let i = q; i < this.contentEnd; i++) {
        const ch = text.charCodeAt(i);
        if (ch === HASH && isBlank(text.charCodeAt(i - 1))) return -1;
        if (ch === COLON && (i + 1 >= this.contentEnd || isBlank(text.charCodeAt(i + 1)))) return -1;
        if (!isBlank(ch)) end = i + 1;
      }
    }
    const lineStart = this.lineStart;
    const lineNo = this.lineNo;
    this.nextLine();
    if (!this.eof && !this.marker && this.indent > m && !this.passedComment && this.colonLine()) {
      this.keyEnd = end;
      this.keyLine = lineNo;
      this.keyLineStart = lineStart;
      return this.at;
    }
    this.lineStart = lineStart;
    this.lineNo = lineNo;
    this.toContent();
    return -1;
  }

  /**
   * Where the yaml package puts an empty key (": value" at the start of a line) that follows an
   * entry with an empty value at (line, col): it follows the line breaks and comments in between.
   */
  private emptyKeyAfterEmptyValue(line: number, col: number, m: number): void {
    const text = this.text;
    let ls = this.lineStart;
    for (let l = this.lineNo; l > line; l--) ls = text.lastIndexOf('\n', ls - 2) + 1;
    // The line breaks after the value; a comment indented past the mapping starts the count again.
    const breaks: number[] = [];
    let comment = false;
    let end = text.indexOf('\n', ls);
    const rest = text.slice(ls + col - 1, end < 0 ? this.len : end);
    if (/(^|[ \t])#/.test(rest)) comment = true;
    breaks.push(line);
    for (let l = line + 1; l < this.lineNo; l++) {
      ls = end + 1;
      end = text.indexOf('\n', ls);
      const content = text.slice(ls, end < 0 ? this.len : end).replace(/\r$/, '');
      const hash = content.search(/[^ \t]/);
      if (hash >= 0 && content.charCodeAt(hash) === HASH) {
        comment = true;
        if (hash > m) breaks.length = 0;
      }
      breaks.push(l);
    }
    if (breaks.length >= 2) {
      // At the end of the line whose break is the second one.
      const l = breaks[1] as number;
      let at = this.lineStart;
      for (let k = this.lineNo; k > l; k--) at = text.lastIndexOf('\n', at - 2) + 1;
      let e = text.indexOf('\n', at);
      if (e < 0) e = this.len;
      if (e > at && text.charCodeAt(e - 1) === CR) e--;
      this.nodeLine = l;
      this.nodeCol = e - at + 1;
    } else if (comment) {
      this.nodeLine = this.lineNo;
      this.nodeCol = this.indent + 1;
    } else {
      this.nodeLine = line;
      this.nodeCol = col;
    }
  }

  /** Set by keyBeforeColonLine: the line its key is on. */
  private keyLine = -1;
  private keyLineStart = 0;

  /** The offset after any properties (and blanks) at `p`. */
  private skipProps(p: number): number {
    const text = this.text;
    for (;;) {
      const c = text.charCodeAt(p);
      if (c === AMP) p = this.skipBlanks(this.anchorEnd(p + 1));
      else if (c === BANG) p = this.skipBlanks(this.tagEnd(p));
      else return p;
    }
  }

  /**
   * Refuses a scalar key equal to one before it in the same mapping (compared by value, as the
   * yaml package does: 1 and "1" differ, 0 and -0 do not). `values` holds every scalar key so far
   * once one was not a string stored under itself; until then the mapping's own keys say it.
   */
  private checkDuplicate(obj: Record<string, unknown>, values: unknown[] | undefined, key: unknown, keyAt: number, stored: boolean): unknown[] | undefined {
    if (values === undefined) {
      if (typeof key === 'string' && key in obj) this.fail('Map keys must be unique', keyAt, 'YAMLDuplicateKey');
      if (stored && typeof key === 'string') return undefined;
      // From here on every scalar key is remembered by value.
      values = Object.keys(obj);
      values.push(key);
      return values;
    }
    for (const v of values) if (v === key) this.fail('Map keys must be unique', keyAt, 'YAMLDuplicateKey');
    values.push(key);
    return values;
  }

  /** The implicit key at `q` (after its properties), ending before the ":" at `colon`. Leaves nodeKind and the position set. */
  private implicitKey(q: number, colon: number, props: Props, m: number): unknown {
    const text = this.text;
    const c = text.charCodeAt(q);
    if (c === COLON && q === colon) {
      this.setNode(q, SCALAR);
      const value = props.tag === undefined ? null : this.tagged('', props);
      if (props.anchor !== undefined) this.defineScalar(props.anchor, value);
      return value;
    }
    if (c === DQUOTE || c === SQUOTE) {
      const value = this.quoted(q, 0, props);
      this.setNode(q, SCALAR);
      return value;
    }
    if (c === LBRACKET || c === LBRACE || c === STAR) {
      return this.muteWhile(() => {
        if (c === STAR) {
          if (props !== NO_PROPS) this.fail('An alias node must not specify any properties', q);
          return this.alias(q);
        }
        return this.flowCollection(q, m + 1, props);
      });
    }
    // A plain key: the text before the ":", as found by scanKey.
    const end = this.keyEnd;
    let value: unknown;
    if (props.tag === undefined) {
      value = this.keyOf(q, end);
    } else {
      value = this.tagged(this.text.slice(q, end), props);
    }
    this.checkPlainStart(q, false);
    this.setNode(q, SCALAR);
    if (props.anchor !== undefined) this.defineScalar(props.anchor, value);
    return value;
  }

  /** A node written on the current line at `p` (a scalar, alias or flow collection, possibly running over several lines). */
  private flowInBlock(p: number, n: number, props: Props, kind: number): unknown {
    const text = this.text;
    const c = text.charCodeAt(p);
    const firstLine = this.lineNo;
    let value: unknown;
    if (c === STAR) {
      if (props !== NO_PROPS) this.fail('An alias node must not specify any properties', p);
      value = this.alias(p);
    } else if (c === DQUOTE || c === SQUOTE) {
      value = this.quoted(p, n + 1, props);
      this.nodeLine = firstLine;
      this.nodeCol = this.lineNo === firstLine ? p - this.lineStart + 1 : p - this.lineBefore(p).lineStart + 1;
      this.nodeKind = SCALAR;
    } else if (c === LBRACKET || c === LBRACE) {
      value = this.flowCollection(p, n + 1, props);
    } else {
      return this.plainInBlock(p, n, props);
    }
    // The rest of the line after the node.
    const q = this.skipBlanks(this.pos);
    if (q < this.contentEnd) {
      const d = text.charCodeAt(q);
      if (d === HASH) {
        if (q === this.pos) this.fail('Comments must be separated from other tokens by white space characters', q);
      } else if (d === COLON && this.blankOrEnd(q + 1)) {
        if (this.lineNo === firstLine && this.nodeKind === COLLECTION && (c === LBRACKET || c === LBRACE)) {
          // The yaml package reads "a: [x]: y" as two entries, the second with an empty key.
          this.pendingColon = q;
          return value;
        }
        this.fail(this.lineNo !== firstLine ? 'Implicit keys need to be on a single line' : 'Nested mappings are not allowed in compact mappings', q);
      } else {
        // (After an explicit key the yaml package drops what follows on the line.)
        this.fail(kind === EXPLICIT_KEY ? 'what follows an explicit key ("? key") needs a ": " line before it' : 'Unexpected scalar at node end', q);
      }
    }
    const nodeLine = this.nodeLine;
    const nodeCol = this.nodeCol;
    const nodeKind = this.nodeKind;
    this.nextLine();
    this.nodeLine = nodeLine;
    this.nodeCol = nodeCol;
    this.nodeKind = nodeKind;
    return value;
  }

  /** A plain scalar in block context at `p`; lines after it more indented than `n` continue it. */
  private plainInBlock(p: number, n: number, props: Props, checked = false): unknown {
    const text = this.text;
    if (!checked) this.checkPlainStart(p, false);
    const line = this.lineNo;
    const col = p - this.lineStart + 1;
    let last = this.plainRun(p);
    let stop = this.runStop;
    if (stop === 2) this.fail('Nested mappings are not allowed in compact mappings', last);
    let value: unknown;
    this.nextLine();
    if (stop === 0 && !this.eof && !this.marker && this.indent > n && !this.passedComment && !this.colonLine()) {
      // Lines below continue the scalar: folded into one string, blank lines kept as line breaks.
      let folded = text.slice(p, last);
      for (;;) {
        folded += this.blankLines === 0 ? ' ' : '\n'.repeat(this.blankLines);
        const q0 = this.at;
        last = this.plainRun(q0);
        stop = this.runStop;
        if (stop === 2) this.fail('Implicit keys need to be on a single line', last);
        folded += text.slice(q0, last);
        this.nextLine();
        if (stop !== 0 || this.eof || this.marker || this.indent <= n || this.passedComment || this.colonLine()) break;
      }
      value = props.tag === undefined ? resolvePlain(folded) : this.tagged(folded, props);
    } else {
      value = props.tag === undefined ? this.plainOf(p, last) : this.tagged(text.slice(p, last), props);
    }
    this.nodeLine = line;
    this.nodeCol = col;
    this.nodeKind = SCALAR;
    if (props.anchor !== undefined) this.defineScalar(props.anchor, value);
    return value;
  }

  /**
   * The end of the plain-scalar text from `from` on the current line (after its last non-blank
   * character); `runStop` says what ended it: 0 the line's end, 1 a comment, 2 a ": ".
   */
  private plainRun(from: number): number {
    const text = this.text;
    const end = this.contentEnd;
    let last = from;
    this.runStop = 0;
    for (let q = from; q < end; q++) {
      const ch = text.charCodeAt(q);
      if (ch === SPACE || ch === TAB) continue;
      if (ch === HASH && isBlank(text.charCodeAt(q - 1))) {
        this.runStop = 1;
        break;
      }
      if (ch === COLON && (q + 1 >= end || isBlank(text.charCodeAt(q + 1)))) {
        this.runStop = 2;
        break;
      }
      last = q + 1;
    }
    return last;
  }

  /** The current content line starts with ": " (a plain scalar does not go on over it). */
  private colonLine(): boolean {
    return this.text.charCodeAt(this.at) === COLON && this.blankOrEnd(this.at + 1);
  }

  /** Refuses a plain scalar starting with a character YAML reserves. */
  private checkPlainStart(p: number, inFlow: boolean): void {
    const c = this.text.charCodeAt(p);
    let bad = '';
    if (c === COMMA) bad = 'flow indicator character ,';
    else if (c === PERCENT) bad = 'directive indicator character %';
    else if (c === PIPE || c === GT) bad = `block scalar indicator ${String.fromCharCode(c)}`;
    else if (c === AT || c === BACKTICK) bad = `reserved character ${String.fromCharCode(c)}`;
    else if (c === RBRACKET || c === RBRACE || c === LBRACKET || c === LBRACE) bad = `flow indicator character ${String.fromCharCode(c)}`;
    else if (c === HASH) bad = 'comment indicator #';
    else if ((c === DASH || c === QUESTION || c === COLON) && this.blankOrEnd(p + 1)) bad = `indicator ${String.fromCharCode(c)}`;
    else if (inFlow && (c === DASH || c === QUESTION || c === COLON) && isFlowIndicator(this.text.charCodeAt(p + 1))) bad = `indicator ${String.fromCharCode(c)}`;
    if (bad) this.fail(`Plain value cannot start with ${bad}`, p);
  }

  /**
   * Whether the content at `p` is an implicit key ("name:", "'a b':", "&x k:", "[a]:"): the offset
   * of its ":" or -1. For plain keys, keyEnd is set to the end of the key's text.
   */
  private scanKey(p: number): number {
    const text = this.text;
    const end = this.contentEnd;
    let q = p;
    for (;;) {
      const c = text.charCodeAt(q);
      if (c === AMP) q = this.anchorEnd(q + 1);
      else if (c === BANG) q = this.tagEnd(q);
      else break;
      if (q < end && !isBlank(text.charCodeAt(q))) return -1;
      q = this.skipBlanks(q);
    }
    if (q >= end) return -1;
    const c = text.charCodeAt(q);
    if (c === DQUOTE || c === SQUOTE) {
      const close = this.quoteEndOnLine(q);
      if (close < 0) return -1;
      q = this.skipBlanks(close + 1);
    } else if (c === LBRACKET || c === LBRACE) {
      const close = this.flowEndOnLine(q);
      if (close < 0) return -1;
      q = this.skipBlanks(close + 1);
    } else if (c === STAR) {
      q = this.skipBlanks(this.anchorEnd(q + 1));
    } else if (c === COLON && this.blankOrEnd(q + 1)) {
      return q;
    } else {
      // A plain key: to the first ": " (or ":" at the end of the line), unless a comment comes first.
      if (isFlowIndicator(c) && c !== COMMA) return -1;
      if ((c === DASH || c === QUESTION) && this.blankOrEnd(q + 1)) return -1;
      if (c === HASH || c === PIPE || c === GT) return -1;
      let last = q;
      for (; q < end; q++) {
        const ch = text.charCodeAt(q);
        if (ch === COLON && (q + 1 >= end || isBlank(text.charCodeAt(q + 1)))) {
          this.keyEnd = last;
          return q;
        }
        if (ch === HASH && isBlank(text.charCodeAt(q - 1))) return -1;
        if (!isBlank(ch)) last = q + 1;
      }
      return -1;
    }
    return q < end && text.charCodeAt(q) === COLON && this.blankOrEnd(q + 1) ? q : -1;
  }

  /** The closing quote of the quoted scalar at `q` if it is on the same line, else -1. */
  private quoteEndOnLine(q: number): number {
    const text = this.text;
    const end = this.contentEnd;
    this.quoteEscaped = false;
    if (text.charCodeAt(q) === SQUOTE) {
      for (let i = q + 1; i < end; i++) {
        if (text.charCodeAt(i) === SQUOTE) {
          if (text.charCodeAt(i + 1) === SQUOTE && i + 1 < end) {
            this.quoteEscaped = true;
            i++;
            continue;
          }
          return i;
        }
      }
      return -1;
    }
    for (let i = q + 1; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c === BACKSLASH) {
        this.quoteEscaped = true;
        i++;
      } else if (c === DQUOTE) return i;
    }
    return -1;
  }

  /** Set by quoteEndOnLine: the scalar holds an escape ("\\..." or "''"). */
  private quoteEscaped = false;

  /** The bracket closing the flow collection at `q` if it is on the same line, else -1. */
  private flowEndOnLine(q: number): number {
    const text = this.text;
    const end = this.contentEnd;
    let depth = 0;
    for (let i = q; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c === LBRACKET || c === LBRACE) depth++;
      else if (c === RBRACKET || c === RBRACE) {
        if (--depth === 0) return i;
      } else if ((c === DQUOTE || c === SQUOTE) && (i === q + 1 || isBlank(text.charCodeAt(i - 1)) || isFlowIndicator(text.charCodeAt(i - 1)) || text.charCodeAt(i - 1) === COLON)) {
        const close = this.quoteEndOnLine(i);
        if (close < 0) return -1;
        i = close;
      } else if (c === HASH && isBlank(text.charCodeAt(i - 1))) {
        return -1;
      }
    }
    return -1;
  }

  /**
   * A block scalar ("|" or ">") whose header is at `p`; `n` is the parent's column. Leaves the
   * cursor on the first content line after it.
   */
  private blockScalar(p: number, n: number, props: Props): unknown {
    const text = this.text;
    const len = this.len;
    const literal = text.charCodeAt(p) === PIPE;
    const line = this.lineNo;
    const col = p - this.lineStart + 1;
    // Header: at most one indentation digit (1-9) and one chomping indicator, in either order.
    let q = p + 1;
    let chomp = 0; // 0 clip, 1 strip, 2 keep
    let explicit = 0;
    while (q < this.contentEnd) {
      const c = text.charCodeAt(q);
      if (isBlank(c) || c === HASH) break;
      if (chomp === 0 && (c === DASH || c === 0x2b)) chomp = c === DASH ? 1 : 2;
      else if (explicit === 0 && c >= 0x31 && c <= 0x39) explicit = c - 0x30;
      else this.fail(`Block scalar header includes extra characters: ${text.slice(p, this.headerEnd(p))}`, q);
      q++;
    }
    this.checkLineRest(q);
    const minIndent = n + 1;
    const first = this.lineEnd + 1;
    // nl: the line break that ends the scalar's last line (len at the end of the text).
    let nl = first - 1;
    // The first line with a character other than a space sets the indentation ("\r\n" ends a blank line).
    let firstSpaces = 0;
    let i = first;
    for (; i < len; i++) {
      const c = text.charCodeAt(i);
      if (c === SPACE) firstSpaces++;
      else if (c === NEWLINE) {
        nl = i;
        firstSpaces = 0;
      } else if (c === CR && text.charCodeAt(i + 1) === NEWLINE) {
        // part of a blank line's break
      } else break;
    }
    if (firstSpaces >= minIndent) {
      const contentIndent = explicit === 0 ? firstSpaces : explicit - 1 + (minIndent === 0 ? 1 : minIndent);
      // Lines belong while blank or indented by contentIndent (at indentation 0: until a document marker).
      for (;;) {
        const ls = nl + 1;
        if (ls >= len) {
          if (ls > len) nl = len;
          break;
        }
        let belongs: boolean;
        if (contentIndent > 0) {
          let sp = ls;
          while (text.charCodeAt(sp) === SPACE) sp++;
          const c = text.charCodeAt(sp);
          belongs = c === NEWLINE || (c === CR && text.charCodeAt(sp + 1) === NEWLINE) || sp - ls >= contentIndent || sp >= len;
        } else {
          belongs = !this.isMarkerAt(ls);
        }
        if (!belongs) break;
        const next = text.indexOf('\n', ls);
        if (next < 0) {
          nl = len;
          break;
        }
        nl = next;
      }
    }
    // A tab at the start of the line after the scalar would be read as its indentation.
    let after = nl + 1;
    while (text.charCodeAt(after) === SPACE) after++;
    if (after < len && text.charCodeAt(after) === TAB) this.fail('Block scalar lines must not be less indented than their first line', after);
    if (chomp !== 2) {
      // Trailing blank lines belong only if indented past the first content line.
      for (;;) {
        let j = nl - 1;
        if (text.charCodeAt(j) === CR) j--;
        const lastChar = j;
        while (text.charCodeAt(j) === SPACE) j--;
        if (j >= first && text.charCodeAt(j) === NEWLINE && lastChar - j <= firstSpaces) nl = j;
        else break;
      }
    }
    const source = text.slice(first, nl + 1);
    const value = this.blockValue(source, first, literal, chomp, explicit, n < 0 ? 0 : n);
    // On past the scalar.
    if (first > len) {
      this.lineStart = len + 1;
      this.lineNo = line + 1;
    } else {
      let count = 0;
      const stop = Math.min(nl, len - 1);
      for (let k = text.indexOf('\n', first); k >= 0 && k <= stop; k = text.indexOf('\n', k + 1)) count++;
      this.lineStart = nl + 1;
      this.lineNo = line + 1 + count + (nl >= len ? 1 : 0);
    }
    this.toContent();
    const result = props.tag === undefined ? value : this.tagged(value, props);
    this.nodeLine = line;
    this.nodeCol = col;
    this.nodeKind = literal ? LITERAL : SCALAR;
    this.literalHeader = p;
    if (props.anchor !== undefined) this.defineScalar(props.anchor, result);
    return result;
  }

  private headerEnd(p: number): number {
    let q = p + 1;
    while (q < this.contentEnd && !isBlank(this.text.charCodeAt(q)) && this.text.charCodeAt(q) !== HASH) q++;
    return q;
  }

  /** The value of a block scalar from its text (the lines after its header) and its header. */
  private blockValue(source: string, first: number, literal: boolean, chomp: number, explicit: number, parent: number): string {
    const lines: { spaces: number; content: string; at: number }[] = [];
    if (source !== '') {
      let at = first;
      for (const raw of source.split('\n')) {
        let sp = 0;
        while (raw.charCodeAt(sp) === SPACE) sp++;
        lines.push({ spaces: sp, content: raw.slice(sp), at: at + sp });
        at += raw.length + 1;
      }
    }
    const blank = (c: string): boolean => c === '' || c === '\r';
    let chompStart = lines.length;
    for (let i = lines.length - 1; i >= 0; i--) {
      if (blank((lines[i] as { content: string }).content)) chompStart = i;
      else break;
    }
    if (chompStart === 0) return chomp === 2 && lines.length > 0 ? '\n'.repeat(Math.max(1, lines.length - 1)) : '';
    let trim = parent + explicit;
    let contentStart = 0;
    for (let i = 0; i < chompStart; i++) {
      const l = lines[i] as { spaces: number; content: string; at: number };
      if (blank(l.content)) {
        if (explicit === 0 && l.spaces > trim) trim = l.spaces;
      } else {
        if (l.spaces < trim) this.fail('Block scalars with more-indented leading empty lines must use an explicit indentation indicator', l.at);
        if (explicit === 0) trim = l.spaces;
        contentStart = i;
        break;
      }
    }
    for (let i = lines.length - 1; i >= chompStart; i--) {
      if ((lines[i] as { spaces: number }).spaces > trim) {
        chompStart = i + 1;
        break;
      }
    }
    const extra = (spaces: number): string => (spaces > trim ? ' '.repeat(spaces - trim) : '');
    let value = '';
    for (let i = 0; i < contentStart; i++) value += extra((lines[i] as { spaces: number }).spaces) + '\n';
    let sep = '';
    let prevMoreIndented = false;
    for (let i = contentStart; i < chompStart; i++) {
      const l = lines[i] as { spaces: number; content: string; at: number };
      const c = l.content.endsWith('\r') ? l.content.slice(0, -1) : l.content;
      if (c !== '' && l.spaces < trim) this.fail('Block scalar lines must not be less indented than their first line', l.at);
      if (literal) {
        value += sep + extra(l.spaces) + c;
        sep = '\n';
      } else if (l.spaces > trim || c.charCodeAt(0) === TAB) {
        if (sep === ' ') sep = '\n';
        else if (!prevMoreIndented && sep === '\n') sep = '\n\n';
        value += sep + extra(l.spaces) + c;
        sep = '\n';
        prevMoreIndented = true;
      } else if (c === '') {
        if (sep === '\n') value += '\n';
        else sep = '\n';
      } else {
        value += sep + c;
        sep = ' ';
        prevMoreIndented = false;
      }
    }
    if (chomp === 2) {
      for (let i = chompStart; i < lines.length; i++) value += '\n' + extra((lines[i] as { spaces: number }).spaces);
      if (value.charCodeAt(value.length - 1) !== NEWLINE) value += '\n';
    } else if (chomp === 0) {
      value += '\n';
    }
    return value;
  }

  /** Where a literal block's content lines begin: the line after its header, and the indentation of its first non-blank line. */
  private blockSource(header: number): BlockScalarSource | undefined {
    const text = this.text;
    const nl = text.indexOf('\n', header);
    if (nl < 0) return undefined;
    let p = nl + 1;
    for (;;) {
      let q = p;
      while (text.charCodeAt(q) === SPACE) q++;
      if (text.charCodeAt(q) === NEWLINE) {
        p = q + 1;
        continue;
      }
      const first = this.position(nl + 1);
      return { firstLine: first.line, indent: q - p };
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Flow nodes

  /**
   * Skips blanks, comments and line breaks inside a flow collection; returns the offset of the next
   * token. Lines must be indented at least `minIndent` (a closing bracket of the outermost collection
   * one less), and no document marker may come first.
   */
  private flowSkip(q: number, minIndent: number): number {
    const text = this.text;
    this.crossedLine = false;
    for (;;) {
      const start = q;
      q = this.skipBlanks(q);
      if (q < this.contentEnd) {
        if (text.charCodeAt(q) !== HASH) return q;
        if (q === start && q > this.lineStart && !this.crossedLineAt(q)) this.fail('Comments must be separated from other tokens by white space characters', q);
      }
      // End of the line (or a comment): on to the next line.
      if (this.lineEnd >= this.len) this.fail('Missing closing bracket of a flow collection', this.len);
      this.setLine(this.lineEnd + 1, this.lineNo + 1);
      this.crossedLine = true;
      if (this.isMarkerAt(this.lineStart)) this.fail('Flow collection is not closed before the document marker', this.lineStart);
      let sp = this.lineStart;
      while (text.charCodeAt(sp) === SPACE) sp++;
      const indent = sp - this.lineStart;
      const r = this.skipBlanks(sp);
      if (r >= this.contentEnd || text.charCodeAt(r) === HASH) {
        q = r;
        if (r < this.contentEnd) continue;
        continue;
      }
      if (indent < minIndent) {
        const c = text.charCodeAt(sp);
        const closing = indent === minIndent - 1 && this.flowDepth === 1 && (c === RBRACKET || c === RBRACE);
        if (!closing) this.fail('Flow sequence in block collection must be sufficiently indented and end with a ]', sp);
      }
      q = r;
    }
  }

  /** Whether `q` is the first non-blank offset of its line (so a "#" there starts a comment). */
  private crossedLineAt(q: number): boolean {
    let i = q - 1;
    while (i >= this.lineStart && isBlank(this.text.charCodeAt(i))) i--;
    return i < this.lineStart;
  }

  /** A flow collection at `p`; lines inside it must be indented at least `minIndent`. Leaves the cursor after it. */
  private flowCollection(p: number, minIndent: number, props: Props): unknown {
    const seq = this.text.charCodeAt(p) === LBRACKET;
    const anchored = props.anchor !== undefined ? this.beginAnchor(props.anchor) : undefined;
    this.checkCollectionTag(props, seq ? 'seq' : 'map');
    this.enterCollection(p);
    this.flowDepth++;
    const line = this.lineNo;
    const col = p - this.lineStart + 1;
    const value = seq ? this.flowSeq(p, minIndent) : this.flowMap(p, minIndent);
    this.flowDepth--;
    this.level--;
    this.wasEmpty = false;
    this.nodeLine = line;
    this.nodeCol = col;
    this.nodeKind = COLLECTION;
    if (anchored) this.endAnchor(anchored, value);
    return value;
  }

  private flowSeq(p: number, minIndent: number): unknown[] {
    const text = this.text;
    const arr: unknown[] = [];
    const sources = this.sources;
    const node = sources.node(arr, this.lineNo, p - this.lineStart + 1);
    const path = this.path;
    let q = this.flowSkip(p + 1, minIndent);
    for (;;) {
      const c = text.charCodeAt(q);
      if (c === RBRACKET) break;
      if (c === COMMA) this.fail('Unexpected , in flow sequence', q);
      if (c === RBRACE) this.fail('Unexpected } in flow sequence', q);
      const i = arr.length;
      const entry = sources.entryKeys.length;
      sources.entry(node, i, this.lineNo, q - this.lineStart + 1);
      path.push(i);
      const value = this.flowSeqEntry(q, minIndent, i === 0 ? p + 1 : -1);
      path.pop();
      sources.entryInfo[3 * entry + 1] = this.nodeLine;
      sources.entryInfo[3 * entry + 2] = this.nodeCol;
      arr.push(value);
      q = this.flowSkip(this.pos, minIndent);
      const d = text.charCodeAt(q);
      if (d === COMMA) {
        q = this.flowSkip(q + 1, minIndent);
        continue;
      }
      if (d === RBRACKET) break;
      this.fail(d === RBRACE ? 'Unexpected } in flow sequence' : 'Missing , between flow sequence items', q);
    }
    this.pos = q + 1;
    return sources.exactList(node, arr);
  }

  /** One entry of a flow sequence: a node, or a single pair ("k: v", "? k : v", ": v") that becomes a one-key mapping. */
  private flowSeqEntry(q: number, minIndent: number, afterOpen: number): unknown {
    const text = this.text;
    const c = text.charCodeAt(q);
    const next = text.charCodeAt(q + 1);
    if (c === QUESTION && (endsIndicator(next) || q + 1 >= this.contentEnd)) {
      const keyStart = this.flowSkip(q + 1, minIndent);
      return this.flowPair(keyStart, minIndent, true, q);
    }
    if (c === COLON && (endsIndicator(next) || q + 1 >= this.contentEnd)) {
      return this.flowPair(q, minIndent, false, afterOpen >= 0 ? afterOpen : q);
    }
    // A node; a ":" after it on the same line makes it the key of a pair.
    const s = this.sources;
    const markNodes = s.nodes.length;
    const markEntries = s.entryKeys.length;
    const markSpoils = this.spoils.length;
    const markAliases = this.aliasCount;
    const markAnchors = this.anchorList.length;
    const value = this.flowNode(q, minIndent);
    const kind = this.nodeKind;
    const nodeLine = this.nodeLine;
    const nodeCol = this.nodeCol;
    const end = this.pos;
    const r = this.flowSkip(end, minIndent);
    const crossed = this.crossedLine;
    const d = text.charCodeAt(r);
    const jsonLike = kind === COLLECTION || this.endedQuoted;
    if (d === COLON && (jsonLike ? true : endsIndicator(text.charCodeAt(r + 1)) || r + 1 >= this.contentEnd)) {
      if (crossed) this.fail('Implicit keys of flow sequence pairs need to be on a single line', q);
      if (kind === COLLECTION || kind === ALIAS) this.rollback(markNodes, markEntries, markSpoils, markAliases, markAnchors);
      this.nodeLine = nodeLine;
      this.nodeCol = nodeCol;
      this.nodeKind = kind;
      return this.pairMap(value, kind, nodeLine, nodeCol, r, minIndent, true);
    }
    // Not a key: reading goes on at the next token.
    this.pos = r;
    this.nodeLine = nodeLine;
    this.nodeCol = nodeCol;
    this.nodeKind = kind;
    return value;
  }

  /** Set by quoted(): the last node read in a flow context was a quoted scalar (a ":" may follow it directly). */
  private endedQuoted = false;

  /** "? key : value" or ": value" inside a flow sequence, at `q` (the key, or the ":"). */
  private flowPair(q: number, minIndent: number, explicit: boolean, indicatorAt: number): unknown {
    const text = this.text;
    let key: unknown = null;
    let kind = SCALAR;
    let keyLine: number;
    let keyCol: number;
    const c = text.charCodeAt(q);
    const isEmptyKey = !explicit || c === COMMA || c === RBRACKET || c === RBRACE || (c === COLON && (isBlank(text.charCodeAt(q + 1)) || isFlowIndicator(text.charCodeAt(q + 1)) || q + 1 >= this.contentEnd));
    if (isEmptyKey) {
      // An empty key: right after the opening bracket when first, else at its indicator.
      this.setNodeBack(explicit ? q : indicatorAt, SCALAR);
      keyLine = this.nodeLine;
      keyCol = this.nodeCol;
      this.pos = q;
    } else {
      key = this.muteWhile(() => this.flowNode(q, minIndent));
      kind = this.nodeKind;
      keyLine = this.nodeLine;
      keyCol = this.nodeCol;
    }
    const r = this.flowSkip(this.pos, minIndent);
    if (text.charCodeAt(r) === COLON) {
      return this.pairMap(key, kind, keyLine, keyCol, r, minIndent, true);
    }
    this.pos = r;
    return this.pairMap(key, kind, keyLine, keyCol, -1, minIndent, false);
  }

  /** A one-key mapping for a pair in a flow sequence; its value follows the ":" at `colon` (none when -1). */
  private pairMap(key: unknown, kind: number, keyLine: number, keyCol: number, colon: number, minIndent: number, hasValue: boolean): Record<string, unknown> {
    this.enterCollection(colon >= 0 ? colon : this.pos);
    const obj = nullRecord();
    const sources = this.sources;
    const node = sources.node(obj, keyLine, keyCol);
    const name = this.entryName(key, kind, keyLine, keyCol);
    let value: unknown = null;
    if (name !== undefined) {
      sources.entry(node, name, keyLine, keyCol);
      if (hasValue) {
        this.path.push(name);
        value = this.flowValue(colon + 1, minIndent);
        this.path.pop();
      }
      obj[name] = value;
    } else if (hasValue) {
      this.muteWhile(() => this.flowValue(colon + 1, minIndent));
    }
    this.level--;
    this.nodeLine = keyLine;
    this.nodeCol = keyCol;
    this.nodeKind = COLLECTION;
    return obj;
  }

  /** The value after a ":" in a flow collection: a node, or empty before "," "]" "}". */
  private flowValue(q: number, minIndent: number): unknown {
    const r = this.flowSkip(q, minIndent);
    const c = this.text.charCodeAt(r);
    if (c === COMMA || c === RBRACKET || c === RBRACE) {
      this.pos = r;
      this.setNode(r, SCALAR);
      return null;
    }
    return this.flowNode(r, minIndent);
  }

  private flowMap(p: number, minIndent: number): Record<string, unknown> {
    const text = this.text;
    const obj = nullRecord();
    const sources = this.sources;
    const node = sources.node(obj, this.lineNo, p - this.lineStart + 1);
    let values: unknown[] | undefined;
    let q = this.flowSkip(p + 1, minIndent);
    for (let first = true; ; first = false) {
      const c = text.charCodeAt(q);
      if (c === RBRACE) break;
      if (c === COMMA) this.fail('Unexpected , in flow map', q);
      if (c === RBRACKET) this.fail('Unexpected ] in flow map', q);
      const next = text.charCodeAt(q + 1);
      const indicatorNext = isBlank(next) || isFlowIndicator(next) || q + 1 >= this.contentEnd;
      let key: unknown = null;
      let kind = SCALAR;
      let keyLine: number;
      let keyCol: number;
      let keyAt = q;
      if (c === COLON && indicatorNext) {
        // An empty key: right after the opening brace when first, else at the ":".
        this.setNodeBack(first ? p + 1 : q, SCALAR);
        keyLine = this.nodeLine;
        keyCol = this.nodeCol;
        this.pos = q;
      } else {
        let k = q;
        if (c === QUESTION && indicatorNext) k = this.flowSkip(q + 1, minIndent);
        const kc = text.charCodeAt(k);
        this.endedQuoted = false;
        if (k !== q && (kc === COMMA || kc === RBRACE || kc === RBRACKET || (kc === COLON && (isBlank(text.charCodeAt(k + 1)) || isFlowIndicator(text.charCodeAt(k + 1)) || k + 1 >= this.contentEnd)))) {
          this.setNode(k, SCALAR);
          this.pos = k;
        } else if (kc === LBRACKET || kc === LBRACE || kc === STAR || kc === AMP || kc === BANG) {
          // Keys are never walked: what a collection or alias key holds is neither kept nor reported.
          key = this.muteWhile(() => this.flowNode(k, minIndent));
        } else {
          key = this.flowNode(k, minIndent);
        }
        keyAt = k;
        kind = this.nodeKind;
        keyLine = this.nodeLine;
        keyCol = this.nodeCol;
      }
      const jsonLike = kind === COLLECTION || (keyAt !== q || c !== COLON ? this.endedQuoted : false);
      const r = this.flowSkip(this.pos, minIndent);
      const d = text.charCodeAt(r);
      const hasValue = d === COLON && (jsonLike || isBlank(text.charCodeAt(r + 1)) || isFlowIndicator(text.charCodeAt(r + 1)) || r + 1 >= this.contentEnd);
      const name = this.entryName(key, kind, keyLine, keyCol);
      if (kind === SCALAR) values = this.checkDuplicate(obj, values, key, keyAt, name !== undefined);
      let value: unknown = null;
      if (name !== undefined) {
        sources.entry(node, name, keyLine, keyCol);
        if (hasValue) {
          this.path.push(name);
          value = this.flowValue(r + 1, minIndent);
          this.path.pop();
        } else {
          this.pos = r;
        }
        obj[name] = value;
      } else if (hasValue) {
        this.muteWhile(() => this.flowValue(r + 1, minIndent));
      } else {
        this.pos = r;
      }
      q = this.flowSkip(this.pos, minIndent);
      const e = text.charCodeAt(q);
      if (e === COMMA) {
        q = this.flowSkip(q + 1, minIndent);
        continue;
      }
      if (e === RBRACE) break;
      this.fail(e === RBRACKET ? 'Unexpected ] in flow map' : 'Missing , between flow map items', q);
    }
    this.pos = q + 1;
    return obj;
  }

  /** The name an entry is stored under, or undefined when its key is lost (reported as a spoil). */
  private entryName(key: unknown, kind: number, keyLine: number, keyCol: number): string | undefined {
    if (typeof key === 'string' && (kind === SCALAR || kind === LITERAL) && key !== '<<' && !FORBIDDEN_KEYS.has(key)) return key;
    const keyPos = { line: keyLine, col: keyCol };
    if ((kind !== SCALAR && kind !== LITERAL) || key === null || typeof key === 'object') {
      this.spoil('YAMLSyntax', 'mapping keys must be plain strings or numbers', keyPos, '?');
      return undefined;
    }
    const k = String(key);
    if (FORBIDDEN_KEYS.has(k)) {
      this.spoil('ForbiddenKey', `key "${k}" is not allowed anywhere in configuration`, keyPos, k);
      return undefined;
    }
    if (k === '<<') {
      this.spoil('YAMLMergeKey', 'merge keys ("<<") are not supported; write the fields out', keyPos, k);
      return undefined;
    }
    return k;
  }

  /** A node inside a flow collection at `q`: properties, then a collection, quoted or plain scalar, or alias (or nothing). */
  private flowNode(q: number, minIndent: number): unknown {
    const text = this.text;
    let props = NO_PROPS;
    let c = text.charCodeAt(q);
    this.endedQuoted = false;
    if (c === AMP || c === BANG) {
      props = this.readProps(q, NO_PROPS, true);
      q = this.flowSkip(props.end, minIndent);
      c = text.charCodeAt(q);
    }
    if (c === LBRACKET || c === LBRACE) return this.flowCollection(q, minIndent, props);
    if (c === DQUOTE || c === SQUOTE) {
      const line = this.lineNo;
      const lineStart = this.lineStart;
      const value = this.quoted(q, minIndent, props);
      this.nodeLine = line;
      this.nodeCol = q - lineStart + 1;
      this.nodeKind = SCALAR;
      this.endedQuoted = true;
      return value;
    }
    if (c === STAR) {
      if (props !== NO_PROPS) this.fail('An alias node must not specify any properties', q);
      return this.alias(q);
    }
    if (c === COMMA || c === RBRACKET || c === RBRACE || (c === COLON && (isBlank(text.charCodeAt(q + 1)) || isFlowIndicator(text.charCodeAt(q + 1)) || q + 1 >= this.contentEnd))) {
      this.pos = q;
      if (props === NO_PROPS) this.fail(`Unexpected ${String.fromCharCode(c)} in flow collection`, q);
      return this.empty(props, q);
    }
    return this.plainInFlow(q, minIndent, props);
  }

  /** A plain scalar inside a flow collection; it may run over lines. Leaves the cursor after its last character. */
  private plainInFlow(p: number, minIndent: number, props: Props): unknown {
    const text = this.text;
    this.checkPlainStart(p, true);
    const line = this.lineNo;
    const col = p - this.lineStart + 1;
    let folded: string | undefined;
    let q = p;
    let segStart = p;
    for (;;) {
      // One line's part: up to a flow indicator, ": ", ":" before an indicator, or " #".
      const end = this.contentEnd;
      let last = segStart;
      let stop = false;
      for (q = segStart; q < end; q++) {
        const ch = text.charCodeAt(q);
        if (ch === SPACE || ch === TAB) continue;
        if (isFlowIndicator(ch)) {
          stop = true;
          break;
        }
        if (ch === HASH && q > segStart && isBlank(text.charCodeAt(q - 1))) {
          stop = true;
          break;
        }
        if (ch === COLON) {
          const after = text.charCodeAt(q + 1);
          if (q + 1 >= end || isBlank(after) || isFlowIndicator(after)) {
            stop = true;
            break;
          }
        }
        last = q + 1;
      }
      if (folded !== undefined) folded += text.slice(segStart, last);
      this.pos = last;
      if (stop) break;
      // At the end of the line: does the next non-blank line continue the scalar?
      let ls = this.lineEnd + 1;
      let lineNo = this.lineNo + 1;
      let blank = 0;
      let cont = -1;
      while (ls < this.len) {
        if (this.isMarkerAt(ls)) break;
        let nl = text.indexOf('\n', ls);
        if (nl < 0) nl = this.len;
        const ce = nl > ls && text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
        let sp = ls;
        while (text.charCodeAt(sp) === SPACE) sp++;
        const indent = sp - ls;
        const r = this.skipBlanks(sp);
        if (r >= ce) {
          blank++;
          ls = nl + 1;
          lineNo++;
          continue;
        }
        if (indent < minIndent) break;
        const d = text.charCodeAt(r);
        if (d === HASH || isFlowIndicator(d)) break;
        if (d === COLON && (r + 1 >= ce || isBlank(text.charCodeAt(r + 1)) || isFlowIndicator(text.charCodeAt(r + 1)))) break;
        cont = r;
        break;
      }
      if (cont < 0) break;
      folded ??= text.slice(p, last);
      this.setLine(ls, lineNo);
      folded += blank === 0 ? ' ' : '\n'.repeat(blank);
      segStart = cont;
    }
    let value: unknown;
    if (props.tag !== undefined) value = this.tagged(folded ?? text.slice(p, this.pos), props);
    else value = folded === undefined ? this.plainOf(p, this.pos) : resolvePlain(folded);
    this.nodeLine = line;
    this.nodeCol = col;
    this.nodeKind = SCALAR;
    if (props.anchor !== undefined) this.defineScalar(props.anchor, value);
    return value;
  }

  // ---------------------------------------------------------------------------------------------
  // Scalars, properties, aliases

  /**
   * A quoted scalar at `p`, possibly over several lines (each indented at least `minIndent`, none a
   * document marker). Leaves the cursor after the closing quote, on the line that holds it.
   */
  private quoted(p: number, minIndent: number, props: Props): unknown {
    const text = this.text;
    const single = text.charCodeAt(p) === SQUOTE;
    const close = this.quoteEndOnLine(p);
    let value: string;
    if (close >= 0) {
      // On one line: the text as it stands unless it holds escapes ("\\" or "''").
      if (!this.quoteEscaped) value = this.quotedOf(p + 1, close);
      else value = single ? text.slice(p + 1, close).replaceAll("''", "'") : this.doubleQuotedValue(p + 1, close);
      this.pos = close + 1;
    } else {
      // Over several lines: find the closing quote, line by line.
      let ls = this.lineStart;
      let lineNo = this.lineNo;
      let i = p + 1;
      let end = -1;
      for (;;) {
        let nl = text.indexOf('\n', i);
        if (nl < 0) nl = this.len;
        // The closing quote on this line?
        let found = -1;
        if (single) {
          for (let j = i; j < nl; j++) {
            if (text.charCodeAt(j) === SQUOTE) {
              if (text.charCodeAt(j + 1) === SQUOTE) {
                j++;
                continue;
              }
              found = j;
              break;
            }
          }
        } else {
          for (let j = i; j < nl; j++) {
            const c = text.charCodeAt(j);
            if (c === BACKSLASH) j++;
            else if (c === DQUOTE) {
              found = j;
              break;
            }
          }
        }
        if (found >= 0) {
          end = found;
          break;
        }
        if (nl >= this.len) break;
        // The next line must be blank or indented enough, and not a document marker.
        const next = nl + 1;
        if (this.isMarkerAt(next)) break;
        let sp = next;
        while (text.charCodeAt(sp) === SPACE) sp++;
        const c = text.charCodeAt(sp);
        const blank = c === NEWLINE || (c === CR && text.charCodeAt(sp + 1) === NEWLINE) || sp >= this.len;
        if (!blank && sp - next < minIndent) break;
        ls = next;
        lineNo++;
        i = next;
        // An escaped line break: the backslash is the last character of the line (handled by the value).
      }
      if (end < 0) {
        // With no closing quote anywhere after it, the scalar takes the rest of the text (documents after it too).
        const message = single ? "Missing closing 'quote" : 'Missing closing "quote';
        this.fail(message, this.quoteAnywhere(p) ? p : this.len);
      }
      const inner = text.slice(p + 1, end);
      value = single ? unfold(inner).replaceAll("''", "'") : this.doubleQuotedValue(p + 1, end);
      this.setLine(ls, lineNo);
      this.pos = end + 1;
    }
    const result = props.tag === undefined ? value : this.tagged(value, props);
    if (props.anchor !== undefined) this.defineScalar(props.anchor, result);
    this.nodeKind = SCALAR;
    return result;
  }

  /** A quoted scalar closed on its own line, without moving the cursor. */
  private quotedOnLine(p: number): string {
    const text = this.text;
    const close = this.closingOnLine(p);
    if (text.charCodeAt(p) === SQUOTE) return text.slice(p + 1, close).replaceAll("''", "'");
    return this.doubleQuotedValue(p + 1, close);
  }

  /** Whether a quote that could close the scalar at `p` comes anywhere after it. */
  private quoteAnywhere(p: number): boolean {
    const text = this.text;
    const quote = text.charCodeAt(p);
    for (let i = text.indexOf(text[p] as string, p + 1); i >= 0; i = text.indexOf(text[p] as string, i + 1)) {
      if (quote === SQUOTE) {
        // "''" is an escaped quote, never a closing one.
        if (text.charCodeAt(i + 1) !== SQUOTE) return true;
        i++;
        continue;
      }
      let backslashes = 0;
      while (text.charCodeAt(i - 1 - backslashes) === BACKSLASH) backslashes++;
      if (backslashes % 2 === 0) return true;
    }
    return false;
  }

  /** The value of a double-quoted scalar whose text is text[from, to): escapes decoded, line breaks folded. */
  private doubleQuotedValue(from: number, to: number): string {
    const text = this.text;
    let res = '';
    for (let i = from; i < to; i++) {
      const ch = text.charCodeAt(i);
      if (ch === CR && text.charCodeAt(i + 1) === NEWLINE) continue;
      if (ch === NEWLINE) {
        // A line break folds to a space; n+1 breaks (with blank lines between) to n line feeds.
        let breaks = 0;
        let j = i + 1;
        for (;;) {
          const c = text.charCodeAt(j);
          if (j >= to) break;
          if (c === SPACE || c === TAB) j++;
          else if (c === NEWLINE) {
            breaks++;
            j++;
          } else if (c === CR && text.charCodeAt(j + 1) === NEWLINE) j++;
          else break;
        }
        res += breaks === 0 ? ' ' : '\n'.repeat(breaks);
        i = j - 1;
      } else if (ch === BACKSLASH) {
        const e = text[i + 1] ?? '';
        i++;
        const simple = ESCAPES[e];
        if (simple !== undefined) res += simple;
        else if (e === '\n' || (e === '\r' && text.charCodeAt(i + 1) === NEWLINE)) {
          // An escaped line break joins the lines; the next line's leading blanks go too.
          if (e === '\r') i++;
          while (i + 1 < to && isBlank(text.charCodeAt(i + 1))) i++;
        } else if (e === 'x' || e === 'u' || e === 'U') {
          const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
          const hex = text.slice(i + 1, i + 1 + n);
          let ok = hex.length === n && i + n < to;
          for (let k = 0; ok && k < n; k++) if (!isHexDigit(hex.charCodeAt(k))) ok = false;
          const code = ok ? parseInt(hex, 16) : NaN;
          if (!ok || code > 0x10ffff) this.fail(`Invalid escape sequence \\${e}${hex}`, i - 1);
          res += String.fromCodePoint(code);
          i += n;
        } else {
          this.fail(`Invalid escape sequence \\${e}`, i - 1);
        }
      } else if (ch === SPACE || ch === TAB) {
        // Blanks before a line break are dropped.
        let j = i;
        while (j + 1 < to && isBlank(text.charCodeAt(j + 1))) j++;
        const after = text.charCodeAt(j + 1);
        if (!(j + 1 < to && (after === NEWLINE || (after === CR && text.charCodeAt(j + 2) === NEWLINE)))) res += text.slice(i, j + 1);
        i = j;
      } else {
        res += text[i];
      }
    }
    return res;
  }

  /** Properties (anchor, tag) at `p`, added to `before`; each must be followed by a blank (or, in flow, "," "]" "}"). */
  private readProps(p: number, before: Props, inFlow: boolean): Props {
    const text = this.text;
    let anchor = before.anchor;
    let tag = before.tag;
    let tagAt = before.tagAt;
    let q = p;
    this.propsStart = p;
    for (;;) {
      const c = text.charCodeAt(q);
      let end: number;
      if (c === AMP) {
        end = this.anchorEnd(q + 1);
        if (anchor !== undefined) this.fail('A node can have at most one anchor', q);
        anchor = text.slice(q + 1, end);
        if (anchor === '') this.fail('Anchor cannot be an empty string', q);
        if (anchor.endsWith(':')) this.fail('Anchor ending in : is ambiguous', end - 1);
      } else if (c === BANG) {
        end = this.tagEnd(q);
        if (tag !== undefined) this.fail('A node can have at most one tag', q);
        tag = this.tagName(text.slice(q, end), q);
        tagAt = q;
      } else {
        break;
      }
      const after = text.charCodeAt(end);
      if (end < this.contentEnd && !isBlank(after) && !(inFlow && (after === COMMA || after === RBRACKET || after === RBRACE))) {
        this.fail('Tags and anchors must be separated from the next token by white space', end);
      }
      q = this.skipBlanks(end);
    }
    return { anchor, tag, tagAt, end: q };
  }

  /** The offset after an anchor or alias name starting at `p`. */
  private anchorEnd(p: number): number {
    const text = this.text;
    const end = this.contentEnd;
    while (p < end) {
      const c = text.charCodeAt(p);
      if (isBlank(c) || isFlowIndicator(c)) break;
      p++;
    }
    return p;
  }

  /** The offset after the tag starting at `p` ("!", "!!x", "!x!y", "!<verbatim>"). */
  private tagEnd(p: number): number {
    const text = this.text;
    const end = this.contentEnd;
    if (text.charCodeAt(p + 1) === 0x3c) {
      let i = p + 2;
      while (i < end && !isBlank(text.charCodeAt(i)) && text.charCodeAt(i) !== GT) i++;
      return i < end && text.charCodeAt(i) === GT ? i + 1 : i;
    }
    let i = p + 1;
    while (i < end) {
      const c = text.charCodeAt(i);
      if (isTagChar(c)) i++;
      else if (c === PERCENT && isHexDigit(text.charCodeAt(i + 1)) && isHexDigit(text.charCodeAt(i + 2))) i += 3;
      else break;
    }
    return i;
  }

  /** The full name of a tag as written ("!!str" → "tag:yaml.org,2002:str"); a tag that cannot be resolved is a problem. */
  private tagName(source: string, at: number): string {
    if (source === '!') return '!';
    const unresolved = (message: string): never => this.fail(`unsupported tag: ${message}`, at, 'YAMLTag');
    if (source.charCodeAt(1) === 0x3c) {
      const verbatim = source.slice(2, -1);
      if (verbatim === '!' || verbatim === '!!') unresolved(`Verbatim tags aren't resolved, so ${source} is invalid.`);
      if (!source.endsWith('>')) unresolved('Verbatim tags must end with a >');
      return verbatim;
    }
    const split = source.lastIndexOf('!');
    const handle = source.slice(0, split + 1);
    const suffix = source.slice(split + 1);
    if (!suffix) unresolved(`The ${source} tag has no suffix`);
    const prefix = this.tags?.get(handle) ?? (handle === '!!' ? CORE : undefined);
    if (prefix !== undefined) {
      try {
        return prefix + decodeURIComponent(suffix);
      } catch (err) {
        return unresolved(String(err));
      }
    }
    if (handle === '!') return source;
    return unresolved(`Could not resolve tag: ${source}`);
  }

  /** A scalar's value under an explicit tag: the core schema's tags resolve, every other tag is a problem. */
  private tagged(s: string, props: Props): unknown {
    const tag = props.tag;
    const unresolved = (): never => this.fail(`unsupported tag: Unresolved tag: ${tag ?? ''}`, props.tagAt, 'YAMLTag');
    switch (tag) {
      case '!':
      case `${CORE}str`:
        return s;
      case `${CORE}null`:
        return nullValue(s) ? null : unresolved();
      case `${CORE}bool`: {
        const b = boolValue(s);
        return b === undefined ? unresolved() : b;
      }
      case `${CORE}int`: {
        const i = intValue(s);
        return i === undefined ? unresolved() : i;
      }
      case `${CORE}float`: {
        const f = floatValue(s);
        return f === undefined ? unresolved() : f;
      }
      default:
        return unresolved();
    }
  }

  /** A collection may carry no tag, "!", or the core tag of its own kind. */
  private checkCollectionTag(props: Props, kind: 'map' | 'seq'): void {
    const tag = props.tag;
    if (tag === undefined || tag === '!' || tag === `${CORE}${kind}`) return;
    this.fail(`unsupported tag: Unresolved tag: ${tag}`, props.tagAt, 'YAMLTag');
  }

  /** An alias at `p`: a copy of the node its anchor names, positions included; counted and bounded. */
  private alias(p: number): unknown {
    const end = this.anchorEnd(p + 1);
    const name = this.text.slice(p + 1, end);
    this.setNode(p, ALIAS);
    this.pos = end;
    if (name === '') this.fail('Alias cannot be an empty string', p);
    if (name.endsWith(':')) this.fail('Alias ending in : is ambiguous', end - 1);
    const anchor = this.anchors.get(name);
    if (anchor === undefined || !anchor.done) {
      if (this.muted > 0) return null;
      if (anchor === undefined) this.fail(`unresolved alias *${name}`, p, 'YAMLAlias');
      this.fail(`alias *${name} refers to the node that contains it`, p, 'YAMLAlias');
    }
    // Each dereference is counted with those inside its node, so nested aliases (a "billion laughs") stop early.
    this.aliasCount += 1 + anchor.weight;
    if (this.aliasCount > LOAD_LIMITS.maxAliasCount) this.fail(`more than ${LOAD_LIMITS.maxAliasCount} alias references in one document`, p, 'YAMLAlias');
    if (this.level + anchor.height > LOAD_LIMITS.maxDepth) this.fail(`nesting deeper than ${LOAD_LIMITS.maxDepth} levels`, p, 'NestingTooDeep');
    if (this.level + anchor.height > this.maxLevel) this.maxLevel = this.level + anchor.height;
    const value = anchor.value;
    if (typeof value !== 'object' || value === null) return value;
    const copies: object[] = [];
    const copy = deepCopy(value, copies);
    if (anchor.records) this.sources.replay(anchor.records, anchor.n0, anchor.n1, anchor.e0, anchor.e1, copies);
    for (const s of anchor.spoils) this.spoils.push({ ...s, path: [...this.path, ...s.path] });
    this.setNode(p, ALIAS);
    return copy;
  }

  private defineScalar(name: string, value: unknown): void {
    const anchor: Anchor = { value, done: true, height: 0, weight: 0, records: undefined, n0: 0, n1: 0, e0: 0, e1: 0, spoils: [] };
    this.anchors.set(name, anchor);
    this.anchorList.push(anchor);
  }

  private beginAnchor(name: string): AnchorStart {
    const sources = this.sources;
    const anchor: Anchor = { value: undefined, done: false, height: 0, weight: 0, records: sources, n0: sources.nodes.length, n1: 0, e0: sources.entryKeys.length, e1: 0, spoils: [] };
    this.anchors.set(name, anchor);
    this.anchorList.push(anchor);
    const start: AnchorStart = { anchor, aliases: this.aliasCount, spoils: this.spoils.length, path: this.path.length, maxLevel: this.maxLevel, level: this.level };
    this.maxLevel = this.level;
    return start;
  }

  private endAnchor(start: AnchorStart, value: unknown): void {
    const a = start.anchor;
    const sources = a.records as RecordedSources;
    a.value = value;
    a.n1 = sources.nodes.length;
    a.e1 = sources.entryKeys.length;
    a.weight = this.aliasCount - start.aliases;
    a.height = this.maxLevel - start.level;
    a.spoils = this.spoils.slice(start.spoils).map((s) => ({ ...s, path: s.path.slice(start.path) }));
    a.done = true;
    if (start.maxLevel > this.maxLevel) this.maxLevel = start.maxLevel;
  }

  private enterCollection(p: number): void {
    if (++this.level > LOAD_LIMITS.maxDepth) this.fail(`nesting deeper than ${LOAD_LIMITS.maxDepth} levels`, p, 'NestingTooDeep');
    if (this.level > this.maxLevel) this.maxLevel = this.level;
  }

  /** Records a key lost to a problem; the decoder skips the object that holds it. */
  private spoil(code: ProblemCode, message: string, at: TextPosition, key: string): void {
    if (this.muted > 0) return;
    const p = this.mapPos ? this.mapPos(at) : at;
    this.spoils.push({ path: [...this.path], key, code, message, at: p });
  }

  /** Runs `read` with positions going to a scratch record and lost keys, aliases and positions inside it forgotten. */
  private muteWhile<T>(read: () => T): T {
    const sources = this.sources;
    const spoils = this.spoils.length;
    const aliases = this.aliasCount;
    this.sources = new RecordedSources(undefined);
    this.muted++;
    try {
      return read();
    } finally {
      this.muted--;
      this.sources = sources;
      this.spoils.length = spoils;
      this.aliasCount = aliases;
    }
  }

  /** Takes back the positions, lost keys and aliases recorded since the counts given; anchors defined since keep their own copy of their positions. */
  private rollback(nodes: number, entries: number, spoils: number, aliases: number, anchors: number): void {
    const s = this.sources;
    for (let i = anchors; i < this.anchorList.length; i++) {
      const a = this.anchorList[i] as Anchor;
      if (a.records === s && a.n0 >= nodes) {
        const own = new RecordedSources(undefined);
        own.entry(-1, 0, 0, 0);
        own.replay(s, a.n0, a.n1, a.e0, a.e1, s.nodes.slice(a.n0, a.n1));
        a.records = own;
        a.n0 = 0;
        a.n1 = own.nodes.length;
        a.e0 = 1;
        a.e1 = own.entryKeys.length;
      }
    }
    s.nodes.length = nodes;
    s.nodeInfo.length = 3 * nodes;
    s.entryKeys.length = entries;
    s.entryInfo.length = 3 * entries;
    s.dropBlocksFrom(nodes);
    this.spoils.length = spoils;
    this.aliasCount = aliases;
  }

  /**
   * The key written as text[p, end). Files repeat a few keys thousands of times: the same string
   * is handed out for each, so property stores and set lookups meet a string already hashed and
   * internalised, where a fresh slice would be hashed and looked up in the string table every time.
   */
  private keyOf(p: number, end: number): unknown {
    const cache = this.keys;
    const cached = cache.find(this.text, p, end);
    if (cached !== MISSING) {
      this.keySafe = true;
      return cached;
    }
    const raw = this.text.slice(p, end);
    const v = resolvePlain(raw);
    // Only keys stored as themselves are kept, so a key found here needs no further checks.
    this.keySafe = typeof v === 'string' && v !== '<<' && !FORBIDDEN_KEYS.has(v);
    if (this.keySafe) cache.put(raw, v);
    return v;
  }

  /** Set by keyOf: the key is a string stored under itself (not a prototype or merge key). */
  private keySafe = false;

  /** A plain scalar's value; repeated ones (hosts, services, header names) share one string. */
  private plainOf(p: number, end: number): unknown {
    const cache = this.plains;
    const cached = cache.find(this.text, p, end);
    if (cached !== MISSING) return cached;
    const raw = this.text.slice(p, end);
    const v = resolvePlain(raw);
    cache.put(raw, v);
    return v;
  }

  /** The text of a quoted scalar without escapes, shared as plainOf shares values. */
  private quotedOf(p: number, end: number): string {
    const cache = this.quotes;
    const cached = cache.find(this.text, p, end);
    if (cached !== MISSING) return cached as string;
    const raw = this.text.slice(p, end);
    cache.put(raw, raw);
    return raw;
  }
}

/**
 * Folds the lines of a single-quoted scalar's text: the first line keeps its leading blanks, the
 * last its trailing ones; a line break becomes a space, and each blank line a line feed.
 */
function unfold(s: string): string {
  const lines = s.split('\n');
  if (lines.length === 1) return s;
  const strip = (l: string): string => (l.endsWith('\r') ? l.slice(0, -1) : l);
  let res = strip(lines[0] as string).replace(/[ \t]+$/, '');
  let sep = ' ';
  for (let i = 1; i < lines.length - 1; i++) {
    const l = strip(lines[i] as string).replace(/^[ \t]+/, '').replace(/[ \t]+$/, '');
    if (l === '') {
      if (sep === '\n') res += sep;
      else sep = '\n';
    } else {
      res += sep + l;
      sep = ' ';
    }
  }
  return res + sep + (lines[lines.length - 1] as string).replace(/^[ \t]+/, '');
}

/** A copy of a mapping or list (collections copied, in depth-first order into `copies`), for an alias. */
function deepCopy(value: unknown, copies: object[]): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    copies.push(out);
    for (let i = 0; i < value.length; i++) out[i] = deepCopy(value[i], copies);
    return out;
  }
  const out = nullRecord();
  copies.push(out);
  for (const k of Object.keys(value)) out[k] = deepCopy((value as Record<string, unknown>)[k], copies);
  return out;
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
