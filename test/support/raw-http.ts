// Raw HTTP/1.1 client connection for wire-level tests: writes exact bytes and reads responses back
// one at a time, checking each one's framing (length, chunked, end of connection) byte by byte.

import { EventEmitter } from 'node:events';
import net from 'node:net';
import { nextEvent, WAIT_BOUND_MS, WaitTimeout } from './wait-until.js';

export type Framing = 'none' | 'length' | 'chunked' | 'close';

export interface RawResponse {
  /** "HTTP/1.1" or "HTTP/1.0", from the status line. */
  readonly version: string;
  readonly status: number;
  /** Field lines as sent, [name, value] with the name's original case. */
  readonly fields: readonly [string, string][];
  readonly body: Buffer;
  /** How the body was delimited on the wire. */
  readonly framing: Framing;
  /** Sizes of the data chunks, when chunked. */
  readonly chunkSizes: readonly number[];
}

/** The bytes on the wire do not form a valid HTTP/1.1 response; the message says where. */
export class WireFormatError extends Error {
  readonly code = 'PORTICO_ERR_TEST_WIRE_FORMAT';
}

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

export interface OpenOptions {
  /**
   * After every chunk read, stop reading for this many turns of the event loop, so the sender meets
   * backpressure. Turns, not time: a gateway in this process gets each turn to push more bytes.
   */
  readonly readPauseTurns?: number;
  /** Do not read at all for this many turns of the event loop after connecting. */
  readonly initialStallTurns?: number;
}

/** Resume `socket` after `turns` turns of the event loop (each setImmediate waits for the next check phase). */
function resumeAfterTurns(socket: net.Socket, turns: number): void {
  if (turns <= 0) {
    socket.resume();
    return;
  }
  setImmediate(() => resumeAfterTurns(socket, turns - 1));
}

/** One client connection. Reads give up after a bound instead of waiting forever. */
export class RawConnection {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  /** 'progress' when bytes arrive or the connection ends. */
  private readonly events = new EventEmitter();
  /** Bytes received in total (for tests that abort part-way). */
  received = 0;

