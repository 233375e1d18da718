// A minimal gateway around one Runtime for data-plane tests: the serve process's own HTTP/1.1 front (as
// PORTICO_HTTP1_FRONT and the probe choose it) on a plain net.Server (listeners, TLS, HTTP/2: serve's).

import net, { type AddressInfo, type Socket } from 'node:net';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import type { RequestInfo, Runtime } from '../../src/dataplane/runtime-types.js';
import type { IR } from '../../src/ir/types.js';
import type { SecretStore } from '../../src/ir/secrets.js';
import type { FrontLimits } from '../../src/serve/http1-front.js';
import { createHttp1Front, type Http1Serving } from '../../src/serve/http1-front-choice.js';
import type { TraceExporters } from '../../src/tracing/trace-exporters.js';

export interface TestGateway {
  readonly port: number;
  readonly origin: string;
  readonly runtime: Runtime;
  readonly front: Http1Serving;
  /** Every finished request, in completion order. */
  readonly done: RequestInfo[];
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
  const runtime = buildRuntime(ir, opts.secrets ?? {}, { generation: 1, hash: 'test', onRequestDone: (i) => done.push(i), random: opts.random, tracing: opts.tracing });
  const listener = ir.listeners[0]?.name ?? 'none';
  let port = 0;
  const front = createHttp1Front(FRONT_LIMITS, {
    request: (req, res) => runtime.handle(req, res, { listener, port, tls: false }),
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
    async close() {
      for (const s of sockets) s.destroy();
      front.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runtime.drain(0);
    },
  };
}
