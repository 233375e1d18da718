// Canonical JSON (sorted keys, no whitespace) and the content hash of an IR.
// Byte-identical output for equal values is what makes compile deterministic and diffable.

import { createHash } from 'node:crypto';

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
 * The content hash of an IR. compile() builds every IR object with a fixed key order and every
 * array in a defined order, so the IR's own JSON is already deterministic; hashing it directly is
 * about ten times faster than canonicalising 10,000 routes first. The determinism tests check
 * that shuffled inputs give the same hash.
 */
export function hashIR(ir: unknown): string {
  // Encoding the text to UTF-8 first and hashing the bytes is about twice as fast as letting the
  // hash encode a 9 MB string itself.
  return sha256(Buffer.from(JSON.stringify(ir), 'utf8'));
}
