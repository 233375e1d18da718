// Raw upstream recorder: a TCP server that splits what it receives into HTTP/1.1 requests with a
// strict little parser, answers each with a script (default: 200 "ok") and tells when things arrive.

import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  /** Request line and headers, without the final CRLFCRLF. */
  readonly head: string;
  readonly requestLine: string;
  /** Lower-case name → values. */
  readonly headers: Map<string, string[]>;
  readonly body: Buffer;
  /** Index of the connection it arrived on. */
  readonly connection: number;
}

export interface ScriptContext {
  readonly socket: net.Socket;
  readonly request: RecordedRequest;
  /** Requests seen so far on this connection, this one included. */
  readonly nth: number;
}

export interface RawUpstream {
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** How many bytes arrived, per connection. */
  readonly bytesReceived: number[];
  /** Connections the peer closed (FIN or reset) — e.g. to see that the gateway gave up. */
  readonly closedConnections: number[];
  /** Requests that could not be parsed (the gateway must never send such bytes). */
  readonly parseErrors: string[];
  /** 'connection' (id), 'data' (id), 'request' (RecordedRequest), 'parse-error' (message), 'close' (id). */
  readonly events: EventEmitter;
  connections(): number;
  close(): Promise<void>;
}

export const OK_RESPONSE = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok';

/** What a request's head says about the body that follows it. */
type Framing = { readonly kind: 'length'; readonly length: number } | { readonly kind: 'chunked' };

type ParsedHead = { head: string; requestLine: string; headers: Map<string, string[]>; framing: Framing } | { error: string };

const MAX_HEAD = 65536;

/** Strict parse of a request head (without its final CRLFCRLF): CRLF only, CL or chunked, never both. */
function parseHead(head: string): ParsedHead {
  const lines = head.split('\r\n');
  const requestLine = lines[0] ?? '';
  if (!/^[A-Z]+ \S+ HTTP\/1\.1$/.test(requestLine)) return { error: `bad request line: ${JSON.stringify(requestLine)}` };
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (!m || /[\r\n\0]/.test(line)) return { error: `bad header line: ${JSON.stringify(line)}` };
    const n = (m[1] as string).toLowerCase();
    headers.set(n, [...(headers.get(n) ?? []), m[2] as string]);
  }
  const cl = headers.get('content-length');
  const te = headers.get('transfer-encoding');
  if (cl && te) return { error: 'both content-length and transfer-encoding' };
  if ((cl && cl.length > 1) || (te && te.length > 1)) return { error: 'repeated framing header' };
  if (te) {
    if ((te[0] as string).toLowerCase() !== 'chunked') return { error: 'transfer-encoding other than chunked' };
    return { head, requestLine, headers, framing: { kind: 'chunked' } };
  }
  const length = cl ? Number(cl[0]) : 0;
  if (!Number.isSafeInteger(length) || length < 0) return { error: 'bad content-length' };
  return { head, requestLine, headers, framing: { kind: 'length', length } };
}

type Assembled = Omit<RecordedRequest, 'connection'> | { error: string };

/**
 * Splits one connection's byte stream into requests as it arrives. Each byte is looked at once and
 * a body is copied once, when it is complete: a multi-megabyte upload arriving in hundreds of reads
 * costs the same as one read (re-parsing everything received on every read made the recorder, not
 * the gateway, the slow part of a big upload on a busy machine).
 */
export class RequestAssembler {
  private state: 'head' | 'length' | 'size-line' | 'chunk-data' | 'chunk-end' | 'last-chunk-end' = 'head';
  private head = Buffer.alloc(0);
  private parsed: Extract<ParsedHead, { head: string }> | undefined;
  private body: Buffer[] = [];
  private remaining = 0;
  private line = '';
  private failed = false;

