// Three `portico serve` replicas and a real redis-server, polling once an hour: a webhook sent to one
// replica makes all three live (nothing else could, in the time); with Redis down they fall back to
// polling and say so, and find a change by themselves; a replica restarted mid-run rejoins the fleet
// and gets the next webhook sent to another one. `portico status --fleet` shows it all in one place.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { GitDaemon, TestRepo, removeDir, tempDir } from '../sources/git-fixture.js';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { get } from '../controller/controller-fixture.js';
import { freePort } from '../support/free-port.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { appliedRevision, httpRequest, PORTICO_BIN, ServeReplica, REPLICA_WAIT, type StatusDocument } from '../support/serve-replica.js';
import { pollUntil } from '../support/wait-until.js';
import type { FleetDocument } from '../../src/fleet/fleet-api.js';

const IDS = ['replica-1', 'replica-2', 'replica-3'];
const SECRET = 'fleet-webhook-secret';

function mapping(port: number): string {
  return `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
  name: shop
spec:
  ambassador_id: [${IDS.join(', ')}]
  hostname: "*"
  prefix: /shop/
  service: 127.0.0.1:${port}
`;
}

function portico(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PORTICO_BIN, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

describe('a fleet of three replicas over Redis', () => {
  const root = tempDir('e2e-fleet');
  const served = join(root, 'served');
  let daemon: GitDaemon;
  let central: TestRepo;
  let shop: TestRepo;
  let redis: RedisServer;
  const echoes: EchoUpstream[] = [];
  const ports = new Map<string, number>();
  const replicas: ServeReplica[] = [];

  before(async () => {
    mkdirSync(served);
    redis = await startRedis();
    for (const name of ['v1', 'v2', 'v3', 'v4', 'v5']) echoes.push(await startEcho(name));
    for (const id of IDS) ports.set(id, await freePort());
    central = new TestRepo(served, 'central');
    shop = new TestRepo(served, 'team-shop');
    daemon = new GitDaemon(served);
    await daemon.start();
    const listeners = IDS.map(
      (id) => `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata:
  name: http-${id}
spec:
  ambassador_id: [${id}]
  port: ${ports.get(id)}
  protocol: HTTP
  securityModel: XFP
  hostBinding:
    namespace:
      from: ALL
---
`,
    ).join('');
    const host = `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata:
  name: cleartext
spec:
  ambassador_id: [${IDS.join(', ')}]
  hostname: "*"
  requestPolicy:
    insecure:
      action: Route
---
apiVersion: portico.dev/v1alpha1
kind: Source
metadata:
  name: shop
spec:
  url: ${daemon.url('team-shop.git')}
  branch: main
  path: deploy
  interval: 1h
  claims:
    kinds: [Mapping]
    hostnames: ["*"]
    pathPrefixes: [/shop/]
`;
    central.write('gateway.yaml', listeners + host).commit('central');
    shop.write('deploy/shop.yaml', mapping(echoes[0]!.port)).commit('shop v1');
    for (const id of IDS) {
      const admin = await freePort();
      const r = new ServeReplica(id, admin, () => [
        '--source', `ops=${daemon.url('central.git')}#main`,
        '--state', join(root, `state-${id}`),
        '--admin', `127.0.0.1:${admin}`,
        '--workers', '0',
        '--access-log', 'off',
        '--ambassador-id', id,
        '--identity', id,
        '--webhook-secret', SECRET,
        // Polling alone would take an hour: only the fleet bus can explain a quick convergence.
        '--poll-interval', '1h',
        '--redis', redis.url,
        '--fleet-heartbeat', '1s',
        '--fleet-fallback-poll', '1s',
      ]);
      replicas.push(r);
    }
    for (const r of replicas) r.start();
    for (const r of replicas) await r.ready();
  });

  after(async () => {
    for (const r of replicas) await r.stop();
    await daemon.stop();
    for (const e of echoes) await e.close();
    await redis.dispose();
    removeDir(root);
  });

  async function allOn(revision: string, upstream: string): Promise<void> {
    for (const r of replicas) {
      await pollUntil(`${r.name} serving shop@${revision.slice(0, 7)}`, async () => ((await appliedRevision(r, 'shop')) === revision ? true : undefined), REPLICA_WAIT);
      assert.equal((await get(ports.get(r.name)!, '/shop/a')).upstream, upstream, `${r.name} routes to ${upstream}`);
    }
  }

  it('one webhook, sent to one replica, makes all three live', async () => {
    await allOn(shop.head(), 'v1');
    await pollUntil('every replica connected to Redis', async () => {
      for (const r of replicas) if ((await r.json<StatusDocument>('/api/v1/status'))?.fleet?.state !== 'Connected') return undefined;
      return true;
    }, REPLICA_WAIT);
    const head = shop.write('deploy/shop.yaml', mapping(echoes[1]!.port)).commit('shop v2');
    assert.equal(await replicas[0]!.webhook(SECRET, 'shop'), 202);
    await allOn(head, 'v2');

    // The fleet in one place: from any replica, and straight from Redis.
    const doc = await pollUntil('three live replicas that agree', async () => {
      const d = await replicas[1]!.json<FleetDocument>('/api/v1/fleet');
      return d && d.live === 3 && d.agreed ? d : undefined;
    }, REPLICA_WAIT);
    assert.deepEqual(doc.replicas.map((r) => [r.replica, r.agrees, r.revisions['shop']]), IDS.map((id) => [id, true, head]));
    assert.equal(doc.consensus?.revisions['shop'], head);
    assert.equal(doc.flagged, 0);
    const cli = await portico(['status', '--fleet', '--redis', redis.url]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /3 live, 0 stale · every live replica agrees/);
    for (const id of IDS) assert.match(cli.stdout, new RegExp(`^${id} .* shop@${head.slice(0, 12)} .* yes$`, 'm'));
    const viaAdmin = await portico(['status', '--fleet', '--admin', `http://127.0.0.1:${replicas[2]!.adminPort}`, '--format', 'json']);
    assert.equal(viaAdmin.code, 0, viaAdmin.stderr);
    assert.equal((JSON.parse(viaAdmin.stdout) as FleetDocument).self, 'replica-3');
    const metrics = (await httpRequest(replicas[0]!.adminPort, '/metrics')).body;
    assert.match(metrics, /^portico_fleet_replicas\{state="live"\} 3$/m);
    assert.match(metrics, /^portico_fleet_bus_connected\{transport="redis"\} 1$/m);
    assert.match(metrics, /^portico_fleet_events_total\{kind="fetch",direction="sent"\} 1$/m);
  });

  it('with Redis down, replicas fall back to polling, say so, and still converge', async () => {
    await redis.stop();
    for (const r of replicas) {
      const fleet = await pollUntil(`${r.name} to report Redis down`, async () => {
        const st = await r.json<StatusDocument>('/api/v1/status');
        return st?.fleet?.state === 'Down' ? st.fleet : undefined;
      }, REPLICA_WAIT);
      assert.match(fleet.message, /unreachable since .*falling back to polling every source every 1s/);
      assert.equal(fleet.fallbackPollSeconds, 1);
      assert.match((await httpRequest(r.adminPort, '/metrics')).body, /^portico_fleet_bus_connected\{transport="redis"\} 0$/m);
      await pollUntil(`${r.name} to log it`, async () => (/fleet: Redis at redis:\/\/127\.0\.0\.1:\d+ \(fleet 'default'\) is unreachable .*polling every source every 1s until it is back/.test(r.output) ? true : undefined), REPLICA_WAIT);
    }
    const cli = await portico(['status', '--admin', `127.0.0.1:${replicas[1]!.adminPort}`]);
    assert.match(cli.stdout, /^fleet: Down: Redis at redis:\/\/127\.0\.0\.1:\d+ \(fleet 'default'\) unreachable/m);
    // No webhook at all: each replica finds the commit by polling.
    const head = shop.write('deploy/shop.yaml', mapping(echoes[2]!.port)).commit('shop v3');
    await allOn(head, 'v3');
    await redis.restart();
    for (const r of replicas) {
      await pollUntil(`${r.name} to reconnect`, async () => ((await r.json<StatusDocument>('/api/v1/status'))?.fleet?.state === 'Connected' ? true : undefined), REPLICA_WAIT);
      assert.match((await httpRequest(r.adminPort, '/metrics')).body, /^portico_fleet_bus_connected\{transport="redis"\} 1$/m);
    }
  });

  it('a replica restarted mid-run rejoins and gets the next webhook sent to another', async () => {
    const third = replicas[2]!;
    assert.equal(await third.stop(), 0);
    const v4 = shop.write('deploy/shop.yaml', mapping(echoes[3]!.port)).commit('shop v4');
    assert.equal(await replicas[0]!.webhook(SECRET), 202);
    for (const r of replicas.slice(0, 2)) await pollUntil(`${r.name} on v4`, async () => ((await appliedRevision(r, 'shop')) === v4 ? true : undefined), REPLICA_WAIT);
    const gone = await pollUntil('replica-3 stale in the fleet view', async () => {
      const d = await replicas[0]!.json<FleetDocument>('/api/v1/fleet');
      return d?.replicas.find((r) => r.replica === 'replica-3')?.stale ? d : undefined;
    }, REPLICA_WAIT);
    assert.equal(gone.live, 2);
    assert.ok(gone.agreed, 'the two live replicas agree; a stale one is not counted');

    third.start();
    await third.ready();
    await allOn(v4, 'v4');
    await pollUntil('replica-3 live and agreeing again', async () => {
      const d = await replicas[0]!.json<FleetDocument>('/api/v1/fleet');
      const me = d?.replicas.find((r) => r.replica === 'replica-3');
      return me && !me.stale && me.agrees && d!.live === 3 ? true : undefined;
    }, REPLICA_WAIT);
    await pollUntil('replica-3 connected', async () => ((await third.json<StatusDocument>('/api/v1/status'))?.fleet?.state === 'Connected' ? true : undefined), REPLICA_WAIT);
    const v5 = shop.write('deploy/shop.yaml', mapping(echoes[4]!.port)).commit('shop v5');
    assert.equal(await replicas[1]!.webhook(SECRET, 'shop'), 202);
    await allOn(v5, 'v5');
  });
});
