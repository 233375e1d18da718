// Module ip_allow / ip_deny end to end (docs/reference/policies.md): the TCP peer for `peer` rules,
// the trusted client address for `remote` ones (X-Forwarded-For only with trusted hops), IPv4 and
// IPv6, the one local-reply shape on refusal, WebSocket handshakes and CORS, and the decisions the
// access log and metrics count.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import WebSocket from 'ws';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { request, json } from '../support/http-client.js';
import { compileYaml } from '../support/compile-yaml.js';
import { cleartextGatewayYaml, mappingYaml } from '../support/policy-yaml.js';
import { loadFiles } from '../../src/load/index.js';
import { compile } from '../../src/compile/index.js';
import { TrafficMetrics } from '../../src/admin/metrics.js';

function moduleYaml(config: string): string {
  return `---\napiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata:\n  name: ambassador\nspec:\n  config:\n${config.replace(/^(?=.)/gm, '    ')}`;
}

function gatewayYaml(echoPort: number, config: string, mappingExtra = ''): string {
  return `${cleartextGatewayYaml(8080)}---\n${mappingYaml('echo', '/', echoPort, mappingExtra.replace(/^(?=.)/gm, '  '))}${moduleYaml(config)}`;
}

describe('ip_allow and ip_deny at the edge', () => {
  let echo: EchoUpstream;
  const gateways: TestGateway[] = [];
  const start = async (config: string, mappingExtra = '', host?: string): Promise<TestGateway> => {
    const gw = await startGateway(compileYaml(gatewayYaml(echo.port, config, mappingExtra)).ir, host ? { host } : {});
    gateways.push(gw);
    return gw;
  };
  before(async () => {
    echo = await startEcho('echo');
  });
  after(async () => {
    for (const g of gateways) await g.close();
    await echo.close();
  });

  it('ip_allow by peer: the loopback client passes, a list without it gets 403 ip_denied in the local-reply shape', async () => {
    const open = await start('ip_allow:\n- peer: 127.0.0.1\n');
    assert.equal((await request(open.port, { path: '/a', headers: { host: 'example.com' } })).status, 200);
    const closed = await start('ip_allow:\n- peer: 10.0.0.0/8\n- remote: 192.0.2.0/24\n');
    const seen = echo.received.length;
    const r = await request(closed.port, { path: '/a', headers: { host: 'example.com' } });
    assert.equal(r.status, 403);
    assert.equal(r.headers['content-type'], 'application/json');
    const body = json<{ status: number; code: string; requestId: string }>(r);
    assert.equal(body.code, 'ip_denied');
    assert.equal(body.requestId, r.headers['x-request-id']);
    assert.equal(echo.received.length, seen, 'the upstream never sees a refused request');
    const info = closed.done.at(-1)!;
    assert.equal(info.localReply, 'ip_denied');
    assert.deepEqual(info.policies, ['ip_filter Module default/ambassador', 'deny']);
  });

  it('with no trusted hop a client-sent X-Forwarded-For changes nothing (HARDENING §41: the trusted address decides)', async () => {
    const gw = await start('ip_deny:\n- remote: 127.0.0.0/8\n');
    // the client claims to be elsewhere; without trusted hops the peer address is the client
    const r = await request(gw.port, { path: '/a', headers: { host: 'example.com', 'x-forwarded-for': '198.51.100.7' } });
    assert.equal(r.status, 403);
    const allow = await start('ip_allow:\n- remote: 198.51.100.0/24\n');
    assert.equal((await request(allow.port, { path: '/a', headers: { host: 'example.com', 'x-forwarded-for': '198.51.100.7' } })).status, 403);
  });

  it('with one trusted hop the right-most X-Forwarded-For entry is the client: remote rules match it, peer rules still the connection', async () => {
    const gw = await start('xff_num_trusted_hops: 1\nip_deny:\n- remote: 203.0.113.0/24\n- remote: 2001:db8::/32\n');
    const get = (xff: string) => request(gw.port, { path: '/a', headers: { host: 'example.com', 'x-forwarded-for': xff } });
    assert.equal((await get('203.0.113.9')).status, 403);
    assert.equal((await get('203.0.113.9, 198.51.100.1')).status, 200, 'only the right-most entry is trusted');
    assert.equal((await get('198.51.100.1, 203.0.113.9')).status, 403);
    assert.equal((await get('2001:db8::17')).status, 403, 'IPv6 client behind the trusted proxy');
    assert.equal((await get('2001:db9::17')).status, 200);
    const peer = await start('xff_num_trusted_hops: 1\nip_deny:\n- peer: 127.0.0.1\n');
    assert.equal((await request(peer.port, { path: '/a', headers: { host: 'example.com', 'x-forwarded-for': '198.51.100.1' } })).status, 403, 'peer is the connection, whatever the header says');
  });

  it('IPv6 peers match IPv6 rules (when this machine has an IPv6 loopback)', async (t) => {
    let gw: TestGateway;
    try {
      gw = await start('ip_allow:\n- peer: ::1/128\n', '', '::1');
    } catch {
      t.skip('no IPv6 loopback here');
      return;
    }
    const get = (): Promise<number> => new Promise((resolve, reject) => {
      const req = http.request({ host: '::1', port: gw.port, path: '/a', headers: { host: 'example.com' }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(await get(), 200);
    const denied = await start('ip_deny:\n- peer: "::1"\n', '', '::1');
    assert.equal(denied.done.length, 0);
    const status = await new Promise<number>((resolve, reject) => {
      http.get({ host: '::1', port: denied.port, path: '/a', headers: { host: 'example.com' }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      }).on('error', reject);
    });
    assert.equal(status, 403);
  });

  it('a WebSocket handshake from a refused address gets the 403 on its socket; an allowed one is tunnelled', async () => {
    const gw = await start('ip_deny:\n- peer: 127.0.0.1\n', 'allow_upgrade: [websocket]\n');
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/ws`, { headers: { host: 'example.com' } });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => reject(new Error('the handshake went through')));
      ws.on('error', () => {});
    });
    assert.equal(status, 403);
    const info = gw.done.at(-1)!;
    assert.equal(info.localReply, 'ip_denied');
    assert.deepEqual(info.policies, ['ip_filter Module default/ambassador', 'deny']);
  });

  it('runs before CORS: a refused address gets no preflight answer; an allowed one does, and a refusal carries the CORS headers', async () => {
    const cors = 'cors:\n  origins: [https://app.example]\n  methods: [GET, POST]\n';
    const denied = await start(`ip_deny:\n- peer: 127.0.0.1\n`, cors);
    const preflight = { method: 'OPTIONS', path: '/a', headers: { host: 'example.com', origin: 'https://app.example', 'access-control-request-method': 'POST' } };
    const r = await request(denied.port, preflight);
    assert.equal(r.status, 403);
    assert.equal(r.headers['access-control-allow-origin'], 'https://app.example', 'a browser can read why it was refused');
    const allowed = await start(`ip_allow:\n- peer: 127.0.0.1\n`, cors);
    const seen = echo.received.length;
    const p = await request(allowed.port, preflight);
    assert.equal(p.status, 200);
    assert.equal(p.headers['access-control-allow-methods'], 'GET,POST');
    assert.equal(echo.received.length, seen);
    assert.deepEqual(allowed.done.at(-1)!.policies, ['ip_filter Module default/ambassador', 'allow', 'cors_preflight', 'answer']);
  });

  it('runs before a redirect Mapping: a refused client is not redirected', async () => {
    const gw = await start('ip_deny:\n- peer: 127.0.0.1\n', 'host_redirect: true\nhost_rewrite: elsewhere.example\n');
    assert.equal((await request(gw.port, { path: '/a', headers: { host: 'example.com' } })).status, 403);
  });

  it('counts decisions by policy and outcome in portico_policy_decisions_total', async () => {
    const gw = await start('ip_allow:\n- peer: 127.0.0.1\n');
    await request(gw.port, { path: '/a', headers: { host: 'example.com' } });
    await request(gw.port, { path: '/b', headers: { host: 'example.com' } });
    const metrics = new TrafficMetrics();
    for (const info of gw.done) metrics.observe(info);
    const text = await metrics.registry.metrics();
    assert.match(text, /portico_policy_decisions_total\{policy="ip_filter",resource="Module default\/ambassador",outcome="allow"\} 2/);
  });
});

describe('ip_allow and ip_deny in compile', () => {
  const problems = (config: string) => {
    const loaded = loadFiles([{ path: 'edge.yaml', content: moduleYaml(config).slice(4) }]);
    return compile(loaded.resources, {}, loaded.problems).report.problems.map((p) => `${p.severity} ${p.code} ${p.field} ${p.origin.line}:${p.origin.col}: ${p.message}`);
  };

  it('an address that is not one is InvalidCIDR at its line, and the revision is refused', () => {
    assert.deepEqual(problems('ip_allow:\n- peer: 10.0.0.0/33\n- remote: not-an-address\n- remote: "2001:db8::/48"\n'), [
      "error InvalidCIDR spec.config.ip_allow[0].peer 8:7: ip_allow[0].peer: '10.0.0.0/33' has a prefix length outside 0-32",
      "error InvalidCIDR spec.config.ip_allow[1].remote 9:7: ip_allow[1].remote: 'not-an-address' is not an IPv4 or IPv6 address",
    ]);
  });

  it('ip_allow and ip_deny together are an error, as in Emissary', () => {
    assert.deepEqual(problems('ip_allow:\n- peer: 127.0.0.1\nip_deny:\n- peer: 10.0.0.1\n').map((p) => p.split(':')[0]), ['error SchemaViolation spec.config.ip_deny 9']);
  });

  it('the IR holds the filter in the global policies; an empty list filters nothing, and no filter leaves the IR as it was', () => {
    const ir = (config: string) => compileYaml(`${cleartextGatewayYaml(8080)}${moduleYaml(config)}`).ir;
    assert.deepEqual(ir('ip_deny:\n- remote: 2001:DB8::/32\n').global.policies?.ipFilter?.principals, [{ kind: 'remote', cidr: '2001:db8::/32' }]);
    assert.equal(ir('ip_allow: []\n').global.policies, undefined);
    assert.equal('policies' in ir('use_remote_address: true\n').global, false);
  });
});
