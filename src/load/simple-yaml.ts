// Load stage, step 1, fast path: reads the plain subset of YAML most configuration is written in
// (block mappings and lists, one-line scalars and flow collections, literal blocks) in one pass.

import { Schema, isScalar, type ScalarTag } from 'yaml';
import { LOAD_LIMITS } from './limits.js';
import { nullRecord } from './null-record.js';
import type { BlockScalarSource, NodeSource, ParsedDocument, PositionMap, SourceMap, TextPosition } from './yaml-documents.js';

/** The core-schema tags the full parser tries, in its order, on every plain (unquoted) scalar. */
const PLAIN_TAGS = new Schema({ schema: 'core', merge: false, resolveKnownTags: false }).tags.filter(
  (t): t is ScalarTag & { test: RegExp } => t.default === true && 'test' in t && t.test instanceof RegExp,
);
const RESOLVE_OPTIONS = { intAsBigInt: false };

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype', '<<']);

/**
 * Characters the subset never accepts anywhere: tab and CR (indentation and line-ending rules
 * differ between parsers), other control characters, Unicode line separators, a BOM inside the text,
 * non-characters and surrogates (a lone one would be read differently).
 */
// eslint-disable-next-line no-control-regex
const OUTSIDE_SUBSET = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]/;

/** Keys longer than this go to the full parser, which limits implicit keys to 1024 characters. */
const MAX_KEY_SOURCE = 1000;
/** Deeper documents go to the full parser, which owns the nesting limit and its message. */
const MAX_DEPTH = LOAD_LIMITS.maxDepth - 4;
/** Files with this many documents go to the full parser, which owns the document limit. */
const MAX_DOCUMENTS = LOAD_LIMITS.maxDocumentsPerFile - 10;

const SPACE = 0x20;
const NEWLINE = 0x0a;
const HASH = 0x23;
const COLON = 0x3a;
const DASH = 0x2d;
const QUESTION = 0x3f;
const DQUOTE = 0x22;
const SQUOTE = 0x27;
const BACKSLASH = 0x5c;
const DOT = 0x2e;

const NOTHING_SPOILED: readonly (readonly (string | number)[])[] = Object.freeze([]);

/**
 * Whether text holds `s` at `p`. Written out rather than with startsWith: these run for every key
 * and value, and an optimised caller with startsWith inlined takes the compiler far longer to build
 * (on one core, time taken from the load itself).
 */
function sameText(s: string, text: string, p: number): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== text.charCodeAt(p + i)) return false;
  return true;
}

