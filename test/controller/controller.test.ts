// The git controller end to end in one process: real repositories, a real Gateway and request path,
// echo upstreams. Claims, per-source last-known-good (case 22), conflicts, outages (15), force-push
// (18), signatures declared by the central repository (19/20), hostile content (23), history.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { GitDaemon, TestRepo, git, makeSshKey, processMentions, removeDir, startBlackhole, tempDir } from '../sources/git-fixture.js';
import { freePort } from '../support/free-port.js';
import { pollUntil } from '../support/wait-until.js';
import { cleartextGatewayYaml, get, mappingYaml, newController, newGateway, rootSource, sourceYaml, sync } from './controller-fixture.js';
import { readHistory } from '../../src/controller/history.js';
import type { Gateway } from '../../src/serve/gateway.js';
import type { Controller } from '../../src/controller/controller.js';

const root = tempDir('controller');
const echoes: EchoUpstream[] = [];
const gateways: Gateway[] = [];
const controllers: Controller[] = [];
after(async () => {
  for (const c of controllers) await c.stop();
  for (const g of gateways) g.forceClose();
  for (const e of echoes) await e.close();
  removeDir(root);
});

let welcome: EchoUpstream, shopV1: EchoUpstream, shopV2: EchoUpstream, search: EchoUpstream;
before(async () => {
  welcome = await startEcho('welcome');
  shopV1 = await startEcho('shop-v1');
  shopV2 = await startEcho('shop-v2');
  search = await startEcho('search');
  echoes.push(welcome, shopV1, shopV2, search);
});

/** A central repository declaring teams 'shop' and 'search', each with its own repository. */
async function world(label: string, opts: { shopExtra?: string; fetchTimeoutMs?: number; maxFetchBytes?: number } = {}) {
  const dir = join(root, label);
  mkdirSync(dir);
  const port = await freePort();
  const central = new TestRepo(dir, 'central');
  const shop = new TestRepo(dir, 'team-shop');
  const searchRepo = new TestRepo(dir, 'team-search');
  central
    .write('gateway.yaml', cleartextGatewayYaml(port) + '---\n' + mappingYaml('welcome', '/', welcome.port))
    .write('sources.yaml', sourceYaml('shop', shop.bare, ['/shop/'], opts.shopExtra) + '---\n' + sourceYaml('search', searchRepo.bare, ['/search/']))
    .commit('central');
  shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', shopV1.port)).commit('shop v1');
  searchRepo.write('deploy/search.yaml', mappingYaml('search', '/search/', search.port)).commit('search v1');
  const stateDir = join(dir, 'state');
  const gateway = newGateway();
  gateways.push(gateway);
  const controller = newController(gateway, {
    roots: [rootSource('ops', central.bare)],
    stateDir,
    ...(opts.fetchTimeoutMs ? { fetchTimeoutMs: opts.fetchTimeoutMs } : {}),
    ...(opts.maxFetchBytes ? { limits: { maxFetchBytes: opts.maxFetchBytes } } : {}),
  });
  controllers.push(controller);
  return { dir, port, central, shop, search: searchRepo, stateDir, gateway, controller };
}

