// Raw upstream recorder: a TCP server that keeps every byte it receives, splits them into HTTP/1.1
// requests with a strict little parser, and answers each with a script (default: 200 "ok").

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
  /** Every byte received, per connection. */
  readonly bytes: Buffer[];
  /** Connections the peer closed (FIN or reset) — e.g. to see that the gateway gave up. */
  readonly closedConnections: number[];
  /** Requests that could not be parsed (the gateway must never send such bytes). */
  readonly parseErrors: string[];
  connections(): number;
  close(): Promise<void>;
}

export const OK_RESPONSE = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok';

type Parsed = { request: Omit<RecordedRequest, 'connection'>; used: number } | 'incomplete' | { error: string };

/** Strict parse of one request at the start of buf: CRLF only, CL or chunked, never both. */
export function parseOneRequest(buf: Buffer): Parsed {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return buf.length > 65536 ? { error: 'head too large' } : 'incomplete';
  const head = buf.subarray(0, end).toString('latin1');
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
  let pos = end + 4;
  if (te) {
    if ((te[0] as string).toLowerCase() !== 'chunked') return { error: 'transfer-encoding other than chunked' };
    const parts: Buffer[] = [];
    for (;;) {
      const le = buf.indexOf('\r\n', pos);
      if (le === -1) return 'incomplete';
      const size = parseInt(buf.subarray(pos, le).toString('latin1'), 16);
      if (!Number.isFinite(size) || !/^[0-9a-fA-F]+$/.test(buf.subarray(pos, le).toString('latin1'))) return { error: 'bad chunk size' };
      pos = le + 2;
      if (size === 0) {
        if (buf.length < pos + 2) return 'incomplete';
        if (buf.subarray(pos, pos + 2).toString() !== '\r\n') return { error: 'trailers not supported by the recorder' };
        pos += 2;
        break;
      }
      if (buf.length < pos + size + 2) return 'incomplete';
      parts.push(buf.subarray(pos, pos + size));
      pos += size + 2;
    }
    return { request: { head, requestLine, headers, body: Buffer.concat(parts) }, used: pos };
  }
  const len = cl ? Number(cl[0]) : 0;
  if (!Number.isSafeInteger(len) || len < 0) return { error: 'bad content-length' };
  if (buf.length < pos + len) return 'incomplete';
  return { request: { head, requestLine, headers, body: Buffer.from(buf.subarray(pos, pos + len)) }, used: pos + len };
}

export async function startRawUpstream(script: (c: ScriptContext) => void = (c) => c.socket.write(OK_RESPONSE)): Promise<RawUpstream> {
  const requests: RecordedRequest[] = [];
  const bytes: Buffer[] = [];
  const closedConnections: number[] = [];
  const parseErrors: string[] = [];
  const sockets = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer((socket) => {
    const id = count++;
    sockets.add(socket);
    bytes[id] = Buffer.alloc(0);
    let pending = Buffer.alloc(0);
    let nth = 0;
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      closedConnections.push(id);
    });
    socket.on('data', (d: Buffer) => {
      bytes[id] = Buffer.concat([bytes[id] as Buffer, d]);
      pending = Buffer.concat([pending, d]);
      for (;;) {
        const p = parseOneRequest(pending);
        if (p === 'incomplete') return;
        if ('error' in p) {
          parseErrors.push(p.error);
          socket.destroy();
          return;
        }
        pending = pending.subarray(p.used);
        const r: RecordedRequest = { ...p.request, connection: id };
        requests.push(r);
        nth++;
        try {
          script({ socket, request: r, nth });
        } catch {
          socket.destroy();
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    bytes,
    closedConnections,
    parseErrors,
    connections: () => count,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
