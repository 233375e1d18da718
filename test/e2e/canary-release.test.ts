// A ReleasePolicy in the central repository releases each new revision of a team source through a
// canary, on live traffic through a real `portico serve` with a worker process: a revision that sends
// 30 % of its requests to a dead upstream is rolled back during its first step, with no request
// failed outside the canary's share and the figures in the history, and is not tried again (a
// restart included), and the team hears of it as of any refusal (a failed commit status and a
// message); a healthy revision is promoted step by step; a revision that changes nothing traffic can
// observe goes live at once, and so does a revert pushed during a canary; a revision that fails to
// compile never enters one.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestRepo, removeDir, tempDir } from '../sources/git-fixture.js';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { freePort } from '../support/free-port.js';
import { startFakeForge, startWebhookReceiver, type FakeForge, type WebhookReceiver } from '../support/fake-forge.js';
import { httpRequest, ServeReplica, REPLICA_WAIT, type StatusDocument } from '../support/serve-replica.js';
import { pollUntil } from '../support/wait-until.js';
import { cleartextGatewayYaml } from '../support/policy-yaml.js';
import type { CanaryRecord, HistoryEntry } from '../../src/controller/history.js';

interface Answer {
  readonly generation: number;
  readonly status: number;
  readonly upstream?: string;
}