describe('central and team repositories', () => {
  it('serves the central policy and every team, and records each revision in the history', async () => {
    const w = await world('basic');
    await w.controller.start();
    assert.equal((await get(w.port, '/shop/cart')).upstream, 'shop-v1');
    assert.equal((await get(w.port, '/search/q')).upstream, 'search');
    assert.equal((await get(w.port, '/')).upstream, 'welcome');
    const status = w.controller.status();
    assert.deepEqual(status.map((s) => [s.name, s.role, s.state]), [
      ['ops', 'root', 'Ready'],
      ['search', 'team', 'Ready'],
      ['shop', 'team', 'Ready'],
    ]);
    assert.equal(status.find((s) => s.name === 'shop')!.appliedRevision, w.shop.head());

    w.shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', shopV2.port)).commit('shop v2');
    await sync(w.controller);
    assert.equal((await get(w.port, '/shop/cart')).upstream, 'shop-v2');
    const h = readHistory(w.stateDir, { source: 'shop' });
    assert.deepEqual(h.map((e) => [e.result, e.message]), [
      ['Applied', 'shop v1'],
      ['Applied', 'shop v2'],
    ]);
    assert.equal(h[1]!.previousRevision, h[0]!.revision);
    assert.deepEqual(h[1]!.routes!.counts, { added: 0, removed: 0, changed: 1 });
    assert.match(h[1]!.author!, /Team Member/);
    assert.ok(h[1]!.liveAt && h[1]!.fetchedAt);
    // One route added is one route added: the other routes of the team are not "changed".
    w.shop.write('deploy/cart.yaml', mappingYaml('cart', '/shop/cart/', shopV2.port)).commit('shop cart');
    await sync(w.controller);
    const added = readHistory(w.stateDir, { source: 'shop' }).at(-1)!;
    assert.deepEqual(added.routes!.counts, { added: 1, removed: 0, changed: 0 });
    assert.equal(added.routes!.added.length, 1);
  });

  it("keeps a team's broken commit off while another team's valid commit goes live (case 22)", async () => {
    const w = await world('isolation');
    await w.controller.start();
    const goodShop = w.shop.head();
    // shop strays outside its claim; search changes validly in the same pass.
    w.shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', shopV1.port) + '---\n' + mappingYaml('steal', '/search/', shopV2.port)).commit('shop takes /search/');
    w.search.write('deploy/search.yaml', mappingYaml('search', '/search/', search.port, '  add_response_headers:\n    x-search: "2"\n')).commit('search v2');
    await sync(w.controller);
    const st = Object.fromEntries(w.controller.status().map((s) => [s.name, s]));
    assert.equal(st.search!.state, 'Ready');
    assert.equal(st.search!.appliedRevision, w.search.head());
    assert.equal(st.shop!.state, 'Refused');
    assert.equal(st.shop!.appliedRevision, goodShop);
    assert.match(st.shop!.message, new RegExp(`serving ${goodShop.slice(0, 12)} because ${w.shop.head().slice(0, 12)} failed: shop@[0-9a-f]+:deploy/shop.yaml:\\d+:\\d+: .*outside its claim`));
    // Traffic: search's new header is live; /search/ is still search's, and shop still serves.
    const s = await get(w.port, '/search/q');
    assert.equal(s.upstream, 'search');
    assert.equal((await get(w.port, '/shop/x')).upstream, 'shop-v1');
    const refused = readHistory(w.stateDir, { source: 'shop' }).at(-1)!;
    assert.equal(refused.result, 'Rejected');
    assert.equal(refused.reason, 'ClaimViolation', 'the real reason, not a generic one');
    assert.match(refused.remedy!, /inside the claim.*widened in Source shop/);
    assert.ok(refused.problems!.some((p) => p.code === 'ClaimViolation' && /deploy\/shop\.yaml:\d+:\d+/.test(p.origin)));
  });

  it('refuses the revision that introduces a route conflict, whichever team it comes from', async () => {
    const w = await world('conflict', { shopExtra: '' });
    // Both teams may serve /shared/: the second to claim the same match is refused.
    w.central.write('sources.yaml', sourceYaml('shop', w.shop.bare, ['/shop/', '/shared/']) + '---\n' + sourceYaml('search', w.search.bare, ['/search/', '/shared/'])).commit('share /shared/');
    await w.controller.start();
    w.search.write('deploy/shared.yaml', mappingYaml('search-shared', '/shared/', search.port)).commit('search serves /shared/');
    await sync(w.controller);
    assert.equal((await get(w.port, '/shared/x')).upstream, 'search');
    w.shop.write('deploy/shared.yaml', mappingYaml('shop-shared', '/shared/', shopV1.port)).commit('shop serves /shared/ too');
    await sync(w.controller);
    const st = Object.fromEntries(w.controller.status().map((s) => [s.name, s]));
    assert.equal(st.shop!.state, 'Refused');
    assert.match(st.shop!.message, /RouteConflict|same requests/);
    assert.equal(st.search!.state, 'Ready');
    assert.equal((await get(w.port, '/shared/x')).upstream, 'search');
    const refused = readHistory(w.stateDir, { source: 'shop' }).at(-1)!;
    const sources = new Set(refused.problems!.map((p) => p.origin.split('@')[0]));
    assert.deepEqual([...sources].sort(), ['search', 'shop'], 'the conflict is reported on both sides');

    // A weight is no way around it: shop's `weight: 100` would take every request search routes.
    w.shop.write('deploy/shared.yaml', mappingYaml('shop-shared', '/shared/', shopV1.port, '  weight: 100\n')).commit('shop takes /shared/ by weight');
    await sync(w.controller);
    const again = Object.fromEntries(w.controller.status().map((s) => [s.name, s]));
    assert.equal(again.shop!.state, 'Refused');
    assert.equal(again.shop!.lastAttempt?.reason, 'Conflict');
    assert.match(again.shop!.message, /not every one sets a weight/);
    assert.equal((await get(w.port, '/shared/x')).upstream, 'search');
  });

  it('applies a narrowed claim at once: the team routes now outside it are withdrawn and reported on that team', async () => {
    const w = await world('declarations');
    await w.controller.start();
    // The central repository is the authority: narrowing shop's claim to /cart/ applies, and shop's
    // served /shop/ route is withdrawn, reported on shop's status, not on the central repository's.
    w.central.write('sources.yaml', sourceYaml('shop', w.shop.bare, ['/cart/']) + '---\n' + sourceYaml('search', w.search.bare, ['/search/'])).commit('narrow shop');
    await sync(w.controller);
    const ops = w.controller.status().find((s) => s.name === 'ops')!;
    assert.equal(ops.state, 'Ready');
    assert.equal(ops.appliedRevision, w.central.head());
    const shop = w.controller.status().find((s) => s.name === 'shop')!;
    assert.equal(shop.appliedRevision, w.shop.head(), 'shop stays on its revision');
    assert.ok(shop.notServed!.some((p) => p.code === 'ClaimViolation' && /deploy\/shop\.yaml:\d+:\d+/.test(p.origin)), 'the withdrawn route is named with its file and line');
    assert.match(shop.message, /outside its claim/);
    assert.equal((await get(w.port, '/shop/a')).upstream, 'welcome', 'the catch-all answers what shop used to');
    assert.deepEqual(readHistory(w.stateDir, { source: 'ops' }).at(-1)!.routes!.removed.length, 1, "the central revision's history entry lists the withdrawn route");
    // The team's way out is a commit inside its new claim; it is accepted although the old error was its own.
    w.shop.write('deploy/shop.yaml', mappingYaml('shop', '/cart/', shopV2.port)).commit('shop moves to /cart/');
    await sync(w.controller);
    assert.equal(w.controller.status().find((s) => s.name === 'shop')!.state, 'Ready');
    assert.equal(w.controller.status().find((s) => s.name === 'shop')!.notServed, undefined);
    assert.equal((await get(w.port, '/cart/a')).upstream, 'shop-v2');
    // Removing the search team removes its routes; the history says so.
    w.central.write('sources.yaml', sourceYaml('shop', w.shop.bare, ['/cart/'])).commit('search leaves');
    await sync(w.controller);
    assert.deepEqual(w.controller.status().map((s) => s.name), ['ops', 'shop']);
    assert.equal((await get(w.port, '/search/q')).upstream, 'welcome', 'the catch-all answers what search used to');
    assert.equal(readHistory(w.stateDir, { source: 'search' }).at(-1)!.result, 'Removed');
  });

  it('refuses hostile content (a symlink) with the file named, and keeps the LKG (case 23)', async () => {
    const w = await world('hostile');
    await w.controller.start();
    w.shop.symlink('deploy/passwd.yaml', '/etc/passwd').commit('link');
    await sync(w.controller);
    const shop = w.controller.status().find((s) => s.name === 'shop')!;
    assert.equal(shop.state, 'Refused');
    assert.match(shop.message, /deploy\/passwd\.yaml.*symbolic link/);
    assert.equal((await get(w.port, '/shop/x')).upstream, 'shop-v1');
  });

  it('stops a team fetch that downloads a large file, keeps that team on its last-known-good, and lets the others move on (16.6)', async () => {
    const w = await world('large-file', { maxFetchBytes: 2 * 1024 * 1024 });
    await w.controller.start();
    const served = w.shop.head();
    w.shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', shopV2.port)).write('media/video.bin', randomBytes(6 * 1024 * 1024).toString('latin1')).commit('video beside the YAML');
    w.search.write('deploy/search.yaml', mappingYaml('search', '/search/', search.port, '  add_response_headers:\n    x-search: "2"\n')).commit('search v2');
    await sync(w.controller);
    const st = Object.fromEntries(w.controller.status().map((s) => [s.name, s]));
    assert.equal(st.shop!.state, 'FetchFailed');
    assert.equal(st.shop!.fetchError!.reason, 'TooLarge');
    assert.equal(st.shop!.appliedRevision, served);
    assert.equal(st.search!.appliedRevision, w.search.head(), 'another team is not held back');
    assert.equal((await get(w.port, '/shop/x')).upstream, 'shop-v1');
    assert.equal(readHistory(w.stateDir, { source: 'shop' }).at(-1)!.reason, 'TooLarge');
  });

  it('refuses a team Source declared outside the central repository', async () => {
    const w = await world('team-source');
    await w.controller.start();
    w.shop.write('deploy/more.yaml', sourceYaml('sneaky', w.search.bare, ['/'])).commit('declare a source');
    await sync(w.controller);
    const shop = w.controller.status().find((s) => s.name === 'shop')!;
    assert.equal(shop.state, 'Refused');
    assert.match(shop.message, /only a root source/);
    assert.ok(!w.controller.status().some((s) => s.name === 'sneaky'));
  });
});

