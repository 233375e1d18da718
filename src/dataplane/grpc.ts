// gRPC at the edge: recognise gRPC requests, read grpc-timeout, and turn the gateway's own
// replies into trailers-only gRPC responses (grpc-status) that gRPC clients understand.

import type { IncomingMessage, ServerResponse } from 'node:http';

/** gRPC status codes the gateway produces (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GRPC_STATUS = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16,
} as const;

export function isGrpcRequest(req: IncomingMessage): boolean {
  const ct = req.headers['content-type'];
  return typeof ct === 'string' && ct.startsWith('application/grpc');
}

/** The HTTP → gRPC status mapping of the gRPC spec (http-grpc-status-mapping.md), plus the gateway's 504. */
export function grpcStatusFor(httpStatus: number): number {
  switch (httpStatus) {
    case 400: return GRPC_STATUS.INTERNAL;
    case 401: return GRPC_STATUS.UNAUTHENTICATED;
    case 403: return GRPC_STATUS.PERMISSION_DENIED;
    case 404: return GRPC_STATUS.UNIMPLEMENTED;
    case 429: case 502: case 503: return GRPC_STATUS.UNAVAILABLE;
    case 504: return GRPC_STATUS.DEADLINE_EXCEEDED;
    default: return GRPC_STATUS.UNKNOWN;
  }
}

/** grpc-timeout: up to 8 digits and a unit (H M S m u n) → milliseconds; undefined when absent or malformed. */
export function parseGrpcTimeout(v: string | string[] | undefined): number | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v.trim());
  if (m === null) return undefined;
  const n = Number(m[1]);
  const unit = m[2];
  const ms = unit === 'H' ? n * 3_600_000 : unit === 'M' ? n * 60_000 : unit === 'S' ? n * 1000 : unit === 'm' ? n : unit === 'u' ? n / 1000 : n / 1e6;
  return Math.max(1, Math.ceil(ms));
}

/**
 * A local reply as a trailers-only gRPC response: HTTP 200, grpc-status and grpc-message in the
 * only HEADERS frame. The message is the gateway's short text, never internal detail.
 */
export function sendGrpcLocalReply(res: ServerResponse, httpStatus: number, message: string, requestId: string, grpcStatus?: number): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers = {
    'content-type': 'application/grpc',
    'grpc-status': String(grpcStatus ?? grpcStatusFor(httpStatus)),
    'grpc-message': encodeURIComponent(message),
    'x-request-id': requestId,
  };
  // Over HTTP/2, a head ended with no body and no trailers is one HEADERS frame with END_STREAM (h2-front.ts):
  // trailers-only, as gRPC clients expect.
  res.writeHead(200, headers);
  res.end();
}
