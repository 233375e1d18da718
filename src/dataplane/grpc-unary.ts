// One unary gRPC call from the gateway itself (an AuthService's Check, a rate-limit service's
// ShouldRateLimit) over the cluster's pooled HTTP/2 sessions, with a deadline, an abort signal and
// the cluster's circuit breakers. Never rejects: every failure is a value the caller maps to a policy.

import http2, { type ClientHttp2Stream } from 'node:http2';
import type { UpstreamCluster } from './upstream-pool.js';
import { sessionFor } from './h2-upstream.js';

const { NGHTTP2_CANCEL } = http2.constants;

/** A reply larger than this is a failure, not something to hold in memory. */
const MAX_REPLY_BYTES = 4 * 1024 * 1024;

export type GrpcUnaryResult =
  | { readonly ok: true; readonly message: Buffer }
  /**
   * `error`: why, for logs (never a secret): "no_endpoints", "circuit_open", "timeout",
   * "unavailable: ECONNREFUSED", "grpc_status_14: ...", "malformed: ...".
   */
  | { readonly ok: false; readonly error: string };

/** Tells when the caller stops waiting (a PolicyRequest is one: its client went away). */
export interface AbortSource {
  onAbort(fn: () => void): void;
  offAbort(fn: () => void): void;
}

export interface GrpcUnaryOptions {
  /** 0: no deadline of its own. */
  readonly deadlineMs: number;
  /** When it aborts, the call is cancelled. */
  readonly abort?: AbortSource;
}

/** `path` is "/package.Service/Method"; `message` the encoded request. */
export function grpcUnary(cluster: UpstreamCluster | undefined, path: string, message: Uint8Array, o: GrpcUnaryOptions): Promise<GrpcUnaryResult> {
  if (cluster === undefined || cluster.endpoints.length === 0) return Promise.resolve({ ok: false, error: 'no_endpoints' });
  if (!cluster.admit()) return Promise.resolve({ ok: false, error: 'circuit_open' });
  const ep = cluster.pick(undefined, Date.now());
  if (ep === undefined) return Promise.resolve({ ok: false, error: 'no_endpoints' });
  return new Promise((resolve) => {
    ep.active++;
    cluster.active++;
    let done = false;
    let stream: ClientHttp2Stream | undefined;
    let timer: NodeJS.Timeout | undefined;
    const finish = (r: GrpcUnaryResult, failed: boolean): void => {
      if (done) return;
      done = true;
      ep.active--;
      cluster.active--;
      if (timer !== undefined) clearTimeout(timer);
      o.abort?.offAbort(onAbort);
      if (stream !== undefined && !stream.closed) stream.close(NGHTTP2_CANCEL);
      if (failed) cluster.reportFailure(ep, Date.now());
      else cluster.reportSuccess(ep);
      resolve(r);
    };
    const onAbort = (): void => finish({ ok: false, error: 'cancelled' }, false);
    o.abort?.onAbort(onAbort);
    if (done) return;
    if (o.deadlineMs > 0) timer = setTimeout(() => finish({ ok: false, error: 'timeout' }, true), o.deadlineMs);
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': path,
      ':authority': `${ep.hostname}:${ep.port}`,
      ':scheme': cluster.secure ? 'https' : 'http',
      'content-type': 'application/grpc',
      te: 'trailers',
    };
    if (o.deadlineMs > 0) headers['grpc-timeout'] = `${o.deadlineMs}m`;
    try {
      stream = sessionFor(cluster, ep).request(headers);
    } catch (err) {
      finish({ ok: false, error: `unavailable: ${(err as NodeJS.ErrnoException).code ?? 'h2_request_failed'}` }, true);
      return;
    }
    const frame = Buffer.allocUnsafe(5 + message.length);
    frame[0] = 0;
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    stream.end(frame);
    const chunks: Buffer[] = [];
    let size = 0;
    let status: string | undefined;
    let grpcStatus: string | undefined;
    let grpcMessage: string | undefined;
    stream.on('response', (h) => {
      status = String(h[':status'] ?? '');
      // trailers-only: grpc-status arrives with the headers
      if (h['grpc-status'] !== undefined) {
        grpcStatus = String(h['grpc-status']);
        grpcMessage = h['grpc-message'] !== undefined ? String(h['grpc-message']) : undefined;
      }
    });
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_REPLY_BYTES) finish({ ok: false, error: 'malformed: reply too large' }, true);
      else chunks.push(c);
    });
    stream.on('trailers', (t) => {
      if (t['grpc-status'] !== undefined) grpcStatus = String(t['grpc-status']);
      if (t['grpc-message'] !== undefined) grpcMessage = String(t['grpc-message']);
    });
    stream.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, error: `unavailable: ${err.code ?? 'h2_stream_error'}` }, true));
    stream.on('close', () => {
      if (done) return;
      if (status !== '200') {
        finish({ ok: false, error: status === undefined ? `unavailable: reset ${stream?.rstCode ?? 0}` : `unavailable: HTTP ${status}` }, true);
        return;
      }
      if (grpcStatus !== '0') {
        finish({ ok: false, error: `grpc_status_${grpcStatus ?? 'missing'}${grpcMessage ? `: ${decodeURIComponent(grpcMessage).slice(0, 200)}` : ''}` }, grpcStatus === undefined || grpcStatus === '14');
        return;
      }
      const body = Buffer.concat(chunks, size);
      if (body.length < 5 || body[0] !== 0) {
        finish({ ok: false, error: body.length < 5 ? 'malformed: no message' : 'malformed: compressed message' }, true);
        return;
      }
      const length = body.readUInt32BE(1);
      if (body.length !== 5 + length) {
        finish({ ok: false, error: 'malformed: message length' }, true);
        return;
      }
      finish({ ok: true, message: body.subarray(5) }, false);
    });
  });
}
