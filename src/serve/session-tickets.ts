// TLS session resumption by tickets: the keys that seal them, rotated on a schedule with the previous
// key kept for opening, and one set shared by every worker so a ticket resumes on whichever accepts.

import { randomBytes } from 'node:crypto';
import type { SecureContext } from 'node:tls';

/** How often the primary makes a new ticket key (the previous one still opens tickets for one more period). */
export const TICKET_KEY_ROTATION_MS = 60 * 60 * 1000;
/**
 * How long a ticket may be used, in seconds (OpenSSL's session timeout). Shorter than a rotation
 * period, so a ticket sealed just before a rotation is still opened by the kept previous key.
 */
export const TICKET_LIFETIME_S = 300;

const PART = 16;

interface TicketKey {
  /** Sent in the clear inside the ticket: says which key sealed it. */
  readonly name: Buffer;
  readonly hmac: Buffer;
  readonly aes: Buffer;
}

/** The keys as they cross to a worker (IPC): base64 of name ‖ hmac ‖ aes, 48 bytes each. */
export interface TicketKeysWire {
  readonly current: string;
  readonly previous?: string;
}

function freshKey(): TicketKey {
  const b = randomBytes(PART * 3);
  return fromBytes(b);
}

function fromBytes(b: Buffer): TicketKey {
  if (b.length !== PART * 3) throw new Error('a ticket key is 48 bytes');
  return { name: b.subarray(0, PART), hmac: b.subarray(PART, PART * 2), aes: b.subarray(PART * 2) };
}

function toWire(k: TicketKey): string {
  return Buffer.concat([k.name, k.hmac, k.aes]).toString('base64');
}

/** The native side of a SecureContext, as OpenSSL's ticket-key callback reaches JavaScript. */
interface NativeContext {
  enableTicketKeyCallback(): void;
  onticketkeycallback: (name: Buffer, iv: Buffer, encrypt: boolean) => unknown[];
}

/**
 * Whether this Node.js exposes the context's ticket-key callback (a private hook of node:tls; Node 20
 * and 22 have it). Without it, each context seals tickets with its own random keys: resumption then
 * works only on the worker that issued the ticket, and serve says so once at start.
 */
export function ticketKeyCallbackAvailable(sc: SecureContext): boolean {
  const native = (sc as unknown as { context?: Partial<NativeContext> }).context;
  return typeof native?.enableTicketKeyCallback === 'function';
}

/** The callback's first element: 1 use the key, 2 use it and seal a fresh ticket with the current key, 0 unknown key. */
const USE = 1;
const USE_AND_RENEW = 2;
const UNKNOWN = 0;
/** OpenSSL is given key material even for an unknown ticket; it is never used to open anything. */
const UNUSED = Buffer.alloc(PART);

/**
 * The ticket keys of one process. The primary makes and rotates them (`rotate`); a worker adopts
 * what the primary sends (`adopt`). Contexts hold a callback that reads the ring at each handshake,
 * so a rotation reaches every context already built, with no rebuild. The keys never leave through
 * `toString`, JSON or inspection: only `wire()` reveals them, for the IPC message.
 */
export class TicketKeyRing {
  private current: TicketKey;
  private previous: TicketKey | undefined;

  constructor() {
    this.current = freshKey();
  }

  /** A new current key; the current one becomes the previous (opening only), the older one is dropped. */
  rotate(): void {
    this.previous = this.current;
    this.current = freshKey();
  }

  wire(): TicketKeysWire {
    return this.previous ? { current: toWire(this.current), previous: toWire(this.previous) } : { current: toWire(this.current) };
  }

  /** Take the primary's keys; a malformed message leaves the ring as it was. */
  adopt(w: TicketKeysWire): boolean {
    try {
      const current = fromBytes(Buffer.from(w.current, 'base64'));
      const previous = w.previous !== undefined ? fromBytes(Buffer.from(w.previous, 'base64')) : undefined;
      this.current = current;
      this.previous = previous;
      return true;
    } catch {
      return false;
    }
  }

  /** Seal and open this context's tickets with the ring's keys (contexts of every generation and host). */
  attach(sc: SecureContext): boolean {
    if (!ticketKeyCallbackAvailable(sc)) return false;
    const native = (sc as unknown as { context: NativeContext }).context;
    native.enableTicketKeyCallback();
    native.onticketkeycallback = this.onTicketKey;
    return true;
  }

  private readonly onTicketKey = (name: Buffer, iv: Buffer, encrypt: boolean): unknown[] => {
    if (encrypt) {
      const k = this.current;
      return [USE, k.hmac, k.aes, k.name, randomBytes(PART)];
    }
    if (name.equals(this.current.name)) return [USE, this.current.hmac, this.current.aes];
    const p = this.previous;
    if (p !== undefined && name.equals(p.name)) return [USE_AND_RENEW, p.hmac, p.aes];
    return [UNKNOWN, UNUSED, UNUSED];
  };

  toJSON(): string {
    return '[ticket keys]';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[ticket keys]';
  }
}

/** Rotate `ring` every `periodMs` and tell `onRotate` (the primary sends the new keys to its workers). */
export function startTicketKeyRotation(ring: TicketKeyRing, onRotate: () => void, periodMs = TICKET_KEY_ROTATION_MS): () => void {
  const timer = setInterval(() => {
    ring.rotate();
    onRotate();
  }, periodMs);
  timer.unref();
  return () => clearInterval(timer);
}