describe('a blackholed team remote (case 16)', () => {
  it('does not hold back the other sources, and stopping kills its fetch', async () => {
    const hole = await startBlackhole();
    try {
      const w = await world('blackhole', { fetchTimeoutMs: 60_000 });
      await w.controller.start();
      // The central repository moves the search team to a remote that accepts and never answers.
      w.central.write('sources.yaml', sourceYaml('shop', w.shop.bare, ['/shop/']) + '---\n' + sourceYaml('search', `git://127.0.0.1:${hole.port}/search.git`, ['/search/'])).commit('search moves');
      // Not sync(): that waits for every fetch, and this one never ends.
      w.controller.trigger();
      await w.controller.idle();
      w.shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', shopV2.port)).commit('shop v2');
      w.controller.trigger('shop');
      await pollUntil('shop v2 served while the search fetch hangs', async () => (await get(w.port, '/shop/a')).upstream === 'shop-v2');
      const search = w.controller.status().find((s) => s.name === 'search')!;
      assert.equal(search.state, 'Pending', 'its fetch is still in flight');
      assert.ok(processMentions(`127.0.0.1:${hole.port}`));
      await w.controller.stop();
      assert.ok(!processMentions(`127.0.0.1:${hole.port}`), 'no git process is left behind');
    } finally {
      await hole.close();
    }
  });
});

