// Faulty upstreams for failure tests: down (closed port), blackhole, held until the test releases
// it, reset mid-body, malformed responses, a double response on keep-alive and an unsolicited 101.

import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startRawUpstream, type RawUpstream, type ScriptContext } from './raw-upstream.js';
import { nextEvent, pollUntil } from './wait-until.js';

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Accepts and reads the request, never answers. */
export function startBlackhole(): Promise<RawUpstream> {
  return startRawUpstream(() => {});
}

/** An upstream whose answers wait for the test: what a slow upstream looks like, without a clock. */
export interface HeldUpstream extends RawUpstream {
  /** Answer every request held so far, and every later one at once. */
  release(): void;
}

/** Holds every request (200 with `body`) until the test calls release(). */
export async function startHeld(body = 'slow'): Promise<HeldUpstream> {
  const held: net.Socket[] = [];
  let released = false;
  const answer = (s: net.Socket): void => {
    if (!s.destroyed) s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
  };
  const u = await startRawUpstream((c) => (released ? answer(c.socket) : held.push(c.socket)));
  return {
    ...u,
    release: () => {
      released = true;
      for (const s of held.splice(0)) answer(s);
    },
  };
}

/** An upstream that sends part of a response and ends the connection when the test says. */
export interface CutUpstream extends RawUpstream {
  /** Reset (RST) or close (FIN) every connection that has sent its part, once those bytes are out. */
  cut(): void;
}

/**
 * Promises 20 000 bytes and sends 10 000; cut() then resets the connection (RST) or closes it (FIN).
 * A test cuts once its client has the response head: the gateway is then mid-body for certain.
 */
export async function startResetMidBody(how: 'reset' | 'fin' = 'reset', framing: 'length' | 'chunked' = 'length'): Promise<CutUpstream> {
  const sent: net.Socket[] = [];
  const end = (s: net.Socket): void => {
    if (how === 'reset') s.resetAndDestroy();
    else s.end();
  };
  const u = await startRawUpstream((c) => {
    const part = 'x'.repeat(10_000);
    const head = framing === 'length' ? `HTTP/1.1 200 OK\r\ncontent-length: 20000\r\n\r\n${part}` : `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2710\r\n${part}\r\n`;
    c.socket.write(head, () => sent.push(c.socket));
  });
  return {
    ...u,
    cut: () => {
      for (const s of sent.splice(0)) if (!s.destroyed) end(s);
    },
  };
}

/**
 * Answers every request with these exact bytes and keeps the connection open: the gateway must
 * judge the bytes themselves, not wait for the upstream to close.
 */
export function startMalformed(raw: string): Promise<RawUpstream> {
  return startRawUpstream((c) => {
    c.socket.write(raw);
  });
}

/**
 * The first request on a connection gets two responses in one write (so the gateway reads the
 * extra one together with the first, before it could reuse the connection); later requests get "c<n>".
 */
export function startDoubleResponse(): Promise<RawUpstream> {
  let served = 0;
  return startRawUpstream((c: ScriptContext) => {
    served++;
    const body = `c${served}`;
    const answer = `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
    c.socket.write(c.nth === 1 ? `${answer}HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nevil` : answer);
  });
}

/** Answers with 101 Switching Protocols although nobody asked, then raw bytes. */
export function startUnsolicited101(): Promise<RawUpstream> {
  return startRawUpstream((c) => {
    c.socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n');
  });
}

/** Reads the whole request, then resets without answering (POST-retry tests). */
export function startResetAfterRequest(): Promise<RawUpstream> {
  return startRawUpstream((c) => c.socket.resetAndDestroy());
}

/** Connections waiting in the accept queue of the socket listening on 127.0.0.1:`port` (rx_queue in /proc/net/tcp). */
function acceptQueueLength(port: number): number | undefined {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[3] === '0A') return parseInt((f[4] ?? '').split(':')[1] ?? '', 16);
  }
  return undefined;
}

/**
 * An address whose TCP connects hang: a stopped child process listens with a backlog of 1, and
 * held connections fill its accept queue (the kernel's own count says when they are queued), so it leaves
 * further SYNs unanswered.
 */
export async function startUnaccepting(): Promise<{ port: number; close(): Promise<void> }> {
  const BACKLOG = 1;
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', `const s=require('net').createServer(()=>{});s.listen({port:0,host:'127.0.0.1',backlog:${BACKLOG}},()=>console.log(s.address().port))`], { stdio: ['ignore', 'pipe', 'ignore'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
  });
  child.kill('SIGSTOP');
  const held: net.Socket[] = [];
  const close = async (): Promise<void> => {
    for (const s of held) s.destroy();
    child.kill('SIGKILL');
    await new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
  };
  try {
    // Linux drops a SYN once the queue holds more than the backlog: BACKLOG + 1 connections fill it.
    while (held.length <= BACKLOG) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      held.push(s);
      await nextEvent(s, 'connect', `held connection ${held.length} to 127.0.0.1:${port}`);
      // the client side completes before the server side queues the connection
      await pollUntil(`the kernel to queue held connection ${held.length}`, async () => acceptQueueLength(port) === held.length, { everyMs: 5 });
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { port, close };
}
