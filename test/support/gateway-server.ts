// A minimal gateway around one Runtime for data-plane tests: the serve process's own HTTP/1.1 front (as
// PORTICO_HTTP1_FRONT and the probe choose it) on a plain net.Server (listeners, TLS, HTTP/2: serve's).

import { EventEmitter } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import type { RequestInfo, Runtime } from '../../src/dataplane/runtime-types.js';
import type { IR } from '../../src/ir/types.js';
import type { SecretStore } from '../../src/ir/secrets.js';
import type { FrontLimits } from '../../src/serve/http1-front.js';
import { createHttp1Front, type Http1Serving } from '../../src/serve/http1-front-choice.js';
import { request } from './http-client.js';
import type { TraceExporters } from '../../src/tracing/trace-exporters.js';

export interface TestGateway {
  readonly port: number;
  readonly origin: string;
  readonly runtime: Runtime;
  readonly front: Http1Serving;
  /** Every finished request, in completion order. */
  readonly done: RequestInfo[];
  /**
   * 'request' as the front hands a request to the runtime (counted in inflight()), and 'done'
   * (RequestInfo) as it finishes, after the runtime counted it out.
   */
  readonly events: EventEmitter;
  close(): Promise<void>;
}

/** The edge limits of HARDENING §2.11, as the serve process derives them from a default IRGlobal. */
export const FRONT_LIMITS: FrontLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5000,
  // slow readers are cut off
  idleTimeoutMs: 120_000,
  maxHeaderBytes: 60 * 1024,
  maxRequestsPerConnection: 0,
};

export async function startGateway(ir: IR, opts: { random?: () => number; tracing?: TraceExporters; host?: string; secrets?: SecretStore } = {}): Promise<TestGateway> {
  const done: RequestInfo[] = [];
  const events = new EventEmitter();
  const runtime = buildRuntime(ir, opts.secrets ?? {}, {
    generation: 1, hash: 'test', random: opts.random, tracing: opts.tracing,
    onRequestDone: (i) => {
      done.push(i);
      events.emit('done', i);
    },
  });
  const listener = ir.listeners[0]?.name ?? 'none';
  let port = 0;
  const front = createHttp1Front(FRONT_LIMITS, {
    request: (req, res) => {
      runtime.handle(req, res, { listener, port, tls: false });
      events.emit('request');
    },
    upgrade: (req, socket, head) => runtime.handleUpgrade(req, socket, head, { listener, port, tls: false }),
  }, 1000);
  const server = net.createServer({ noDelay: true });
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    front.accept(s);
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  port = (server.address() as AddressInfo).port;
  return {
    port,
    origin: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    runtime,
    front,
    done,
    events,
    async close() {
      for (const s of sockets) s.destroy();
      front.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runtime.drain(0);
    },
  };
}

/**
 * One HTTP/1.1 request through the gateway on `port` to an upstream and back (the route for `path`
 * must forward). The gateway and a test's upstreams share one event loop, so once the answer is in,
 * every upstream has read whatever the gateway had sent it before: what none has seen was never sent.
 */
export async function roundTrip(port: number, path: string): Promise<void> {
  const r = await request(port, { path, headers: { host: 'a' } });
  if (r.status !== 200) throw new Error(`the round trip through the gateway to ${path} got ${r.status}, not 200`);
}
