// Teams hear about their commits: the controller's decisions on real git repositories become commit
// statuses on a fake forge (GitHub, GitLab, Gitea endpoints) and Slack-style webhook messages; a forge
// that fails is retried, one that hangs never holds a pass back.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { TestRepo, removeDir, tempDir } from '../sources/git-fixture.js';
import { freePort } from '../support/free-port.js';
import { cleartextGatewayYaml, get, mappingYaml, newController, newGateway, rootSource, sourceYaml, sync } from './controller-fixture.js';
import { startFakeForge, startWebhookReceiver, type FakeForge, type WebhookReceiver } from '../support/fake-forge.js';
import { Notifier, type NotifierOptions } from '../../src/controller/notifications.js';
import { repositoryPath, type ForgeKind } from '../../src/controller/forge-status.js';
import type { Controller } from '../../src/controller/controller.js';
import type { Gateway } from '../../src/serve/gateway.js';

const root = tempDir('notify');
const TOKEN = 'forge-token-0123456789';
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  removeDir(root);
});

let up: EchoUpstream;
before(async () => {
  up = await startEcho('shop');
  cleanups.push(() => up.close());
});

const BROKEN = `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
  name: shop
spec:
  hostname: "*"
  prefix: /shop/
  service: 127.0.0.1:1
  timeout_ms: soon
`;

interface World {
  readonly central: TestRepo;
  readonly shop: TestRepo;
  readonly port: number;
  readonly controller: Controller;
  readonly gateway: Gateway;
  readonly notifier: Notifier;
  readonly forge: FakeForge;
  readonly hook: WebhookReceiver;
  readonly logs: string[];
}

/** An organisation `acme` with a central repository and team `shop`, each a real repository. */
async function world(label: string, forge: ForgeKind, opts: Partial<NotifierOptions> = {}): Promise<World> {
  const dir = join(root, label, 'acme');
  mkdirSync(dir, { recursive: true });
  const secrets = join(root, label, 'secrets');
  mkdirSync(join(secrets, 'forge'), { recursive: true });
  writeFileSync(join(secrets, 'forge', 'token'), `${TOKEN}\n`);
  const port = await freePort();
  const central = new TestRepo(dir, 'edge-ops');
  const shop = new TestRepo(dir, 'shop');
  central.write('gateway.yaml', cleartextGatewayYaml(port)).write('sources.yaml', sourceYaml('shop', shop.bare, ['/shop/'])).commit('central');
  shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', up.port)).commit('shop v1');
  const fake = await startFakeForge(TOKEN, ['acme/edge-ops', 'acme/shop']);
  const hook = await startWebhookReceiver();
  const logs: string[] = [];
  const notifier = new Notifier({
    commitStatus: {
      forge, api: fake.api[forge], token: { kind: 'secret', dir: secrets, name: 'forge', key: 'token' }, context: 'portico/eu-fleet',
      // A GitLab project path is the URL's whole path: these local repositories name it as --commit-status-repo would.
      ...(forge === 'gitlab' ? { repositories: { ops: 'acme/edge-ops', shop: 'acme/shop' } } : {}),
    },
    webhooks: [{ kind: 'literal', value: hook.url }],
    retryBaseMs: 10,
    log: { warn: (_o, m) => logs.push(m), info: () => {} },
    ...opts,
  });
  const gateway = newGateway();
  const controller = newController(gateway, { roots: [rootSource('ops', central.bare)], stateDir: join(root, label, 'state'), onDecision: (e) => notifier.notify(e) });
  cleanups.push(() => fake.close(), () => hook.close(), () => gateway.forceClose(), () => controller.stop(), () => notifier.close());
  return { central, shop, port, controller, gateway, notifier, forge: fake, hook, logs };
}

