// The RateLimitService client against a real gRPC server (over the gateway's own HTTP/2 pool):
// what it sends, and how each kind of answer (OK, OVER_LIMIT, UNKNOWN, a gRPC error, no answer
// within the timeout) comes back.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import grpc from '@grpc/grpc-js';
import { askRateLimitService } from '../../src/dataplane/policies/rate-limit-service-client.js';
import { UpstreamCluster } from '../../src/dataplane/upstream-pool.js';
import type { IRCluster } from '../../src/ir/types.js';
import { startRateLimitServer, type RateLimitServer } from '../support/rate-limit-grpc-server.js';

let rls: RateLimitServer;
let cluster: UpstreamCluster;

before(async () => {
  rls = await startRateLimitServer();
  const ir: IRCluster = {
    name: 'ratelimitservice_test', service: `127.0.0.1:${rls.port}`, namespace: 'default', scheme: 'http',
    endpoints: [{ host: '127.0.0.1', port: rls.port }], dns: false, http2: true, connectTimeoutMs: 3000, idleTimeoutMs: 0,
    loadBalancer: { policy: 'round_robin' }, circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
    outlierDetection: { consecutiveFailures: 5, baseEjectionMs: 30000 },
  };
  cluster = new UpstreamCluster(ir, [], {}, Math.random);
});
after(async () => {
  cluster.close();
  await rls.close();
});

const ask = (timeoutMs = 5000) => askRateLimitService(cluster, 'd', [[{ key: 'k', value: 'v' }]], timeoutMs);

test('the domain and every descriptor reach the service, entries in order', async () => {
  rls.answer = () => ({ overall_code: 'OK', request_headers_to_add: [{ key: 'x-limit', value: 'ok' }], response_headers_to_add: [{ key: 'x-remaining', value: '9' }] });
  const a = await askRateLimitService(cluster, 'ambassador', [[{ key: 'generic_key', value: 'a' }, { key: 'remote_address', value: '10.0.0.1' }], [{ key: 'k', value: 'v' }]], 5000);
  assert.deepEqual(a, { kind: 'ok', requestHeaders: [{ key: 'x-limit', value: 'ok' }], responseHeaders: [{ key: 'x-remaining', value: '9' }] });
  const last = rls.requests.at(-1)!;
  assert.equal(last.domain, 'ambassador');
  assert.deepEqual(last.descriptors.map((d) => d.entries.map((e) => [e.key, e.value])), [[['generic_key', 'a'], ['remote_address', '10.0.0.1']], [['k', 'v']]]);
});

test('OVER_LIMIT carries the service headers and body', async () => {
  rls.answer = () => ({ overall_code: 'OVER_LIMIT', response_headers_to_add: [{ key: 'retry-after', value: '7' }], raw_body: Buffer.from('slow down') });
  const a = await ask();
  assert.equal(a.kind, 'over_limit');
  if (a.kind !== 'over_limit') return;
  assert.deepEqual(a.responseHeaders, [{ key: 'retry-after', value: '7' }]);
  assert.equal(a.body?.toString(), 'slow down');
});

test('UNKNOWN is within the limits, as Envoy reads it', async () => {
  rls.answer = () => ({ overall_code: 'UNKNOWN' });
  assert.equal((await ask()).kind, 'ok');
});

test('a gRPC error and a missing answer are errors, the latter within the timeout', async () => {
  rls.answer = () => ({ error: grpc.status.INTERNAL });
  const e = await ask();
  assert.equal(e.kind, 'error');
  assert.match(e.kind === 'error' ? e.detail : '', /grpc_status_13/);
  rls.answer = () => 'never';
  const t = await ask(50);
  assert.equal(t.kind, 'error');
  assert.match(t.kind === 'error' ? t.detail : '', /timeout/);
});
