// Canonical JSON (sorted keys, no whitespace) and the content hash of an IR.
// Byte-identical output for equal values is what makes compile deterministic and diffable.

import { createHash, type Hash } from 'node:crypto';

/** JSON with object keys sorted at every level; undefined members are left out, as JSON.stringify does. */
export function canonicalJSON(value: unknown): string {
  return write(value) ?? 'null';
}

// Written directly rather than by sorting into new objects: render prints IRs of 10,000 routes,
// and building a sorted copy first doubled the allocation.
function write(v: unknown): string | undefined {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(v)) {
        let s = '[';
        for (let i = 0; i < v.length; i++) {
          if (i > 0) s += ',';
          s += write(v[i]) ?? 'null';
        }
        return s + ']';
      }
      const o = v as Record<string, unknown>;
      if (typeof (o as { toJSON?: unknown }).toJSON === 'function') return write((o as { toJSON(): unknown }).toJSON());
      const keys = Object.keys(o).sort();
      let s = '{';
      let first = true;
      for (const k of keys) {
        const x = write(o[k]);
        if (x === undefined) continue;
        if (!first) s += ',';
        first = false;
        s += JSON.stringify(k) + ':' + x;
      }
      return s + '}';
    }
    default:
      return undefined;
  }
}

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The content hash of an IR: SHA-256 of its JSON text (JSON.stringify). compile() builds every IR
 * object with a fixed key order and every array in a defined order, so the IR's own JSON is already
 * deterministic; hashing it directly is about ten times faster than canonicalising 10,000 routes
 * first. The determinism tests check that shuffled inputs give the same hash.
 *
 * The text is fed to the hash in pieces, each vhost's routes as UTF-8 bytes kept by the routes array:
 * a compile that reuses a vhost's routes (CompileMemo) reuses the array, so re-hashing after a
 * one-Mapping change encodes one vhost's routes, not 9 MB. The bytes are those of JSON.stringify(ir).
 */
export function hashIR(ir: unknown): string {
  const out = new HashWriter();
  writeLevel(ir, out, 0);
  return out.digest();
}

/** UTF-8 of JSON.stringify(routes), by routes array (arrays are never changed once built). */
const routesBytes = new WeakMap<object, Buffer>();

/*
 * SHA-256 reads its input front to back, so the state after a prefix can be copied and resumed.
 * Each routes buffer keeps the state after it, with the text before it and the checkpoint before
 * that: the next hash of an IR that starts with the same pieces (same text, the same buffer
 * objects) resumes from the last matching checkpoint. After a one-Mapping change only the pieces
 * from the changed vhost on are hashed again. A buffer keeps the checkpoint of its latest hash only.
 */
interface Checkpoint {
  readonly prev: Checkpoint | undefined;
  readonly text: string;
  readonly state: Hash;
}
const checkpoints = new WeakMap<Buffer, Checkpoint>();

/** Collects short text and hands it to the hash in one piece before each larger buffer. */
class HashWriter {
  private text = '';
  /** The checkpoint everything so far matches, while no byte has been hashed. */
  private resumedFrom: Checkpoint | undefined;
  private h: Hash | undefined;
  private last: Checkpoint | undefined;

  write(s: string): void {
    this.text += s;
  }

  bytes(b: Buffer): void {
    const text = this.text;
    this.text = '';
    if (this.h === undefined) {
      const cp = checkpoints.get(b);
      if (cp !== undefined && cp.prev === this.resumedFrom && cp.text === text) {
        this.resumedFrom = cp;
        return;
      }
      this.h = this.resumedFrom === undefined ? createHash('sha256') : this.resumedFrom.state.copy();
      this.last = this.resumedFrom;
    }
    const h = this.h;
    if (text !== '') h.update(Buffer.from(text, 'utf8'));
    h.update(b);
    const cp: Checkpoint = { prev: this.last, text, state: h.copy() };
    checkpoints.set(b, cp);
    this.last = cp;
  }

  digest(): string {
    const h = this.h ?? (this.resumedFrom === undefined ? createHash('sha256') : this.resumedFrom.state.copy());
    if (this.text !== '') h.update(Buffer.from(this.text, 'utf8'));
    this.text = '';
    return h.digest('hex');
  }
}

/*
 * The IR's upper levels, written as JSON.stringify writes them: level 0 the IR, 1 its listeners
 * array, 2 a listener, 3 its virtualHosts array, 4 a vhost, whose `routes` come from routesBytes.
 * Anything else (other members, values that are not plain objects or arrays) is JSON.stringify's own.
 */
function writeLevel(v: unknown, out: HashWriter, level: number): void {
  if (Array.isArray(v) && (level === 1 || level === 3)) {
    out.write('[');
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.write(',');
      const x: unknown = v[i];
      if (isPlainObject(x)) writeLevel(x, out, level + 1);
      else out.write(memberText(String(i), x) ?? 'null');
    }
    out.write(']');
    return;
  }
  if (!isPlainObject(v) || (level !== 0 && level !== 2 && level !== 4)) {
    out.write(JSON.stringify(v) ?? 'null');
    return;
  }
  out.write('{');
  let first = true;
  for (const k of Object.keys(v)) {
    const x = v[k];
    const special = (level === 4 && k === 'routes' && Array.isArray(x) && !hasToJSON(x)) || (((level === 0 && k === 'listeners') || (level === 2 && k === 'virtualHosts')) && Array.isArray(x) && !hasToJSON(x));
    const text = special ? '' : memberText(k, x);
    if (text === undefined) continue;
    out.write(first ? `${JSON.stringify(k)}:` : `,${JSON.stringify(k)}:`);
    first = false;
    if (!special) out.write(text);
    else if (level === 4) {
      let b = routesBytes.get(x as object);
      if (b === undefined) {
        b = Buffer.from(JSON.stringify(x), 'utf8');
        routesBytes.set(x as object, b);
      }
      out.bytes(b);
    } else writeLevel(x, out, level + 1);
  }
  out.write('}');
}

function hasToJSON(x: unknown): boolean {
  return x !== null && typeof x === 'object' && typeof (x as { toJSON?: unknown }).toJSON === 'function';
}

/** An object JSON.stringify walks member by member (not boxed, no toJSON). */
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || hasToJSON(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A member's JSON text as it is inside its container, or undefined when JSON.stringify leaves it out. */
function memberText(key: string, x: unknown): string | undefined {
  if (x === undefined || typeof x === 'function' || typeof x === 'symbol') return undefined;
  // toJSON is called with the member's key, so it is written inside a container of its own.
  if (hasToJSON(x)) {
    const t = JSON.stringify({ [key]: x });
    return t === '{}' ? undefined : t.slice(JSON.stringify(key).length + 2, -1);
  }
  return JSON.stringify(x);
}
