// A minimal Runtime for the serving tests: prefix routes answered locally with the generation and
// route id (a /wait-for-release path waits for the test, /head-then-wait sends its head first), so swap, drain and workers can be observed.

import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BuildRuntime, ConnectionInfo, Runtime } from '../../src/dataplane/runtime-types.js';

/**
 * Requests whose path has /wait-for-release in it, answered only when the test calls release(): a
 * request certainly in flight for as long as the test needs. 'held' is emitted as each one arrives.
 */
export class HeldRequests extends EventEmitter {
  private readonly waiting: (() => void)[] = [];

  get count(): number {
    return this.waiting.length;
  }

  add(answer: () => void): void {
    this.waiting.push(answer);
    this.emit('held');
  }

  /** Answer every request held now. */
  release(): void {
    for (const answer of this.waiting.splice(0)) answer();
  }
}

/** The held requests of every stub runtime in this process. */
export const heldRequests = new HeldRequests();

export const buildStubRuntime: BuildRuntime = (ir, _secrets, options) => {
  let inflight = 0;
  const idle: (() => void)[] = [];
  const done = () => {
    inflight--;
    if (inflight === 0) for (const w of idle.splice(0)) w();
  };
  const rt: Runtime = {
    generation: options.generation,
    hash: options.hash,
    ir,
    handle(req: IncomingMessage, res: ServerResponse, conn: ConnectionInfo) {
      inflight++;
      const started = Date.now();
      const url = new URL(req.url ?? '/', 'http://x');
      const l = ir.listeners.find((x) => x.name === conn.listener);
      const r = l?.virtualHosts[0]?.routes.find((x) => x.match.prefix !== undefined && url.pathname.startsWith(x.match.prefix));
      let finished = false;
      const finish = (status: number, body: Record<string, unknown>) => {
        if (finished) return;
        finished = true;
        const text = JSON.stringify({ generation: options.generation, listener: conn.listener, ...body });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(text);
      };
      res.once('close', () => {
        // a held request cut meanwhile is not answered when the test releases it
        finished = true;
        done();
        options.onRequestDone?.({
          generation: options.generation,
          listener: conn.listener,
          method: req.method ?? 'GET',
          path: url.pathname,
          authority: req.headers.host ?? '',
          status: res.statusCode,
          ...(r ? { route: r.id, cluster: r.backends[0]?.cluster ?? '' } : { localReply: 'no_route' }),
          durationMs: Date.now() - started,
          bytesIn: 0,
          bytesOut: 0,
          clientAddress: req.socket.remoteAddress ?? '',
          requestId: String(req.headers['x-request-id'] ?? ''),
        });
      });
      req.resume();
      if (!r) return finish(404, { localReply: 'no_route' });
      req.once('end', () => {
        if (url.pathname.includes('/head-then-wait')) {
          // the head and a first chunk go out now; the rest when the test releases it
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('first;');
          heldRequests.add(() => {
            if (finished) return;
            finished = true;
            res.end('rest');
          });
        } else if (url.pathname.includes('/wait-for-release')) heldRequests.add(() => finish(200, { route: r.id, held: true }));
        else finish(200, { route: r.id, remotePort: req.socket.remotePort });
      });
    },
    handleUpgrade(_req, socket) {
      socket.destroy();
    },
    handleTCP(socket) {
      socket.end(`tcp generation ${options.generation}\n`);
    },
    inflight: () => inflight,
    drain(deadlineMs: number) {
      if (inflight === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadlineMs);
        t.unref();
        idle.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    },
  };
  return rt;
};
