// Active health checks (Emissary's Mapping `health_checks`): compiled with Emissary's defaults, probed
// over HTTP and gRPC against real upstreams, and an endpoint that fails them leaves the balancing until it passes again.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { loadFiles } from '../../src/load/index.js';
import { compile } from '../../src/compile/index.js';
import { compileYaml } from '../support/compile-yaml.js';
import { buildIR, backend, cluster, route } from '../support/ir-builder.js';
import { startGateway } from '../support/gateway-server.js';
import { request } from '../serve/http-client.js';
import { whenTrue } from '../support/wait-until.js';
import type { IRHealthCheck } from '../../src/ir/types.js';
import type { ClusterHealth } from '../../src/dataplane/upstream-health.js';

const closers: (() => Promise<void>)[] = [];

/**
 * 'probe' as an upstream receives a health check. Probes come every interval, each after the gateway
 * took in the answer to the one before: a state the checks reached is seen at the next probe.
 */
const probes = new EventEmitter();

/** Resolves once `check` holds for the gateway's health state, looked at as each probe arrives. */
const healthReaches = (what: string, check: () => boolean): Promise<boolean> => whenTrue(what, check, [[probes, 'probe']]);
after(async () => {
  for (const c of closers.reverse()) await c();
});

interface Upstream {
  readonly port: number;
  /** Status /health answers with (changeable while running). */
  health: number;
  readonly probes: http.IncomingHttpHeaders[];
  served: number;
}

