// A real redis-server (the Debian package; .ci/run installs it) for the rate-limit tests: started on
// a free loopback port with its own temporary folder and no persistence, stopped by the test.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { freePort } from './free-port.js';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Stop the server (SIGKILL: as abrupt as a crash) and wait for it to exit. */
  stop(): Promise<void>;
  /** Start it again on the same port after stop(), empty. */
  restart(): Promise<void>;
  /** Freeze it (SIGSTOP): connections stay open and nothing is answered, as a Redis that hangs. */
  pause(): void;
  /** Let a paused server run again: it answers what it was sent meanwhile. */
  resume(): void;
  /** Stop it and remove its folder. */
  dispose(): Promise<void>;
}

/** Resolves once the server answers PING on its port. */
async function answersPing(port: number, exited: () => boolean): Promise<void> {
  for (;;) {
    if (exited()) throw new Error('redis-server exited before it answered');
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let buf = '';
      s.setEncoding('utf8');
      s.once('connect', () => s.write('PING\r\n'));
      s.on('data', (d: string) => {
        buf += d;
        if (buf.includes('\r\n')) {
          s.destroy();
          resolve(buf.startsWith('+PONG'));
        }
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    // The port is not accepting yet: wait for the next turn of the event loop's timers, not a fixed sleep.
    await new Promise<void>((r) => setImmediate(r));
  }
}

export async function startRedis(): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'portico-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited = true;
  let exit: Promise<void> = Promise.resolve();
  const launch = async (): Promise<void> => {
    const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = c;
    exited = false;
    exit = new Promise<void>((resolve) => c.once('exit', () => {
      exited = true;
      resolve();
    }));
    c.once('error', () => {
      exited = true;
    });
    await answersPing(port, () => exited);
  };
  await launch();
  const stop = async (): Promise<void> => {
    if (child !== undefined && !exited) {
      child.kill('SIGKILL');
      await exit;
    }
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    restart: launch,
    pause: () => {
      if (child !== undefined && !exited) child.kill('SIGSTOP');
    },
    resume: () => {
      if (child !== undefined && !exited) child.kill('SIGCONT');
    },
    dispose: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
