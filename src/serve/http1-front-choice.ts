// Which HTTP/1.1 front serves client connections: the llhttp front where Node's private parser
// internals are there and of the expected shape, else (or when asked) node:http. Decided once per process.

import type { Socket } from 'node:net';
import { LLHTTP_SUPPORT, type LlhttpSupport } from '../dataplane/llhttp.js';
import { Http1Front, type FrontHandlers, type FrontLimits } from './http1-front.js';
import { NodeHttp1Front } from './http1-node-front.js';

/** What the edge needs of an HTTP/1.1 front (both fronts offer it). */
export interface Http1Serving {
  limits: FrontLimits;
  draining: boolean;
  accept(socket: Socket, head?: Buffer): void;
  closeIdleConnections(): void;
  closeAllConnections(): void;
  close(): void;
}

export interface Http1FrontChoice {
  readonly front: 'llhttp' | 'node';
  /** Why node:http serves (undefined when the llhttp front does). */
  readonly reason: string | undefined;
}

/** The environment variable that forces a front: `node` (node:http) or `llhttp` (the default when usable). */
export const FRONT_ENV = 'PORTICO_HTTP1_FRONT';

/** Pure: the front for a probe result and the value of PORTICO_HTTP1_FRONT. */
export function chooseHttp1Front(support: LlhttpSupport, forced: string | undefined): Http1FrontChoice {
  const asked = forced?.trim().toLowerCase() ?? '';
  if (asked === 'node') return { front: 'node', reason: `${FRONT_ENV}=node` };
  const missing = support.parser ?? support.directRead;
  if (missing !== undefined) return { front: 'node', reason: missing };
  return { front: 'llhttp', reason: undefined };
}

let decided: Http1FrontChoice | undefined;

/** This process's front, decided on first use from the probe and the environment. */
export function http1FrontChoice(): Http1FrontChoice {
  return (decided ??= chooseHttp1Front(LLHTTP_SUPPORT, process.env[FRONT_ENV]));
}

/** A value of PORTICO_HTTP1_FRONT that is neither `node` nor `llhttp` (it is ignored; the caller says so). */
export function unknownFrontSetting(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = env[FRONT_ENV]?.trim().toLowerCase() ?? '';
  return v === '' || v === 'node' || v === 'llhttp' ? undefined : v;
}

export function createHttp1Front(limits: FrontLimits, handlers: FrontHandlers, sweepEveryMs: number): Http1Serving {
  return http1FrontChoice().front === 'node' ? new NodeHttp1Front(limits, handlers, sweepEveryMs) : new Http1Front(limits, handlers, sweepEveryMs);
}
