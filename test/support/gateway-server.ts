// A minimal HTTP server around one Runtime for data-plane tests (the real listener management is
// the serve process). Uses the edge server options of HARDENING §2.11, insecureHTTPParser off.

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import type { RequestInfo, Runtime } from '../../src/dataplane/runtime-types.js';
import type { IR } from '../../src/ir/types.js';

export interface TestGateway {
  readonly port: number;
  readonly origin: string;
  readonly runtime: Runtime;
  readonly server: http.Server;
  /** Every finished request, in completion order. */
  readonly done: RequestInfo[];
  close(): Promise<void>;
}

export const SERVER_OPTIONS: http.ServerOptions = {
  insecureHTTPParser: false,
  requireHostHeader: true,
  joinDuplicateHeaders: false,
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  connectionsCheckingInterval: 1000,
  keepAliveTimeout: 5000,
  maxHeaderSize: 60 * 1024,
};

export async function startGateway(ir: IR, opts: { random?: () => number } = {}): Promise<TestGateway> {
  const done: RequestInfo[] = [];
  const runtime = buildRuntime(ir, {}, { generation: 1, hash: 'test', onRequestDone: (i) => done.push(i), random: opts.random });
  const listener = ir.listeners[0]?.name ?? 'none';
  const server = http.createServer(SERVER_OPTIONS);
  // slow readers are cut off, and connections are capped (HARDENING §2.11)
  server.timeout = 120_000;
  server.maxConnections = 10_000;
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  let port = 0;
  server.on('request', (req, res) => runtime.handle(req, res, { listener, port, tls: false }));
  server.on('upgrade', (req, socket, head) => runtime.handleUpgrade(req, socket, head, { listener, port, tls: false }));
  server.on('connect', (req, socket, head) => runtime.handleUpgrade(req, socket, head, { listener, port, tls: false }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    runtime,
    server,
    done,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runtime.drain(0);
    },
  };
}
