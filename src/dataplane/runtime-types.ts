// The contract between the serving process (listeners, swap, drain, workers) and the request
// path (route index, upstream pools, filters). A Runtime is built from one IR generation and is
// immutable; the server reads the current Runtime once per connection/request and swaps the
// reference when a new generation is applied.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { IR } from '../ir/types.js';
import type { SecretStore } from '../ir/secrets.js';
import type { ClusterHealth } from './upstream-health.js';
import type { TraceExporters } from '../tracing/trace-exporters.js';

export interface RuntimeOptions {
  /** Generation number of this configuration (increments per apply). */
  readonly generation: number;
  /** Content hash of the IR. */
  readonly hash: string;
  /** Called once per finished request (access log, metrics). */
  readonly onRequestDone?: (info: RequestInfo) => void;
  /** The serving process's log for warnings raised while building or serving (policies: Redis down, counts per process). */
  readonly onWarning?: (message: string) => void;
  /** Source of randomness for canary weights, shadow sampling and balancers (tests inject a seeded one). */
  readonly random?: () => number;
  /** The process's span exporters; a runtime whose IR has tracing takes its tracer from them. */
  readonly tracing?: TraceExporters;
}

export interface RequestInfo {
  readonly generation: number;
  readonly listener: string;
  readonly method: string;
  /** The normalised path that routing used (the same string forwarded, before rewrite). */
  readonly path: string;
  readonly authority: string;
  readonly status: number;
  readonly route?: string;
  readonly cluster?: string;
  readonly upstreamAddress?: string;
  readonly durationMs: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly clientAddress: string;
  readonly requestId: string;
  /** Set for local replies: no_route, upstream_unavailable, upstream_timeout, bad_upstream_response, ... */
  readonly localReply?: string;
  readonly upstreamError?: string;
  /**
   * What the route's edge policies decided, in order: [label, outcome, ...], e.g.
   * ["auth AuthService default/ext-auth", "allow"]. Absent for routes without policies.
   */
  readonly policies?: readonly string[];
  /** The request's trace id, when tracing is on (sampled, or with a trace context from the client). */
  readonly traceId?: string;
}

/** What a listener needs to know about the connection a request arrived on. */
export interface ConnectionInfo {
  readonly listener: string;
  /** The listener's port (for Host port stripping and redirects). */
  readonly port: number;
  /** The connection is TLS (terminated here). */
  readonly tls: boolean;
  /** SNI the client sent, when TLS. */
  readonly sni?: string;
}

export interface Runtime {
  readonly generation: number;
  readonly hash: string;
  readonly ir: IR;
  /** Serve one HTTP request (the HTTP/1.1 front or the HTTP/2 stream front). */
  handle(req: IncomingMessage, res: ServerResponse, conn: ConnectionInfo): void;
  /** Serve an HTTP/1.1 Upgrade request (WebSocket). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, conn: ConnectionInfo): void;
  /** Serve a raw TCP connection on a TCP listener. */
  handleTCP(socket: Socket, conn: ConnectionInfo): void;
  /** In-flight requests/tunnels using this runtime. */
  inflight(): number;
  /** Stop accepting new work; resolves when in-flight work finished or the deadline passed, then frees pools. */
  drain(deadlineMs: number): Promise<void>;
  /** Each upstream cluster's health as this process sees it (the admin page, status). */
  upstreamHealth?(): ClusterHealth[];
}

export type BuildRuntime = (ir: IR, secrets: SecretStore, options: RuntimeOptions) => Runtime;