  /** The requests (or the first framing error) completed by these bytes. */
  push(d: Buffer): Assembled[] {
    const out: Assembled[] = [];
    let i = 0;
    while (!this.failed && (i < d.length || (this.state === 'length' && this.remaining === 0))) {
      switch (this.state) {
        case 'head': {
          const had = this.head.length;
          // the end of the head may straddle reads: look from three bytes back
          this.head = Buffer.concat([this.head, d.subarray(i, i + MAX_HEAD + 4 - had)]);
          const end = this.head.indexOf('\r\n\r\n', Math.max(0, had - 3));
          if (end === -1) {
            if (this.head.length > MAX_HEAD) return this.fail(out, 'head too large');
            i = d.length;
            break;
          }
          i += end + 4 - had;
          const p = parseHead(this.head.subarray(0, end).toString('latin1'));
          this.head = Buffer.alloc(0);
          if ('error' in p) return this.fail(out, p.error);
          this.parsed = p;
          this.body = [];
          if (p.framing.kind === 'chunked') {
            this.state = 'size-line';
            this.line = '';
          } else {
            this.state = 'length';
            this.remaining = p.framing.length;
          }
          break;
        }
        case 'length':
        case 'chunk-data': {
          const take = Math.min(this.remaining, d.length - i);
          if (take > 0) this.body.push(d.subarray(i, i + take));
          this.remaining -= take;
          i += take;
          if (this.remaining > 0) break;
          if (this.state === 'length') {
            out.push(this.complete());
          } else {
            this.state = 'chunk-end';
            this.line = '';
          }
          break;
        }
        case 'size-line': {
          const lf = d.indexOf(0x0a, i);
          this.line += d.subarray(i, lf === -1 ? d.length : lf).toString('latin1');
          if (this.line.length > 1024) return this.fail(out, 'bad chunk size');
          if (lf === -1) {
            i = d.length;
            break;
          }
          i = lf + 1;
          if (!this.line.endsWith('\r')) return this.fail(out, 'bad chunk size');
          const digits = this.line.slice(0, -1);
          if (!/^[0-9a-fA-F]+$/.test(digits)) return this.fail(out, 'bad chunk size');
          const size = parseInt(digits, 16);
          if (!Number.isSafeInteger(size)) return this.fail(out, 'bad chunk size');
          this.line = '';
          if (size === 0) this.state = 'last-chunk-end';
          else {
            this.state = 'chunk-data';
            this.remaining = size;
          }
          break;
        }
        case 'chunk-end':
        case 'last-chunk-end': {
          const take = Math.min(2 - this.line.length, d.length - i);
          this.line += d.subarray(i, i + take).toString('latin1');
          i += take;
          if (this.line.length < 2) break;
          if (this.line !== '\r\n') return this.fail(out, this.state === 'last-chunk-end' ? 'trailers not supported by the recorder' : 'chunk data not followed by CRLF');
          this.line = '';
          if (this.state === 'last-chunk-end') out.push(this.complete());
          else this.state = 'size-line';
          break;
        }
      }
    }
    return out;
  }

  private complete(): Omit<RecordedRequest, 'connection'> {
    const p = this.parsed as Extract<ParsedHead, { head: string }>;
    const body = Buffer.concat(this.body);
    this.parsed = undefined;
    this.body = [];
    this.state = 'head';
    return { head: p.head, requestLine: p.requestLine, headers: p.headers, body };
  }

  private fail(out: Assembled[], error: string): Assembled[] {
    this.failed = true;
    out.push({ error });
    return out;
  }
}

/**
 * Records and answers HTTP/1.1 requests. `events` says when something arrived: 'connection' (id),
 * 'data' (id), 'request' (RecordedRequest), 'parse-error' (message) and 'close' (id).
 */
export async function startRawUpstream(script: (c: ScriptContext) => void = (c) => c.socket.write(OK_RESPONSE)): Promise<RawUpstream> {
  const requests: RecordedRequest[] = [];
  const bytesReceived: number[] = [];
  const closedConnections: number[] = [];
  const parseErrors: string[] = [];
  const sockets = new Set<net.Socket>();
  const events = new EventEmitter();
  let count = 0;
  const server = net.createServer((socket) => {
    const id = count++;
    sockets.add(socket);
    bytesReceived[id] = 0;
    const assembler = new RequestAssembler();
    let nth = 0;
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      closedConnections.push(id);
      events.emit('close', id);
    });
    socket.on('data', (d: Buffer) => {
      bytesReceived[id] = (bytesReceived[id] ?? 0) + d.length;
      for (const p of assembler.push(d)) {
        if ('error' in p) {
          parseErrors.push(p.error);
          socket.destroy();
          events.emit('parse-error', p.error);
          break;
        }
        const r: RecordedRequest = { ...p, connection: id };
        requests.push(r);
        nth++;
        try {
          script({ socket, request: r, nth });
        } catch {
          socket.destroy();
        }
        events.emit('request', r);
      }
      events.emit('data', id);
    });
    events.emit('connection', id);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    bytesReceived,
    closedConnections,
    parseErrors,
    events,
    connections: () => count,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
