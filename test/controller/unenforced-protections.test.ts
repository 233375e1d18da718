// Fail closed in git mode (issue 15 item 10): a revision that adds a WebApplicationFirewall — which
// Portico does not enforce — is refused, and the last-known-good revision keeps serving. Real repository,
// real Gateway and request path, echo upstreams.

import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { TestRepo, removeDir, tempDir } from '../sources/git-fixture.js';
import { freePort } from '../support/free-port.js';
import { get, mappingYaml, newController, newGateway, rootSource, sync } from './controller-fixture.js';
import { cleartextGatewayYaml } from '../support/policy-yaml.js';
import { readHistory } from '../../src/controller/history.js';
import type { Gateway } from '../../src/serve/gateway.js';
import type { Controller } from '../../src/controller/controller.js';

const root = tempDir('unenforced');
let v1: EchoUpstream, v2: EchoUpstream;
let gateway: Gateway | undefined;
let controller: Controller | undefined;
before(async () => {
  v1 = await startEcho('orders-v1');
  v2 = await startEcho('orders-v2');
});
after(async () => {
  await controller?.stop();
  gateway?.forceClose();
  await v1.close();
  await v2.close();
  removeDir(root);
});

it('a revision adding a WebApplicationFirewall is refused with the file and line; the previous revision keeps serving', async () => {
  const dir = join(root, 'edge');
  mkdirSync(dir);
  const port = await freePort();
  const repo = new TestRepo(dir, 'edge');
  repo.write('gateway.yaml', cleartextGatewayYaml(port) + '---\n' + mappingYaml('orders', '/orders/', v1.port)).commit('orders v1');
  gateway = newGateway();
  const stateDir = join(dir, 'state');
  controller = newController(gateway, { roots: [rootSource('ops', repo.bare)], stateDir });
  await controller.start();
  assert.equal((await get(port, '/orders/1')).upstream, 'orders-v1');
  const good = repo.head();

  // An Edge Stack firewall, committed together with a change of upstream: neither may go live.
  const waf = 'apiVersion: getambassador.io/v3alpha1\nkind: WebApplicationFirewall\nmetadata:\n  name: waf\nspec:\n  firewallRules:\n  - sourceType: http\n    http: {url: "https://rules.example/owasp.conf"}\n';
  repo.write('waf.yaml', waf).write('gateway.yaml', cleartextGatewayYaml(port) + '---\n' + mappingYaml('orders', '/orders/', v2.port)).commit('add a firewall, orders v2');
  await sync(controller);

  const st = controller.status().find((s) => s.name === 'ops')!;
  assert.equal(st.state, 'Refused');
  assert.equal(st.appliedRevision, good);
  assert.match(st.message, /waf\.yaml:2:1: .*WebApplicationFirewall default\/waf is refused: Portico does not enforce web application firewall rules/);
  assert.equal((await get(port, '/orders/1')).upstream, 'orders-v1', 'the last-known-good revision still serves');
  const refused = readHistory(stateDir, { source: 'ops' }).at(-1)!;
  assert.equal(refused.result, 'Rejected');
  assert.ok(refused.problems!.some((p) => p.code === 'NotEnforced'));
});
