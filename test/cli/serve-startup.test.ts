// `portico serve` as an operator meets it: each start-up failure ends with one line carrying its
// PORTICO_ERR_* code (and a JSON `fatal` line with the same code), never a stack; every bound listener
// is told in one line; `--bind` lets two replicas share a host and a Listener port.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { ConfigDir, ServeProcess, startEcho, type Echo } from '../serve/serve-harness.js';
import { request } from '../serve/http-client.js';
import { freePort } from '../support/free-port.js';
import { listenerYaml, mappingYaml } from '../support/policy-yaml.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

let echo: Echo | undefined;
async function upstream(): Promise<Echo> {
  if (!echo) {
    echo = await startEcho();
    cleanups.unshift(() => echo!.close());
  }
  return echo;
}

async function configDir(listenerPort: number, files: Record<string, string> = {}): Promise<ConfigDir> {
  const dir = await ConfigDir.create();
  cleanups.push(() => dir.dispose());
  await dir.listener(listenerPort);
  await dir.mapping('stable', '/stable/', (await upstream()).port);
  for (const [name, text] of Object.entries(files)) await dir.write(name, text);
  return dir;
}

async function listenOn(host: string, port = 0): Promise<net.Server> {
  const s = net.createServer((c) => c.destroy());
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen({ host, port }, () => resolve());
  });
  cleanups.push(() => new Promise((r) => s.close(r)));
  return s;
}

function start(args: readonly string[]): ServeProcess {
  const proc = new ServeProcess(args);
  cleanups.push(() => proc.stop());
  return proc;
}

const STACK = /^\s+at .+(:\d+:\d+\)?|<anonymous>\)?)$/;

async function assertStartFails(proc: ServeProcess, code: string, why: RegExp): Promise<void> {
  const exit = await proc.exited;
  const text = proc.stderr.join('\n');
  assert.equal(exit.code, 1, text);
  assert.ok(!proc.stderr.some((l) => STACK.test(l)), `no stack trace:\n${text}`);
  const last = proc.stderr.filter((l) => l.trim() !== '').pop() ?? '';
  assert.match(last, new RegExp(`^portico serve: ${code}: `), text);
  assert.match(last, why);
  assert.ok(proc.logs.some((l) => l.level === 'fatal' && l.code === code), `the JSON log has a fatal line with ${code}:\n${text}`);
}

interface StartFailure {
  readonly name: string;
  readonly code: string;
  readonly why: RegExp;
  readonly args: () => Promise<string[]>;
}

const FAILURES: StartFailure[] = [
  {
    name: 'a Listener port taken by another process',
    code: 'PORTICO_ERR_LISTENER_BIND',
    why: /listener http: cannot bind 0\.0\.0\.0:\d+: EADDRINUSE/,
    args: async () => {
      const taken = (await listenOn('0.0.0.0')).address() as net.AddressInfo;
      return ['--config', (await configDir(taken.port)).path, '--workers', '0'];
    },
  },
  {
    name: 'a Listener port taken by another process, with two workers',
    code: 'PORTICO_ERR_LISTENER_BIND',
    why: /cannot bind 0\.0\.0\.0:\d+: EADDRINUSE/,
    args: async () => {
      const taken = (await listenOn('0.0.0.0')).address() as net.AddressInfo;
      return ['--config', (await configDir(taken.port)).path, '--workers', '2'];
    },
  },
  {
    name: 'a --bind address that is not on this host',
    code: 'PORTICO_ERR_LISTENER_BIND',
    why: /cannot bind 192\.0\.2\.1:\d+: EADDRNOTAVAIL/,
    args: async () => ['--config', (await configDir(await freePort())).path, '--workers', '0', '--bind', '192.0.2.1'],
  },
  {
    name: 'an access log that cannot be opened',
    code: 'PORTICO_ERR_ACCESS_LOG',
    why: /cannot open the access log .*not-a-dir/,
    args: async () => {
      const dir = await configDir(await freePort(), { 'not-a-dir': 'x' });
      return ['--config', dir.path, '--workers', '0', '--access-log', join(dir.path, 'not-a-dir', 'access.log')];
    },
  },
  {
    name: 'no valid configuration',
    code: 'PORTICO_ERR_NO_VALID_CONFIGURATION',
    why: /no valid configuration to serve .*bad\.yaml:1:1/,
    args: async () => {
      const dir = await configDir(await freePort(), { 'bad.yaml': 'kind: Mappping\napiVersion: getambassador.io/v3alpha1\nmetadata: {name: x}\n' });
      return ['--config', dir.path, '--workers', '0'];
    },
  },
  {
    name: 'a git source that cannot be reached and no last-known-good state',
    code: 'PORTICO_ERR_NO_VALID_CONFIGURATION',
    why: /no last-known-good state in .*\(central: Unreachable: /,
    args: async () => {
      const state = await mkdtemp(join(tmpdir(), 'portico-startup-state-'));
      cleanups.push(() => rm(state, { recursive: true, force: true }));
      // Port 1, which nothing listens on: the fetch is refused at once. (A free ephemeral port could be
      // taken meanwhile by another test's server, whose answer git would report as something else.)
      return ['--source', 'central=http://127.0.0.1:1/edge.git#main', '--state', state, '--workers', '0', '--fetch-timeout', '20s'];
    },
  },
];

describe('portico serve start-up failures', () => {
  for (const f of FAILURES) {
    it(`${f.name}: exit 1 and one line with ${f.code}`, async () => {
      const proc = start(['--admin', '127.0.0.1:0', '--access-log', 'off', ...(await f.args())]);
      await assertStartFails(proc, f.code, f.why);
    });
  }
});

/** Whether this host routes 127.0.0.2 to loopback (Linux does for all of 127/8). */
async function hasSecondLoopback(): Promise<boolean> {
  try {
    const s = net.createServer();
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen({ host: '127.0.0.2', port: 0 }, () => resolve());
    });
    await new Promise((r) => s.close(r));
    return true;
  } catch {
    return false;
  }
}

