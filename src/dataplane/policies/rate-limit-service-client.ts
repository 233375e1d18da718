// The client side of an Emissary RateLimitService: one ShouldRateLimit call
// (envoy.service.ratelimit.v3, protocol_version v3) per request that has descriptors, over the
// shared unary gRPC call (grpc-unary.ts) and the service cluster's pooled HTTP/2 sessions.
//
// Only what a call sends and reads, with Envoy's field numbers and wire types; names shortened.

import { grpcMessageTypes } from './grpc-message-types.js';
import type { UpstreamCluster } from '../upstream-pool.js';
import { grpcUnary } from '../grpc-unary.js';
import type { Descriptor } from './rate-limit-descriptors.js';

const PROTO = `
syntax = "proto3";
package portico.ratelimit;

message Entry { string key = 1; string value = 2; }
message RateLimitDescriptor { repeated Entry entries = 1; }
message RateLimitRequest { string domain = 1; repeated RateLimitDescriptor descriptors = 2; uint32 hits_addend = 3; }
message HeaderValue { string key = 1; string value = 2; }
message RateLimitResponse {
  int32 overall_code = 1;
  repeated HeaderValue response_headers_to_add = 3;
  repeated HeaderValue request_headers_to_add = 4;
  bytes raw_body = 5;
}
`;

/** The message types, built on first use: a gateway with no RateLimitService never loads protobufjs. */
const types = grpcMessageTypes(PROTO, 'portico.ratelimit.RateLimitRequest', 'portico.ratelimit.RateLimitResponse');

export const SHOULD_RATE_LIMIT_PATH = '/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit';

/** RateLimitResponse.Code */
const OVER_LIMIT = 2;

export interface HeaderValueMessage {
  readonly key: string;
  readonly value: string;
}

/** What the service said. `error` covers every failure to get an answer (timeout, unavailable, a gRPC error). */
export type ServiceAnswer =
  | { readonly kind: 'ok'; readonly requestHeaders: readonly HeaderValueMessage[]; readonly responseHeaders: readonly HeaderValueMessage[] }
  | { readonly kind: 'over_limit'; readonly responseHeaders: readonly HeaderValueMessage[]; readonly body: Buffer | undefined }
  | { readonly kind: 'error'; readonly detail: string };

export function encodeRateLimitRequest(domain: string, descriptors: readonly Descriptor[]): Uint8Array {
  return types().request.encode({ domain, descriptors: descriptors.map((d) => ({ entries: d })) }).finish();
}

interface DecodedResponse {
  overall_code?: number;
  response_headers_to_add?: HeaderValueMessage[];
  request_headers_to_add?: HeaderValueMessage[];
  raw_body?: Uint8Array;
}

function plain(hs: readonly HeaderValueMessage[] | undefined): HeaderValueMessage[] {
  return hs === undefined ? [] : hs.map((h) => ({ key: h.key, value: h.value }));
}

/** The answer in a ShouldRateLimit reply, as Envoy applies it. */
export function decodeRateLimitResponse(message: Buffer): ServiceAnswer {
  let r: DecodedResponse;
  try {
    r = types().response.decode(message) as unknown as DecodedResponse;
  } catch (err) {
    return { kind: 'error', detail: `rate limit service: malformed answer (${(err as Error).message})` };
  }
  const responseHeaders = plain(r.response_headers_to_add);
  if (r.overall_code === OVER_LIMIT) {
    const body = r.raw_body !== undefined && r.raw_body.length > 0 ? Buffer.from(r.raw_body) : undefined;
    return { kind: 'over_limit', responseHeaders, body };
  }
  // Envoy takes any answer but OVER_LIMIT (UNKNOWN included) as within the limits.
  return { kind: 'ok', requestHeaders: plain(r.request_headers_to_add), responseHeaders };
}

/** Ask about one request; never rejects. `signal` cancels the call when the client goes away. */
export async function askRateLimitService(
  cluster: UpstreamCluster | undefined, domain: string, descriptors: readonly Descriptor[], timeoutMs: number, signal?: AbortSignal,
): Promise<ServiceAnswer> {
  const reply = await grpcUnary(cluster, SHOULD_RATE_LIMIT_PATH, encodeRateLimitRequest(domain, descriptors), { deadlineMs: timeoutMs, ...(signal ? { signal } : {}) });
  if (!reply.ok) return { kind: 'error', detail: `rate limit service: ${reply.error}` };
  return decodeRateLimitResponse(reply.message);
}
