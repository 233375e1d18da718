// Small HTTP helpers for the serving tests: one request with its status, headers and body, a
// bounded poll, and whether a port on 127.0.0.1 accepts connections.

import http from 'node:http';
import net from 'node:net';
import { pollUntil, WAIT_BOUND_MS } from '../support/wait-until.js';

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export function request(url: string, options: http.RequestOptions & { body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent: false, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`timeout: ${url}`)));
    req.end(options.body);
  });
}

/**
 * Retry `check` every `everyMs` until it returns a truthy value, for at least `tries` × `everyMs`
 * and the wait bound; throws with `what` after that. (ServeProcess.poll also wakes on log lines.)
 */
export function eventually<T>(what: string, check: () => Promise<T | undefined | false>, tries = 100, everyMs = 100): Promise<T> {
  return pollUntil(what, check, { everyMs, timeoutMs: Math.max(WAIT_BOUND_MS, tries * everyMs) });
}

/** Whether a TCP connection to the port is accepted. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
