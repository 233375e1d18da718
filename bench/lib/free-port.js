// Free loopback ports for the servers the benchmark starts (their configuration files name the port).
import net from 'node:net';

const handedOut = new Set();

export async function freePort() {
  // The kernel may hand a just-closed port out again: never give the same one twice in a run.
  for (let i = 0; i < 50; i++) {
    const port = await probePort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('PORTICO_BENCH_NO_PORT: no free loopback port found');
}

function probePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}
