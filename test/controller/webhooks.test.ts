// Webhook receivers on a real admin server (case 24): signatures per provider, secret rotation,
// replays, size cap before the HMAC, and a burst of deliveries coalescing into few fetches.

import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AdminServer } from '../../src/admin/admin-server.js';
import { WebhookReceiver, genericSignature, giteaSignature, githubSignature } from '../../src/controller/webhooks.js';
import { TestRepo, removeDir, tempDir } from '../sources/git-fixture.js';
import { freePort } from '../support/free-port.js';
import { cleartextGatewayYaml, get, mappingYaml, newController, newGateway, rootSource } from './controller-fixture.js';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import type { Controller } from '../../src/controller/controller.js';
import type { Gateway } from '../../src/serve/gateway.js';

const SECRET = 'first-secret-0123';
const NEXT = 'second-secret-4567';

function post(port: number, path: string, body: string | Buffer, headers: Record<string, string>, opts: { chunked?: boolean } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? resolve(413) : reject(e)));
    if (opts.chunked) {
      // No content-length: the cap must hold while streaming.
      const buf = Buffer.from(body);
      for (let i = 0; i < buf.length; i += 64 * 1024) req.write(buf.subarray(i, i + 64 * 1024));
      req.end();
    } else {
      req.end(body);
    }
  });
}

const admin = new AdminServer({ ready: () => true, config: () => ({}), routes: () => ({}), metrics: async () => '' });
const triggered: (string | undefined)[] = [];
let adminPort = 0;

before(async () => {
  const receiver = new WebhookReceiver({ secrets: [SECRET, NEXT], maxBodyBytes: 256 * 1024, trigger: (s) => triggered.push(s), knows: (s) => ['shop', 'search'].includes(s) });
  admin.register('/hooks/', receiver.handle, { methods: ['POST'] });
  adminPort = (await admin.listen('127.0.0.1', 0)).port;
});
after(() => admin.close());

describe('webhook signatures (case 24)', () => {
  // Each delivery's body differs, as real pushes do: identical bodies are answered as duplicates.
  let n = 0;
  const bodyOf = () => JSON.stringify({ ref: 'refs/heads/main', after: (n++).toString(16).padStart(40, '0') });
  let body = bodyOf();
  beforeEach(() => (body = bodyOf()));

  it('GitHub: a valid X-Hub-Signature-256 triggers a fetch; missing or wrong ones get 401 and trigger nothing', async () => {
    const n = triggered.length;
    assert.equal(await post(adminPort, '/hooks/github', body, {}), 401);
    assert.equal(await post(adminPort, '/hooks/github', body, { 'x-hub-signature-256': githubSignature('wrong-secret-000', body), 'x-github-delivery': 'd-1' }), 401);
    assert.equal(await post(adminPort, '/hooks/github', body, { 'x-hub-signature-256': 'sha256=abc' }), 401);
    assert.equal(triggered.length, n);
    assert.equal(await post(adminPort, '/hooks/github', body, { 'x-hub-signature-256': githubSignature(SECRET, body), 'x-github-delivery': 'd-2' }), 202);
    assert.equal(triggered.length, n + 1);
  });

  it('answers 404 to a signed delivery for a source that is not configured, and fetches nothing', async () => {
    const n = triggered.length;
    assert.equal(await post(adminPort, '/hooks/github/shpo', body, { 'x-hub-signature-256': githubSignature(SECRET, body), 'x-github-delivery': 'typo-1' }), 404);
    assert.equal(triggered.length, n);
    assert.equal(await post(adminPort, '/hooks/github/shop', body, { 'x-hub-signature-256': githubSignature(SECRET, body), 'x-github-delivery': 'typo-2' }), 202);
    assert.deepEqual(triggered.slice(n), ['shop']);
  });

  it('accepts either secret while rotating', async () => {
    const n = triggered.length;
    assert.equal(await post(adminPort, '/hooks/github', body, { 'x-hub-signature-256': githubSignature(NEXT, body), 'x-github-delivery': 'rot-1' }), 202);
    assert.equal(triggered.length, n + 1);
  });

  it('ignores a replayed delivery id: 202 and no second fetch', async () => {
    const h = { 'x-hub-signature-256': githubSignature(SECRET, body), 'x-github-delivery': 'replay-1' };
    const n = triggered.length;
    assert.equal(await post(adminPort, '/hooks/github', body, h), 202);
    assert.equal(await post(adminPort, '/hooks/github', body, h), 202);
    assert.equal(triggered.length, n + 1);
  });

  it('answers 413 to a body over the cap, declared or streamed, without triggering', async () => {
    const n = triggered.length;
    const big = Buffer.alloc(300 * 1024, 'a');
    assert.equal(await post(adminPort, '/hooks/github', big, { 'x-hub-signature-256': githubSignature(SECRET, big) }), 413);
    assert.equal(await post(adminPort, '/hooks/github', big, { 'x-hub-signature-256': githubSignature(SECRET, big) }, { chunked: true }), 413);
    assert.equal(triggered.length, n);
  });

  it('ignores the same body delivered again under a fresh delivery id (a captured delivery replayed)', async () => {
    const n = triggered.length;
    assert.equal(await post(adminPort, '/hooks/github', body, { 'x-hub-signature-256': githubSignature(SECRET, body), 'x-github-delivery': 'capture-1' }), 202);
    assert.equal(await post(adminPort, '/hooks/github', body, { 'x-hub-signature-256': githubSignature(SECRET, body), 'x-github-delivery': 'capture-2' }), 202);
    assert.equal(triggered.length, n + 1, 'one fetch for one push, however often it is replayed');
  });

  it('GitLab token, Gitea signature and the generic timestamped HMAC', async () => {
    const n = triggered.length;
    const other = bodyOf();
    const third = bodyOf();
    assert.equal(await post(adminPort, '/hooks/gitlab', body, { 'x-gitlab-token': 'nope' }), 401);
    assert.equal(await post(adminPort, '/hooks/gitlab', body, { 'x-gitlab-token': SECRET, 'x-gitlab-event-uuid': 'gl-1' }), 202);
    assert.equal(await post(adminPort, '/hooks/gitea', other, { 'x-gitea-signature': giteaSignature('wrong-secret-000', other) }), 401);
    assert.equal(await post(adminPort, '/hooks/gitea/shop', other, { 'x-gitea-signature': giteaSignature(SECRET, other), 'x-gitea-delivery': 'gt-1' }), 202);
    const now = Math.floor(Date.now() / 1000);
    assert.equal(await post(adminPort, '/hooks/generic', third, { 'x-portico-timestamp': String(now), 'x-portico-signature': genericSignature(SECRET, now, third) }), 202);
    const old = now - 3600;
    const fourth = bodyOf();
    assert.equal(await post(adminPort, '/hooks/generic', fourth, { 'x-portico-timestamp': String(old), 'x-portico-signature': genericSignature(SECRET, old, fourth) }), 401, 'a stale timestamp is refused');
    assert.deepEqual(triggered.slice(n), [undefined, 'shop', undefined], 'the source named in the path is the only thing taken from the request');
  });

  it('refuses other methods and unknown providers', async () => {
    assert.equal(await post(adminPort, '/hooks/bitbucket', body, {}), 404);
    const status = await new Promise<number>((resolve) => http.get({ host: '127.0.0.1', port: adminPort, path: '/hooks/github', agent: false }, (r) => resolve(r.statusCode ?? 0)));
    assert.equal(status, 405);
  });
});