describe('portico serve listeners', () => {
  it('two replicas share a host and a Listener port with --bind, each telling what it bound', async (t) => {
    if (!(await hasSecondLoopback())) {
      t.skip('127.0.0.2 is not a loopback address on this host');
      return;
    }
    const up = await upstream();
    const port = await freePort();
    // The same Listener and path in both; each replica rewrites to its own name, so a reply says who answered.
    const replicas = [
      { address: '127.0.0.1', name: 'one', workers: '0' },
      { address: '127.0.0.2', name: 'two', workers: '2' },
    ];
    const procs: ServeProcess[] = [];
    const dirs: ConfigDir[] = [];
    for (const r of replicas) {
      const dir = await ConfigDir.create();
      cleanups.push(() => dir.dispose());
      await dir.listener(port);
      await dir.write('who.yaml', mappingYaml('who', '/who/', up.port, `  rewrite: /${r.name}/\n`));
      dirs.push(dir);
      procs.push(start(['--config', dir.path, '--bind', r.address, '--admin', `${r.address}:0`, '--workers', r.workers, '--access-log', 'off']));
    }
    await Promise.all(procs.map((p) => p.ready()));
    for (const [i, r] of replicas.entries()) {
      const proc = procs[i]!;
      assert.ok(proc.stderr.includes(`listening on http://${r.address}:${port} (Listener default/http)`), proc.stderr.join('\n'));
      assert.ok(proc.stderr.includes(`admin on ${proc.admin}`), proc.stderr.join('\n'));
      assert.match(proc.admin, new RegExp(`^http://${r.address.replace(/\./g, '\\.')}:\\d+$`));
      const reply = await request(`http://${r.address}:${port}/who/x`);
      assert.equal(reply.status, 200);
      assert.equal(JSON.parse(reply.body).path, `/${r.name}/x`, `${r.address} is answered by replica ${r.name}`);
      const config = await proc.config();
      assert.deepEqual((config.ir.listeners as { bindAddress: string }[]).map((l) => l.bindAddress), [r.address], 'the admin API shows the address bound');
    }

    // A Listener added later is told when it is bound, and when it is let go.
    const extra = await freePort();
    await dirs[0]!.write('extra.yaml', listenerYaml(extra, 'extra'));
    const added = `listening on http://127.0.0.1:${extra} (Listener default/extra)`;
    await procs[0]!.waitLine('the added listener line', (l) => l === added);
    assert.equal((await request(`http://127.0.0.1:${extra}/who/y`)).status, 200);
    await dirs[0]!.remove('extra.yaml');
    await procs[0]!.waitLine('the removed listener line', (l) => l === `stopped listening on http://127.0.0.1:${extra} (Listener default/extra)`);
    assert.equal(procs[0]!.stderr.filter((l) => l.startsWith('listening on ')).length, 2, 'one line per bound listener, none repeated per apply');

    for (const p of procs) p.signal('SIGTERM');
    for (const p of procs) assert.equal((await p.exited).code, 0);
  });
});
