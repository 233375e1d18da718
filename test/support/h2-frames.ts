// A tiny HTTP/2 frame writer and reader for attack tests: raw frames over node:net, HPACK literals
// without Huffman or indexing, so tests can send what a well-behaved client library never would.

import { EventEmitter } from 'node:events';
import net from 'node:net';
import { nextEvent, settlesWithin, WAIT_BOUND_MS } from './wait-until.js';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, END_HEADERS: 0x4, ACK: 0x1 } as const;

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

function hpackString(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  if (b.length >= 127) throw new Error('test HPACK encoder: strings shorter than 127 bytes only');
  return Buffer.concat([Buffer.from([b.length]), b]);
}

/** Header block of "literal without indexing, new name" fields, in order (pseudo-headers first). */
export function headerBlock(fields: readonly [string, string][]): Buffer {
  return Buffer.concat(fields.map(([n, v]) => Buffer.concat([Buffer.from([0x00]), hpackString(n), hpackString(v)])));
}

export function get(path: string, authority = 'a.test', extra: readonly [string, string][] = []): Buffer {
  return headerBlock([[':method', 'GET'], [':scheme', 'http'], [':path', path], [':authority', authority], ...extra]);
}

export function rst(stream: number, code: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, stream, p);
}

export interface FrameSeen {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
}

export interface RawH2Connection {
  readonly socket: net.Socket;
  readonly frames: FrameSeen[];
  /** 'frame' (FrameSeen) as each frame arrives, 'close' when the connection closes. */
  readonly events: EventEmitter;
  send(b: Buffer): void;
  /** Resolves true when the server closed the TCP connection within `ms` (default: the wait bound). */
  closedWithin(ms?: number): Promise<boolean>;
  goaway(): FrameSeen | undefined;
  destroy(): void;
}

/** Connect with prior knowledge: preface + empty SETTINGS, then whatever the test writes. */
export function connectH2(port: number): Promise<RawH2Connection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const frames: FrameSeen[] = [];
    const events = new EventEmitter();
    let buf = Buffer.alloc(0);
    let closed = false;
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const f: FrameSeen = { type: buf[3] as number, flags: buf[4] as number, stream: buf.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(buf.subarray(9, 9 + len)) };
        frames.push(f);
        buf = buf.subarray(9 + len);
        events.emit('frame', f);
      }
      // Frames are only kept for inspection: bound what a flood reply can cost the test.
      if (frames.length > 50_000) frames.splice(0, frames.length - 50_000);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      events.emit('close');
    });
    socket.once('connect', () => {
      socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
      resolve({
        socket,
        frames,
        events,
        send: (b) => {
          if (!socket.destroyed) socket.write(b);
        },
        closedWithin: async (ms = WAIT_BOUND_MS) => closed || settlesWithin(nextEvent(events, 'close', 'the server to close the connection', { timeoutMs: ms * 2 }), ms),
        goaway: () => frames.find((f) => f.type === FRAME.GOAWAY),
        destroy: () => socket.destroy(),
      });
    });
    socket.once('error', reject);
  });
}