async function upstream(name: string, health: number): Promise<Upstream> {
  const u: Upstream = { port: 0, health, probes: [], served: 0 };
  const server = http.createServer((req, res) => {
    if (req.url === '/health') {
      u.probes.push(req.headers);
      res.writeHead(u.health).end();
      probes.emit('probe');
      return;
    }
    u.served++;
    res.writeHead(200, { 'content-type': 'text/plain' }).end(name);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  (u as { port: number }).port = (server.address() as AddressInfo).port;
  closers.push(() => new Promise((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));
  return u;
}

const HTTP_CHECK: IRHealthCheck = {
  timeoutMs: 1000,
  intervalMs: 100,
  healthyThreshold: 2,
  unhealthyThreshold: 2,
  http: { path: '/health', hostname: 'health.internal', addHeaders: [{ name: 'x-probe', value: 'portico', append: false }], removeHeaders: [], expectedStatuses: [{ min: 200, max: 204 }] },
};

function endpointState(h: ClusterHealth[], port: number): string | undefined {
  return h[0]?.endpoints.find((e) => e.port === port)?.active?.state;
}

describe('active health checks', () => {
  it('compile with Emissary defaults, are part of the cluster identity, and report bad values on the Mapping', () => {
    const yaml = (name: string, checks: string) => `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: ${name}}
spec:
  hostname: "*"
  prefix: /${name}/
  service: quote:8080
  health_checks:
${checks}
`;
    const r = compileYaml([yaml('a', '  - health_check: {http: {path: /ready}}'), yaml('b', '  - health_check: {grpc: {upstream_name: quote.v1}}\n    interval: 2s')].join('---\n'));
    assert.equal(r.report.problems.filter((p) => p.code === 'NotImplemented').length, 0, 'health_checks is no longer a NotImplemented field');
    const byMapping = new Map(r.ir.clusters.map((c) => [c.healthChecks?.[0]?.http ? 'a' : 'b', c]));
    assert.equal(r.ir.clusters.length, 2, 'different checks make different clusters');
    assert.deepEqual(byMapping.get('a')!.healthChecks, [
      { timeoutMs: 3000, intervalMs: 5000, healthyThreshold: 1, unhealthyThreshold: 2, http: { path: '/ready', addHeaders: [], removeHeaders: [], expectedStatuses: [{ min: 200, max: 200 }] } },
    ]);
    assert.deepEqual(byMapping.get('b')!.healthChecks, [{ timeoutMs: 3000, intervalMs: 2000, healthyThreshold: 1, unhealthyThreshold: 2, grpc: { service: 'quote.v1' } }]);

    const bad = loadFiles([{ path: 'bad.yaml', content: yaml('c', '  - health_check: {http: {path: /ready}}\n    interval: soon') }]);
    const out = compile(bad.resources, {}, bad.problems);
    const p = out.report.problems.find((x) => x.field === 'spec.health_checks[0].interval');
    assert.ok(p, 'the bad interval is reported on its field');
    assert.equal(p.severity, 'error');
    assert.equal(p.resource?.name, 'c');
    assert.equal(out.ir.clusters.length, 0, 'the Mapping with the bad check is not served without it');
  });

  it('take an endpoint that fails HTTP checks out of balancing, and back once it passes again', async () => {
    const good = await upstream('good', 200);
    const bad = await upstream('bad', 503);
    const ir = buildIR({
      routes: [route('r', { prefix: '/' }, [backend('c')])],
      clusters: [cluster('c', good.port, { endpoints: [{ host: '127.0.0.1', port: good.port }, { host: '127.0.0.1', port: bad.port }], healthChecks: [HTTP_CHECK] })],
    });
    const gw = await startGateway(ir);
    closers.push(() => gw.close());
    const health = () => gw.runtime.upstreamHealth!();
    await healthReaches('the failing endpoint held out', () => endpointState(health(), bad.port) === 'unhealthy' && endpointState(health(), good.port) === 'healthy');
    const snapshot = health()[0]!;
    assert.equal(snapshot.state, 'Degraded');
    assert.equal(snapshot.endpoints.find((e) => e.port === bad.port)!.usable, false);
    assert.match(snapshot.endpoints.find((e) => e.port === bad.port)!.active!.lastFailure!.message, /status 503/);
    assert.equal(bad.probes[0]!.host, 'health.internal', 'the check sends its hostname');
    assert.equal(bad.probes[0]!['x-probe'], 'portico', 'and its added headers');

    const before = bad.served;
    for (let i = 0; i < 20; i++) assert.equal((await request(`${gw.origin}/x${i}`)).body, 'good');
    assert.equal(bad.served, before, 'no request reached the endpoint held out');

    bad.health = 204;
    await healthReaches('the endpoint back after two passes', () => endpointState(health(), bad.port) === 'healthy');
    const names = new Set<string>();
    for (let i = 0; i < 10; i++) names.add((await request(`${gw.origin}/y${i}`)).body);
    assert.deepEqual([...names].sort(), ['bad', 'good'], 'round robin uses both again');
  });

  it('probe gRPC endpoints with grpc.health.v1 and hold out one that is NOT_SERVING', async () => {
    const asked: string[] = [];
    const serving = new Map<number, number>();
    const servers: number[] = [];
    for (const status of [1, 2]) {
      const server = http2.createServer();
      server.on('stream', (stream, headers) => {
        const chunks: Buffer[] = [];
        stream.on('data', (b: Buffer) => chunks.push(b));
        stream.on('end', () => {
          const body = Buffer.concat(chunks);
          // The request: one gRPC frame holding HealthCheckRequest{service} (field 1, length-delimited).
          asked.push(`${String(headers[':path'])} ${body.subarray(7).toString()}`);
          stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, serving.get(port)!]));
          probes.emit('probe');
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      serving.set(port, status);
      servers.push(port);
      closers.push(() => new Promise((r) => server.close(() => r())));
    }
    const [up, down] = servers as [number, number];
    const check: IRHealthCheck = { timeoutMs: 1000, intervalMs: 100, healthyThreshold: 1, unhealthyThreshold: 1, grpc: { service: 'quote.v1' } };
    const ir = buildIR({
      routes: [route('r', { prefix: '/' }, [backend('g')])],
      clusters: [cluster('g', up, { http2: true, endpoints: [{ host: '127.0.0.1', port: up }, { host: '127.0.0.1', port: down }], healthChecks: [check] })],
    });
    const gw = await startGateway(ir);
    closers.push(() => gw.close());
    const health = () => gw.runtime.upstreamHealth!();
    await healthReaches('one SERVING, one NOT_SERVING', () => endpointState(health(), up) === 'healthy' && endpointState(health(), down) === 'unhealthy');
    assert.equal(health()[0]!.endpoints.find((e) => e.port === down)!.active!.lastResult, 'NOT_SERVING');
    assert.ok(asked.includes('/grpc.health.v1.Health/Check quote.v1'), `asked: ${asked.join(', ')}`);
  });
});