describe('rewritten history (case 18)', () => {
  it('refuses a force-push by default and records it', async () => {
    const w = await world('force-refuse');
    await w.controller.start();
    const before = w.shop.head();
    git(w.shop.work, ['reset', '-q', '--hard', 'HEAD']);
    git(w.shop.work, ['commit', '-q', '--amend', '-m', 'rewritten shop v1']);
    w.shop.push(true);
    await sync(w.controller);
    const shop = w.controller.status().find((s) => s.name === 'shop')!;
    assert.equal(shop.state, 'Refused');
    assert.equal(shop.appliedRevision, before);
    const last = readHistory(w.stateDir, { source: 'shop' }).at(-1)!;
    assert.equal(last.reason, 'HistoryRewritten');
    assert.equal(last.historyRewritten, true);
  });

  it('accepts a force-push with onForcePush: accept-with-strict, and records the rewrite', async () => {
    const w = await world('force-accept', { shopExtra: '  onForcePush: accept-with-strict\n' });
    await w.controller.start();
    git(w.shop.work, ['commit', '-q', '--amend', '-m', 'rewritten shop v1']);
    w.shop.push(true);
    await sync(w.controller);
    const shop = w.controller.status().find((s) => s.name === 'shop')!;
    assert.equal(shop.state, 'Ready');
    assert.equal(shop.appliedRevision, w.shop.head());
    const last = readHistory(w.stateDir, { source: 'shop' }).at(-1)!;
    assert.equal(last.result, 'Applied');
    assert.equal(last.historyRewritten, true);
  });
});

