// Raw HTTP/1.1 sender: writes exact bytes to a port and collects what comes back until the server
// closes the connection. Callers end what they send so that the server closes: a request with
// Connection: close, or one the server must refuse; the wait is bounded, never a quiet period.

import net from 'node:net';
import { nextEvent, WAIT_BOUND_MS } from './wait-until.js';

export interface RawExchange {
  readonly text: string;
  /** The server closed the connection (FIN or reset) within the bound. */
  readonly closed: boolean;
  /** Status codes of every response found in the reply bytes, in order. */
  readonly statuses: number[];
}

export async function sendRaw(port: number, data: string | Buffer, opts: { maxMs?: number } = {}): Promise<RawExchange> {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('connect', () => socket.write(data));
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', () => {});
  const closed = await nextEvent(socket, 'close', 'the server to close the connection', { timeoutMs: opts.maxMs ?? WAIT_BOUND_MS }).then(() => true, () => false);
  socket.destroy();
  const text = Buffer.concat(chunks).toString('latin1');
  const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
  return { text, closed, statuses };
}