/** Requests on `concurrency` keep-alive connections until stopped; every answer is kept. */
function traffic(port: number, path: string, concurrency = 4): { answers: Answer[]; stop(): Promise<void> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const answers: Answer[] = [];
  let stopped = false;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let upstream: string | undefined;
          try {
            upstream = (JSON.parse(Buffer.concat(chunks).toString()) as { name?: string }).name;
          } catch {}
          answers.push({ generation: Number(res.headers['x-portico-generation'] ?? -1), status: res.statusCode ?? 0, ...(upstream ? { upstream } : {}) });
          resolve();
        });
      });
      req.setTimeout(10_000, () => req.destroy());
      req.on('error', () => {
        answers.push({ generation: -1, status: 0 });
        resolve();
      });
    });
  const loops = Array.from({ length: concurrency }, async () => {
    while (!stopped) await one();
  });
  return {
    answers,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

type Entry = HistoryEntry & { at: string };

describe('configuration released like code: canaries of a team source', () => {
  const root = tempDir('e2e-canary');
  let central: TestRepo;
  let shop: TestRepo;
  let v1: EchoUpstream;
  let v2: EchoUpstream;
  let dead: number;
  let port: number;
  let replica: ServeReplica;
  let forge: FakeForge;
  let hook: WebhookReceiver;

  const shopMapping = (upstream: number, extra = ''): string => `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: shop}
spec:
  hostname: "*"
  prefix: /shop/
  service: 127.0.0.1:${upstream}
${extra}`;

  async function history(): Promise<Entry[]> {
    return (await replica.json<{ entries: Entry[] }>('/api/v1/history?source=shop&limit=1000'))?.entries ?? [];
  }

  async function entry(revision: string, result: string): Promise<Entry> {
    return pollUntil(`${result} ${revision.slice(0, 7)} in the history`, async () => (await history()).find((e) => e.revision === revision && e.result === result), { timeoutMs: 60_000 });
  }

  async function generation(): Promise<number> {
    return (await replica.json<{ generation: number }>('/api/v1/config'))!.generation;
  }

  before(async () => {
    const repos = join(root, 'repos');
    mkdirSync(repos);
    v1 = await startEcho('v1');
    v2 = await startEcho('v2');
    dead = await freePort();
    forge = await startFakeForge('forge-token', ['acme/shop']);
    hook = await startWebhookReceiver();
    writeFileSync(join(root, 'forge-token'), 'forge-token');
    port = await freePort();
    central = new TestRepo(repos, 'central');
    shop = new TestRepo(repos, 'shop');
    central
      .write(
        'gateway.yaml',
        `${cleartextGatewayYaml(port)}---
apiVersion: portico.dev/v1alpha1
kind: Source
metadata: {name: shop}
spec:
  url: ${shop.bare}
  branch: main
  interval: 1h
  claims: {kinds: [Mapping], hostnames: ["*"], pathPrefixes: [/shop/]}
---
apiVersion: portico.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: shop}
spec:
  sources: [shop]
  steps: [20, 50]
  window: 3s
  minRequests: 20
  maxErrorRateIncrease: 5
  onInsufficientTraffic: Hold
`,
      )
      .commit('central');
    shop.write('shop.yaml', shopMapping(v1.port)).commit('shop v1');
    const admin = await freePort();
    replica = new ServeReplica('canary', admin, () => [
      '--source', `ops=${central.bare}#main`,
      '--state', join(root, 'state'),
      '--admin', `127.0.0.1:${admin}`,
      '--workers', '1',
      '--access-log', 'off',
      '--generation-header',
      '--poll-interval', '1h',
      '--commit-status', `gitea=${forge.api.gitea}`,
      '--commit-status-token', `file:${join(root, 'forge-token')}`,
      '--commit-status-repo', 'shop=acme/shop',
      '--notify-webhook', hook.url,
    ]);
    replica.start();
    await replica.ready();
  });

  after(async () => {
    await replica.stop();
    await v1.close();
    await v2.close();
    await forge.close();
    await hook.close();
    removeDir(root);
  });

  it('rolls back a revision that sends 30 % of its requests to a dead upstream, within its first step, and holds it', async () => {
    const stable = await generation();
    const load = traffic(port, '/shop/a');
    const bad = shop
      .write('shop.yaml', `${shopMapping(v1.port)}---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: shop-dead}
spec:
  hostname: "*"
  prefix: /shop/
  service: 127.0.0.1:${dead}
  weight: 30
`)
      .commit('shop: 30 % to a new backend that is not up');
    replica.proc!.kill('SIGHUP');
    const rolled = await entry(bad, 'RolledBack');
    // Answers after the rollback: every one from the current revision.
    const seen = load.answers.length;
    await pollUntil('requests after the rollback', async () => (load.answers.length > seen + 100 ? true : undefined), REPLICA_WAIT);
    await load.stop();

    const started = await entry(bad, 'CanaryStarted');
    const candidate = started.generation!;
    assert.ok(candidate > stable);
    const outside = load.answers.filter((a) => a.generation !== candidate);
    assert.ok(outside.length > 100);
    assert.deepEqual(outside.filter((a) => a.status !== 200), [], 'no request failed outside the canary share');
    assert.ok(outside.every((a) => a.generation === stable && a.upstream === 'v1'));
    const inside = load.answers.filter((a) => a.generation === candidate);
    assert.ok(inside.some((a) => a.status === 503), 'the canary met the dead upstream');
    assert.ok(load.answers.slice(seen).every((a) => a.generation === stable), 'after the rollback only the current revision serves');

    assert.equal(rolled.reason, 'CanaryFailed');
    assert.match(rolled.remedy ?? '', /push a new commit/);
    const c = rolled.canary as CanaryRecord;
    assert.equal(c.outcome, 'rolled-back');
    assert.equal(c.reason, 'error-rate');
    assert.equal(c.figures?.length, 1, 'decided in the first step');
    const step = c.figures![0]!;
    assert.equal(step.result, 'failed');
    assert.equal(step.share, 20);
    assert.ok(step.candidate.requests >= 20);
    assert.ok(step.candidate.errorRate > 5 + step.current.errorRate);
    assert.equal(step.current.errors, 0);
    assert.match(rolled.detail ?? '', /rolled back at step 1 of 2, 20 % of requests, .*: error rate \d+\.\d % \(\d+ of \d+ requests\) against 0\.0 %/);

    const st = (await replica.json<StatusDocument>('/api/v1/status'))!;
    const shopStatus = st.sources.find((s) => s.name === 'shop')!;
    assert.equal(shopStatus.state, 'Refused');
    assert.match(shopStatus.message, /because [0-9a-f]{12} failed its canary: rolled back at step 1/);
    assert.match((await httpRequest(replica.adminPort, '/metrics')).body, /^portico_canary_verdicts_total\{outcome="rolled_back"\} 1$/m);

    // Told like any refusal: the commit fails its status, and the team's channel gets the figures.
    await forge.waitFor((all) => all.some((x) => x.sha === bad && x.state === 'failure'), 'the failed status of the rolled-back commit');
    assert.match(forge.statuses.find((x) => x.sha === bad && x.state === 'failure')!.description, /^Refused \(CanaryFailed\): rolled back at step 1 of 2/);
    await hook.waitFor((all) => all.some((m) => m.portico.type === 'refused' && m.portico.revision === bad), 'the refusal of the rolled-back commit');
    const told = hook.messages.find((m) => m.portico.type === 'refused' && m.portico.revision === bad)!;
    assert.equal(told.portico.reason, 'CanaryFailed');
    assert.match(told.text, /^:x: shop refused [0-9a-f]{12} "shop: 30 % to a new backend that is not up" .*\(CanaryFailed\): rolled back at step 1 of 2, 20 % of requests, .*error rate .*Still serving [0-9a-f]{12}\./);

    // Fetched again, and after a restart: refused, not tried again, until a new commit arrives.
    const fetches = (): Promise<number> => httpRequest(replica.adminPort, '/metrics').then((r) => Number(/^portico_source_fetches_total\{source="shop"\} (\d+)$/m.exec(r.body)?.[1] ?? 0));
    const before = await fetches();
    replica.proc!.kill('SIGHUP');
    await pollUntil('another fetch of shop', async () => ((await fetches()) > before ? true : undefined), REPLICA_WAIT);
    await replica.stop();
    replica.start();
    await replica.ready();
    const again = await pollUntil('shop refused after the restart', async () => (await replica.json<StatusDocument>('/api/v1/status'))?.sources.find((s) => s.name === 'shop' && s.desiredRevision === bad), REPLICA_WAIT);
    assert.equal(again.state, 'Refused');
    assert.match(again.message, /failed its canary/);
    assert.equal((await history()).filter((e) => e.revision === bad && e.result === 'CanaryStarted').length, 1, 'never canaried twice');
    assert.equal((await httpRequest(port, '/shop/a')).status, 200);
  });

  it('promotes a healthy revision step by step, each request on one revision', async () => {
    const stable = await generation();
    const load = traffic(port, '/shop/b');
    const good = shop.write('shop.yaml', shopMapping(v2.port)).commit('shop: v2');
    replica.proc!.kill('SIGHUP');
    const started = await entry(good, 'CanaryStarted');
    // While it runs: status, the release view and explain say which revision a request gets.
    const during = await replica.json<StatusDocument>('/api/v1/status');
    const shopStatus = during?.sources.find((s) => s.name === 'shop');
    if (shopStatus?.canary) {
      assert.equal(shopStatus.state, 'Pending');
      assert.ok([20, 50].includes(shopStatus.canary.share));
      const explained = await replica.json<{ release: { canary: { candidate: { share: number; generation: number; result: { backends: { service: string }[] } }; current: { generation: number } } } }>(`/api/v1/diag/explain?url=${encodeURIComponent('http://shop.example/shop/b')}`);
      if (explained?.release.canary) {
        assert.equal(explained.release.canary.candidate.generation, started.generation);
        assert.equal(explained.release.canary.current.generation, stable);
        assert.deepEqual(explained.release.canary.candidate.result.backends.map((b) => b.service), [`127.0.0.1:${v2.port}`]);
      }
    }
    const applied = await entry(good, 'Applied');
    const seen = load.answers.length;
    await pollUntil('requests after the promotion', async () => (load.answers.length > seen + 50 ? true : undefined), REPLICA_WAIT);
    await load.stop();

    const c = applied.canary as CanaryRecord;
    assert.equal(c.outcome, 'promoted');
    assert.deepEqual(c.steps, [20, 50, 100]);
    assert.deepEqual(c.figures?.map((s) => [s.step, s.share, s.result]), [
      [1, 20, 'passed'],
      [2, 50, 'passed'],
    ]);
    assert.equal(applied.generation, started.generation, 'the canary runtime itself became the served one');
    assert.deepEqual(load.answers.filter((a) => a.status !== 200), []);
    const byGeneration = new Map<number, string[]>();
    for (const a of load.answers) byGeneration.set(a.generation, [...(byGeneration.get(a.generation) ?? []), a.upstream ?? '']);
    assert.ok(byGeneration.get(stable)!.every((u) => u === 'v1'));
    assert.ok(byGeneration.get(started.generation!)!.every((u) => u === 'v2'));
    assert.ok(load.answers.slice(seen).every((a) => a.generation === started.generation));
    const st = (await replica.json<StatusDocument>('/api/v1/status'))!;
    assert.equal(st.sources.find((s) => s.name === 'shop')!.state, 'Ready');
  });

  it('releases at once a revision that changes nothing traffic can observe', async () => {
    const quiet = shop.write('shop.yaml', `# the backend moved teams; nothing else changes\n${shopMapping(v2.port)}`).commit('shop: a comment');
    replica.proc!.kill('SIGHUP');
    const applied = await entry(quiet, 'Applied');
    assert.equal(applied.canary, undefined);
    assert.match(applied.detail ?? '', /released without a canary: the new revision changes nothing traffic can observe/);
    assert.equal((await history()).filter((e) => e.revision === quiet && e.result === 'CanaryStarted').length, 0);
    assert.equal((await httpRequest(port, '/shop/c')).status, 200);
  });

  it('a revert pushed during a canary supersedes it and goes live at once', async () => {
    const served = shop.head();
    const stable = await generation();
    // No traffic: under minRequests with onInsufficientTraffic Hold, the canary waits for the revert.
    const change = shop.write('shop.yaml', shopMapping(v1.port)).commit('shop: back to v1');
    replica.proc!.kill('SIGHUP');
    await entry(change, 'CanaryStarted');
    assert.equal((await replica.json<{ canary: { share: number } | null }>('/api/v1/config'))!.canary?.share, 20);
    // While it is held: the page's explain says which share of requests gets which revision, and where each goes.
    const explained = (await replica.json<{ release: { canary?: { candidate: { share: number; generation: number; result: { backends: { service: string }[] } }; current: { share: number; generation: number } } } }>(`/api/v1/diag/explain?url=${encodeURIComponent('http://shop.example/shop/e')}`))!;
    assert.equal(explained.release.canary?.candidate.share, 20);
    assert.equal(explained.release.canary?.current.share, 80);
    assert.equal(explained.release.canary?.current.generation, stable);
    assert.ok(explained.release.canary!.candidate.generation > stable);
    assert.deepEqual(explained.release.canary?.candidate.result.backends.map((b) => b.service), [`127.0.0.1:${v1.port}`]);
    const revert = shop.write('shop.yaml', `# the backend moved teams; nothing else changes\n${shopMapping(v2.port)}`).commit(`Revert "shop: back to v1"`);
    replica.proc!.kill('SIGHUP');
    const superseded = await entry(change, 'Superseded');
    const c = superseded.canary as CanaryRecord;
    assert.equal(c.outcome, 'superseded');
    assert.deepEqual(c.figures?.map((s) => [s.step, s.share, s.result]), [[1, 20, 'unjudged']]);
    const applied = await entry(revert, 'Applied');
    assert.equal(applied.previousRevision, served);
    assert.match(applied.detail ?? '', /released without a canary: the new revision changes nothing traffic can observe/);
    assert.equal((await replica.json<{ canary: unknown }>('/api/v1/config'))!.canary, null);
    const live = await generation();
    assert.ok(live > stable);
    const answer = await httpRequest(port, '/shop/d');
    assert.equal(answer.status, 200);
    assert.equal(Number(answer.headers['x-portico-generation']), live);
    assert.equal((JSON.parse(answer.body) as { name: string }).name, 'v2', 'still the served upstream, never the superseded one');
  });

  it('refuses a revision that fails to compile before any canary', async () => {
    const broken = shop.write('shop.yaml', shopMapping(v1.port, '  prefix_regex: true\n').replace('prefix: /shop/', 'prefix: "/shop/(["')).commit('shop: a broken regex');
    replica.proc!.kill('SIGHUP');
    const refused = await entry(broken, 'Rejected');
    assert.match(JSON.stringify(refused.problems ?? []), /RE2|regex/i);
    assert.equal((await history()).filter((e) => e.revision === broken && e.result === 'CanaryStarted').length, 0, 'never in a canary');
    assert.equal((await replica.json<{ canary: unknown }>('/api/v1/config'))!.canary, null);
    const answer = await httpRequest(port, '/shop/f');
    assert.equal((JSON.parse(answer.body) as { name: string }).name, 'v2', 'the served revision serves everything');
  });
});