  private constructor(private readonly socket: net.Socket, private readonly opts: OpenOptions) {
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.received += d.length;
      if (opts.readPauseTurns !== undefined) {
        socket.pause();
        resumeAfterTurns(socket, opts.readPauseTurns);
      }
      this.notify();
    });
    const end = (): void => {
      this.ended = true;
      this.notify();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  static open(port: number, opts: OpenOptions = {}): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
      const conn = new RawConnection(socket, opts);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        if (opts.initialStallTurns !== undefined) {
          socket.pause();
          resumeAfterTurns(socket, opts.initialStallTurns);
        }
        resolve(conn);
      });
    });
  }

  write(data: string | Buffer): void {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.socket.write(bytes);
  }

  /** The peer closed (FIN, reset) or the socket was destroyed here. */
  get closed(): boolean {
    return this.ended;
  }

  /** Bytes received but not yet consumed by readResponse. */
  get unread(): Buffer {
    return this.buf;
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Whether the peer closes the connection within `ms`. Unread bytes that arrive meanwhile are kept. */
  async waitClosed(ms = WAIT_BOUND_MS): Promise<boolean> {
    const deadline = performance.now() + ms;
    while (!this.ended) {
      if (!(await this.more(deadline))) return this.ended;
    }
    return true;
  }

  /** Wait until the unread bytes contain `text` (latin1); false if `ms` pass or the connection ends first. */
  async waitForText(text: string, ms = WAIT_BOUND_MS): Promise<boolean> {
    const deadline = performance.now() + ms;
    const needle = Buffer.from(text, 'latin1');
    while (this.buf.indexOf(needle) < 0) {
      if (this.ended || !(await this.more(deadline))) return this.buf.indexOf(needle) >= 0;
    }
    return true;
  }

  /** Wait until at least `n` bytes were received in total; false if `ms` pass or the connection ends first. */
  async waitReceived(n: number, ms = WAIT_BOUND_MS): Promise<boolean> {
    const deadline = performance.now() + ms;
    while (this.received < n) {
      if (this.ended || !(await this.more(deadline))) return this.received >= n;
    }
    return true;
  }

  /**
   * Read exactly one response. `head` says the request was HEAD (no body whatever the fields say).
   * A 1xx response is returned on its own; read again for the final one.
   */
  async readResponse(opts: { head?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
    const deadline = performance.now() + (opts.timeoutMs ?? WAIT_BOUND_MS);
    const headEnd = await this.until(HEAD_END, deadline, 'the end of the response head');
    const headText = this.take(headEnd + HEAD_END.length).toString('latin1');
    const lines = headText.slice(0, -4).split('\r\n');
    const statusLine = lines.shift() ?? '';
    const m = /^(HTTP\/1\.[01]) (\d{3}) [^\r\n]*$/.exec(statusLine);
    if (!m) throw new WireFormatError(`bad status line ${JSON.stringify(statusLine)}`);
    const fields: [string, string][] = [];
    for (const line of lines) {
      const f = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/.exec(line);
      if (!f || /[\r\n]/.test(line)) throw new WireFormatError(`bad field line ${JSON.stringify(line)}`);
      fields.push([f[1] as string, f[2] as string]);
    }
    const version = m[1] as string;
    const status = Number(m[2]);
    const te = fieldValues(fields, 'transfer-encoding').join(',').toLowerCase();
    const lengths = fieldValues(fields, 'content-length');
    const none = opts.head === true || (status >= 100 && status < 200) || status === 204 || status === 304;
    if (none) return { version, status, fields, body: Buffer.alloc(0), framing: 'none', chunkSizes: [] };
    if (te !== '') {
      if (lengths.length > 0) throw new WireFormatError('both Transfer-Encoding and Content-Length in one response');
      if (!/(^|,)\s*chunked\s*$/.test(te)) throw new WireFormatError(`unexpected transfer-encoding ${te}`);
      return this.readChunked(version, status, fields, deadline);
    }
    if (lengths.length > 0) {
      if (new Set(lengths).size !== 1 || !/^\d+$/.test(lengths[0] as string)) throw new WireFormatError(`bad content-length ${lengths.join(',')}`);
      const n = Number(lengths[0]);
      await this.need(n, deadline, `a ${n}-byte body`);
      return { version, status, fields, body: this.take(n), framing: 'length', chunkSizes: [] };
    }
    while (!this.ended) await this.more(deadline, 'the end of a close-delimited body');
    return { version, status, fields, body: this.take(this.buf.length), framing: 'close', chunkSizes: [] };
  }

  private async readChunked(version: string, status: number, fields: [string, string][], deadline: number): Promise<RawResponse> {
    const parts: Buffer[] = [];
    const sizes: number[] = [];
    for (let i = 0; i < 1_000_000; i++) {
      const eol = await this.until(CRLF, deadline, 'a chunk-size line');
      const line = this.take(eol + 2).toString('latin1').slice(0, -2);
      const sm = /^([0-9a-fA-F]{1,15})(;[^\r\n]*)?$/.exec(line);
      if (!sm) throw new WireFormatError(`bad chunk-size line ${JSON.stringify(line)}`);
      const size = parseInt(sm[1] as string, 16);
      if (size === 0) {
        // trailer section: field lines until an empty line
        for (;;) {
          const t = await this.until(CRLF, deadline, 'the trailer section');
          const tl = this.take(t + 2);
          if (tl.length === 2) break;
        }
        return { version, status, fields, body: Buffer.concat(parts), framing: 'chunked', chunkSizes: sizes };
      }
      await this.need(size + 2, deadline, `a ${size}-byte chunk`);
      parts.push(this.take(size));
      sizes.push(size);
      if (!this.take(2).equals(CRLF)) throw new WireFormatError('chunk data not followed by CRLF');
    }
    throw new WireFormatError('too many chunks');
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  private async need(n: number, deadline: number, what: string): Promise<void> {
    while (this.buf.length < n) {
      if (this.ended) throw new WireFormatError(`connection closed while waiting for ${what} (have ${this.buf.length} of ${n} bytes)`);
      await this.more(deadline, what);
    }
  }

  private async until(delim: Buffer, deadline: number, what: string): Promise<number> {
    for (;;) {
      const i = this.buf.indexOf(delim);
      if (i >= 0) return i;
      if (this.ended) throw new WireFormatError(`connection closed while waiting for ${what} (unread ${JSON.stringify(this.buf.toString('latin1').slice(0, 200))})`);
      await this.more(deadline, what);
    }
  }

  /** Wait for new bytes or the end. With `what`, a timeout throws; without, it returns false. */
  private async more(deadline: number, what?: string): Promise<boolean> {
    const left = deadline - performance.now();
    const unread = (): string => JSON.stringify(this.buf.toString('latin1').slice(0, 200));
    if (left <= 0) {
      if (what !== undefined) throw new WireFormatError(`timed out waiting for ${what} (unread ${unread()})`);
      return false;
    }
    try {
      await nextEvent(this.events, 'progress', what ?? 'bytes or the end', { timeoutMs: left });
      return true;
    } catch (err) {
      if (!(err instanceof WaitTimeout)) throw err;
      if (what !== undefined) throw new WireFormatError(`timed out waiting for ${what} (unread ${unread()})`);
      return false;
    }
  }

  private notify(): void {
    this.events.emit('progress');
  }
}

/** Every value of a field (case-insensitive name), in order. */
export function fieldValues(fields: readonly [string, string][], name: string): string[] {
  const lower = name.toLowerCase();
  return fields.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
}

/** The field's single value, or undefined; several lines are joined with ", ". */
export function field(r: RawResponse, name: string): string | undefined {
  const v = fieldValues(r.fields, name);
  return v.length === 0 ? undefined : v.join(', ');
}

/** The response says the connection closes after it (a `close` option in Connection). */
export function saysClose(r: RawResponse): boolean {
  return fieldValues(r.fields, 'connection').some((v) => v.toLowerCase().split(',').some((o) => o.trim() === 'close'));
}
