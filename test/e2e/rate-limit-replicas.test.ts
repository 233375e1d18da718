// Two real `portico serve` processes and a real redis-server: a RateLimit's count is shared by both
// replicas, also by requests that come at once (batched into shared calls); when Redis is stopped mid-run every request is still answered, with each replica's
// failure mode; without Redis, a replica counts alone and says so in its log.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigDir, ServeProcess } from '../serve/serve-harness.js';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { freePort } from '../support/free-port.js';
import { request } from '../support/http-client.js';
import { cleartextGatewayYaml } from '../support/policy-yaml.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { eventually } from '../serve/http-client.js';

const HOUR = 3_600_000;

function policy(upPort: number, failureModeDeny: boolean): string {
  return `apiVersion: getambassador.io/v3alpha1
kind: Module
metadata:
  name: ambassador
spec:
  config:
    portico_rate_limit:
      # a busy test machine must not turn a slow answer into the failure mode
      timeout_ms: 5000
      failure_mode_deny: ${failureModeDeny}
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
  name: limited
spec:
  hostname: "*"
  prefix: /limited/
  service: 127.0.0.1:${upPort}
  labels:
    ambassador:
    - per_client:
      - generic_key:
          value: replicas
      - remote_address: {key: remote_address}
---
apiVersion: getambassador.io/v3alpha1
kind: RateLimit
metadata:
  name: replicas
spec:
  domain: ambassador
  limits:
  - name: four-an-hour
    pattern:
    - generic_key: replicas
    - remote_address: "*"
    rate: 4
    unit: hour
`;
}

interface Replica {
  readonly dir: ConfigDir;
  readonly proc: ServeProcess;
  readonly port: number;
}

async function replica(upPort: number, env: NodeJS.ProcessEnv, failureModeDeny: boolean, cleanups: (() => Promise<void>)[]): Promise<Replica> {
  const dir = await ConfigDir.create();
  cleanups.push(() => dir.dispose());
  const port = await freePort();
  await dir.write('gateway.yaml', cleartextGatewayYaml(port));
  await dir.write('policy.yaml', policy(upPort, failureModeDeny));
  const proc = new ServeProcess(['--config', dir.path, '--admin', '127.0.0.1:0', '--workers', '0', '--access-log', 'off'], env);
  cleanups.push(() => proc.stop());
  await proc.ready();
  return { dir, proc, port };
}

const get = (r: Replica) => request(r.port, { path: '/limited/x', headers: { host: 'shop.example' } });

describe('the built-in limiter across two serve processes', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let redis: RedisServer;
  let up: EchoUpstream;
  let a: Replica;
  let b: Replica;
  before(async () => {
    redis = await startRedis();
    cleanups.push(() => redis.dispose());
    up = await startEcho('up');
    cleanups.push(() => up.close());
    const env = { ...process.env, REDIS_URL: redis.url };
    // Replica a lets requests through when it cannot count; replica b refuses them.
    [a, b] = await Promise.all([replica(up.port, env, false, cleanups), replica(up.port, env, true, cleanups)]);
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('one count for both replicas: four requests an hour in all, whichever replica gets them', async () => {
    // The limit counts per wall-clock hour: a run that crosses an hour boundary starts again.
    for (let attempt = 0; attempt < 2; attempt++) {
      const hour = Math.floor(Date.now() / HOUR);
      await redisFlush(redis);
      const statuses: number[] = [];
      for (const r of [a, b, a, b, a, b]) statuses.push((await get(r)).status);
      if (Math.floor(Date.now() / HOUR) !== hour) continue;
      assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
      const refused = await get(a);
      assert.equal(refused.status, 429);
      assert.equal(JSON.parse(refused.body).code, 'rate_limited');
      const wait = Number(refused.headers['retry-after']);
      assert.ok(wait >= 1 && wait <= 3600, `Retry-After ${String(refused.headers['retry-after'])}`);
      return;
    }
    assert.fail('two attempts crossed an hour boundary');
  });

  it('concurrent requests to both replicas (batched into shared calls): exactly four get through', async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const hour = Math.floor(Date.now() / HOUR);
      await redisFlush(redis);
      const all = await Promise.all(Array.from({ length: 24 }, (_, i) => get(i % 2 === 0 ? a : b)));
      if (Math.floor(Date.now() / HOUR) !== hour) continue;
      const statuses = all.map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 200).length, 4, statuses.join(' '));
      assert.equal(statuses.filter((s) => s === 429).length, 20, statuses.join(' '));
      return;
    }
    assert.fail('two attempts crossed an hour boundary');
  });

  it('Redis stopped mid-run: every request is still answered, with each replica\'s failure mode', async () => {
    await redis.stop();
    const [ra, rb] = await Promise.all([get(a), get(b)]);
    assert.equal(ra.status, 200, 'failure_mode_deny: false lets the request through');
    assert.equal(rb.status, 500, 'failure_mode_deny: true refuses it');
    assert.equal(JSON.parse(rb.body).code, 'rate_limit_error');
    // each replica logs the outage once
    await eventually('the outage in the logs', async () => [a, b].every((r) => r.proc.stderr.some((l) => l.includes('Redis at redis://127.0.0.1') && l.includes('unreachable'))));
  });

  it('Redis back: counting resumes on its own', async () => {
    await redis.restart();
    await eventually('a counted request', async () => (await get(b)).status === 200);
  });
});

describe('the built-in limiter without Redis', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let up: EchoUpstream;
  let solo: Replica;
  before(async () => {
    up = await startEcho('up');
    cleanups.push(() => up.close());
    const env = { ...process.env };
    delete env['REDIS_URL'];
    solo = await replica(up.port, env, false, cleanups);
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('counts in the process and warns that limits are per replica', async () => {
    const hour = Math.floor(Date.now() / HOUR);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await get(solo)).status);
    if (Math.floor(Date.now() / HOUR) === hour) assert.deepEqual(statuses, [200, 200, 200, 200, 429]);
    assert.ok(solo.proc.stderr.some((l) => l.includes('counts are kept per serving process')), solo.proc.stderr.join('\n'));
  });
});

/** FLUSHALL over a raw connection: each attempt starts from zero. */
async function redisFlush(redis: RedisServer): Promise<void> {
  const net = await import('node:net');
  await new Promise<void>((resolve, reject) => {
    const s = net.connect(redis.port, '127.0.0.1');
    s.once('connect', () => s.write('FLUSHALL\r\n'));
    s.once('data', () => {
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
}