describe('signed commits required by the central repository (cases 19, 20)', () => {
  it('applies a trusted signed commit and refuses unsigned and untrusted ones', async () => {
    const keys = join(root, 'keys');
    mkdirSync(keys);
    const trusted = makeSshKey(keys, 'shop-lead@example.com');
    const stranger = makeSshKey(keys, 'stranger@example.com');
    const verify = `  verify:\n    mode: head\n    allowedSigners: '${trusted.allowedSigners}'\n`;
    const dir = join(root, 'signed');
    mkdirSync(dir);
    const port = await freePort();
    const central = new TestRepo(dir, 'central');
    const shop = new TestRepo(dir, 'team-shop');
    central.write('gateway.yaml', cleartextGatewayYaml(port)).write('sources.yaml', sourceYaml('shop', shop.bare, ['/shop/'], verify)).commit('central');
    const signed = shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', shopV1.port)).commit('signed v1', { config: trusted.config, sign: true });
    const gateway = newGateway();
    gateways.push(gateway);
    const stateDir = join(dir, 'state');
    const c = newController(gateway, { roots: [rootSource('ops', central.bare)], stateDir });
    controllers.push(c);
    await c.start();
    assert.equal(c.appliedRevisions().shop, signed);
    assert.equal((await get(port, '/shop/a')).upstream, 'shop-v1');

    shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', shopV2.port)).commit('unsigned v2');
    await sync(c);
    let st = c.status().find((s) => s.name === 'shop')!;
    assert.equal(st.state, 'Refused');
    assert.equal(st.lastAttempt!.reason, 'SignatureMissing');
    assert.equal((await get(port, '/shop/a')).upstream, 'shop-v1', 'nothing from the unsigned commit is served');

    shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', shopV2.port, '  add_response_headers:\n    x-v: "3"\n')).commit('stranger v3', { config: stranger.config, sign: true });
    await sync(c);
    st = c.status().find((s) => s.name === 'shop')!;
    assert.equal(st.lastAttempt!.reason, 'SignatureUntrusted');
    const last = readHistory(stateDir, { source: 'shop' }).at(-1)!;
    assert.equal(last.signature!.status, 'U', 'git says U (valid signature, unknown key) and it is still refused');
    assert.equal(c.appliedRevisions().shop, signed);
  });
});

