// Raw-socket helpers for TCP and TLS edge tests: send, half-close, read until the gateway closes;
// or wait for the gateway to close a connection by itself. Both give up after a bound.

import type net from 'node:net';
import { nextEvent, settlesWithin, WAIT_BOUND_MS } from './wait-until.js';

/**
 * Once `socket` emits `readyEvent` ('connect' or 'secureConnect'), write `data` and half-close,
 * then collect the reply until the peer closes (closed: true) or the bound passes (closed: false).
 */
export async function exchange(socket: net.Socket, data: string, readyEvent: 'connect' | 'secureConnect'): Promise<{ reply: string; closed: boolean }> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  socket.once(readyEvent, () => {
    socket.write(data);
    socket.end();
  });
  const closed = await settlesWithin(nextEvent(socket, 'close', 'the peer to close', { timeoutMs: WAIT_BOUND_MS * 2 }), WAIT_BOUND_MS);
  if (!closed) socket.destroy();
  return { reply: Buffer.concat(chunks).toString(), closed };
}

/** Whether the peer closes `socket` within the bound; the socket is destroyed either way. */
export async function closedByPeer(socket: net.Socket): Promise<boolean> {
  socket.on('error', () => {});
  const closed = socket.closed || (await settlesWithin(nextEvent(socket, 'close', 'the peer to close', { timeoutMs: WAIT_BOUND_MS * 2 }), WAIT_BOUND_MS));
  socket.destroy();
  return closed;
}