/** A line opening with "---" or "...". */
function isMarker(text: string, p: number): boolean {
  const c = text.charCodeAt(p);
  return (c === DASH || c === DOT) && text.charCodeAt(p + 1) === c && text.charCodeAt(p + 2) === c;
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
    if (len > TEXT_CACHE_MAX_LENGTH) {
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
 * The fast reader's caches of recently read texts. One set serves every file of a load (files of
 * one configuration repeat each other's keys and values, and small files would spend more on new
 * caches than they save); the cached strings are slices of texts the loaded values hold anyway.
 * Made before the first file, never on first use: code optimised for a reader whose cache was
 * still missing is thrown away when the next one is made.
 */
export class ReaderCaches {
  readonly keys = new TextCache();
  readonly plains = new TextCache();
  readonly quotes = new TextCache();
}

/** Thrown (one shared instance, no stack) when the text leaves the subset. */
const OUTSIDE = new Error('outside the simple YAML subset');

/**
 * Reads `text` if it lies inside the subset, handing each document to `onDocument` as soon as it is
 * read (so its positions can die young), exactly as the full parser (yaml-documents.ts) would give it,
 * positions included. False means "use the full parser": documents already handed over must then be
 * discarded. The subset is small on purpose — no anchors, aliases, tags, merge, prototype or duplicate
 * keys, multi-line scalars or flow collections, tabs, CR or odd characters, nothing malformed — so
 * every problem and its message still come from the full parser; property tests hold the two together.
 * Never throws on bad input.
 */
export function readSimpleDocuments(
  text: string,
  mapPos: PositionMap | undefined,
  onDocument: (doc: ParsedDocument) => void,
  caches: ReaderCaches = new ReaderCaches(),
): boolean {
  if (OUTSIDE_SUBSET.test(text)) return false;
  try {
    new SimpleYamlReader(text, mapPos, onDocument, caches).documents();
    return true;
  } catch (err) {
    if (err === OUTSIDE) return false;
    throw err;
  }
}

function outside(): never {
  throw OUTSIDE;
}

/** First characters that make a plain scalar impossible (or not plain) in the subset. */
function isIndicator(c: number): boolean {
  switch (c) {
    case 0x5b: // [
    case 0x5d: // ]
    case 0x7b: // {
    case 0x7d: // }
    case 0x2c: // ,
    case HASH:
    case 0x26: // &
    case 0x2a: // *
    case 0x21: // !
    case 0x7c: // |
    case 0x3e: // >
    case DQUOTE:
    case SQUOTE:
    case 0x25: // %
    case 0x40: // @
    case 0x60: // `
      return true;
    default:
      return false;
  }
}

function isFlowIndicator(c: number): boolean {
  return c === 0x5b || c === 0x5d || c === 0x7b || c === 0x7d || c === 0x2c;
}

/**
 * A character none of the core patterns above can match (they use only these), so one test spares
 * the eight for hosts, addresses and paths. The scalar tests would notice a pattern that widened.
 */
const NOT_TYPED = /[^-+.~0-9A-Za-z]/;

/** A plain scalar's value under the YAML 1.2 core schema, resolved by the full parser's own tags. */
function resolvePlain(s: string): unknown {
  const c = s.charCodeAt(0);
  // Every core pattern (null, bool, int, float) starts with a digit or one of "+-.~nNtTfF".
  const maybeTyped =
    (c >= 0x30 && c <= 0x39) || c === 0x2b || c === DASH || c === 0x2e || c === 0x7e || c === 0x6e || c === 0x4e || c === 0x74 || c === 0x54 || c === 0x66 || c === 0x46;
  if (!maybeTyped || NOT_TYPED.test(s)) return s;
  for (const tag of PLAIN_TAGS) {
    if (tag.test.test(s)) {
      const r = tag.resolve(s, outside, RESOLVE_OPTIONS) as unknown;
      const v = isScalar(r) ? r.value : r;
      return typeof v === 'bigint' ? Number(v) : v;
    }
  }
  return s;
}

class SimpleYamlReader {
  private readonly len: number;
  /** 1-based number of the current line. */
  private lineNo = 1;
  private lineStart = 0;
  /** Offset of the current line's "\n" (or of the end of the text). */
  private lineEnd = 0;
  /** Column (0-based) where the current node's content starts: the line's indentation, or deeper in `- key:`. */
  private indent = 0;
  /** Offset where the current content starts. */
  private at = 0;
  private eof = false;
  /** The current line is a document marker ("---" or "..."). */
  private marker = false;
  /** Positions of the document being read. */
  private sources = new RecordedSources(undefined);
  /** Recently read keys, plain scalars and quoted texts (see keyOf). */
  private readonly keys: TextCache;
  private readonly plains: TextCache;
  private readonly quotes: TextCache;
  /** Set by scanKey: the key, and the offset just after its ":". */
  private key = '';
  private afterColon = 0;
  /** Set by scanQuoted: the scalar's value. */
  private quoted = '';

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
  }

  documents(): void {
    let index = 0;
    let docOpen = false;
    let docHasContent = false;
    this.lineStart = 0;
    this.toContent();
    while (!this.eof) {
      if (this.marker) {
        // "..." and content after "---" are legal but rare: full parser.
        if (this.text.charCodeAt(this.at) !== DASH) outside();
        if (this.at + 3 !== this.lineEnd && this.text.charCodeAt(this.at + 3) !== SPACE) outside();
        this.checkLineRest(this.at + 3);
        if (docOpen && !docHasContent) index++;
        docOpen = true;
        docHasContent = false;
        this.nextLine();
        continue;
      }
      if (docHasContent) outside();
      if (index >= MAX_DOCUMENTS) outside();
      this.sources = new RecordedSources(this.mapPos);
      const start = this.pos(this.at);
      const value = this.rootNode();
      if (!this.eof && !this.marker) outside();
      this.onDocument({ index, value, start, spoiled: NOTHING_SPOILED, sources: this.sources });
      index++;
      docOpen = true;
      docHasContent = true;
    }
  }

  /** Where `offset` (on the current line) is, after the caller's position map. */
  private pos(offset: number): TextPosition {
    const p = { line: this.lineNo, col: offset - this.lineStart + 1 };
    return this.mapPos ? this.mapPos(p) : p;
  }

  /** Moves to the line after the current one, then on to its next content line. */
  private nextLine(): void {
    this.lineStart = this.lineEnd + 1;
    this.lineNo++;
    this.toContent();
  }

  /** From lineStart: skips blank and comment-only lines and sets up the first line with content. */
  private toContent(): void {
    const text = this.text;
    for (;;) {
      if (this.lineStart >= this.len) {
        this.eof = true;
        this.marker = false;
        return;
      }
      let nl = text.indexOf('\n', this.lineStart);
      if (nl < 0) nl = this.len;
      this.lineEnd = nl;
      let p = this.lineStart;
      while (text.charCodeAt(p) === SPACE) p++;
      if (p === nl || text.charCodeAt(p) === HASH) {
        this.lineStart = nl + 1;
        this.lineNo++;
        continue;
      }
      this.indent = p - this.lineStart;
      this.at = p;
      // Any line opening with "---" or "..." ends every block; documents() then checks it is a marker.
      this.marker = this.indent === 0 && isMarker(text, p);
      return;
    }
  }

  private isDashItem(p: number): boolean {
    return this.text.charCodeAt(p) === DASH && (p + 1 === this.lineEnd || this.text.charCodeAt(p + 1) === SPACE);
  }

  private skipSpaces(p: number): number {
    while (this.text.charCodeAt(p) === SPACE) p++;
    return p;
  }

  /** After a complete value on this line: only spaces, then the end of the line or a comment. */
  private checkLineRest(p: number): void {
    const q = this.skipSpaces(p);
    if (q === this.lineEnd) return;
    if (this.text.charCodeAt(q) === HASH && q > p) return;
    outside();
  }

  /** A line that ends a block: the end of the text, a document marker, or less indentation. */
  private endsBlock(indent: number): boolean {
    return this.eof || this.marker || this.indent < indent;
  }

  private rootNode(): unknown {
    if (this.isDashItem(this.at)) return this.blockSeq(1);
    if (this.scanKey(this.at)) return this.blockMap(1);
    const value = this.inlineValue(this.at);
    this.nextLine();
    return value;
  }

  /** A mapping or list that starts on a line of its own (a value or item written below its key or dash). */
  private blockNode(depth: number): unknown {
    if (this.isDashItem(this.at)) return this.blockSeq(depth);
    if (this.scanKey(this.at)) return this.blockMap(depth);
    // A scalar alone on the next line is legal YAML, but rare enough to leave to the full parser.
    return outside();
  }

  /** The block mapping whose first key is at `this.at`; its keys sit at column `this.indent`. */
  private blockMap(depth: number): Record<string, unknown> {
    if (depth > MAX_DEPTH) outside();
    const text = this.text;
    const n = this.indent;
    const obj = nullRecord();
    const sources = this.sources;
    const node = sources.node(obj, this.lineNo, this.at - this.lineStart + 1);
    for (;;) {
      if (!this.scanKey(this.at)) outside();
      const key = this.key;
      // scanKey has refused the forbidden keys; a repeated key leaves the subset too.
      if (key in obj) outside();
      sources.entry(node, key, this.lineNo, this.at - this.lineStart + 1);
      const p = this.skipSpaces(this.afterColon);
      let value: unknown;
      if (p === this.lineEnd || text.charCodeAt(p) === HASH) {
        this.nextLine();
        if (this.eof || this.marker || this.indent < n) value = null;
        else if (this.indent > n) value = this.blockNode(depth + 1);
        // A list may sit at its key's own indentation.
        else if (this.isDashItem(this.at)) value = this.blockSeq(depth + 1);
        else value = null;
      } else if (text.charCodeAt(p) === 0x7c) {
        value = this.literalBlock(p, n, key, node);
      } else {
        value = this.inlineValue(p);
        this.nextLine();
        // More indentation here would continue a plain scalar, or be an error: full parser.
        if (!this.endsBlock(n) && this.indent > n) outside();
      }
      obj[key] = value;
      if (this.endsBlock(n)) break;
      if (this.indent > n) outside();
    }
    return obj;
  }

  /** The block list whose first "-" is at `this.at`, at column `this.indent`. */
  private blockSeq(depth: number): unknown[] {
    if (depth > MAX_DEPTH) outside();
    const text = this.text;
    const n = this.indent;
    const arr: unknown[] = [];
    const sources = this.sources;
    const node = sources.node(arr, this.lineNo, this.at - this.lineStart + 1);
    for (;;) {
      const p = this.skipSpaces(this.at + 1);
      let value: unknown;
      if (p === this.lineEnd || text.charCodeAt(p) === HASH) {
        this.nextLine();
        // An empty item, or one whose content is not deeper than the dash: full parser.
        if (this.endsBlock(n + 1)) outside();
        sources.entry(node, arr.length, this.lineNo, this.at - this.lineStart + 1);
        value = this.blockNode(depth + 1);
      } else {
        sources.entry(node, arr.length, this.lineNo, p - this.lineStart + 1);
        if (this.isDashItem(p) || text.charCodeAt(p) === 0x7c) outside();
        if (this.scanKey(p)) {
          // "- key: value": a mapping whose keys line up with this first key.
          this.at = p;
          this.indent = p - this.lineStart;
          value = this.blockMap(depth + 1);
        } else {
          value = this.inlineValue(p);
          this.nextLine();
          if (!this.endsBlock(n) && this.indent > n) outside();
        }
      }
      arr.push(value);
      if (this.endsBlock(n)) break;
      if (this.indent > n) outside();
      // Same indentation without a dash: the list ends and its parent mapping goes on.
      if (!this.isDashItem(this.at)) break;
    }
    return sources.exactList(node, arr);
  }

  /**
   * Whether the content at `p` is an implicit key ("name:", "'a b':"); sets `key` and `afterColon`.
   * Keys the subset does not take (flow characters, complex or very long keys) leave it.
   */
  private scanKey(p: number): boolean {
    const text = this.text;
    const c = text.charCodeAt(p);
    if (c === DQUOTE || c === SQUOTE) {
      const end = this.scanQuoted(p);
      const q = this.skipSpaces(end);
      if (text.charCodeAt(q) !== COLON || !(q + 1 === this.lineEnd || text.charCodeAt(q + 1) === SPACE)) return false;
      if (end - p > MAX_KEY_SOURCE) outside();
      if (FORBIDDEN_KEYS.has(this.quoted)) outside();
      this.key = this.quoted;
      this.afterColon = q + 1;
      return true;
    }
    if (isIndicator(c) || c === DASH || c === QUESTION || c === COLON) return false;
    const end = this.lineEnd;
    let flow = false;
    let last = p;
    for (let q = p; q < end; q++) {
      const ch = text.charCodeAt(q);
      if (ch === SPACE) continue;
      if (ch === COLON && (q + 1 === end || text.charCodeAt(q + 1) === SPACE)) {
        if (flow || last - p > MAX_KEY_SOURCE) outside();
        this.key = this.keyOf(p, last);
        this.afterColon = q + 1;
        return true;
      }
      if (ch === HASH && text.charCodeAt(q - 1) === SPACE) return false;
      if (isFlowIndicator(ch)) flow = true;
      last = q + 1;
    }
    return false;
  }

  /**
   * The key written as text[p, end). Files repeat a few keys thousands of times: the same string
   * is handed out for each, so property stores and set lookups meet a string already hashed and
   * internalised, where a fresh slice would be hashed and looked up in the string table every time.
   */
  private keyOf(p: number, end: number): string {
    const cache = this.keys;
    const cached = cache.find(this.text, p, end);
    if (cached !== MISSING) return cached as string;
    const raw = this.text.slice(p, end);
    const v = resolvePlain(raw);
    if (v === null || typeof v === 'object') outside();
    const key = String(v);
    if (FORBIDDEN_KEYS.has(key)) outside();
    cache.put(raw, key);
    return key;
  }

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

  /** A quoted scalar on one line starting at `p`; sets `quoted`, returns the offset after it. */
  private scanQuoted(p: number): number {
    const text = this.text;
    const end = this.lineEnd;
    if (text.charCodeAt(p) === SQUOTE) {
      let q = p + 1;
      let doubled = false;
      for (;;) {
        const i = text.indexOf("'", q);
        if (i < 0 || i >= end) outside();
        if (text.charCodeAt(i + 1) === SQUOTE) {
          doubled = true;
          q = i + 2;
          continue;
        }
        this.quoted = doubled ? text.slice(p + 1, i).replaceAll("''", "'") : this.quotedOf(p + 1, i);
        return i + 1;
      }
    }
    let escaped = false;
    for (let q = p + 1; q < end; q++) {
      const ch = text.charCodeAt(q);
      if (ch === DQUOTE) {
        // Only the escapes YAML and JSON read alike are taken, so JSON.parse decodes them exactly.
        this.quoted = escaped ? (JSON.parse(`"${text.slice(p + 1, q)}"`) as string) : this.quotedOf(p + 1, q);
        return q + 1;
      }
      if (ch === BACKSLASH) {
        escaped = true;
        const e = text.charCodeAt(q + 1);
        if (e === DQUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) q++;
        else if (e === 0x75 && /^[0-9a-fA-F]{4}$/.test(text.slice(q + 2, q + 6))) q += 5;
        else outside();
      }
    }
    return outside();
  }

  /** A value written on the line of its key or dash: a one-line scalar or flow collection. */
  private inlineValue(p: number): unknown {
    const text = this.text;
    const c = text.charCodeAt(p);
    if (c === DQUOTE || c === SQUOTE) {
      const end = this.scanQuoted(p);
      if (text.charCodeAt(end) === HASH) outside();
      this.checkLineRest(end);
      return this.quoted;
    }
    if (c === 0x5b || c === 0x7b) {
      const box: { value?: unknown } = {};
      const end = this.flowNode(p, box, 1);
      if (text.charCodeAt(end) === HASH) outside();
      this.checkLineRest(end);
      return box.value;
    }
    if (isIndicator(c) || c === QUESTION || c === COLON) outside();
    if (c === DASH && (p + 1 === this.lineEnd || text.charCodeAt(p + 1) === SPACE)) outside();
    const end = this.lineEnd;
    let last = p;
    for (let q = p; q < end; q++) {
      const ch = text.charCodeAt(q);
      if (ch === SPACE) continue;
      if (ch === HASH && text.charCodeAt(q - 1) === SPACE) break;
      // "a: b: c" is a nested mapping the full parser refuses.
      if (ch === COLON && (q + 1 === end || text.charCodeAt(q + 1) === SPACE)) outside();
      last = q + 1;
    }
    return this.plainOf(p, last);
  }

  /** A scalar inside a one-line flow collection at `p`; returns the offset after it, value in `quoted`/return. */
  private flowScalar(p: number, box: { value?: unknown }): number {
    const text = this.text;
    const c = text.charCodeAt(p);
    if (c === DQUOTE || c === SQUOTE) {
      const end = this.scanQuoted(p);
      box.value = this.quoted;
      return end;
    }
    if (isIndicator(c) || c === QUESTION || c === COLON) outside();
    const next = text.charCodeAt(p + 1);
    if (c === DASH && (next === SPACE || p + 1 === this.lineEnd || isFlowIndicator(next))) outside();
    const end = this.lineEnd;
    let last = p;
    let q = p;
    for (; q < end; q++) {
      const ch = text.charCodeAt(q);
      if (ch === SPACE) continue;
      if (isFlowIndicator(ch)) break;
      if (ch === HASH && text.charCodeAt(q - 1) === SPACE) outside();
      if (ch === COLON) {
        const after = text.charCodeAt(q + 1);
        if (q + 1 === end || after === SPACE || isFlowIndicator(after)) break;
      }
      last = q + 1;
    }
    box.value = this.plainOf(p, last);
    return last;
  }

  /** A flow collection or scalar inside a one-line flow collection; returns the offset after it. */
  private flowNode(p: number, box: { value?: unknown }, depth: number): number {
    const c = this.text.charCodeAt(p);
    if (c !== 0x5b && c !== 0x7b) return this.flowScalar(p, box);
    if (depth > MAX_DEPTH) outside();
    return c === 0x5b ? this.flowSeq(p, box, depth) : this.flowMap(p, box, depth);
  }

  /** "[a, b, {c: d}]" on one line. */
  private flowSeq(p: number, box: { value?: unknown }, depth: number): number {
    const text = this.text;
    const arr: unknown[] = [];
    const sources = this.sources;
    const node = sources.node(arr, this.lineNo, p - this.lineStart + 1);
    let q = this.skipSpaces(p + 1);
    if (text.charCodeAt(q) !== 0x5d) {
      const item: { value?: unknown } = {};
      for (;;) {
        if (q >= this.lineEnd) outside();
        sources.entry(node, arr.length, this.lineNo, q - this.lineStart + 1);
        q = this.skipSpaces(this.flowNode(q, item, depth + 1));
        arr.push(item.value);
        const sep = text.charCodeAt(q);
        if (sep === 0x5d) break;
        if (sep !== 0x2c) outside();
        q = this.skipSpaces(q + 1);
        // An empty entry or a trailing comma: full parser.
        if (text.charCodeAt(q) === 0x5d || text.charCodeAt(q) === 0x2c) outside();
      }
    }
    box.value = sources.exactList(node, arr);
    return q + 1;
  }

  /** "{a: b, 'c': [d]}" on one line, scalar keys only. */
  private flowMap(p: number, box: { value?: unknown }, depth: number): number {
    const text = this.text;
    const obj = nullRecord();
    const sources = this.sources;
    const node = sources.node(obj, this.lineNo, p - this.lineStart + 1);
    let q = this.skipSpaces(p + 1);
    if (text.charCodeAt(q) !== 0x7d) {
      const item: { value?: unknown } = {};
      for (;;) {
        if (q >= this.lineEnd) outside();
        const c = text.charCodeAt(q);
        if (c === 0x5b || c === 0x7b) outside();
        const keyAt = q;
        const keyEnd = this.flowScalar(q, item);
        if (keyEnd - keyAt > MAX_KEY_SOURCE) outside();
        const k = item.value;
        if (k === null || typeof k === 'object') outside();
        const key = String(k);
        if (FORBIDDEN_KEYS.has(key) || key in obj) outside();
        q = this.skipSpaces(keyEnd);
        if (text.charCodeAt(q) !== COLON || text.charCodeAt(q + 1) !== SPACE) outside();
        q = this.skipSpaces(q + 1);
        const v = text.charCodeAt(q);
        if (v === 0x2c || v === 0x7d || q >= this.lineEnd) outside();
        // Recorded before the value, so that entries and nodes are both in depth-first order.
        sources.entry(node, key, this.lineNo, keyAt - this.lineStart + 1);
        q = this.skipSpaces(this.flowNode(q, item, depth + 1));
        obj[key] = item.value;
        const sep = text.charCodeAt(q);
        if (sep === 0x7d) break;
        if (sep !== 0x2c) outside();
        q = this.skipSpaces(q + 1);
        if (text.charCodeAt(q) === 0x7d || text.charCodeAt(q) === 0x2c) outside();
      }
    }
    box.value = obj;
    return q + 1;
  }

  /**
   * A literal block ("|" or "|-") as the value of `key` in a mapping at column `n`. Leaves the
   * cursor on the first content line after it. Empty blocks, "|+", explicit indentation and
   * whitespace-only lines deeper than the content go to the full parser.
   */
  private literalBlock(p: number, n: number, key: string, node: number): string {
    const text = this.text;
    let q = p + 1;
    let strip = false;
    if (text.charCodeAt(q) === DASH) {
      strip = true;
      q++;
    }
    const h = text.charCodeAt(q);
    if (h !== SPACE && h !== NEWLINE && q !== this.lineEnd) outside();
    this.checkLineRest(q);
    if (this.lineEnd >= this.len) outside();
    const firstLine = this.lineNo + 1;
    let contentIndent = -1;
    let leadingSpaces = 0;
    let blank = 0;
    const lines: string[] = [];
    let ls = this.lineEnd + 1;
    let lineNo = firstLine;
    while (ls < this.len) {
      const le = text.indexOf('\n', ls);
      if (le < 0) outside();
      let sp = ls;
      while (text.charCodeAt(sp) === SPACE) sp++;
      const spaces = sp - ls;
      if (sp === le) {
        if (contentIndent < 0) leadingSpaces = Math.max(leadingSpaces, spaces);
        else if (spaces > contentIndent) outside();
        blank++;
      } else {
        if (contentIndent < 0) {
          if (spaces <= n || spaces < leadingSpaces) outside();
          contentIndent = spaces;
        } else if (spaces < contentIndent) {
          if (spaces > n) outside();
          break;
        }
        for (; blank > 0; blank--) lines.push('');
        lines.push(text.slice(ls + contentIndent, le));
      }
      ls = le + 1;
      lineNo++;
    }
    if (contentIndent < 0) outside();
    const block = { firstLine: this.mapPos ? this.mapPos({ line: firstLine, col: 1 }).line : firstLine, indent: contentIndent };
    this.sources.block(node, key, block);
    this.lineStart = ls;
    this.lineNo = lineNo;
    this.toContent();
    const value = lines.join('\n');
    return strip ? value : `${value}\n`;
  }
}