describe('commit statuses and webhook messages from the controller', () => {
  it('Gitea: success when live, failure with the reason and file:line when refused, success again on the fix', async () => {
    const w = await world('gitea', 'gitea');
    await w.controller.start();
    await w.notifier.idle();
    const v1 = w.shop.head();
    assert.deepEqual(
      w.forge.statuses.map((s) => [s.repository, s.sha, s.state, s.context]).sort(),
      [['acme/edge-ops', w.central.head(), 'success', 'portico/eu-fleet'], ['acme/shop', v1, 'success', 'portico/eu-fleet']].sort(),
    );
    assert.match(w.forge.statuses.find((s) => s.repository === 'acme/shop')!.description, /^Live \(generation \d+\): \+1 −0 ~0 routes$/);
    assert.ok(w.hook.messages.some((m) => m.text.startsWith(':rocket: shop ') && m.text.includes('"shop v1" by Team Member is live')), JSON.stringify(w.hook.messages));

    const bad = w.shop.write('deploy/shop.yaml', BROKEN).commit('shop: a timeout in words');
    await sync(w.controller);
    await w.notifier.idle();
    const failed = w.forge.statuses.find((s) => s.sha === bad);
    assert.ok(failed, 'the refused commit has a status');
    assert.equal(failed.state, 'failure');
    assert.match(failed.description, /^Refused \(InvalidConfiguration\): deploy\/shop\.yaml:9: /);
    assert.ok(failed.description.length <= 140);
    const refusal = w.hook.messages.find((m) => m.portico.type === 'refused')!;
    assert.match(refusal.text, new RegExp(`^:x: shop refused ${bad.slice(0, 12)} "shop: a timeout in words" by Team Member \\(InvalidConfiguration\\) at deploy/shop\\.yaml:9: .*Still serving ${v1.slice(0, 12)}\\.`));
    assert.equal((refusal.portico.problem as { file: string }).file, 'deploy/shop.yaml:9');
    assert.equal((await get(w.port, '/shop/x')).status, 200, 'the last good revision still serves');

    const fixed = w.shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', up.port, '  timeout_ms: 5000\n')).commit('shop: timeout in ms');
    await sync(w.controller);
    await w.notifier.idle();
    assert.equal(w.forge.statuses.find((s) => s.sha === fixed)?.state, 'success');
    const recovered = w.hook.messages.at(-1)!;
    assert.match(recovered.text, /^:white_check_mark: shop recovered: /);
    assert.equal(recovered.portico.recovered, true);
    assert.deepEqual(w.forge.refused, [], 'every request was one the forge takes');
    assert.ok(!JSON.stringify(w.hook.messages).includes(TOKEN), 'no token in a message');
  });

  for (const [forge, failure] of [['github', 'failure'], ['gitlab', 'failed']] as const) {
    it(`${forge === 'github' ? 'GitHub' : 'GitLab'}: the same decisions in its API's terms (${failure})`, async () => {
      const w = await world(forge, forge);
      await w.controller.start();
      const bad = w.shop.write('deploy/shop.yaml', BROKEN).commit('broken');
      await sync(w.controller);
      await w.notifier.idle();
      assert.deepEqual(w.forge.statuses.map((s) => [s.forge, s.repository, s.state]).sort(), [[forge, 'acme/edge-ops', 'success'], [forge, 'acme/shop', 'success'], [forge, 'acme/shop', failure]].sort());
      assert.equal(w.forge.statuses.find((s) => s.sha === bad)?.context, 'portico/eu-fleet');
      assert.deepEqual(w.forge.refused, []);
    });
  }

  it('a forge having a bad minute gets the status on a later try', async () => {
    const registry = new Registry();
    const w = await world('retry', 'github', { registry });
    w.forge.failNext(2, 503);
    await w.controller.start();
    await w.forge.waitFor((s) => s.length === 2, 'both statuses');
    await w.notifier.idle();
    assert.equal(w.forge.refused.length, 2);
    const counts = Object.fromEntries((await registry.getSingleMetric('portico_notifications_total')!.get()).values.map((v) => [`${v.labels.channel} ${v.labels.result}`, v.value]));
    assert.equal(counts['commit_status retried'], 2);
    assert.equal(counts['commit_status delivered'], 2);
    assert.equal(counts['webhook delivered'], 2);
  });

  it('a refused credential is not tried again, and the log says so without the token', async () => {
    const w = await world('badtoken', 'github', { commitStatus: undefined });
    const secrets = join(root, 'badtoken', 'secrets');
    writeFileSync(join(secrets, 'forge', 'token'), 'not-the-token\n');
    const n = new Notifier({
      commitStatus: { forge: 'github', api: w.forge.api.github, token: { kind: 'secret', dir: secrets, name: 'forge', key: 'token' }, context: 'portico' },
      retryBaseMs: 10,
      log: { warn: (_o, m) => w.logs.push(m), info: () => {} },
    });
    cleanups.push(() => n.close());
    n.notify({ type: 'applied', source: 'shop', sourceKind: 'git', url: w.shop.bare, revision: w.shop.head(), at: new Date().toISOString() });
    await n.idle();
    assert.deepEqual(w.forge.refused.map((r) => r.status), [401]);
    assert.equal(w.logs.length, 1);
    assert.match(w.logs[0]!, /notification not delivered: github status success for acme\/shop@[0-9a-f]{12}: answered 401/);
    assert.ok(!w.logs.join('').includes('not-the-token'));
  });

  it('a forge that hangs holds no pass back: the change is live before its status is written', async () => {
    const w = await world('hang', 'gitea', { timeoutMs: 60_000 });
    await w.controller.start();
    await w.notifier.idle();
    const before = w.forge.statuses.length;
    w.forge.hold();
    const v2 = w.shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', up.port, '  add_response_headers:\n    x-v: "2"\n')).commit('shop v2');
    await sync(w.controller);
    const r = await get(w.port, '/shop/x');
    assert.equal(r.status, 200);
    assert.equal(w.controller.appliedRevisions().shop, v2, 'v2 is served');
    assert.equal(w.forge.statuses.length, before, 'its status is still on its way');
    w.forge.release();
    await w.forge.waitFor((s) => s.some((x) => x.sha === v2 && x.state === 'success'), 'the v2 status');
  });
});

describe('the repository a source URL names on its forge', () => {
  const cases: [string, ForgeKind, string | undefined][] = [
    ['https://github.com/acme/shop.git', 'github', 'acme/shop'],
    ['https://***@github.com/acme/shop', 'github', 'acme/shop'],
    ['git@github.com:acme/shop.git', 'github', 'acme/shop'],
    ['ssh://git@gitea.example.com:2222/acme/shop.git', 'gitea', 'acme/shop'],
    ['https://gitlab.example.com/platform/teams/shop.git', 'gitlab', 'platform/teams/shop'],
    ['/srv/git/acme/shop.git', 'github', 'acme/shop'],
    ['file:///srv/git/acme/shop.git/', 'gitea', 'acme/shop'],
    ['https://github.com/shop.git', 'github', undefined],
  ];
  for (const [url, kind, want] of cases) it(`${url} (${kind}) → ${want ?? 'none'}`, () => assert.equal(repositoryPath(url, kind), want));
});
