// A plain HTTP/1.1 client for tests: one request on a fresh connection, whole body read,
// or an abort report when the server cut the response short.

import http from 'node:http';

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly body: string;
  /** The response ended without its full body (connection closed early). */
  readonly aborted: boolean;
}

export interface RequestSpec {
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Record<string, string | string[]> | string[];
  readonly body?: string | Buffer;
  readonly timeoutMs?: number;
  /** Called when the response head has arrived, before its body is read. */
  readonly onResponse?: (res: http.IncomingMessage) => void;
}

export function request(port: number, spec: RequestSpec = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method: spec.method ?? 'GET', path: spec.path ?? '/', agent: false,
      headers: spec.headers ?? { host: 'example.com' },
    });
    const timer = setTimeout(() => req.destroy(new Error('test client timeout')), spec.timeoutMs ?? 10_000);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('response', (res) => {
      spec.onResponse?.(res);
      const chunks: Buffer[] = [];
      let aborted = false;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('aborted', () => {
        aborted = true;
      });
      res.on('error', () => {
        aborted = true;
      });
      res.on('close', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks).toString(), aborted: aborted || !res.complete,
        });
      });
    });
    req.end(spec.body);
  });
}

export function json<T = Record<string, unknown>>(r: Reply): T {
  return JSON.parse(r.body) as T;
}
