// Raw HTTP/1.1 sender: writes exact bytes to a port and collects what comes back until the
// server closes the connection or stays quiet for a while.

import net from 'node:net';

export interface RawExchange {
  readonly text: string;
  /** The server closed the connection (FIN or reset) before the quiet period ended. */
  readonly closed: boolean;
  /** Status codes of every response found in the reply bytes, in order. */
  readonly statuses: number[];
}

export function sendRaw(port: number, data: string | Buffer, opts: { quietMs?: number; maxMs?: number } = {}): Promise<RawExchange> {
  const quietMs = opts.quietMs ?? 400;
  const maxMs = opts.maxMs ?? 5000;
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let finished = false;
    let quiet: NodeJS.Timeout | undefined;
    const finish = (closed: boolean): void => {
      if (finished) return;
      finished = true;
      clearTimeout(quiet);
      clearTimeout(hard);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
      resolve({ text, closed, statuses });
    };
    const arm = (): void => {
      clearTimeout(quiet);
      quiet = setTimeout(() => finish(false), quietMs);
    };
    const hard = setTimeout(() => finish(false), maxMs);
    socket.on('connect', () => {
      socket.write(data);
      arm();
    });
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      arm();
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
  });
}