describe('outages and restarts (cases 15, 48)', () => {
  const dir = join(root, 'outage');
  let daemon: GitDaemon;
  let central: TestRepo;
  let port: number;
  const stateDir = join(dir, 'state');
  before(async () => {
    mkdirSync(dir);
    port = await freePort();
    central = new TestRepo(dir, 'central');
    central.write('gateway.yaml', cleartextGatewayYaml(port) + '---\n' + mappingYaml('welcome', '/', welcome.port)).commit('central');
    daemon = new GitDaemon(dir);
    await daemon.start();
  });
  after(() => daemon.stop());

  it('keeps serving the LKG when the remote goes down, reports FetchFailed, and resumes after', async () => {
    const gateway = newGateway();
    gateways.push(gateway);
    const c = newController(gateway, { roots: [rootSource('ops', daemon.url('central.git'))], stateDir });
    controllers.push(c);
    await c.start();
    const served = central.head();
    await daemon.stop();
    central.write('gateway.yaml', cleartextGatewayYaml(port) + '---\n' + mappingYaml('welcome', '/', search.port)).commit('while down');
    await sync(c);
    const st = c.status()[0]!;
    assert.equal(st.state, 'FetchFailed');
    assert.equal(st.fetchError!.reason, 'Unreachable');
    assert.ok(st.staleSince);
    assert.equal(st.appliedRevision, served);
    assert.equal((await get(port, '/')).upstream, 'welcome');
    // Each further failure waits longer before the next try (exponential backoff with jitter).
    const delay = (s: typeof st) => Date.parse(s.nextFetchAt!) - Date.parse(s.fetchError!.at);
    await sync(c);
    const st2 = c.status()[0]!;
    assert.equal(st2.consecutiveFailures, 2);
    assert.ok(delay(st2) > delay(st), `backoff grows: ${delay(st)} ms then ${delay(st2)} ms`);
    assert.equal(st2.staleSince, st.staleSince, 'stale since the first failure');
    assert.equal(readHistory(stateDir, { source: 'ops' }).filter((e) => e.result === 'FetchFailed').length, 1, 'one history entry for the outage, not one per try');
    await daemon.start();
    await sync(c);
    assert.equal(c.status()[0]!.state, 'Ready');
    assert.equal((await get(port, '/')).upstream, 'search');
    await c.stop();
    await gateway.shutdown(0);
  });

  it('after a restart with the remote down, serves the persisted LKG (case 48)', async () => {
    await daemon.stop();
    const gateway = newGateway();
    gateways.push(gateway);
    // A fresh cache folder proves the LKG file alone is enough.
    removeDir(join(stateDir, 'cache'));
    const c = newController(gateway, { roots: [rootSource('ops', daemon.url('central.git'))], stateDir });
    controllers.push(c);
    await c.start();
    assert.equal((await get(port, '/')).upstream, 'search');
    assert.equal(c.status()[0]!.state, 'FetchFailed');
    assert.equal(readHistory(stateDir, { source: 'ops' }).some((e) => e.result === 'Restored'), true);
    await c.stop();
    await gateway.shutdown(0);
  });

  it('detects a corrupt LKG file, sets it aside, and with git down and no cache refuses to start', async () => {
    const lkg = join(stateDir, 'last-known-good.json');
    const text = readFileSync(lkg, 'utf8');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(lkg, text.slice(0, text.length / 2));
    removeDir(join(stateDir, 'cache'));
    const gateway = newGateway();
    gateways.push(gateway);
    const c = newController(gateway, { roots: [rootSource('ops', daemon.url('central.git'))], stateDir });
    controllers.push(c);
    await assert.rejects(c.start(), (e: Error & { code?: string }) => e.code === 'PORTICO_ERR_NO_VALID_CONFIGURATION' && /Unreachable/.test(e.message));
    assert.equal(existsSync(lkg), false, 'the damaged file is no longer read');
    assert.ok(readHistory(stateDir).some((e) => e.reason === 'LastKnownGoodCorrupt'));
    await c.stop();
  });
});
