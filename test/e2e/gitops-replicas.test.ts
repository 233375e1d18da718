// Three `portico serve` processes syncing from the same repositories over git://: they converge on a
// pushed revision with no coordination beyond git, each reports what it serves, and one restarted
// while git is down serves its last-known-good (case 48). Also: `portico history`, and a loud failure
// to start with no state and no reachable remote.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { GitDaemon, TestRepo, removeDir, tempDir } from '../sources/git-fixture.js';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { get } from '../controller/controller-fixture.js';
import { freePort } from '../support/free-port.js';
import { githubSignature } from '../../src/controller/webhooks.js';

const BIN = join(process.cwd(), 'bin', 'portico.js');
const REPLICAS = ['replica-1', 'replica-2', 'replica-3'];
const SECRET = 'e2e-webhook-secret';

interface Replica {
  id: string;
  port: number;
  adminPort: number;
  stateDir: string;
  proc?: ChildProcess;
  stderr: string;
}

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.setTimeout(3000, () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, tries = 150): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function mapping(name: string, prefix: string, port: number, extra = ''): string {
  return `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
  name: ${name}
spec:
  ambassador_id: [${REPLICAS.join(', ')}]
  hostname: "*"
  prefix: ${prefix}
  service: 127.0.0.1:${port}
${extra}---
`;
}

