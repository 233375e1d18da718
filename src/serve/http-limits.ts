// Edge-safe HTTP/1.1 settings derived from IRGlobal (HARDENING §2.11), applied to every listener at
// creation and again on each apply so kept sockets follow the new limits without a rebind.

import type { IRGlobal } from '../ir/types.js';
import type { FrontLimits } from './http1-front.js';

/** Whole-request receive deadline (headers + body); the route timeout covers the upstream side. */
export const REQUEST_RECEIVE_TIMEOUT_MS = 300_000;
/** How often the front checks header, request, keep-alive and idle deadlines. */
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

/**
 * How long a new connection has to send what comes before its request is routed (a PROXY header, the
 * first bytes, the request head): the Module's request-header timeout, 10 s when it is 0 (off).
 */
export function headersDeadlineMs(global: IRGlobal): number {
  return global.requestHeadersTimeoutMs > 0 ? global.requestHeadersTimeoutMs : 10_000;
}

/** The HTTP/1.1 front's limits from an IRGlobal: read per event, so a kept listener follows a new one. */
export function frontLimits(global: IRGlobal): FrontLimits {
  const headersTimeoutMs = headersDeadlineMs(global);
  return {
    headersTimeoutMs,
    requestTimeoutMs: Math.max(REQUEST_RECEIVE_TIMEOUT_MS, headersTimeoutMs),
    keepAliveTimeoutMs: global.limits.keepAliveTimeoutMs,
    // without it a slow reader pins a connection forever
    idleTimeoutMs: global.listenerIdleTimeoutMs,
    maxHeaderBytes: global.maxRequestHeadersBytes,
    maxRequestsPerConnection: global.limits.maxRequestsPerConnection,
  };
}
