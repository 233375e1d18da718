// Two replicas without Redis, whose admin addresses the central repository lists (Module
// portico_fleet_peers): a webhook sent to one makes both live, each sees the other in its fleet
// view, and an event that is not signed with the webhook secret is refused.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { GitDaemon, TestRepo, removeDir, tempDir } from '../sources/git-fixture.js';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { get } from '../controller/controller-fixture.js';
import { freePort } from '../support/free-port.js';
import { appliedRevision, httpRequest, ServeReplica, REPLICA_WAIT, type StatusDocument } from '../support/serve-replica.js';
import { pollUntil } from '../support/wait-until.js';
import { fleetSignature } from '../../src/fleet/peer-fleet-bus.js';
import type { FleetDocument } from '../../src/fleet/fleet-api.js';

const IDS = ['peer-a', 'peer-b'];
const SECRET = 'fleet-peers-secret';

describe('a fleet of two replicas over declared peers', () => {
  const root = tempDir('e2e-fleet-peers');
  let daemon: GitDaemon;
  let central: TestRepo;
  const echoes: EchoUpstream[] = [];
  const listenPorts = new Map<string, number>();
  const replicas: ServeReplica[] = [];

  function gateway(upstream: number, peers: readonly number[]): string {
    const listeners = IDS.map(
      (id) => `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: {name: http-${id}}
spec:
  ambassador_id: [${id}]
  port: ${listenPorts.get(id)}
  protocol: HTTP
  securityModel: XFP
  hostBinding: {namespace: {from: ALL}}
---
`,
    ).join('');
    return `${listeners}apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: {name: ambassador}
spec:
  ambassador_id: [${IDS.join(', ')}]
  config:
    portico_fleet_peers: [${peers.map((p) => `"http://127.0.0.1:${p}"`).join(', ')}]
---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: {name: cleartext}
spec:
  ambassador_id: [${IDS.join(', ')}]
  hostname: "*"
  requestPolicy: {insecure: {action: Route}}
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: shop}
spec:
  ambassador_id: [${IDS.join(', ')}]
  hostname: "*"
  prefix: /shop/
  service: 127.0.0.1:${upstream}
`;
  }

  before(async () => {
    const served = join(root, 'served');
    mkdirSync(served);
    for (const name of ['v1', 'v2']) echoes.push(await startEcho(name));
    for (const id of IDS) listenPorts.set(id, await freePort());
    const admins = [await freePort(), await freePort()];
    central = new TestRepo(served, 'central');
    central.write('gateway.yaml', gateway(echoes[0]!.port, admins)).commit('central v1');
    daemon = new GitDaemon(served);
    await daemon.start();
    IDS.forEach((id, i) => {
      replicas.push(
        new ServeReplica(id, admins[i]!, () => [
          '--source', `ops=${daemon.url('central.git')}#main`,
          '--state', join(root, `state-${id}`),
          '--admin', `127.0.0.1:${admins[i]}`,
          '--workers', '0',
          '--access-log', 'off',
          '--ambassador-id', id,
          '--identity', id,
          '--webhook-secret', SECRET,
          '--poll-interval', '1h',
          '--fleet-heartbeat', '1s',
        ]),
      );
    });
    for (const r of replicas) r.start();
    for (const r of replicas) await r.ready();
  });

  after(async () => {
    for (const r of replicas) await r.stop();
    await daemon.stop();
    for (const e of echoes) await e.close();
    removeDir(root);
  });

  it('a webhook sent to one peer makes both live; each sees the other', async () => {
    for (const r of replicas) {
      await pollUntil(`${r.name} to reach its peer`, async () => ((await r.json<StatusDocument>('/api/v1/status'))?.fleet?.state === 'Connected' ? true : undefined), REPLICA_WAIT);
    }
    const head = central.write('gateway.yaml', gateway(echoes[1]!.port, replicas.map((r) => r.adminPort))).commit('central v2');
    assert.equal(await replicas[0]!.webhook(SECRET), 202);
    for (const r of replicas) {
      await pollUntil(`${r.name} on central v2`, async () => ((await appliedRevision(r, 'ops')) === head ? true : undefined), REPLICA_WAIT);
      assert.equal((await get(listenPorts.get(r.name)!, '/shop/x')).upstream, 'v2');
    }
    const doc = await pollUntil('both peers live and agreeing', async () => {
      const d = await replicas[1]!.json<FleetDocument>('/api/v1/fleet');
      return d && d.live === 2 && d.agreed ? d : undefined;
    }, REPLICA_WAIT);
    assert.equal(doc.bus?.transport, 'peers');
    assert.deepEqual(doc.peers?.map((p) => p.url), [`http://127.0.0.1:${replicas[0]!.adminPort}`]);
  });

  it('refuses a fleet event that is not signed with the webhook secret', async () => {
    const body = JSON.stringify({ kind: 'fetch', id: 'forged-1', from: 'intruder', at: Date.now() });
    const ts = Math.floor(Date.now() / 1000);
    const forged = await httpRequest(replicas[0]!.adminPort, '/hooks/fleet', { method: 'POST', headers: { 'content-type': 'application/json', 'x-portico-timestamp': String(ts), 'x-portico-fleet-signature': fleetSignature('not-the-secret', ts, body) }, body });
    assert.equal(forged.status, 401);
    const unsigned = await httpRequest(replicas[0]!.adminPort, '/hooks/fleet', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(unsigned.status, 401);
    const signed = await httpRequest(replicas[0]!.adminPort, '/hooks/fleet', { method: 'POST', headers: { 'content-type': 'application/json', 'x-portico-timestamp': String(ts), 'x-portico-fleet-signature': fleetSignature(SECRET, ts, body) }, body });
    assert.equal(signed.status, 202);
    const replayed = await httpRequest(replicas[0]!.adminPort, '/hooks/fleet', { method: 'POST', headers: { 'content-type': 'application/json', 'x-portico-timestamp': String(ts), 'x-portico-fleet-signature': fleetSignature(SECRET, ts, body) }, body });
    assert.match(replayed.body, /duplicate event ignored/);
  });
});
