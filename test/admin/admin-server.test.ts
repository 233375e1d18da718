// The admin server on its own: read-only methods, probes, registered handlers (hooks), the route
// table and PEM redaction, and the metric names operators alert on.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AdminServer, parseAdminAddress, type AdminView } from '../../src/admin/admin-server.js';
import { ConfigMetrics, TrafficMetrics, renderMerged, type MetricsJSON } from '../../src/admin/metrics.js';
import { redactedJSON, redactPEM, routeTable } from '../../src/admin/config-view.js';
import { makeIR } from '../serve/ir-fixtures.js';
import { request } from '../serve/http-client.js';

const KEY = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n';

async function startAdmin(view: Partial<AdminView> = {}): Promise<{ admin: AdminServer; url: string; ready: { value: boolean } }> {
  const ready = { value: false };
  const ir = makeIR([{ port: 8080, routes: ['/a/', '/b/'] }]);
  const admin = new AdminServer({
    ready: () => ready.value,
    config: () => ({ generation: 3, ir, note: KEY }),
    routes: () => ({ routes: routeTable(ir) }),
    metrics: async () => 'portico_config_generation 3\n',
    ...view,
  });
  const addr = await admin.listen('127.0.0.1', 0);
  after(() => admin.close());
  return { admin, url: `http://127.0.0.1:${addr.port}`, ready };
}

