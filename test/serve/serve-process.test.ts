// `portico serve` as a real process: directory watch and last-known-good, SIGHUP, SIGTERM drain
// (case 46), kill -9 of a worker (case 47), a taken port (case 14), 30 changes under load (case 44).

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigDir, ServeProcess, serveStable, startEcho, type Echo, type StableServe } from './serve-harness.js';
import { canConnect, request } from './http-client.js';
import { nextEvent } from '../support/wait-until.js';
import { freePort } from '../support/free-port.js';
import { runLoad } from './load-generator.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

let echo: Echo;
async function upstream(): Promise<Echo> {
  if (!echo) {
    echo = await startEcho();
    cleanups.unshift(async () => {
      echo.release();
      await echo.close();
    });
  }
  return echo;
}

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'portico-serve-out-'));
  cleanups.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

async function setup(workers: number, extra: string[] = []): Promise<StableServe & { up: Echo }> {
  const up = await upstream();
  return { ...(await serveStable(up, cleanups, { args: ['--workers', String(workers), ...extra] })), up };
}

describe('portico serve', () => {
  it('applies directory edits, keeps the last good configuration on a broken edit, and shows why', async () => {
    const accessLog = join(await tempDir(), 'access.log');
    const { dir, proc, port, up } = await setup(0, ['--access-log', accessLog]);
    assert.equal((await request(`http://127.0.0.1:${port}/stable/a`)).status, 200);
    assert.equal((await proc.config()).generation, 1);

    await dir.mapping('extra', '/extra/', up.port);
    await proc.waitGeneration(2);
    const extra = await request(`http://127.0.0.1:${port}/extra/b`);
    assert.equal(extra.status, 200);
    assert.equal(JSON.parse(extra.body).path, '/b');

    await dir.write('broken.yaml', 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata:\n  name: "unclosed\n');
    const rejected = await proc.poll('the rejection in the admin API', async () => {
      const c = await proc.config();
      const dirSource = (c.sources as any[]).find((s) => s.source === 'dir');
      return dirSource?.result === 'rejected' ? c : undefined;
    });
    assert.equal(rejected.generation, 2, 'nothing served changed');
    const problems = (rejected.sources as any[])[0].problems as { origin: string; code: string }[];
    assert.ok(problems.some((p) => /broken\.yaml:\d+:\d+/.test(p.origin)), `origin names the file: ${JSON.stringify(problems)}`);
    assert.equal((await request(`http://127.0.0.1:${port}/extra/b`)).status, 200, 'last good configuration still served');
    const metrics = (await request(`${proc.admin}/metrics`)).body;
    assert.match(metrics, /portico_config_apply_failures_total\{source="dir",reason="InvalidConfiguration"\} [1-9]/);
    assert.ok(proc.logs.some((l) => l.level === 'error' && /broken\.yaml/.test(String(l.msg))), 'the problem is logged with its origin');

    await dir.remove('broken.yaml');
    await dir.remove('mapping-extra.yaml');
    await proc.waitGeneration(3);
    assert.equal((await request(`http://127.0.0.1:${port}/extra/b`)).status, 404);

    // SIGHUP re-reads; an unchanged directory does not make a new generation. The re-read is done
    // when the directory source's last successful fetch is a new one.
    const lastFetch = async (): Promise<number> => Number(/^portico_source_last_successful_fetch_timestamp_seconds\{source="dir"\} (\S+)$/m.exec((await request(`${proc.admin}/metrics`)).body)?.[1] ?? NaN);
    const before = await lastFetch();
    assert.ok(before > 0, 'the directory was read');
    proc.signal('SIGHUP');
    await proc.waitLog('SIGHUP logged', (l) => /SIGHUP/.test(String(l.msg)));
    await proc.poll('the re-read after SIGHUP', async () => (await lastFetch()) > before);
    assert.equal((await proc.config()).generation, 3);
    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
    const lines = (await readFile(accessLog, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const first = lines.find((l) => l.path === '/stable/a');
    assert.ok(first, 'the request is in the access log');
    assert.equal(first.status, 200);
    assert.equal(first.route, 'default/stable');
    assert.equal(first.generation, 1);
    assert.ok(lines.some((l) => l.path === '/extra/b' && l.status === 404 && l.localReply === 'no_route'));
  });

  it('keeps serving when a changed listener port is taken by another process, with two workers (case 14)', async () => {
    const { dir, proc, port } = await setup(2);
    const squatter = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => squatter.close(() => r())));
    const taken = (squatter.address() as net.AddressInfo).port;
    await dir.listener(taken);
    const failed = await proc.poll('the bind failure in the admin API', async () => {
      const c = await proc.config();
      return (c.sources as any[])[0]?.result === 'failed' ? c : undefined;
    });
    assert.equal(failed.sources[0].error.code, 'EADDRINUSE');
    assert.equal(failed.sources[0].error.port, taken);
    assert.equal(failed.generation, 1);
    assert.ok((failed.workers as { generation: number }[]).every((w) => w.generation === 1), 'every worker stays on generation 1');
    for (let i = 0; i < 10; i++) assert.equal((await request(`http://127.0.0.1:${port}/stable/x`)).status, 200, 'the old listener still serves');
    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
  });

  it('drains on SIGTERM: readiness fails, the in-flight request completes with Connection: close, exit 0 (case 46)', async () => {
    const { proc, port, up } = await setup(0, ['--drain-timeout', '120000']);
    // An idle keep-alive connection must not hold the process until keepAliveTimeout.
    const idleAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(async () => idleAgent.destroy());
    await request(`http://127.0.0.1:${port}/stable/warm`, { agent: idleAgent });
    const idleSocket = Object.values(idleAgent.freeSockets)[0]?.[0];
    assert.ok(idleSocket, 'an idle keep-alive socket exists');
    const idleClosed = nextEvent(idleSocket, 'close', 'the idle keep-alive socket to close');

    // in flight until the test releases it at the upstream
    const held = nextEvent(up.held, 'held', 'the request at the upstream');
    const inflight = request(`http://127.0.0.1:${port}/stable/wait-for-release`, { agent: new http.Agent({ keepAlive: true }) });
    await held;
    let exited = false;
    void proc.exited.then(() => (exited = true));
    proc.signal('SIGTERM');
    await proc.poll('readiness to fail', async () => (await request(`${proc.admin}/readyz`)).status === 503);
    await proc.poll('the listener to refuse connections', async () => !(await canConnect(port)));
    await idleClosed;
    assert.equal(exited, false, 'the process waits for the request in flight');
    up.release();
    const reply = await inflight;
    assert.equal(reply.status, 200);
    assert.equal(JSON.parse(reply.body).path, '/wait-for-release');
    assert.equal(reply.headers.connection, 'close');
    const exit = await proc.exited;
    assert.equal(exit.code, 0);
    const msgs = proc.logs.map((l) => l.msg);
    assert.ok(msgs.includes('draining') && msgs.includes('drained; exiting'), `drain logged: ${msgs.join(' | ')}`);
  });

  it('a second SIGTERM forces close at once', async () => {
    const { proc, port, up } = await setup(0, ['--drain-timeout', '120000']);
    const held = nextEvent(up.held, 'held', 'the request at the upstream');
    // answered only if the test released it, which it does not
    const inflight = request(`http://127.0.0.1:${port}/stable/wait-for-release`).then(
      () => 'completed',
      () => 'cut',
    );
    await held;
    proc.signal('SIGTERM');
    await proc.poll('readiness to fail', async () => (await request(`${proc.admin}/readyz`)).status === 503);
    proc.signal('SIGTERM');
    assert.equal(await inflight, 'cut');
    assert.equal((await proc.exited).code, 0);
  });

  it('restarts a killed worker on the current generation while the listener keeps accepting (case 47)', async () => {
    const { dir, proc, port, up } = await setup(2);
    await dir.mapping('second', '/second/', up.port);
    const before = await proc.waitGeneration(2);
    await proc.poll('both workers on generation 2', async () => ((await proc.config()).workers as any[]).every((w) => w.generation === 2));
    const victim = (before.workers as any[])[0].pid as number;
    process.kill(victim, 'SIGKILL');
    // The primary owns the socket: new connections succeed at once, served by the surviving worker.
    for (let i = 0; i < 20; i++) assert.equal((await request(`http://127.0.0.1:${port}/second/${i}`)).status, 200);
    const after = await proc.poll('the worker to be respawned', async () => {
      const c = await proc.config();
      const w = (c.workers as any[])[0];
      return w.pid !== victim && w.state === 'serving' ? c : undefined;
    });
    assert.equal(after.workers[0].generation, 2, 'respawned on the current configuration, not the boot one');
    assert.equal(after.workers[0].restarts, 1);
    // Two workers on this machine's CPUs: at most one CPU each means the collector runs on the worker's own thread (respawns too).
    const argv = readFileSync(`/proc/${after.workers[0].pid as number}/cmdline`, 'utf8').split('\0');
    assert.equal(argv.includes('--single-threaded-gc'), 2 >= availableParallelism(), `worker argv: ${argv.join(' ')}`);
    assert.match((await request(`${proc.admin}/metrics`)).body, /portico_worker_restarts_total 1/);
    assert.ok(proc.logs.some((l) => l.msg === 'worker exited; restarting it on the current configuration' && l.signal === 'SIGKILL'));
    for (let i = 0; i < 20; i++) assert.equal((await request(`http://127.0.0.1:${port}/second/${i}`)).status, 200);
    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
  });

  it('loses no request across 30 directory changes under load with two workers (case 44)', async (t) => {
    const { dir, proc, port, up } = await setup(2, ['--generation-header']);
    await dir.mapping('flappy', '/flappy/', up.port);
    await proc.waitGeneration(2);
    let changing = true;
    const changes = (async () => {
      for (let i = 0; i < 30; i++) {
        const gen = (await proc.config()).generation as number;
        if (i % 2 === 0) await dir.remove('mapping-flappy.yaml');
        else await dir.mapping('flappy', '/flappy/', up.port);
        await proc.waitGeneration(gen + 1);
      }
      changing = false;
    })();
    const load = await runLoad({ port, paths: ['/stable/a', '/stable/b', '/flappy/c'], total: 200_000, connections: 8, shouldStop: () => !changing });
    await changes;
    t.diagnostic(`requests ${load.sent}, by status ${JSON.stringify(load.byStatus)}, errors ${load.errors.length}`);
    assert.equal((await proc.config()).generation, 32);
    assert.deepEqual(load.errors, [], 'no resets or refused connections');
    assert.equal(load.failuresByPath['/stable/a'] ?? 0, 0);
    assert.equal(load.failuresByPath['/stable/b'] ?? 0, 0);
    assert.equal(load.generationRegressions, 0, 'generations never go backwards on a connection');
    assert.ok(load.sent > 300, `load ran throughout (${load.sent} requests)`);
    for (const s of Object.keys(load.byStatus).map(Number)) assert.ok(s === 200 || s === 404, `unexpected status ${s}`);
    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
  });

  it('terminates TLS from a Secret in the directory and never shows the key in the admin API', async () => {
    const work = await tempDir();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(work, 'k.pem'), '-out', join(work, 'c.pem'), '-days', '2', '-subj', '/CN=shop.example.com', '-addext', 'subjectAltName=DNS:shop.example.com'], { stdio: 'ignore' });
    const certPem = await readFile(join(work, 'c.pem'), 'utf8');
    const keyPem = await readFile(join(work, 'k.pem'), 'utf8');
    const up = await upstream();
    const dir = await ConfigDir.create();
    cleanups.push(() => dir.dispose());
    const port = await freePort();
    await dir.https(port, 'shop.example.com', certPem, keyPem);
    await dir.mapping('stable', '/stable/', up.port);
    const proc = new ServeProcess(['--config', dir.path, '--admin', '127.0.0.1:0', '--workers', '0', '--access-log', 'off']);
    cleanups.push(() => proc.stop());
    await proc.ready();
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, path: '/stable/tls', servername: 'shop.example.com', headers: { host: 'shop.example.com' }, ca: certPem, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(reply.status, 200);
    assert.equal(JSON.parse(reply.body).path, '/tls');
    const keyBody = keyPem.split('\n').filter((l) => l && !l.startsWith('-----'))[0]!;
    for (const path of ['/api/v1/config', '/api/v1/routes']) {
      const text = (await request(`${proc.admin}${path}`)).body;
      assert.doesNotMatch(text, /PRIVATE KEY/, path);
      assert.ok(!text.includes(keyBody) && !text.includes(Buffer.from(keyPem).toString('base64').slice(0, 40)), `${path} carries no key bytes`);
    }
    assert.ok(!proc.stderr.join('\n').includes(keyBody), 'the log carries no key bytes');
    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
  });

  it('refuses to start with the lenient HTTP parser', async () => {
    const dir = await ConfigDir.create();
    cleanups.push(() => dir.dispose());
    const proc = new ServeProcess(['--config', dir.path, '--admin', '127.0.0.1:0', '--workers', '0'], { ...process.env, NODE_OPTIONS: '--insecure-http-parser' });
    cleanups.push(() => proc.stop());
    assert.equal((await proc.exited).code, 1);
    assert.ok(proc.stderr.some((l) => /lenient HTTP parser/.test(l)));
  });

  it('refuses to start when the access log cannot be opened, and says why', async () => {
    const dir = await ConfigDir.create();
    cleanups.push(() => dir.dispose());
    await dir.write('not-a-dir', 'x');
    const proc = new ServeProcess(['--config', dir.path, '--admin', '127.0.0.1:0', '--workers', '0', '--access-log', join(dir.path, 'not-a-dir', 'access.log')]);
    cleanups.push(() => proc.stop());
    assert.equal((await proc.exited).code, 1);
    assert.ok(proc.logs.some((l) => /cannot open the access log .*not-a-dir/.test(String(l.msg))), proc.stderr.join('\n'));
  });

  it('refuses to start without a valid configuration and names the problem', async () => {
    const dir = await ConfigDir.create();
    cleanups.push(() => dir.dispose());
    await dir.write('bad.yaml', 'kind: Mappping\napiVersion: getambassador.io/v3alpha1\nmetadata: {name: x}\n');
    const proc = new ServeProcess(['--config', dir.path, '--admin', '127.0.0.1:0', '--workers', '0']);
    cleanups.push(() => proc.stop());
    assert.equal((await proc.exited).code, 1);
    assert.ok(proc.logs.some((l) => /bad\.yaml/.test(String(l.msg))), proc.stderr.join('\n'));
  });
});
