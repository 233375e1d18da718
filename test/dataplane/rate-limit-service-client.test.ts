// The RateLimitService client against a real gRPC server: what it sends, and how each kind of
// answer (OK, OVER_LIMIT, a gRPC error, no answer within the timeout) comes back.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import grpc from '@grpc/grpc-js';
import { RateLimitServiceClient } from '../../src/dataplane/policies/rate-limit-service-client.js';
import type { IRCluster } from '../../src/ir/types.js';
import { startRateLimitServer, type RateLimitServer } from '../support/rate-limit-grpc-server.js';

let rls: RateLimitServer;
let client: RateLimitServiceClient;

before(async () => {
  rls = await startRateLimitServer();
  const cluster: IRCluster = {
    name: 'ratelimitservice_test', service: `127.0.0.1:${rls.port}`, namespace: 'default', scheme: 'http',
    endpoints: [{ host: '127.0.0.1', port: rls.port }], dns: false, http2: true, connectTimeoutMs: 3000, idleTimeoutMs: 0,
    loadBalancer: { policy: 'round_robin' }, circuitBreakers: { maxConnections: 1, maxPendingRequests: 1, maxRequests: 1, maxRetries: 1 },
    outlierDetection: { consecutiveFailures: 5, baseEjectionMs: 30000 },
  };
  client = RateLimitServiceClient.for(cluster, [], undefined);
});
after(() => rls.close());

test('the domain and every descriptor reach the service, entries in order', async () => {
  rls.answer = () => ({ overall_code: 'OK', request_headers_to_add: [{ key: 'x-limit', value: 'ok' }], response_headers_to_add: [{ key: 'x-remaining', value: '9' }] });
  const a = await client.ask('ambassador', [[{ key: 'generic_key', value: 'a' }, { key: 'remote_address', value: '10.0.0.1' }], [{ key: 'k', value: 'v' }]], 5000);
  assert.deepEqual(a, { kind: 'ok', requestHeaders: [{ key: 'x-limit', value: 'ok' }], responseHeaders: [{ key: 'x-remaining', value: '9' }] });
  const last = rls.requests.at(-1)!;
  assert.equal(last.domain, 'ambassador');
  assert.deepEqual(last.descriptors.map((d) => d.entries.map((e) => [e.key, e.value])), [[['generic_key', 'a'], ['remote_address', '10.0.0.1']], [['k', 'v']]]);
});

test('OVER_LIMIT carries the service headers and body', async () => {
  rls.answer = () => ({ overall_code: 'OVER_LIMIT', response_headers_to_add: [{ key: 'retry-after', value: '7' }], raw_body: Buffer.from('slow down') });
  const a = await client.ask('d', [[{ key: 'k', value: 'v' }]], 5000);
  assert.equal(a.kind, 'over_limit');
  if (a.kind !== 'over_limit') return;
  assert.deepEqual(a.responseHeaders, [{ key: 'retry-after', value: '7' }]);
  assert.equal(a.body?.toString(), 'slow down');
});

test('UNKNOWN is within the limits, as Envoy reads it', async () => {
  rls.answer = () => ({ overall_code: 'UNKNOWN' });
  assert.equal((await client.ask('d', [[{ key: 'k', value: 'v' }]], 5000)).kind, 'ok');
});

test('a gRPC error and a missing answer are errors, the latter within the timeout', async () => {
  rls.answer = () => ({ error: grpc.status.UNAVAILABLE });
  const e = await client.ask('d', [[{ key: 'k', value: 'v' }]], 5000);
  assert.equal(e.kind, 'error');
  rls.answer = () => 'never';
  const t = await client.ask('d', [[{ key: 'k', value: 'v' }]], 50);
  assert.equal(t.kind, 'error');
  assert.match(t.kind === 'error' ? t.detail : '', /DEADLINE_EXCEEDED/);
});
