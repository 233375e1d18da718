// An Emissary RateLimitService in front of real routes: a real gRPC rate limit server records the
// descriptors every label form becomes and answers OK, OVER_LIMIT, an error or nothing; the client
// sees 200, 429 with the service's headers, or the failure mode.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import grpc from '@grpc/grpc-js';
import { compileYaml } from '../support/compile-yaml.js';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { request } from '../support/http-client.js';
import { cleartextGatewayYaml } from '../support/policy-yaml.js';
import { startRateLimitServer, type RateLimitServer } from '../support/rate-limit-grpc-server.js';
import { startHttpAuth, type HttpAuthServer } from '../support/auth-servers.js';

function config(rlsPort: number, upPort: number, service: string): string {
  return `${cleartextGatewayYaml(8080)}---
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata:
  name: ambassador
spec:
  config:
    default_labels:
      ambassador:
        defaults:
        - generic_key:
            value: every-route
---
${service}
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
  name: labelled
spec:
  hostname: "*"
  prefix: /labelled/
  service: 127.0.0.1:${upPort}
  labels:
    ambassador:
    - every_form:
      - source_cluster:
          key: source_cluster
      - destination_cluster:
          key: destination_cluster
      - remote_address:
          key: remote_address
      - request_headers:
          key: user
          header_name: x-user
      - generic_key:
          value: plain
      - generic_key:
          key: tier
          value: gold
    - pseudo_headers:
      - request_headers:
          key: method
          header_name: ":method"
      - request_headers:
          key: authority
          header_name: ":authority"
      - request_headers:
          key: path
          header_name: ":path"
    - needs_a_header:
      - request_headers:
          key: tenant
          header_name: x-tenant
          omit_if_not_present: true
    other_domain:
    - never_sent:
      - generic_key:
          value: other
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
  name: unlabelled
spec:
  hostname: "*"
  prefix: /unlabelled/
  service: 127.0.0.1:${upPort}
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
  name: header-only
spec:
  hostname: "*"
  prefix: /header-only/
  service: 127.0.0.1:${upPort}
  labels:
    ambassador:
    - tenant_only:
      - request_headers:
          key: tenant
          header_name: x-tenant
`;
}

function rlsYaml(port: number, extra = ''): string {
  return `apiVersion: getambassador.io/v3alpha1
kind: RateLimitService
metadata:
  name: rls
spec:
  service: 127.0.0.1:${port}
  protocol_version: v3
  timeout_ms: 5000
${extra}`;
}

const entries = (r: RateLimitServer, i: number): string[][] => r.requests[i]!.descriptors.map((d) => d.entries.map((e) => `${e.key}=${e.value}`));

