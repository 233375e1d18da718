// Echo upstream: answers every request with JSON describing what it received (method, url,
// raw headers, body), so tests can assert exactly what the gateway forwarded.

import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Echoed {
  readonly name: string;
  readonly method: string;
  readonly url: string;
  /** [name, value] pairs as received, original case. */
  readonly headers: [string, string][];
  readonly body: string;
}

export interface EchoUpstream {
  readonly port: number;
  readonly name: string;
  readonly received: Echoed[];
  /** 'request' (Echoed) as each request is received. */
  readonly events: EventEmitter;
  close(): Promise<void>;
}

/** `respond` may override status and extra response headers per request. */
export async function startEcho(name: string, respond?: (e: Echoed) => { status?: number; headers?: Record<string, string> }): Promise<EchoUpstream> {
  const received: Echoed[] = [];
  const events = new EventEmitter();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: [string, string][] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string]);
      const e: Echoed = { name, method: req.method ?? '', url: req.url ?? '', headers, body: Buffer.concat(chunks).toString() };
      received.push(e);
      events.emit('request', e);
      const r = respond?.(e) ?? {};
      const body = JSON.stringify(e);
      res.writeHead(r.status ?? 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...r.headers });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    name,
    received,
    events,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Value of a header (case-insensitive) in what the echo received; several values joined by ", ". */
export function echoedHeader(e: Echoed, name: string): string | undefined {
  const vals = e.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
  return vals.length === 0 ? undefined : vals.join(', ');
}
