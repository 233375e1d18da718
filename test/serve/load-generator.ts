// A bounded load generator: a fixed number of requests over a fixed number of keep-alive
// connections, recording every status, transport error and generation seen per connection.

import http from 'node:http';
import type { Socket } from 'node:net';

export interface LoadResult {
  readonly sent: number;
  readonly byStatus: Record<number, number>;
  /** Transport failures (resets, refused): these are requests lost by the gateway. */
  readonly errors: string[];
  /** Statuses other than 2xx, by path. */
  readonly failuresByPath: Record<string, number>;
  /** Times a connection saw a lower generation than it had seen before. */
  readonly generationRegressions: number;
  readonly maxGeneration: number;
}

export interface LoadOptions {
  readonly port: number;
  readonly paths: readonly string[];
  readonly total: number;
  readonly connections: number;
  /** Called after every completed request (to trigger changes mid-run). */
  readonly onProgress?: (done: number) => void;
  /** Stop early (still bounded by total). */
  readonly shouldStop?: () => boolean;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
  const byStatus: Record<number, number> = {};
  const failuresByPath: Record<string, number> = {};
  const errors: string[] = [];
  const lastGen = new WeakMap<Socket, number>();
  let regressions = 0;
  let maxGeneration = 0;
  let next = 0;
  let done = 0;
  const one = (path: string) =>
    new Promise<void>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: o.port, path, agent }, (res) => {
        const socket = res.socket as Socket;
        const gen = Number(res.headers['x-portico-generation'] ?? 0);
        if (gen > 0) {
          const prev = lastGen.get(socket) ?? 0;
          if (gen < prev) regressions++;
          lastGen.set(socket, gen);
          maxGeneration = Math.max(maxGeneration, gen);
        }
        res.resume();
        res.on('end', () => {
          const s = res.statusCode ?? 0;
          byStatus[s] = (byStatus[s] ?? 0) + 1;
          if (s < 200 || s >= 300) failuresByPath[path] = (failuresByPath[path] ?? 0) + 1;
          resolve();
        });
        res.on('error', (err) => {
          errors.push(`${path}: ${err.message}`);
          resolve();
        });
      });
      req.setTimeout(10_000, () => req.destroy(new Error('request timeout')));
      req.on('error', (err) => {
        errors.push(`${path}: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
        resolve();
      });
      req.end();
    });
  const workerLoop = async () => {
    while (next < o.total && !o.shouldStop?.()) {
      const i = next++;
      await one(o.paths[i % o.paths.length]!);
      done++;
      o.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: o.connections }, workerLoop));
  agent.destroy();
  return { sent: done, byStatus, errors, failuresByPath, generationRegressions: regressions, maxGeneration };
}