/**
 * Positions of one document as the fast reader records them: flat lists of numbers in reading
 * order rather than a map and a position object per key, since a decoder reads only a few of them
 * unless a resource has a problem. NodeSources are built from the lists on the first `get`.
 */
export class RecordedSources implements SourceMap {
  /** Maps and lists in depth-first order (the document's root first). */
  readonly nodes: object[] = [];
  /** Per node: line, column, and the entry whose value it is (-1 for the root). */
  readonly nodeInfo: number[] = [];
  /** Keys (mappings) and indexes (lists) of every entry, in depth-first order. */
  readonly entryKeys: (string | number)[] = [];
  /** Per entry: the node it belongs to, line, column. */
  readonly entryInfo: number[] = [];
  /** Literal blocks: node, key, source. */
  private blocks: unknown[] | undefined;
  private built: Map<object, NodeSource> | undefined;

  constructor(readonly mapPos: PositionMap | undefined) {}

  /** Records a new map or list; returns its number. */
  node(value: object, line: number, col: number): number {
    this.nodes.push(value);
    this.nodeInfo.push(line, col, this.entryKeys.length - 1);
    return this.nodes.length - 1;
  }

  entry(node: number, key: string | number, line: number, col: number): void {
    this.entryKeys.push(key);
    this.entryInfo.push(node, line, col);
  }

