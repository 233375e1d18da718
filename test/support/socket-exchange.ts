// Raw-socket helpers for TCP and TLS edge tests: send, half-close, read until the gateway closes;
// or wait to see whether the gateway closes a connection by itself. Both give up after 5 s.

import type net from 'node:net';

/**
 * Once `socket` emits `readyEvent` ('connect' or 'secureConnect'), write `data` and half-close,
 * then collect the reply until the peer closes (closed: true) or 5 s pass (closed: false).
 */
export function exchange(socket: net.Socket, data: string, readyEvent: 'connect' | 'secureConnect'): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const t = setTimeout(() => {
      socket.destroy();
      resolve({ reply: Buffer.concat(chunks).toString(), closed: false });
    }, 5000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.once(readyEvent, () => {
      socket.write(data);
      socket.end();
    });
    socket.once('close', () => {
      clearTimeout(t);
      resolve({ reply: Buffer.concat(chunks).toString(), closed: true });
    });
  });
}

/** Whether the peer closes `socket` within 5 s; the socket is destroyed either way. */
export async function closedByPeer(socket: net.Socket): Promise<boolean> {
  socket.on('error', () => {});
  const closed = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 5000);
    socket.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
  socket.destroy();
  return closed;
}
