// The Routes page's traffic columns through a real `serve` with a worker process: the requests the
// worker served reach the page (asked of the worker over IPC), with each route's 5xx share and
// Emissary's colours.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { freePort } from '../support/free-port.js';
import { cleartextGatewayYaml, mappingYaml } from '../support/policy-yaml.js';
import { pollUntil } from '../support/wait-until.js';
import { removeDir, tempDir } from '../sources/git-fixture.js';
import { ServeProcess } from '../serve/serve-harness.js';
import { request } from '../serve/http-client.js';

const root = tempDir('diag-traffic');
const echoes: EchoUpstream[] = [];
let proc: ServeProcess;
let port: number;

interface Row {
  readonly id: string;
  readonly traffic?: { readonly requests: number; readonly share5xx: number; readonly p99ms?: number; readonly health: string };
}

before(async () => {
  const good = await startEcho('good');
  const failing = await startEcho('failing', () => ({ status: 503 }));
  echoes.push(good, failing);
  port = await freePort();
  const dir = join(root, 'config');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'gateway.yaml'), [cleartextGatewayYaml(port), mappingYaml('orders', '/orders/', good.port), mappingYaml('failing', '/failing/', failing.port), mappingYaml('quiet', '/quiet/', good.port)].join('---\n'));
  proc = new ServeProcess(['--config', dir, '--admin', '127.0.0.1:0', '--workers', '1', '--access-log', 'off']);
  await proc.ready();
});

after(async () => {
  proc?.signal('SIGTERM');
  await proc?.exited;
  await Promise.all(echoes.map((e) => e.close()));
  removeDir(root);
});

describe('diagnostics: traffic per route', () => {
  it('shows what the worker served: requests, 5xx share and colour per route', async () => {
    const routesPage = async (): Promise<Map<string, Row>> => {
      const body = JSON.parse((await request(`${proc.admin}/api/v1/diag/routes`)).body) as { routes: Row[] };
      return new Map(body.routes.map((r) => [r.id, r]));
    };
    // The first look is the base of the window the page counts over (before any request).
    assert.equal((await routesPage()).get('default/orders')?.traffic, undefined);
    for (let i = 0; i < 20; i++) assert.equal((await request(`http://127.0.0.1:${port}/orders/${i}`)).status, 200);
    for (let i = 0; i < 10; i++) assert.equal((await request(`http://127.0.0.1:${port}/failing/${i}`)).status, 503);
    // The worker reports its tallies when the page asks; a page polls, and so does this test.
    const rows = await pollUntil("the worker's requests on the routes page", async () => {
      const byId = await routesPage();
      return byId.get('default/orders')?.traffic?.requests === 20 && byId.get('default/failing')?.traffic?.requests === 10 ? byId : false;
    });
    const orders = rows.get('default/orders')!.traffic!;
    const failing = rows.get('default/failing')!.traffic!;
    assert.deepEqual([orders.share5xx, orders.health], [0, 'green']);
    assert.deepEqual([failing.share5xx, failing.health], [1, 'red']);
    assert.equal(typeof orders.p99ms, 'number', 'a p99 from the latency buckets');
    assert.equal(rows.get('default/quiet')!.traffic, undefined, 'a route with no requests has no traffic');
  });
});
