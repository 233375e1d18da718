// A TCP port on 127.0.0.1 that a test can hand to a process that binds it later (a gateway
// Listener written into YAML, git daemon). Ports from `listen(0)` come from the kernel's ephemeral
// range, which is also where every outgoing connection of every concurrently running test takes
// its local port: between the probe and the later bind, a port from that range can be taken by a
// client socket. So this picks ports below the ephemeral range, where only another explicit bind
// can collide, and checks the port is free now.

import { readFileSync } from 'node:fs';
import net from 'node:net';

function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && Number.isInteger(low) && low > 11_000) return low;
  } catch {
    // not Linux: fall through to the IANA dynamic range's lower bound
  }
  return 49_152;
}

const LOW = 10_000;
const HIGH = ephemeralLow();

function tryListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A port that is free now and outside the ephemeral range; falls back to `listen(0)` after 50 tries. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (await tryListen(port)) return port;
  }
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
