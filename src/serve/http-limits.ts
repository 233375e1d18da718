// Edge-safe HTTP server settings derived from IRGlobal (HARDENING §2.11), applied to every listener
// at creation and again on each apply so kept sockets follow the new limits without a rebind.

import type { Server as HttpServer, ServerOptions } from 'node:http';
import type { IRGlobal } from '../ir/types.js';

/** Whole-request receive deadline (headers + body); the route timeout covers the upstream side. */
export const REQUEST_RECEIVE_TIMEOUT_MS = 300_000;
/** Node checks header/request deadlines only this often; its 30 s default makes them coarse. */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1000;

export class InsecureParserError extends Error {
  readonly code = 'PORTICO_ERR_INSECURE_HTTP_PARSER';
  constructor(where: string) {
    super(`the lenient HTTP parser is enabled (${where}); Portico refuses to serve with it`);
  }
}

/** Refuse to start when the process was launched with --insecure-http-parser (argv or NODE_OPTIONS). */
export function assertStrictParserProcess(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): void {
  if (execArgv.some((a) => a.startsWith('--insecure-http-parser'))) throw new InsecureParserError('process.execArgv');
  if ((env.NODE_OPTIONS ?? '').split(/\s+/).some((a) => a.startsWith('--insecure-http-parser'))) {
    throw new InsecureParserError('NODE_OPTIONS');
  }
}

export function serverOptions(global: IRGlobal): ServerOptions {
  const headersTimeout = global.requestHeadersTimeoutMs > 0 ? global.requestHeadersTimeoutMs : 10_000;
  return {
    insecureHTTPParser: false,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    maxHeaderSize: global.maxRequestHeadersBytes,
    headersTimeout,
    requestTimeout: Math.max(REQUEST_RECEIVE_TIMEOUT_MS, headersTimeout),
    connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
    keepAliveTimeout: global.limits.keepAliveTimeoutMs,
    noDelay: true,
  };
}

/** Set the limits that Node reads per connection, so a kept listener picks up a new IRGlobal. */
export function applyServerLimits(server: HttpServer, global: IRGlobal): void {
  const o = serverOptions(global);
  // Order matters: Node rejects headersTimeout > requestTimeout at connection time.
  server.requestTimeout = o.requestTimeout!;
  server.headersTimeout = o.headersTimeout!;
  server.keepAliveTimeout = global.limits.keepAliveTimeoutMs;
  server.maxRequestsPerSocket = global.limits.maxRequestsPerConnection;
  // Socket inactivity: without it a slow reader pins a connection forever (server.timeout defaults to 0).
  server.timeout = global.listenerIdleTimeoutMs;
  (server as unknown as { maxHeaderSize: number }).maxHeaderSize = global.maxRequestHeadersBytes;
  if (global.limits.maxConnections > 0) server.maxConnections = global.limits.maxConnections;
  assertStrictParserServer(server);
}

export function assertStrictParserServer(server: HttpServer): void {
  if ((server as unknown as { insecureHTTPParser?: boolean }).insecureHTTPParser) {
    throw new InsecureParserError('server option insecureHTTPParser');
  }
}
