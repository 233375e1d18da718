// `portico serve` told to stop while it starts (a pod deleted right after it was scheduled): the stop
// takes the graceful path at every step of start-up. Exit 0 with the drain's log lines, never the
// default action of the signal (exit 143), never a start-up failure, and nothing bound after it.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigDir, ServeProcess } from '../serve/serve-harness.js';
import { freePort } from '../support/free-port.js';
import { mappingYaml } from '../support/policy-yaml.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function start(args: readonly string[]): ServeProcess {
  const proc = new ServeProcess(args);
  cleanups.push(() => proc.stop());
  return proc;
}

/** A folder with one Listener on a free port and a Mapping; resolves with the folder and the port. */
async function configDir(): Promise<{ dir: ConfigDir; port: number }> {
  const dir = await ConfigDir.create();
  cleanups.push(() => dir.dispose());
  const port = await freePort();
  await dir.listener(port);
  await dir.write('mapping.yaml', mappingYaml('stable', '/stable/', 9));
  return { dir, port };
}

/**
 * A named pipe to give serve as its access log. Opening its read end waits until serve opens it for
 * writing, early in start-up (before the admin address, the workers and the Listeners): `opened`
 * resolves at that moment. The read end stays open until the test ends, so that no later writer (a
 * worker) waits for a reader.
 */
async function accessLogPipe(): Promise<{ path: string; opened: Promise<unknown> }> {
  const path = join(await tempDir('portico-stop-fifo-'), 'access.log');
  await promisify(execFile)('mkfifo', [path]);
  const reader = open(path, 'r');
  cleanups.push(async () => {
    // A serve that never opened it leaves the reader waiting: a read-write open (which never waits on
    // Linux) lets it through.
    const unblock = await open(path, 'r+');
    await (await reader).close();
    await unblock.close();
  });
  return { path, opened: reader };
}

/** The process ended as a drain ends: exit 0, the drain's two lines, no fatal line and no PORTICO_ERR_. */
async function assertDrained(proc: ServeProcess, signal: NodeJS.Signals): Promise<void> {
  const exit = await proc.exited;
  const text = proc.stderr.join('\n');
  assert.deepEqual(exit, { code: 0, signal: null }, `a graceful stop, not the signal's default action:\n${text}`);
  assert.ok(proc.logs.some((l) => l.msg === 'draining' && l.why === signal), `a 'draining' line for ${signal}:\n${text}`);
  assert.equal(proc.logs.filter((l) => l.level === 'fatal').length, 0, text);
  assert.ok(!/PORTICO_ERR_/.test(text), text);
  assert.equal(proc.logs.at(-1)?.msg, 'drained; exiting', text);
}

describe('portico serve stopped while it starts', () => {
  for (const { signal, workers } of [
    { signal: 'SIGTERM', workers: '0' },
    { signal: 'SIGINT', workers: '2' },
  ] as const) {
    it(`${signal} as the access log opens, --workers ${workers}: exit 0, no Listener bound`, async () => {
      const { dir } = await configDir();
      const log = await accessLogPipe();
      const proc = start(['--config', dir.path, '--admin', '127.0.0.1:0', '--workers', workers, '--access-log', log.path]);
      await Promise.race([log.opened, proc.exited.then(() => assert.fail(`serve exited before it opened its access log:\n${proc.stderr.join('\n')}`))]);
      proc.signal(signal);
      await assertDrained(proc, signal);
      assert.ok(!proc.stderr.some((l) => l.startsWith('listening on ')), `no Listener was bound:\n${proc.stderr.join('\n')}`);
      assert.ok(!proc.logs.some((l) => l.msg === 'configuration applied'), 'nothing was applied after the stop');
    });
  }

  it('SIGTERM while the first fetch of a git source waits on its remote: exit 0, not a failure to start', async () => {
    // A remote that accepts and never answers: its first connection says the fetch is under way.
    const held = new Set<net.Socket>();
    const remote = net.createServer((s) => {
      held.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((r) => remote.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise((r) => {
      for (const s of held) s.destroy();
      remote.close(r);
    }));
    const fetching = new Promise<void>((r) => remote.once('connection', () => r()));
    const state = await tempDir('portico-stop-state-');
    const { port } = remote.address() as net.AddressInfo;
    const proc = start(['--source', `central=git://127.0.0.1:${port}/edge.git#main`, '--state', state, '--admin', '127.0.0.1:0', '--workers', '0', '--access-log', 'off', '--fetch-timeout', '60s']);
    await Promise.race([fetching, proc.exited.then(() => assert.fail(`serve exited before it fetched:\n${proc.stderr.join('\n')}`))]);
    proc.signal('SIGTERM');
    await assertDrained(proc, 'SIGTERM');
    assert.ok(!proc.logs.some((l) => l.level === 'error'), `the cut-short fetch is no error:\n${proc.stderr.join('\n')}`);
  });
});