describe('a burst of webhooks against a real controller (case 24)', () => {
  const root = tempDir('webhooks');
  let echo: EchoUpstream;
  let controller: Controller;
  let gateway: Gateway;
  let hookAdmin: AdminServer;
  after(async () => {
    await controller?.stop();
    gateway?.forceClose();
    await hookAdmin?.close();
    await echo?.close();
    removeDir(root);
  });

  it('coalesces 200 deliveries into a few fetches and applies the real head, not the payload', async () => {
    echo = await startEcho('v2');
    mkdirSync(join(root, 'w'));
    const port = await freePort();
    const repo = new TestRepo(join(root, 'w'), 'central');
    repo.write('gateway.yaml', cleartextGatewayYaml(port) + '---\n' + mappingYaml('web', '/', echo.port)).commit('v1');
    gateway = newGateway();
    controller = newController(gateway, { roots: [rootSource('ops', repo.bare)], stateDir: join(root, 'state') });
    await controller.start();
    hookAdmin = new AdminServer({ ready: () => true, config: () => ({}), routes: () => ({}), metrics: async () => '' });
    const receiver = new WebhookReceiver({ secrets: [SECRET], trigger: (s) => controller.trigger(s) });
    hookAdmin.register('/hooks/', receiver.handle, { methods: ['POST'] });
    const hp = (await hookAdmin.listen('127.0.0.1', 0)).port;
    const head = repo.write('gateway.yaml', cleartextGatewayYaml(port) + '---\n' + mappingYaml('web', '/', echo.port, '  add_response_headers:\n    x-v: "2"\n')).commit('v2');
    const before = controller.stats.fetches;
    const payload = JSON.stringify({ after: 'f'.repeat(40) });
    const statuses: number[] = [];
    for (let batch = 0; batch < 10; batch++) {
      statuses.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, (_, i) => post(hp, '/hooks/github', payload, { 'x-hub-signature-256': githubSignature(SECRET, payload), 'x-github-delivery': `burst-${batch}-${i}` })),
        )),
      );
    }
    await controller.idle();
    assert.equal(statuses.filter((s) => s === 202).length, 200);
    const fetches = controller.stats.fetches - before;
    assert.ok(fetches >= 1 && fetches < 200, `200 deliveries made ${fetches} fetches`);
    assert.equal(controller.appliedRevisions().ops, head);
    assert.equal((await get(port, '/')).upstream, 'v2');
  });
});
