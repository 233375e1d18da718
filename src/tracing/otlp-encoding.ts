// The OTLP/HTTP protobuf body of a batch of finished spans, written in one pass into one buffer:
// the part of tracing at 100 % sampling that costs most per request, so it is kept lean.
//
// The SDK's serializer measures every message in a first pass and writes it in a second, turning each
// id and string through intermediate arrays; Portico's spans are flat (string, number and boolean
// attributes, no events, no links), which this writer handles directly. test/tracing/otlp-encoding.test.ts
// decodes it against the SDK's serializer of the same spans made through the SDK.

import type { AttributeValue, Attributes, HrTime } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import { AttributeBlock, spanTimeInto, type AttributeFields, type AttributeKey, type RecordedSpan, type SpanResource } from './recorded-span.js';

/** Wire types of a field's tag. */
const VARINT = 0;
const FIXED64 = 1;
const LENGTH = 2;
const FIXED32 = 5;

/** The longest length prefix of a message under 4 GiB: the room left in front of a batch's opening fields. */
const RESERVE = 5;

/** OTLP span flags: the W3C trace flags, and whether the parent's remoteness is known and true. */
const FLAGS_HAS_IS_REMOTE = 0x100;
const FLAGS_IS_REMOTE = 0x200;

/** Value of each hex digit by its character code (0 for anything else: ids are validated by the SDK). */
const HEX = new Uint8Array(128);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX[0x61 + i] = HEX[0x41 + i] = 10 + i;

/*
 * Strings are measured and copied by Buffer's native calls, not by a loop over charCodeAt: the values
 * reaching the encoder come in several of V8's string representations (literals, slices of a header,
 * concatenations, flat copies), so the loop's `length` and `charCodeAt` look-ups go megamorphic in the
 * serving worker, a generic look-up per character. One native call per string costs less there
 * (`bench/results/2026-12-07-trace-batch.md`).
 */

/** Byte length of a string in UTF-8. */
function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function varintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** The last second Writer.time wrote, as nanoseconds in two 32-bit words. */
const timeWords = { seconds: -1, lo: 0, hi: 0 };

/** A growing buffer with protobuf's primitives. */
class Writer {
  buf: Buffer;
  pos = 0;

