// Edge Stack RateLimits in front of real routes, counted in the process (the Redis-backed store has
// its own tests): 429 with Retry-After at the limit, windows that follow the wall clock (mocked),
// LogOnly, the injected headers and the error response, and the failure mode of an unreachable Redis.

import { after, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { compileYaml } from '../support/compile-yaml.js';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { request } from '../support/http-client.js';
import { cleartextGatewayYaml } from '../support/policy-yaml.js';

const T0 = Date.UTC(2030, 5, 1, 9, 0, 0);

function yaml(upPort: number, module = ''): string {
  const mapping = (name: string, prefix: string, group: string) => `---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
  name: ${name}
spec:
  hostname: "*"
  prefix: ${prefix}
  service: 127.0.0.1:${upPort}
  labels:
    ambassador:
    - group:
      - generic_key:
          value: ${group}
      - remote_address: {key: remote_address}
    elsewhere:
    - other:
      - generic_key:
          value: ${group}
`;
  return `${cleartextGatewayYaml(8080)}${module}${mapping('fixed', '/fixed/', 'fixed')}${mapping('logonly', '/logonly/', 'logonly')}${mapping('templated', '/templated/', 'templated')}${mapping('sliding', '/sliding/', 'sliding')}${mapping('free', '/free/', 'no-limit-matches')}---
apiVersion: getambassador.io/v3alpha1
kind: RateLimit
metadata:
  name: limits
spec:
  domain: ambassador
  limits:
  - name: fixed-two
    pattern: [{generic_key: fixed}, {remote_address: "*"}]
    rate: 2
    unit: Minute
  - name: watch-only
    action: logonly
    pattern: [{generic_key: logonly}]
    rate: 1
    unit: minute
  - name: templated
    pattern: [{generic_key: templated}]
    rate: 1
    unit: minute
    injectRequestHeaders:
    - name: X-Limit-Code
      value: "{{ .RateLimitResponse.OverallCode }}"
    injectResponseHeaders:
    - name: X-Retry-In
      value: "{{ .RetryAfter }}"
    errorResponse:
      headers:
      - name: Content-Type
        value: application/json
      bodyTemplate: '{"error":"{{ .message }}","status":{{ .status_code }}}'
  - name: sliding
    pattern: [{generic_key: sliding}]
    rate: 2
    unit: minute
    burstFactor: 1
`;
}

describe('the built-in limiter (RateLimit)', () => {
  let up: EchoUpstream;
  let gw: TestGateway;
  before(async () => {
    mock.timers.enable({ apis: ['Date'], now: T0 });
    up = await startEcho('up');
    gw = await startGateway(compileYaml(yaml(up.port)).ir);
  });
  after(async () => {
    mock.timers.reset();
    await gw.close();
    await up.close();
  });
  const get = (path: string) => request(gw.port, { path, headers: { host: 'shop.example' } });

  it('admits `rate` requests per wall-clock window, then 429 with Retry-After, and again in the next window', async () => {
    mock.timers.setTime(T0 + 10_000);
    const seen = up.received.length;
    assert.equal((await get('/fixed/')).status, 200);
    assert.equal((await get('/fixed/')).status, 200);
    const refused = await get('/fixed/');
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['retry-after'], '50');
    assert.equal(JSON.parse(refused.body).code, 'rate_limited');
    assert.equal(up.received.length, seen + 2, 'the refused request never reached the upstream');
    assert.match(gw.done.at(-1)?.upstreamError ?? '', /fixed-two/);
    mock.timers.setTime(T0 + 60_000);
    assert.equal((await get('/fixed/')).status, 200, 'a new minute');
  });

  it('LogOnly passes the request and names the limit it went over', async () => {
    mock.timers.setTime(T0 + 120_000);
    assert.equal((await get('/logonly/')).status, 200);
    assert.equal((await get('/logonly/')).status, 200);
    assert.match(gw.done.at(-1)?.upstreamError ?? '', /watch-only/);
  });

  it('injects request and response headers, and answers over the limit with the errorResponse', async () => {
    mock.timers.setTime(T0 + 180_000 + 15_000);
    const seen = up.received.length;
    const ok = await get('/templated/');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['x-retry-in'], '0s');
    assert.deepEqual(up.received[seen]!.headers.filter(([n]) => n.toLowerCase() === 'x-limit-code').map(([, v]) => v), ['1']);
    const over = await get('/templated/');
    assert.equal(over.status, 429);
    assert.equal(over.headers['x-retry-in'], '45s');
    assert.equal(over.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(over.body), { error: 'too many requests; retry later', status: 429 });
  });

  it('burstFactor counts over a sliding window', async () => {
    mock.timers.setTime(T0 + 240_000 + 50_000);
    assert.equal((await get('/sliding/')).status, 200);
    assert.equal((await get('/sliding/')).status, 200);
    // 30 s into the next minute half of the last window still counts: 2 × 0.5 = 1, one more fits
    mock.timers.setTime(T0 + 300_000 + 30_000);
    assert.equal((await get('/sliding/')).status, 200);
    assert.equal((await get('/sliding/')).status, 429, 'a wall-clock window would have started again');
  });

  it('requests whose descriptors match no limit, and labels of another domain, are not limited', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await get('/free/')).status, 200);
  });
});

describe('the built-in limiter when Redis cannot be reached', () => {
  let up: EchoUpstream;
  let closedPort: number;
  const gws: TestGateway[] = [];
  before(async () => {
    up = await startEcho('up');
    // A port that refuses connections: bound, then closed.
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    closedPort = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
  });
  after(async () => {
    for (const g of gws) await g.close();
    await up.close();
  });

  for (const deny of [false, true]) {
    it(`failure_mode_deny ${deny}: the request is answered, ${deny ? '500' : 'let through'}`, async () => {
      const module = `---
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata:
  name: ambassador
spec:
  config:
    portico_rate_limit:
      redis_url: redis://127.0.0.1:${closedPort}
      timeout_ms: 200
      failure_mode_deny: ${deny}
`;
      const gw = await startGateway(compileYaml(yaml(up.port, module)).ir);
      gws.push(gw);
      const r = await request(gw.port, { path: '/fixed/', headers: { host: 'shop.example' } });
      assert.equal(r.status, deny ? 500 : 200);
      if (deny) assert.equal(JSON.parse(r.body).code, 'rate_limit_error');
      assert.match(gw.done.at(-1)?.upstreamError ?? '', /rate limit counts/);
    });
  }
});

describe('a request an earlier policy refuses is never counted (the stage order: auth and filters first)', () => {
  let up: EchoUpstream;
  let gw: TestGateway;
  before(async () => {
    up = await startEcho('up');
    const module = `---
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata:
  name: ambassador
spec:
  config:
    xff_num_trusted_hops: 1
    ip_deny:
    - remote: 203.0.113.0/24
`;
    gw = await startGateway(compileYaml(yaml(up.port, module)).ir);
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  it('three refused requests, then the first admitted one still fits a limit of one', async () => {
    // /templated/ allows one request a minute, whoever sends it
    const from = (xff: string) => request(gw.port, { path: '/templated/', headers: { host: 'shop.example', 'x-forwarded-for': xff } });
    for (let i = 0; i < 3; i++) assert.equal((await from('203.0.113.7')).status, 403);
    const r = await from('198.51.100.1');
    assert.equal(r.status, 200);
    assert.deepEqual(gw.done.at(-1)?.policies, ['ip_filter Module default/ambassador', 'allow', 'rate_limit RateLimit default/limits', 'allow']);
  });
});