describe('RateLimitService', () => {
  let rls: RateLimitServer;
  let up: EchoUpstream;
  let gw: TestGateway;
  let cluster: string;
  before(async () => {
    rls = await startRateLimitServer();
    up = await startEcho('up');
    const c = compileYaml(config(rls.port, up.port, rlsYaml(rls.port)));
    cluster = c.ir.clusters.find((x) => x.service === `127.0.0.1:${up.port}`)!.name;
    gw = await startGateway(c.ir);
  });
  after(async () => {
    await gw.close();
    await up.close();
    await rls.close();
  });

  it('sends one descriptor per label group, every label form as Emissary builds it, the defaults first', async () => {
    rls.answer = () => ({ overall_code: 'OK' });
    const before = rls.requests.length;
    const r = await request(gw.port, { path: '/labelled/x?q=1', headers: { host: 'shop.example', 'x-user': 'alice', 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(r.status, 200);
    assert.equal(rls.requests.length, before + 1);
    assert.equal(rls.requests[before]!.domain, 'ambassador');
    assert.deepEqual(entries(rls, before), [
      ['generic_key=every-route', 'source_cluster=default-default', `destination_cluster=${cluster}`, 'remote_address=127.0.0.1', 'user=alice', 'generic_key=plain', 'tier=gold'],
      ['generic_key=every-route', 'method=GET', 'authority=shop.example', 'path=/labelled/x?q=1'],
      // needs_a_header: x-tenant is missing, so the whole group is dropped
    ]);
  });

  it('drops a group when its header is missing, and sends it when present', async () => {
    const before = rls.requests.length;
    await request(gw.port, { path: '/labelled/x', headers: { host: 'shop.example', 'x-tenant': 't1' } });
    const sent = entries(rls, before);
    assert.equal(sent.length, 2, 'every_form lacks x-user: dropped; pseudo_headers and needs_a_header sent');
    assert.deepEqual(sent[1], ['generic_key=every-route', 'tenant=t1']);
  });

  it('a Mapping without labels sends the default labels as one group', async () => {
    const before = rls.requests.length;
    assert.equal((await request(gw.port, { path: '/unlabelled/' })).status, 200);
    assert.deepEqual(entries(rls, before), [['generic_key=every-route']]);
  });

  it('asks nothing when every group was dropped', async () => {
    const before = rls.requests.length;
    const r = await request(gw.port, { path: '/header-only/' });
    assert.equal(r.status, 200);
    assert.equal(rls.requests.length, before, 'the service was not asked');
  });

  it('OK: the service\'s request headers reach the upstream, its response headers the client', async () => {
    rls.answer = () => ({ overall_code: 'OK', request_headers_to_add: [{ key: 'x-ratelimit-tier', value: 'gold' }], response_headers_to_add: [{ key: 'x-ratelimit-remaining', value: '41' }] });
    const seen = up.received.length;
    const r = await request(gw.port, { path: '/unlabelled/' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-ratelimit-remaining'], '41');
    assert.deepEqual(up.received[seen]!.headers.filter(([n]) => n.toLowerCase() === 'x-ratelimit-tier').map(([, v]) => v), ['gold']);
  });

  it('OVER_LIMIT: 429 with the service\'s headers and body; the upstream never sees the request', async () => {
    rls.answer = () => ({ overall_code: 'OVER_LIMIT', response_headers_to_add: [{ key: 'retry-after', value: '30' }, { key: 'content-type', value: 'text/plain' }], raw_body: Buffer.from('slow down') });
    const seen = up.received.length;
    const r = await request(gw.port, { path: '/unlabelled/' });
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '30');
    assert.equal(r.headers['x-envoy-ratelimited'], 'true');
    assert.equal(r.body, 'slow down');
    assert.equal(up.received.length, seen);
    assert.equal(gw.done.at(-1)?.localReply, 'rate_limited');
  });

  it('OVER_LIMIT without a body: the gateway\'s JSON reply', async () => {
    rls.answer = () => ({ overall_code: 'OVER_LIMIT' });
    const r = await request(gw.port, { path: '/unlabelled/' });
    assert.equal(r.status, 429);
    assert.equal(JSON.parse(r.body).code, 'rate_limited');
  });

  it('a gRPC request over the limit gets grpc-status UNAVAILABLE', async () => {
    rls.answer = () => ({ overall_code: 'OVER_LIMIT' });
    const r = await request(gw.port, { method: 'POST', path: '/unlabelled/svc/Method', headers: { host: 'x', 'content-type': 'application/grpc', te: 'trailers' }, body: Buffer.alloc(5) });
    assert.equal(r.headers['grpc-status'], String(grpc.status.UNAVAILABLE));
  });

  it('the service failing lets the request through (failure_mode_deny is false)', async () => {
    rls.answer = () => ({ error: grpc.status.INTERNAL });
    assert.equal((await request(gw.port, { path: '/unlabelled/' })).status, 200);
    assert.match(gw.done.at(-1)?.upstreamError ?? '', /rate limit service/);
  });
});

describe('RateLimitService failure_mode_deny, timeout and use_resource_exhausted_code', () => {
  let rls: RateLimitServer;
  let up: EchoUpstream;
  let gw: TestGateway;
  before(async () => {
    rls = await startRateLimitServer();
    up = await startEcho('up');
    const svc = `apiVersion: getambassador.io/v3alpha1
kind: RateLimitService
metadata:
  name: rls
spec:
  service: 127.0.0.1:${rls.port}
  protocol_version: v3
  timeout_ms: 100
  failure_mode_deny: true
  grpc:
    use_resource_exhausted_code: true
`;
    gw = await startGateway(compileYaml(config(rls.port, up.port, svc)).ir);
  });
  after(async () => {
    await gw.close();
    await up.close();
    await rls.close();
  });

  it('a service that never answers: the request is answered, 500, once the timeout passes', async () => {
    rls.answer = () => 'never';
    const r = await request(gw.port, { path: '/unlabelled/' });
    assert.equal(r.status, 500);
    assert.equal(JSON.parse(r.body).code, 'rate_limit_error');
  });

  it('a service error: 500', async () => {
    rls.answer = () => ({ error: grpc.status.UNAVAILABLE });
    assert.equal((await request(gw.port, { path: '/unlabelled/' })).status, 500);
  });

  it('a gRPC request over the limit gets RESOURCE_EXHAUSTED', async () => {
    rls.answer = () => ({ overall_code: 'OVER_LIMIT' });
    const r = await request(gw.port, { method: 'POST', path: '/unlabelled/svc/Method', headers: { host: 'x', 'content-type': 'application/grpc', te: 'trailers' }, body: Buffer.alloc(5) });
    assert.equal(r.headers['grpc-status'], String(grpc.status.RESOURCE_EXHAUSTED));
  });
});

describe('AuthService before the RateLimitService', () => {
  let rls: RateLimitServer;
  let auth: HttpAuthServer;
  let up: EchoUpstream;
  let gw: TestGateway;
  before(async () => {
    rls = await startRateLimitServer();
    auth = await startHttpAuth('auth');
    up = await startEcho('up');
    const authYaml = `---
apiVersion: getambassador.io/v3alpha1
kind: AuthService
metadata:
  name: auth
spec:
  auth_service: 127.0.0.1:${auth.port}
  proto: http
  allowed_request_headers: [x-want-status]
`;
    gw = await startGateway(compileYaml(config(rls.port, up.port, rlsYaml(rls.port)) + authYaml).ir);
  });
  after(async () => {
    await gw.close();
    await up.close();
    await auth.close();
    await rls.close();
  });

  it('a request the auth service refuses is never counted: the rate limit service is not asked', async () => {
    rls.answer = () => ({ overall_code: 'OK' });
    const asked = rls.requests.length;
    const refused = await request(gw.port, { path: '/unlabelled/', headers: { host: 'x', 'x-want-status': '401' } });
    assert.equal(refused.status, 401);
    assert.equal(rls.requests.length, asked);
    assert.deepEqual(gw.done.at(-1)?.policies, ['auth AuthService default/auth', 'deny']);
    const allowed = await request(gw.port, { path: '/unlabelled/', headers: { host: 'x' } });
    assert.equal(allowed.status, 200);
    assert.equal(rls.requests.length, asked + 1);
    assert.deepEqual(gw.done.at(-1)?.policies, ['auth AuthService default/auth', 'allow', 'rate_limit RateLimitService default/rls', 'allow']);
  });
});
