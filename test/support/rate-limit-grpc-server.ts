// A real gRPC rate limit service (envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit,
// from test/testdata/ratelimit/ratelimit.proto) on a loopback port: it records every request it is
// asked and answers with whatever the test's `answer` function returns.

import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const RATE_LIMIT_PROTO_PATH = fileURLToPath(new URL('../../../test/testdata/ratelimit/ratelimit.proto', import.meta.url));

/** A ShouldRateLimit request as the server reads it. */
export interface RateLimitRequestMessage {
  readonly domain: string;
  readonly descriptors: readonly { readonly entries: readonly { readonly key: string; readonly value: string }[] }[];
  readonly hits_addend?: number;
}

export interface RateLimitAnswer {
  readonly overall_code: 'OK' | 'OVER_LIMIT' | 'UNKNOWN';
  readonly response_headers_to_add?: readonly { key: string; value: string }[];
  readonly request_headers_to_add?: readonly { key: string; value: string }[];
  readonly raw_body?: Buffer;
}

/** What the service does for one call: an answer, a gRPC error, or nothing ever (to hit the timeout). */
export type Behaviour = RateLimitAnswer | { readonly error: grpc.status } | 'never';

export interface RateLimitServer {
  readonly port: number;
  /** Every request asked, in order. */
  readonly requests: RateLimitRequestMessage[];
  /** Set what the next calls get. */
  answer: (req: RateLimitRequestMessage) => Behaviour;
  /** Resolves when `n` requests have been asked in all. */
  asked(n: number): Promise<void>;
  close(): Promise<void>;
}

export async function startRateLimitServer(answer: (req: RateLimitRequestMessage) => Behaviour = () => ({ overall_code: 'OK' })): Promise<RateLimitServer> {
  const def = protoLoader.loadSync(RATE_LIMIT_PROTO_PATH, { keepCase: true, longs: Number, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    envoy: { service: { ratelimit: { v3: { RateLimitService: { service: grpc.ServiceDefinition } } } } };
  };
  const server = new grpc.Server();
  const requests: RateLimitRequestMessage[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const never: grpc.ServerUnaryCall<RateLimitRequestMessage, unknown>[] = [];
  const state: RateLimitServer = {
    port: 0,
    requests,
    answer,
    asked: (n) =>
      requests.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
  server.addService(pkg.envoy.service.ratelimit.v3.RateLimitService.service, {
    ShouldRateLimit: (call: grpc.ServerUnaryCall<RateLimitRequestMessage, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      requests.push(call.request);
      for (const w of waiters.filter((x) => requests.length >= x.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      const b = state.answer(call.request);
      if (b === 'never') {
        never.push(call);
        return;
      }
      if ('error' in b) {
        callback({ code: b.error, details: 'refused by the test' });
        return;
      }
      callback(null, b);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  (state as { port: number }).port = port;
  return state;
}