  /** A new buffer of `size` bytes, or one to reuse. */
  constructor(size: number | Buffer) {
    this.buf = typeof size === 'number' ? Buffer.allocUnsafe(size) : size;
  }

  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  /** An unsigned value below 2^32. */
  varint(n: number): void {
    this.room(5);
    const b = this.buf;
    while (n > 0x7f) {
      b[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    b[this.pos++] = n;
  }

  /** A signed integer of the safe range as int64 (negative: ten bytes, two's complement). */
  int64(n: number): void {
    let lo = n >>> 0;
    let hi = Math.floor(n / 0x100000000) >>> 0;
    this.room(10);
    const b = this.buf;
    while (hi > 0 || lo > 0x7f) {
      b[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[this.pos++] = lo;
  }

  fixed32(n: number): void {
    this.room(4);
    this.word(n >>> 0);
  }

  double(n: number): void {
    this.room(8);
    this.buf.writeDoubleLE(n, this.pos);
    this.pos += 8;
  }

  /**
   * An HrTime as nanoseconds since the epoch (fixed64), exact: the seconds are split so no product
   * passes 2^53. Spans end within the same second one after another: that second's nanoseconds are
   * kept, and only the span's own are added.
   */
  time(t: HrTime): void {
    const seconds = t[0];
    if (seconds !== timeWords.seconds) {
      const low16 = (seconds & 0xffff) * 1e9;
      const high = Math.floor(seconds / 0x10000) * 1e9;
      // seconds·1e9 = high·2^16 + low16, as two 32-bit words
      const lo = (low16 % 0x100000000) + (high % 0x10000) * 0x10000;
      timeWords.hi = Math.floor(low16 / 0x100000000) + Math.floor(high / 0x10000) + Math.floor(lo / 0x100000000);
      timeWords.lo = lo % 0x100000000;
      timeWords.seconds = seconds;
    }
    // then the nanoseconds (under 2^30), carried into the upper word
    let lo = timeWords.lo + t[1];
    let hi = timeWords.hi;
    if (lo >= 0x100000000) {
      lo -= 0x100000000;
      hi += 1;
    }
    this.room(8);
    this.word(lo >>> 0);
    this.word(hi >>> 0);
  }

  private word(n: number): void {
    const b = this.buf;
    b[this.pos++] = n & 0xff;
    b[this.pos++] = (n >>> 8) & 0xff;
    b[this.pos++] = (n >>> 16) & 0xff;
    b[this.pos++] = n >>> 24;
  }

  /** A string whose UTF-8 length is known (its length prefix already written). */
  text(s: string, bytes: number): void {
    this.room(bytes);
    // As many bytes as characters: all ASCII, which latin1 writes byte for byte, without UTF-8's checks.
    this.buf.write(s, this.pos, bytes, bytes === s.length ? 'latin1' : 'utf8');
    this.pos += bytes;
  }

  stringField(field: number, s: string): void {
    const n = utf8Length(s);
    this.tag(field, LENGTH);
    this.varint(n);
    this.text(s, n);
  }

  /** A trace or span id (hex, as the API keeps them) as bytes; decoded here, a native call costs more for 8 or 16 bytes. */
  idField(field: number, hex: string): void {
    const n = hex.length >>> 1;
    this.tag(field, LENGTH);
    this.varint(n);
    this.room(n);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < hex.length; i += 2) b[p++] = ((HEX[hex.charCodeAt(i) & 0x7f] as number) << 4) | (HEX[hex.charCodeAt(i + 1) & 0x7f] as number);
    this.pos = p;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    // TypedArray's set is a builtin copy, not a call into C++: in a span's stream of short cached
    // fields it costs less than a loop over the bytes (in-process A/B: the encoder −14 %).
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /**
   * Starts a length-delimited message: its body goes after a gap of `reserve` bytes, the length
   * prefix it is expected to need, which close() fits to the real length.
   */
  open(field: number, reserve: number): number {
    this.tag(field, LENGTH);
    this.room(reserve);
    const at = this.pos;
    this.pos += reserve;
    return at;
  }

  /** Ends the message open() started with the same `reserve`: the body moves only when its prefix is not that long. */
  close(at: number, reserve: number): void {
    const body = at + reserve;
    const length = this.pos - body;
    const prefix = varintLength(length);
    if (prefix !== reserve) {
      if (prefix > reserve) this.room(prefix - reserve);
      this.buf.copyWithin(at + prefix, body, this.pos);
    }
    const end = this.pos + prefix - reserve;
    this.pos = at;
    this.varint(length);
    this.pos = end;
  }
}

/**
 * What is kept per attribute key: the key's own encoded field, and its values (strings, numbers,
 * booleans) as whole span attribute fields, tag and length included. On a gateway most values recur
 * (the method, the route, its source, the cluster, the peer, the port, the status), and one copy is
 * cheaper than encoding them again; the last value is compared first (a route's strings are the
 * same objects on every request). Each key keeps a bounded number of values; a key that has more
 * (request ids, paths of a busy API) has only its own field copied from then on.
 */
interface KeyEntry {
  /** KeyValue.key (tag, length, bytes). */
  readonly keyField: Buffer;
  /** null: a key whose values hardly recur, no longer looked up. */
  values: Map<string | number | boolean, Buffer> | null;
  lastValue: string | number | boolean | undefined;
  lastEncoded: Buffer | undefined;
}

const keyEntries = new Map<string, KeyEntry>();
const VALUES_PER_KEY = 256;
const KEYS = 64;

function newKeyEntry(key: string): KeyEntry {
  const w = new Writer(16 + key.length * 3);
  w.stringField(1, key);
  return { keyField: Buffer.from(w.buf.subarray(0, w.pos)), values: new Map(), lastValue: undefined, lastEncoded: undefined };
}

function keyEntry(key: string): KeyEntry {
  let e = keyEntries.get(key);
  if (e === undefined) {
    if (keyEntries.size >= KEYS) keyEntries.clear();
    e = newKeyEntry(key);
    keyEntries.set(key, e);
  }
  return e;
}

/** The entry of a key the request path named once: kept on the key itself, no look-up by name. */
function entryOf(key: AttributeKey): KeyEntry {
  return (key.encoding ??= newKeyEntry(key.name)) as KeyEntry;
}

/** A span's attribute field (Span.attributes: tag, length, then the KeyValue), as the table of a key's values keeps it. */
function encodeAttributeField(e: KeyEntry, v: AttributeValue): Buffer {
  const w = new Writer(64 + (typeof v === 'string' ? v.length * 3 : 0) + e.keyField.length);
  writeKeyValueField(w, SPAN_ATTRIBUTES, e, v);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

/** Span.attributes: the field whose encodings a key's table holds whole (the resource's are written once a batch). */
const SPAN_ATTRIBUTES = 9;

function writeKeyValue(w: Writer, field: number, e: KeyEntry, v: AttributeValue): void {
  if (field === SPAN_ATTRIBUTES) {
    // The value of the span before (the same string object on most requests of a route): no look-up at all.
    if (v === e.lastValue && e.lastEncoded !== undefined) {
      w.bytes(e.lastEncoded);
      return;
    }
    if (e.values !== null && typeof v !== 'object' && (typeof v !== 'string' || v.length <= 256)) {
      let kv = e.values.get(v);
      if (kv === undefined) {
        if (e.values.size >= VALUES_PER_KEY) e.values = null;
        else e.values.set(v, (kv = encodeAttributeField(e, v)));
      }
      if (kv !== undefined) {
        e.lastValue = v;
        e.lastEncoded = kv;
        w.bytes(kv);
        return;
      }
    }
  }
  writeKeyValueField(w, field, e, v);
}

/** Tag, length and KeyValue of one attribute, encoded here. */
function writeKeyValueField(w: Writer, field: number, e: KeyEntry, v: AttributeValue): void {
  w.tag(field, LENGTH);
  w.room(1);
  const at = w.pos;
  w.pos += 1;
  writeKeyValueBody(w, e, v);
  const length = w.pos - at - 1;
  if (length < 0x80) w.buf[at] = length;
  else {
    // Rare (long values): make room for a longer length prefix.
    const prefix = varintLength(length);
    w.room(prefix - 1);
    w.buf.copyWithin(at + prefix, at + 1, w.pos);
    w.pos = at;
    w.varint(length);
    w.pos += length;
  }
}

/** KeyValue { key = 1; value = 2 (AnyValue) } of a flat value, its lengths measured before it is written. */
function writeKeyValueBody(w: Writer, e: KeyEntry, v: AttributeValue): void {
  let valueLength: number;
  let textBytes = 0;
  if (typeof v === 'string') {
    textBytes = utf8Length(v);
    valueLength = 1 + varintLength(textBytes) + textBytes;
  } else if (typeof v === 'boolean') valueLength = 2;
  else if (Number.isInteger(v)) valueLength = 1 + int64Length(v as number);
  else valueLength = 9;
  w.bytes(e.keyField);
  w.tag(2, LENGTH);
  w.varint(valueLength);
  if (typeof v === 'string') {
    w.tag(1, LENGTH);
    w.varint(textBytes);
    w.text(v, textBytes);
  } else if (typeof v === 'boolean') {
    w.tag(2, VARINT);
    w.varint(v ? 1 : 0);
  } else if (Number.isInteger(v)) {
    w.tag(3, VARINT);
    w.int64(v as number);
  } else {
    w.tag(4, FIXED64);
    w.double(v as number);
  }
}

function int64Length(n: number): number {
  if (n < 0) return 10;
  let len = 1;
  while (n > 0x7f) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeAttributes(w: Writer, field: number, attributes: Attributes): void {
  for (const key in attributes) {
    const v = attributes[key];
    if (v !== undefined && v !== null) writeKeyValue(w, field, keyEntry(key), v);
  }
}

/** Span attributes given as fields (recorded-span.ts): keys carry their entries, a route's block is copied whole. */
function writeFields(w: Writer, fields: AttributeFields): void {
  for (let i = 0; i < fields.length; ) {
    const k = fields[i];
    if (k instanceof AttributeBlock) {
      w.bytes(k.encoded ??= blockBytes(k));
      i++;
    } else {
      writeKeyValue(w, 9, entryOf(k as AttributeKey), fields[i + 1] as AttributeValue);
      i += 2;
    }
  }
}

function blockBytes(block: AttributeBlock): Uint8Array {
  const w = new Writer(256);
  const entries = block.entries;
  // A fresh entry per key: the block is written once, its values need no table.
  for (let i = 0; i < entries.length; i += 2) writeKeyValue(w, 9, newKeyEntry((entries[i] as AttributeKey).name), entries[i + 1] as AttributeValue);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

/**
 * Span.name fields, encoded: a gateway's span names are few (a method, or a method and a route's
 * template, the same string object on each request of the route), so each is encoded once and copied.
 * Bounded like an attribute key's values: past NAMES distinct names the table starts again.
 */
class SpanNames {
  private readonly encoded = new Map<string, Buffer>();
  private last: string | undefined;
  private lastField: Buffer = Buffer.alloc(0);

  field(name: string): Buffer {
    if (name === this.last) return this.lastField;
    let f = this.encoded.get(name);
    if (f === undefined) {
      if (this.encoded.size >= NAMES) this.encoded.clear();
      const w = new Writer(8 + name.length * 3);
      w.stringField(5, name);
      f = Buffer.from(w.buf.subarray(0, w.pos));
      this.encoded.set(name, f);
    }
    this.last = name;
    this.lastField = f;
    return f;
  }
}

const NAMES = 1024;
const spanNames = new SpanNames();

const scratchTime: HrTime = [0, 0];

/**
 * One Span message of a span Portico recorded (recorded-span.ts). Its attributes are flat by
 * construction: strings, booleans and small integers.
 */
function writeRecordedSpan(w: Writer, s: RecordedSpan): void {
  // A span is a few hundred bytes: a 2-byte length prefix (up to 16 KiB) moves nothing at close.
  const at = w.open(2, 2);
  w.idField(1, s.traceId);
  w.idField(2, s.spanId);
  const traceState = s.traceState?.serialize();
  if (traceState) w.stringField(3, traceState);
  if (s.parentSpanId !== undefined) w.idField(4, s.parentSpanId);
  w.bytes(spanNames.field(s.name));
  w.tag(6, VARINT);
  w.varint(s.kind + 1);
  w.tag(7, FIXED64);
  w.time(spanTimeInto(s.start, s.clockOffset, scratchTime));
  w.tag(8, FIXED64);
  w.time(spanTimeInto(s.end, s.clockOffset, scratchTime));
  if (s.fields !== undefined) writeFields(w, s.fields);
  else writeAttributes(w, 9, s.attributes);
  if (s.droppedAttributes > 0) {
    w.tag(10, VARINT);
    w.varint(s.droppedAttributes);
  }
  const st = w.open(15, 1);
  if (s.statusMessage) w.stringField(2, s.statusMessage);
  w.tag(3, VARINT);
  w.varint(s.statusCode);
  w.close(st, 1);
  w.tag(16, FIXED32);
  w.fixed32((s.traceFlags & 0xff) | FLAGS_HAS_IS_REMOTE | (s.parentRemote ? FLAGS_IS_REMOTE : 0));
  w.close(at, 2);
}

function scopeMessage(scope: InstrumentationScope): Buffer {
  const w = new Writer(256);
  w.stringField(1, scope.name);
  if (scope.version) w.stringField(2, scope.version);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

function resourceMessage(resource: SpanResource): Buffer {
  const w = new Writer(1024);
  writeAttributes(w, 1, resource.attributes);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

/** Bytes a batch starts with empty: about 150 spans; a buffer grows while a batch fills, then is reused at its size. */
const BATCH_BYTES = 64 * 1024;
/** Buffers of sent batches kept for the next ones (one filling, a few in flight). */
const SPARE_BUFFERS = 3;

/**
 * Spans of one resource and scope, each written as it ends: the batch holds bytes, not span objects,
 * so spans die young (no promotion to the old heap while they wait). The request's opening fields go
 * in a gap left in front of the spans, so the body is the batch's own buffer, not a copy; the buffer
 * comes back (release) once the collector has answered, and the next batch fills it again: a batch of
 * hundreds of KiB allocated anew for every request would be fresh memory the system maps and unmaps.
 */
export class SpanBatch {
  private w: Writer;
  private readonly spare: Buffer[] = [];
  private readonly resourceBytes: Buffer;
  private readonly scopeBytes: Buffer;
  /** Where the spans start: room for the opening fields at their longest. */
  private readonly gap: number;
  count = 0;

  constructor(
    private readonly resource: SpanResource,
    private readonly scope: InstrumentationScope,
  ) {
    this.resourceBytes = resourceMessage(resource);
    this.scopeBytes = scopeMessage(scope);
    this.gap = 3 * (1 + RESERVE) + 1 + RESERVE + this.resourceBytes.length + this.scopeBytes.length;
    this.w = new Writer(BATCH_BYTES);
    this.w.pos = this.gap;
  }

  add(s: RecordedSpan): void {
    writeRecordedSpan(this.w, s);
    this.count++;
  }

  /** The ExportTraceServiceRequest of the spans held (in the batch's buffer: release it when sent); the batch is empty again. */
  take(): Uint8Array {
    const resource = this.resourceBytes;
    const scope = this.scopeBytes;
    const w = this.w;
    const spansLength = w.pos - this.gap;
    const tailStart = w.pos;
    if (this.scope.schemaUrl) w.stringField(3, this.scope.schemaUrl);
    const scopeTail = w.pos - tailStart;
    if (this.resource.schemaUrl) w.stringField(3, this.resource.schemaUrl);
    const end = w.pos;
    const scopeSpansLength = 1 + varintLength(scope.length) + scope.length + spansLength + scopeTail;
    const resourceSpansLength = 1 + varintLength(resource.length) + resource.length + 1 + varintLength(scopeSpansLength) + scopeSpansLength + (end - tailStart - scopeTail);
    const head = 1 + varintLength(resourceSpansLength) + 1 + varintLength(resource.length) + resource.length + 1 + varintLength(scopeSpansLength) + 1 + varintLength(scope.length) + scope.length;
    const start = this.gap - head;
    w.pos = start;
    w.tag(1, LENGTH); // ExportTraceServiceRequest.resource_spans
    w.varint(resourceSpansLength);
    w.tag(1, LENGTH); // ResourceSpans.resource
    w.varint(resource.length);
    w.bytes(resource);
    w.tag(2, LENGTH); // ResourceSpans.scope_spans
    w.varint(scopeSpansLength);
    w.tag(1, LENGTH); // ScopeSpans.scope
    w.varint(scope.length);
    w.bytes(scope);
    // then ScopeSpans.spans, each already tagged, and the schema URLs
    const body = w.buf.subarray(start, end);
    const next = this.spare.pop();
    this.w = next !== undefined ? new Writer(next) : new Writer(BATCH_BYTES);
    this.w.pos = this.gap;
    this.count = 0;
    return body;
  }

  /** A body take() made has been sent and answered: its buffer may hold the next batch. */
  release(body: Uint8Array): void {
    // A batch's buffer is its own ArrayBuffer (larger than Node's shared pool ever lends).
    if (this.spare.length < SPARE_BUFFERS && body.buffer.byteLength >= BATCH_BYTES) {
      this.spare.push(Buffer.from(body.buffer, 0, body.buffer.byteLength));
    }
  }
}

/** An ExportTraceServiceRequest holding `spans`, all of `resource` and `scope`. */
export function encodeTraceExport(spans: readonly RecordedSpan[], resource: SpanResource, scope: InstrumentationScope): Uint8Array {
  const batch = new SpanBatch(resource, scope);
  for (const s of spans) batch.add(s);
  return batch.take();
}
