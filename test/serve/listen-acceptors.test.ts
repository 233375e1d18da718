// A worker of `serve --workers N` accepts on several descriptors of each listening socket, so that a
// busy worker takes a burst of new connections in a few turns: every descriptor serves, and a
// listener that goes away, or a process that drains, leaves none of them accepting.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { ACCEPTORS_PER_LISTENER } from '../../src/serve/listen-acceptors.js';
import { WORKER_SEMI_SPACE_MIB } from '../../src/serve/worker-pool.js';
import { listenerYaml } from '../support/policy-yaml.js';
import { canConnect, request } from './http-client.js';
import { serveStable, startEcho, type Echo } from './serve-harness.js';
import { freePort } from '../support/free-port.js';

/** The inodes of the sockets listening on `port` (IPv4 and IPv6 tables). */
function listeningInodes(port: number): Set<string> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // st 0A: LISTEN
      if (f.length > 9 && f[1]!.endsWith(`:${hex}`) && f[3] === '0A') inodes.add(f[9]!);
    }
  }
  return inodes;
}

/** How many of `pid`'s descriptors refer to a socket listening on `port`. */
function listeningDescriptors(pid: number, port: number): number {
  const inodes = listeningInodes(port);
  let n = 0;
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return 0;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1]!)) n++;
    } catch {}
  }
  return n;
}

/** The child processes of `pid` (the workers of a `serve` primary). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch {}
  }
  return out;
}

/** Open `count` connections at once, each sending one request and reading its whole answer. */
function burst(port: number, count: number, path: string): Promise<string[]> {
  return Promise.all(Array.from({ length: count }, () => new Promise<string>((resolve, reject) => {
    let reply = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET ${path} HTTP/1.1\r\nHost: burst.test\r\nConnection: close\r\n\r\n`));
    s.setEncoding('latin1').on('data', (c: string) => (reply += c));
    s.on('error', reject);
    s.on('close', () => resolve(reply.slice(0, 12)));
  })));
}

describe('the acceptors of a worker', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let up: Echo;
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await up?.close();
  });

  it('a worker accepts on every descriptor it was given, and 200 connections opened at once are all answered', async () => {
    up = await startEcho();
    const { proc, port } = await serveStable(up, cleanups, { args: ['--workers', '1'] });
    const [worker] = childrenOf(proc.pid);
    assert.ok(worker, 'the primary has a worker');
    await proc.poll('the worker polls its duplicates', async () => listeningDescriptors(worker, port) === ACCEPTORS_PER_LISTENER);
    // the primary keeps the socket it shares, and not one of the duplicates it handed over
    assert.equal(listeningDescriptors(proc.pid, port), 1);
    const answers = await burst(port, 200, '/stable/burst');
    assert.deepEqual(new Set(answers), new Set(['HTTP/1.1 200']));
    // it runs with the V8 options workers are given (worker-node-options.test.ts), which V8 took: it serves
    const argv = readFileSync(`/proc/${worker}/cmdline`, 'utf8').split('\0');
    assert.ok(argv.includes('--no-memory-reducer') && argv.includes(`--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`), argv.join(' '));
  });

  it('a listener taken out of the configuration stops accepting on every descriptor', async () => {
    up ??= await startEcho();
    const { dir, proc } = await serveStable(up, cleanups, { args: ['--workers', '1'] });
    const [worker] = childrenOf(proc.pid);
    const second = await freePort();
    await dir.write('second.yaml', listenerYaml(second, 'second'));
    await proc.poll('the second listener on every descriptor', async () => listeningDescriptors(worker!, second) === ACCEPTORS_PER_LISTENER);
    assert.equal((await request(`http://127.0.0.1:${second}/stable/x`)).status, 200);
    await dir.remove('second.yaml');
    await proc.poll('the second listener gone', async () => !(await canConnect(second)));
    assert.equal(listeningDescriptors(worker!, second), 0);
    assert.equal(listeningDescriptors(proc.pid, second), 0);
  });

  it('a drained process leaves the port free', async () => {
    up ??= await startEcho();
    const { proc, port } = await serveStable(up, cleanups, { args: ['--workers', '1'] });
    const [worker] = childrenOf(proc.pid);
    await proc.poll('the worker polls its duplicates', async () => listeningDescriptors(worker!, port) === ACCEPTORS_PER_LISTENER);
    assert.equal((await request(`http://127.0.0.1:${port}/stable/x`)).status, 200);
    proc.signal('SIGTERM');
    assert.deepEqual(await proc.exited, { code: 0, signal: null });
    const again = net.createServer();
    await new Promise<void>((resolve, reject) => again.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
    await new Promise<void>((resolve) => again.close(() => resolve()));
  });
});