describe('three gateway processes on the same repositories', () => {
  const root = tempDir('e2e-gitops');
  const served = join(root, 'served');
  let daemon: GitDaemon;
  let central: TestRepo;
  let shop: TestRepo;
  let v1: EchoUpstream;
  let v2: EchoUpstream;
  const replicas: Replica[] = [];

  function startReplica(r: Replica): void {
    r.stderr = '';
    r.proc = spawn(
      process.execPath,
      [BIN, 'serve', '--source', `ops=${daemon.url('central.git')}#main`, '--state', r.stateDir, '--admin', `127.0.0.1:${r.adminPort}`, '--workers', '0', '--poll-interval', '1s', '--access-log', 'off', '--ambassador-id', r.id, '--webhook-secret', SECRET],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    r.proc.stderr!.on('data', (b: Buffer) => (r.stderr += b.toString()));
  }

  async function stopReplica(r: Replica): Promise<number | null> {
    const p = r.proc;
    if (!p || p.exitCode !== null) return p?.exitCode ?? null;
    const code = new Promise<number | null>((resolve) => p.once('exit', (c) => resolve(c)));
    p.kill('SIGTERM');
    return code;
  }

  /** Waits for /readyz; fails at once, with the replica's own output, if it exited or never got ready. */
  async function ready(r: Replica, what: string): Promise<void> {
    await until(`${r.id} ${what}`, async () => {
      if (r.proc && r.proc.exitCode !== null) throw new Error(`${r.id} exited with ${r.proc.exitCode} before it was ${what}:\n${r.stderr.slice(-4000)}`);
      return (await httpGet(r.adminPort, '/readyz')).status === 200 ? true : undefined;
    }).catch((err: Error) => {
      if (err.message.startsWith('timed out')) throw new Error(`${err.message}; its output:\n${r.stderr.slice(-4000)}`);
      throw err;
    });
  }

  async function status(r: Replica): Promise<{ sources: { name: string; appliedRevision?: string; state: string }[] } | undefined> {
    const res = await httpGet(r.adminPort, '/api/v1/status');
    return res.status === 200 ? (JSON.parse(res.body) as { sources: { name: string; appliedRevision?: string; state: string }[] }) : undefined;
  }

  before(async () => {
    mkdirSync(served);
    v1 = await startEcho('v1');
    v2 = await startEcho('v2');
    for (const id of REPLICAS) replicas.push({ id, port: await freePort(), adminPort: await freePort(), stateDir: join(root, `state-${id}`), stderr: '' });
    central = new TestRepo(served, 'central');
    shop = new TestRepo(served, 'team-shop');
    daemon = new GitDaemon(served);
    await daemon.start();
    const listeners = replicas
      .map(
        (r) => `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata:
  name: http-${r.id}
spec:
  ambassador_id: [${r.id}]
  port: ${r.port}
  protocol: HTTP
  securityModel: XFP
  hostBinding:
    namespace:
      from: ALL
---
`,
      )
      .join('');
    const source = `apiVersion: portico.dev/v1alpha1
kind: Source
metadata:
  name: shop
spec:
  url: ${daemon.url('team-shop.git')}
  branch: main
  path: deploy
  interval: 1s
  claims:
    kinds: [Mapping]
    hostnames: ["*"]
    pathPrefixes: [/shop/]
`;
    // Cleartext is routed: with no Host, the default Host would redirect it to HTTPS.
    const host = `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata:
  name: cleartext
spec:
  ambassador_id: [${REPLICAS.join(', ')}]
  hostname: "*"
  requestPolicy:
    insecure:
      action: Route
---
`;
    central.write('gateway.yaml', listeners + host).write('sources.yaml', source).commit('central');
    shop.write('deploy/shop.yaml', mapping('shop', '/shop/', v1.port)).commit('shop v1');
  });

  after(async () => {
    for (const r of replicas) await stopReplica(r);
    await daemon.stop();
    await v1.close();
    await v2.close();
    removeDir(root);
  });

  it('start, converge on a pushed revision, and each report the revision it serves', async () => {
    for (const r of replicas) startReplica(r);
    for (const r of replicas) {
      await ready(r, 'ready');
      assert.equal((await get(r.port, '/shop/a')).upstream, 'v1');
    }
    const head = shop.write('deploy/shop.yaml', mapping('shop', '/shop/', v2.port)).commit('shop v2');
    // One replica is told by a webhook; the others find the commit by polling.
    const body = '{}';
    const hook = await new Promise<number>((resolve) => {
      const req = http.request(
        { host: '127.0.0.1', port: replicas[0]!.adminPort, path: '/hooks/github', method: 'POST', agent: false, headers: { 'x-hub-signature-256': githubSignature(SECRET, body), 'x-github-delivery': 'e2e-1' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.end(body);
    });
    assert.equal(hook, 202);
    for (const r of replicas) {
      await until(`${r.id} on ${head.slice(0, 7)}`, async () => ((await status(r))?.sources.find((s) => s.name === 'shop')?.appliedRevision === head ? true : undefined));
      assert.equal((await get(r.port, '/shop/a')).upstream, 'v2');
      const st = (await status(r))!;
      assert.deepEqual(st.sources.map((s) => [s.name, s.state]), [
        ['ops', 'Ready'],
        ['shop', 'Ready'],
      ]);
      const metrics = (await httpGet(r.adminPort, '/metrics')).body;
      assert.ok(metrics.includes(`portico_source_revision_info{source="shop",revision="${head}"} 1`), `${r.id} exports the revision it serves`);
      const hist = JSON.parse((await httpGet(r.adminPort, '/api/v1/history?source=shop')).body) as { entries: { revision: string; result: string }[] };
      assert.deepEqual(hist.entries.map((e) => e.result), ['Applied', 'Applied']);
      assert.equal(hist.entries[1]!.revision, head);
    }
  });

  it('prints the audit history with `portico history`', () => {
    const out = execFileSync(process.execPath, [BIN, 'history', '--state', replicas[1]!.stateDir, '--source', 'shop'], { encoding: 'utf8' });
    assert.match(out, /shop +[0-9a-f]{12} Applied/);
    assert.match(out, /shop v2/);
    assert.match(out, /routes: \+0 -0 ~1/);
    const json = JSON.parse(execFileSync(process.execPath, [BIN, 'history', '--state', replicas[1]!.stateDir, '--format', 'json'], { encoding: 'utf8' })) as { source: string }[];
    assert.deepEqual([...new Set(json.map((e) => e.source))].sort(), ['ops', 'shop']);
  });

  it('a replica restarted while git is down serves its last-known-good (case 48)', async () => {
    const r = replicas[2]!;
    assert.equal(await stopReplica(r), 0, 'SIGTERM drains and exits 0');
    await daemon.stop();
    startReplica(r);
    await ready(r, 'ready again');
    assert.equal((await get(r.port, '/shop/a')).upstream, 'v2');
    // The restart serves the stored revision before its first fetch has failed: the source reads
    // Pending until then, and FetchFailed after, while the last-known-good keeps serving.
    const state = await until('shop FetchFailed', async () => {
      const st = (await status(r))!.sources.find((s) => s.name === 'shop')!.state;
      return st === 'FetchFailed' ? st : st === 'Pending' ? undefined : st;
    });
    assert.equal(state, 'FetchFailed');
    assert.equal((await get(r.port, '/shop/a')).upstream, 'v2', 'still serving the last-known-good');
    await daemon.start();
  });

  it('killed with -9 right after a push, a replica restarts on one complete revision (case 48)', async () => {
    const r = replicas[0]!;
    const before = shop.head();
    const after = shop.write('deploy/shop.yaml', mapping('shop', '/shop/', v1.port)).commit('shop back to v1');
    const body = '{}';
    await new Promise<void>((resolve) => {
      const req = http.request(
        { host: '127.0.0.1', port: r.adminPort, path: '/hooks/github', method: 'POST', agent: false, headers: { 'x-hub-signature-256': githubSignature(SECRET, body), 'x-github-delivery': 'e2e-kill' } },
        (res) => {
          res.resume();
          resolve();
        },
      );
      req.end(body);
    });
    // Somewhere between fetch, validation, swap and the state write.
    await new Promise((res) => setTimeout(res, Math.floor(Math.random() * 150)));
    const exited = new Promise((res) => r.proc!.once('exit', res));
    r.proc!.kill('SIGKILL');
    await exited;
    await daemon.stop();
    startReplica(r);
    await ready(r, 'ready after kill -9');
    const served = (await status(r))!.sources.find((s) => s.name === 'shop')!.appliedRevision;
    assert.ok(served === before || served === after, 'the old or the new revision, nothing in between');
    assert.equal((await get(r.port, '/shop/a')).upstream, served === after ? 'v1' : 'v2');
    await daemon.start();
  });

  it('with no state and an unreachable remote, serve refuses to start and says why', async () => {
    const port = await freePort();
    const out = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [BIN, 'serve', '--source', `ops=git://127.0.0.1:${port}/nothing.git#main`, '--state', join(root, 'state-empty'), '--admin', '127.0.0.1:0', '--workers', '0'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      p.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      p.once('exit', (code) => resolve({ code, stderr: err }));
    });
    assert.equal(out.code, 1);
    assert.match(out.stderr, /PORTICO_ERR_NO_VALID_CONFIGURATION|no valid configuration/);
    assert.match(out.stderr, /Unreachable/);
  });
});
