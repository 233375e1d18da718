import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AggregatorRegistry, Registry } from 'prom-client';
import { TrafficMetrics } from '../../src/admin/metrics.js';
import type { RequestInfo } from '../../src/dataplane/runtime-types.js';

function info(over: Partial<RequestInfo>): RequestInfo {
  return {
    generation: 1, listener: 'l', method: 'GET', path: '/', authority: 'a', status: 200, route: 'default/r', cluster: 'c',
    durationMs: 1, bytesIn: 0, bytesOut: 0, clientAddress: '127.0.0.1', requestId: 'x', ...over,
  } as RequestInfo;
}

describe('request tallies in the Prometheus exposition', () => {
  it('puts a latency on a bucket bound into that bucket, and buckets are cumulative', async () => {
    const m = new TrafficMetrics();
    m.observe(info({ durationMs: 1 })); // exactly le=0.001
    m.observe(info({ durationMs: 1.2 }));
    m.observe(info({ durationMs: 40_000 })); // beyond the last bound: only +Inf
    const text = await m.registry.metrics();
    assert.match(text, /portico_request_duration_seconds_bucket\{le="0\.0005",route="default\/r",cluster="c"\} 0\n/);
    assert.match(text, /portico_request_duration_seconds_bucket\{le="0\.001",route="default\/r",cluster="c"\} 1\n/);
    assert.match(text, /portico_request_duration_seconds_bucket\{le="0\.0025",route="default\/r",cluster="c"\} 2\n/);
    assert.match(text, /portico_request_duration_seconds_bucket\{le="30",route="default\/r",cluster="c"\} 2\n/);
    assert.match(text, /portico_request_duration_seconds_bucket\{le="\+Inf",route="default\/r",cluster="c"\} 3\n/);
    assert.match(text, /portico_request_duration_seconds_count\{route="default\/r",cluster="c"\} 3\n/);
    assert.match(text, /portico_request_duration_seconds_sum\{route="default\/r",cluster="c"\} 40\.0022/);
    assert.match(text, /portico_requests_total\{route="default\/r",cluster="c",status_class="2xx"\} 3\n/);
  });

  it('sums across worker registries the way the primary merges them', async () => {
    const a = new TrafficMetrics(new Registry());
    const b = new TrafficMetrics(new Registry());
    a.observe(info({ status: 503 }));
    b.observe(info({ status: 503 }));
    b.observe(info({ status: 200, route: undefined, cluster: undefined }));
    const merged = AggregatorRegistry.aggregate([await a.registry.getMetricsAsJSON(), await b.registry.getMetricsAsJSON()]);
    const text = await merged.metrics();
    assert.match(text, /portico_requests_total\{route="default\/r",cluster="c",status_class="5xx"\} 2\n/);
    assert.match(text, /portico_requests_total\{route="",cluster="",status_class="2xx"\} 1\n/);
    assert.match(text, /portico_request_duration_seconds_count\{route="default\/r",cluster="c"\} 2\n/);
  });
});
