// Faulty upstreams for failure tests: down (closed port), blackhole, slow, reset mid-body,
// malformed responses, a double response on keep-alive and an unsolicited 101.

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startRawUpstream, type RawUpstream, type ScriptContext } from './raw-upstream.js';

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

/** Answers after `delayMs`. */
export function startSlow(delayMs: number, body = 'slow'): Promise<RawUpstream> {
  return startRawUpstream((c) => {
    const t = setTimeout(() => {
      if (!c.socket.destroyed) c.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    }, delayMs);
    c.socket.on('close', () => clearTimeout(t));
  });
}

/** Promises 20 000 bytes, sends 10 000, then resets the connection (RST) or closes it (FIN). */
export function startResetMidBody(how: 'reset' | 'fin' = 'reset', framing: 'length' | 'chunked' = 'length'): Promise<RawUpstream> {
  return startRawUpstream((c) => {
    const part = 'x'.repeat(10_000);
    if (framing === 'length') c.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 20000\r\n\r\n${part}`);
    else c.socket.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2710\r\n${part}\r\n`);
    setTimeout(() => {
      if (how === 'reset') c.socket.resetAndDestroy();
      else c.socket.end();
    }, 50);
  });
}

/** Answers every request with these exact bytes, then closes. */
export function startMalformed(raw: string): Promise<RawUpstream> {
  return startRawUpstream((c) => {
    c.socket.write(raw);
    setTimeout(() => c.socket.end(), 100);
  });
}

/** The first request on a connection gets two responses; later requests get "c<n>". */
export function startDoubleResponse(): Promise<RawUpstream> {
  let served = 0;
  return startRawUpstream((c: ScriptContext) => {
    served++;
    const body = `c${served}`;
    c.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    if (c.nth === 1) c.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nevil');
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

/**
 * An address whose TCP connects hang: a stopped child process listens with a backlog of 1, and
 * two held connections fill the queue, so the kernel leaves further SYNs unanswered.
 */
export async function startUnaccepting(): Promise<{ port: number; close(): Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', "const s=require('net').createServer(()=>{});s.listen({port:0,host:'127.0.0.1',backlog:1},()=>console.log(s.address().port))"], { stdio: ['ignore', 'pipe', 'ignore'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
  });
  child.kill('SIGSTOP');
  const held: net.Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      const t = setTimeout(() => {
        s.destroy();
        resolve(false);
      }, 300);
      s.on('error', () => {});
      s.once('connect', () => {
        clearTimeout(t);
        held.push(s);
        resolve(true);
      });
    });
    if (!ok) break;
  }
  return {
    port,
    close: async () => {
      for (const s of held) s.destroy();
      child.kill('SIGKILL');
      await new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
    },
  };
}