describe('admin server', () => {
  it('answers liveness always and readiness only when ready, on both path families', async () => {
    const { url, ready } = await startAdmin();
    assert.equal((await request(`${url}/healthz`)).status, 200);
    assert.equal((await request(`${url}/ambassador/v0/check_alive`)).status, 200);
    assert.equal((await request(`${url}/readyz`)).status, 503);
    assert.equal((await request(`${url}/ambassador/v0/check_ready`)).status, 503);
    ready.value = true;
    assert.equal((await request(`${url}/readyz`)).status, 200);
    assert.equal((await request(`${url}/ambassador/v0/check_ready`)).status, 200);
  });

  it('is read-only: every method but GET and HEAD gets 405 with Allow', async () => {
    const { url } = await startAdmin();
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const r = await request(`${url}/api/v1/config`, { method, body: '{}' });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, 'GET, HEAD');
    }
    const head = await request(`${url}/api/v1/config`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal((await request(`${url}/nope`)).status, 404);
  });

  it('serves the configuration with PEM material redacted, and the route table', async () => {
    const { url } = await startAdmin();
    const c = await request(`${url}/api/v1/config`);
    assert.equal(c.status, 200);
    assert.doesNotMatch(c.body, /PRIVATE KEY/);
    assert.equal(JSON.parse(c.body).note, '[redacted]');
    assert.equal(JSON.parse(c.body).generation, 3);
    const routes = JSON.parse((await request(`${url}/api/v1/routes`)).body).routes;
    assert.deepEqual(
      routes.map((r: { id: string; match: string; port: number }) => [r.id, r.match, r.port]),
      [
        ['default/a', 'prefix /a/', 8080],
        ['default/b', 'prefix /b/', 8080],
      ],
    );
    assert.match(routes[0].mappings[0], /Mapping\/default\/a \(test\.yaml:1:1\)/);
  });

  it('serves metrics in the Prometheus text format', async () => {
    const { url } = await startAdmin();
    const m = await request(`${url}/metrics`);
    assert.equal(m.status, 200);
    assert.match(String(m.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(m.body, /portico_config_generation 3/);
  });

  it('routes registered prefixes (status, hooks) and allows POST only under /hooks/', async () => {
    const { admin, url } = await startAdmin();
    admin.register('/api/v1/status', (_req, res) => void res.writeHead(200).end('status'));
    admin.register('/hooks/', (req, res, u) => void res.writeHead(202).end(`${req.method} ${u.pathname}`), { methods: ['POST'] });
    assert.equal((await request(`${url}/api/v1/status`)).body, 'status');
    assert.equal((await request(`${url}/api/v1/status/central`)).body, 'status');
    assert.equal((await request(`${url}/api/v1/status`, { method: 'POST' })).status, 405);
    const hook = await request(`${url}/hooks/github`, { method: 'POST', body: '{}' });
    assert.equal(hook.status, 202);
    assert.equal(hook.body, 'POST /hooks/github');
    assert.equal((await request(`${url}/hooks/github`)).status, 405);
    assert.throws(() => admin.register('/api/v1/reload', () => {}, { methods: ['POST'] }), { code: 'PORTICO_ERR_ADMIN_MUTATING_ROUTE' });
  });

  it('parses --admin addresses and rejects bad ones', () => {
    assert.deepEqual(parseAdminAddress('127.0.0.1:8877'), { host: '127.0.0.1', port: 8877 });
    assert.deepEqual(parseAdminAddress('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseAdminAddress('localhost:9000'), { host: 'localhost', port: 9000 });
    for (const bad of ['8877', '127.0.0.1', '127.0.0.1:99999', ':80', '::1:80']) assert.throws(() => parseAdminAddress(bad), /HOST:PORT/, bad);
  });

  it('redacts PEM blocks anywhere in a value', () => {
    const out = redactPEM({ a: [{ b: KEY }], c: 'plain' });
    assert.deepEqual(out, { a: [{ b: '[redacted]' }], c: 'plain' });
  });

  it('prints JSON with PEM blocks redacted, in the same text as redacting first', () => {
    for (const value of [{ a: [{ b: KEY }], c: 'plain', n: 1, u: undefined }, { plain: ['x', { y: null }] }, [KEY], 'plain', null]) {
      const text = redactedJSON(value);
      assert.equal(text, JSON.stringify(redactPEM(value), null, 2));
      assert.doesNotMatch(text, /BEGIN/);
    }
  });
});

describe('metrics', () => {
  it('counts requests by route, cluster and status class, with latency and upstream errors', async () => {
    const t = new TrafficMetrics();
    const base = { generation: 1, listener: 'l', method: 'GET', path: '/', authority: 'x', durationMs: 12, bytesIn: 0, bytesOut: 0, clientAddress: '127.0.0.1', requestId: 'r' };
    t.observe({ ...base, status: 200, route: 'default/a', cluster: 'c1' });
    t.observe({ ...base, status: 503, route: 'default/a', cluster: 'c1', upstreamError: 'connect_refused', localReply: 'upstream_unavailable' });
    t.observe({ ...base, status: 404, localReply: 'no_route' });
    const text = await t.registry.metrics();
    assert.match(text, /portico_requests_total\{route="default\/a",cluster="c1",status_class="2xx"\} 1/);
    assert.match(text, /portico_requests_total\{route="default\/a",cluster="c1",status_class="5xx"\} 1/);
    assert.match(text, /portico_requests_total\{route="",cluster="",status_class="4xx"\} 1/);
    assert.match(text, /portico_request_duration_seconds_bucket\{le="0\.025",route="default\/a",cluster="c1"\} 2/);
    assert.match(text, /portico_upstream_errors_total\{cluster="c1",error="connect_refused"\} 1/);
    assert.match(text, /portico_local_replies_total\{reason="no_route"\} 1/);
  });

  it('exposes configuration metrics and merges workers by summing their series', async () => {
    const c = new ConfigMetrics();
    c.generation.set(7);
    c.applyFailures.inc({ source: 'dir', reason: 'EADDRINUSE' });
    const w1 = new TrafficMetrics();
    const w2 = new TrafficMetrics();
    const info = { generation: 7, listener: 'l', method: 'GET', path: '/', authority: 'x', status: 200, route: 'r', cluster: 'c', durationMs: 1, bytesIn: 0, bytesOut: 0, clientAddress: '', requestId: '' };
    w1.observe(info);
    w2.observe(info);
    w2.observe(info);
    const text = await renderMerged(c.registry, [(await w1.registry.getMetricsAsJSON()) as MetricsJSON, (await w2.registry.getMetricsAsJSON()) as MetricsJSON]);
    assert.match(text, /portico_requests_total\{route="r",cluster="c",status_class="2xx"\} 3/);
    assert.match(text, /portico_config_generation 7/);
    assert.match(text, /portico_config_apply_failures_total\{source="dir",reason="EADDRINUSE"\} 1/);
    for (const name of ['portico_config_applies_total', 'portico_workers', 'portico_worker_restarts_total', 'portico_request_duration_seconds']) {
      assert.ok(text.includes(`# TYPE ${name} `), name);
    }
  });
});