  /**
   * A list grown item by item keeps room for sixteen more; loaded lists live as long as their
   * resource, so the node becomes a copy of exactly its length.
   */
  exactList(node: number, list: unknown[]): unknown[] {
    const exact = list.slice();
    this.nodes[node] = exact;
    return exact;
  }

  block(node: number, key: string, source: BlockScalarSource): void {
    (this.blocks ??= []).push(node, key, source);
  }

  /** A position as the caller sees it (after its position map). */
  at(line: number, col: number): TextPosition {
    const p = { line, col };
    return this.mapPos ? this.mapPos(p) : p;
  }

  startOf(value: object): TextPosition | undefined {
    if (this.nodes[0] === value) return this.at(this.nodeInfo[0] as number, this.nodeInfo[1] as number);
    return this.get(value)?.start;
  }

  get(value: object): NodeSource | undefined {
    return (this.built ??= this.build()).get(value);
  }

  private build(): Map<object, NodeSource> {
    const byValue = new Map<object, NodeSource>();
    const list: { start: TextPosition; entries: Map<string | number, TextPosition>; blocks?: Map<string, BlockScalarSource> }[] = [];
    const { nodes, nodeInfo, entryKeys, entryInfo } = this;
    for (let i = 0; i < nodes.length; i++) {
      const source = { start: this.at(nodeInfo[3 * i] as number, nodeInfo[3 * i + 1] as number), entries: new Map<string | number, TextPosition>() };
      list.push(source);
      byValue.set(nodes[i] as object, source);
    }
    for (let e = 0; e < entryKeys.length; e++) {
      list[entryInfo[3 * e] as number]?.entries.set(entryKeys[e] as string | number, this.at(entryInfo[3 * e + 1] as number, entryInfo[3 * e + 2] as number));
    }
    const blocks = this.blocks ?? [];
    for (let b = 0; b < blocks.length; b += 3) {
      const source = list[blocks[b] as number];
      if (source) (source.blocks ??= new Map()).set(blocks[b + 1] as string, blocks[b + 2] as BlockScalarSource);
    }
    return byValue;
  }
}
