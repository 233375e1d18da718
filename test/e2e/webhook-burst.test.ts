// A burst of valid webhooks against a real `serve --workers 1` (16.7): every delivery is answered, the
// central source is fetched about once a second however many arrive, and traffic keeps being served by
// the worker while the main process fetches — no request fails during the burst.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { freePort } from '../support/free-port.js';
import { cleartextGatewayYaml, mappingYaml } from '../support/policy-yaml.js';
import { removeDir, tempDir, TestRepo } from '../sources/git-fixture.js';
import { ServeProcess } from '../serve/serve-harness.js';
import { eventually, request } from '../serve/http-client.js';
import { githubSignature } from '../../src/controller/webhooks.js';

const SECRET = 'burst-secret-0123';
const root = tempDir('webhook-burst');
let echo: EchoUpstream | undefined;
let proc: ServeProcess | undefined;
after(async () => {
  await proc?.stop();
  await echo?.close();
  removeDir(root);
});

function deliver(admin: string, i: number): Promise<number> {
  const body = JSON.stringify({ ref: 'refs/heads/main', after: i.toString(16).padStart(40, '0') });
  const u = new URL(`${admin}/hooks/github`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'x-hub-signature-256': githubSignature(SECRET, body), 'x-github-delivery': `burst-${i}` } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('300 signed webhooks: all answered, few fetches, no request lost (16.7)', async () => {
  echo = await startEcho('web');
  const port = await freePort();
  const central = new TestRepo(root, 'central');
  central.write('gateway.yaml', cleartextGatewayYaml(port) + '---\n' + mappingYaml('web', '/', echo.port)).commit('v1');
  proc = new ServeProcess(['--source', `ops=${central.bare}#main`, '--state', join(root, 'state'), '--admin', '127.0.0.1:0', '--workers', '1', '--access-log', 'off', '--webhook-secret', SECRET, '--poll-interval', '1h']);
  await proc.ready();
  const config = await proc.config();
  assert.equal(config.workers.length, 1, 'one worker process serves traffic; the main process fetches');

  const t0 = performance.now();
  const statuses: number[] = [];
  const served: number[] = [];
  for (let batch = 0; batch < 10; batch++) {
    const hooks = Array.from({ length: 30 }, (_, i) => deliver(proc!.admin, batch * 30 + i));
    const traffic = Array.from({ length: 3 }, () => request(`http://127.0.0.1:${port}/x`, { headers: { host: 'edge.example.com' } }).then((r) => r.status));
    statuses.push(...(await Promise.all(hooks)));
    served.push(...(await Promise.all(traffic)));
  }
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(statuses.filter((s) => s === 202).length, 300, 'every delivery is answered 202');
  assert.deepEqual([...new Set(served)], [200], 'traffic is served throughout the burst');
  const fetchCount = async (): Promise<number> => Number(/^portico_source_fetches_total\{source="ops"\} (\d+)/m.exec((await request(`${proc!.admin}/metrics`)).body)?.[1] ?? NaN);
  // At most one fetch a second: the one at start, those the burst's seconds allow, and one coalesced after it.
  const fetches = await fetchCount();
  assert.ok(fetches >= 1 && fetches <= Math.ceil(seconds) + 2, `${fetches} fetches for 300 deliveries in ${seconds.toFixed(1)} s`);
  const settled = await eventually('the coalesced fetch after the burst', async () => {
    const n = await fetchCount();
    return n > 1 ? n : undefined;
  });
  assert.ok(settled <= Math.ceil(seconds) + 3, `${settled} fetches in all`);
  proc.signal('SIGTERM');
  assert.equal((await proc.exited).code, 0);
});
