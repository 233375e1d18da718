// The client of an Emissary RateLimitService: one gRPC ShouldRateLimit call
// (envoy.service.ratelimit.v3, proto/ratelimit.proto) per request that has descriptors, bounded by
// the service's timeout_ms. Channels are kept per cluster for the life of the process.

import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import type { IRCluster, IRTLSContext } from '../../ir/types.js';
import type { SecretStore } from '../../ir/secrets.js';
import type { Descriptor } from './rate-limit-descriptors.js';

const PROTO_PATH = fileURLToPath(new URL('../../../../proto/ratelimit.proto', import.meta.url));
const SERVICE = 'envoy.service.ratelimit.v3.RateLimitService';

/** The request and response as proto-loader gives them (keepCase: the proto's own field names). */
export interface RateLimitRequestMessage {
  readonly domain: string;
  readonly descriptors: readonly { readonly entries: readonly { readonly key: string; readonly value: string }[] }[];
  readonly hits_addend?: number;
}

export interface HeaderValueMessage {
  readonly key: string;
  readonly value: string;
}

export interface RateLimitResponseMessage {
  readonly overall_code: 'UNKNOWN' | 'OK' | 'OVER_LIMIT';
  readonly statuses?: readonly unknown[];
  readonly response_headers_to_add?: readonly HeaderValueMessage[];
  readonly request_headers_to_add?: readonly HeaderValueMessage[];
  readonly raw_body?: Buffer;
}

type ShouldRateLimit = protoLoader.MethodDefinition<RateLimitRequestMessage, RateLimitResponseMessage>;

let method: ShouldRateLimit | undefined;

/** The method's (de)serialisers, loaded from the .proto on first use. */
export function shouldRateLimitMethod(): ShouldRateLimit {
  if (method === undefined) {
    const def = protoLoader.loadSync(PROTO_PATH, { keepCase: true, longs: Number, enums: String, defaults: true });
    method = (def[SERVICE] as protoLoader.ServiceDefinition)['ShouldRateLimit'] as ShouldRateLimit;
  }
  return method;
}

/** The path of the .proto, for the tests' server. */
export const RATE_LIMIT_PROTO_PATH = PROTO_PATH;

/** What the service said. `error` covers every failure to get an answer (timeout, unavailable, a gRPC error). */
export type ServiceAnswer =
  | { readonly kind: 'ok'; readonly requestHeaders: readonly HeaderValueMessage[]; readonly responseHeaders: readonly HeaderValueMessage[] }
  | { readonly kind: 'over_limit'; readonly responseHeaders: readonly HeaderValueMessage[]; readonly body: Buffer | undefined }
  | { readonly kind: 'error'; readonly detail: string };

/** Channel credentials for the cluster: TLS with its context's CA and client certificate, or cleartext. */
function credentialsFor(cluster: IRCluster, contexts: readonly IRTLSContext[], secrets: SecretStore | undefined): grpc.ChannelCredentials {
  if (cluster.scheme !== 'https') return grpc.credentials.createInsecure();
  const ctx = cluster.tls?.context === undefined ? undefined : contexts.find((c) => c.name === cluster.tls?.context);
  const ca = ctx?.ca === undefined ? undefined : secrets?.[ctx.ca.secret]?.caPem;
  const pair = ctx?.certificate === undefined ? undefined : secrets?.[ctx.certificate.secret];
  const buf = (t: string | undefined): Buffer | null => (t === undefined ? null : Buffer.from(t));
  return grpc.credentials.createSsl(buf(ca), buf(pair?.keyPem), buf(pair?.certPem));
}

/** Clients by cluster settings: generations of the IR that keep the service share its channels. */
const clients = new Map<string, RateLimitServiceClient>();

export class RateLimitServiceClient {
  private readonly channels: grpc.Client[];
  private next = 0;

  private constructor(cluster: IRCluster, contexts: readonly IRTLSContext[], secrets: SecretStore | undefined) {
    const creds = credentialsFor(cluster, contexts, secrets);
    const options: grpc.ClientOptions = {};
    if (cluster.tls?.sni !== undefined) options['grpc.ssl_target_name_override'] = cluster.tls.sni;
    // One channel per endpoint, taken in turn (the cluster's endpoints as the IR lists them).
    this.channels = cluster.endpoints.map((e) => new grpc.Client(`${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`, creds, options));
  }

  /** The process's client for this cluster (created on first use). */
  static for(cluster: IRCluster, contexts: readonly IRTLSContext[], secrets: SecretStore | undefined): RateLimitServiceClient {
    const key = JSON.stringify([cluster.scheme, cluster.endpoints, cluster.tls ?? null]);
    let c = clients.get(key);
    if (c === undefined) {
      c = new RateLimitServiceClient(cluster, contexts, secrets);
      clients.set(key, c);
    }
    return c;
  }

  /** Ask about one request; never rejects. `signal` aborts the call when the client goes away. */
  ask(domain: string, descriptors: readonly Descriptor[], timeoutMs: number, signal?: AbortSignal): Promise<ServiceAnswer> {
    if (this.channels.length === 0) return Promise.resolve({ kind: 'error', detail: 'the rate limit service has no endpoints' });
    const channel = this.channels[this.next++ % this.channels.length] as grpc.Client;
    const m = shouldRateLimitMethod();
    const request: RateLimitRequestMessage = { domain, descriptors: descriptors.map((d) => ({ entries: d })) };
    return new Promise<ServiceAnswer>((resolve) => {
      const call = channel.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        signal?.removeEventListener('abort', cancel);
        if (err !== null && err !== undefined) {
          resolve({ kind: 'error', detail: `rate limit service: ${grpc.status[err.code] ?? err.code} ${err.details}` });
          return;
        }
        if (res === undefined) {
          resolve({ kind: 'error', detail: 'rate limit service: empty answer' });
          return;
        }
        resolve(answerOf(res));
      });
      const cancel = (): void => call.cancel();
      signal?.addEventListener('abort', cancel, { once: true });
    });
  }
}

export function answerOf(res: RateLimitResponseMessage): ServiceAnswer {
  const responseHeaders = res.response_headers_to_add ?? [];
  if (res.overall_code === 'OVER_LIMIT') {
    return { kind: 'over_limit', responseHeaders, body: res.raw_body !== undefined && res.raw_body.length > 0 ? res.raw_body : undefined };
  }
  // Envoy takes any answer but OVER_LIMIT (UNKNOWN included) as within the limits.
  return { kind: 'ok', requestHeaders: res.request_headers_to_add ?? [], responseHeaders };
}
