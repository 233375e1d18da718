// TCPMappings through the real serving path (Gateway + request path): plain TCP by port, half-close,
// idle timeout, weights, upstream down, slow readers, SNI passthrough, TLS termination and origination (case 43).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { Gateway } from '../../src/serve/gateway.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import type { IR, IRCluster, IRTCPRoute, IRTLSContext } from '../../src/ir/types.js';
import type { SecretStore } from '../../src/ir/secrets.js';
import { cluster, servingContext, sourceRef, tlsContext } from '../support/ir-builder.js';
import { defaultGlobal } from '../../src/compile/global-policy.js';
import { closedPort, startUnaccepting } from '../support/fault-upstream.js';
import { exchange as sendAndRead, closedByPeer } from '../support/socket-exchange.js';
import { makeTestPKI, type TestPKI } from '../support/test-pki.js';
import { nextEvent, nextTurn, pollUntil } from '../support/wait-until.js';

interface Upstream {
  port: number;
  accepted: number;
  close(): Promise<void>;
}

/** Answers "<name>:" + everything it received, after the client's FIN (so half-close is visible). */
async function startCollector(name: string, secure?: tls.TlsOptions): Promise<Upstream> {
  const sockets = new Set<net.Socket>();
  const onConn = (s: net.Socket): void => {
    sockets.add(s);
    up.accepted++;
    s.on('error', () => {});
    s.once('close', () => sockets.delete(s));
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => s.end(`${name}:${Buffer.concat(chunks).toString()}`));
  };
  const server = secure ? tls.createServer({ ...secure, allowHalfOpen: true }, onConn) : net.createServer({ allowHalfOpen: true }, onConn);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const up: Upstream = {
    port: (server.address() as AddressInfo).port,
    accepted: 0,
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
  return up;
}

function tcpRoute(id: string, backends: { cluster: string; weight: number }[], over: Partial<IRTCPRoute> = {}): IRTCPRoute {
  return { id, backends, idleTimeoutMs: 3_600_000, mapping: { ...sourceRef(id), kind: 'TCPMapping' }, ...over };
}

function tcpIR(routes: IRTCPRoute[], clusters: IRCluster[], tlsContexts: IRTLSContext[] = [], tlsListener = false): IR {
  return {
    version: 1, ambassadorId: 'default', global: { ...defaultGlobal(), connectTimeoutMs: 500 },
    listeners: [{
      name: 'tcp', bindAddress: '127.0.0.1', port: 0, protocolStack: tlsListener ? ['TLS', 'TCP'] : ['TCP'], l7: false, tls: tlsListener,
      securityModel: 'SECURE', l7Depth: 0, virtualHosts: [], tcpRoutes: routes,
    }],
    clusters, tlsContexts, resolvers: [],
  };
}

/** Connect (plain TCP, or through `connect`), send `data`, half-close, and collect the reply until the gateway closes. */
function exchange(port: number, data: string, connect?: (port: number) => net.Socket): Promise<{ reply: string; closed: boolean }> {
  return sendAndRead(connect ? connect(port) : net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }), data, connect ? 'secureConnect' : 'connect');
}

describe('TCPMapping (case 43)', () => {
  let pki: TestPKI;
  const gateways: Gateway[] = [];
  const upstreams: Upstream[] = [];
  before(() => {
    pki = makeTestPKI();
  });
  after(async () => {
    for (const g of gateways) g.forceClose();
    for (const u of upstreams) await u.close();
    pki.cleanup();
  });

  async function serve(ir: IR, secrets: SecretStore = {}): Promise<number> {
    const g = new Gateway({ buildRuntime, drainTimeoutMs: 500 });
    gateways.push(g);
    const r = await g.apply(ir, secrets, { source: 'test' });
    assert.equal(r.ok, true, JSON.stringify(r));
    return g.boundPorts()['tcp'] as number;
  }

  async function upstream(name: string, secure?: tls.TlsOptions): Promise<Upstream> {
    const u = await startCollector(name, secure);
    upstreams.push(u);
    return u;
  }

  it('proxies plain TCP by port and propagates the half-close: the reply still flows back', async () => {
    const u = await upstream('one');
    const port = await serve(tcpIR([tcpRoute('default/t', [{ cluster: 'c1', weight: 100 }])], [cluster('c1', u.port)]));
    const r = await exchange(port, 'hello');
    assert.deepEqual(r, { reply: 'one:hello', closed: true });
  });

  it('splits connections by weight', async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    const port = await serve(tcpIR([tcpRoute('default/w', [{ cluster: 'ca', weight: 50 }, { cluster: 'cb', weight: 50 }])], [cluster('ca', a.port), cluster('cb', b.port)]));
    const seen = new Set<string>();
    for (let i = 0; i < 24 && seen.size < 2; i++) seen.add((await exchange(port, 'x')).reply);
    assert.deepEqual([...seen].sort(), ['a:x', 'b:x']);
  });

  it('closes the client when the upstream refuses, and when it never accepts (connect timeout)', async () => {
    const down = await closedPort();
    const stuck = await startUnaccepting();
    try {
      const port = await serve(tcpIR([tcpRoute('default/d', [{ cluster: 'down', weight: 100 }])], [cluster('down', down)]));
      assert.deepEqual(await exchange(port, 'x'), { reply: '', closed: true });
      const port2 = await serve(tcpIR([tcpRoute('default/s', [{ cluster: 'stuck', weight: 100 }])], [cluster('stuck', stuck.port, { connectTimeoutMs: 300 })]));
      // The client never half-closes here: only the gateway's connect timeout can end this connection.
      assert.equal(await closedByPeer(net.connect(port2, '127.0.0.1')), true);
    } finally {
      await stuck.close();
    }
  });

  it('closes both sides after the idle timeout', async () => {
    const u = await upstream('idle');
    let upstreamClosed = false;
    const port = await serve(tcpIR([tcpRoute('default/i', [{ cluster: 'ci', weight: 100 }], { idleTimeoutMs: 300 })], [cluster('ci', u.port)]));
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.write('partial');
    const closed = await closedByPeer(s);
    // the upstream saw its side closed too (its collector never got the client's FIN, so it never answered)
    upstreamClosed = u.accepted === 1;
    assert.equal(closed, true);
    assert.equal(upstreamClosed, true);
  });

  it('keeps memory bounded for a slow reader: the upstream is paused, then everything arrives', async () => {
    const total = 32 * 1024 * 1024;
    let serverSocket: net.Socket | undefined;
    // The upstream's pump: `blocked` while its last write waits for 'drain' (the gateway stopped taking bytes).
    const pump = new EventEmitter();
    let blocked = false;
    const big = net.createServer((s) => {
      serverSocket = s;
      s.on('error', () => {});
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let sent = 0;
      const write = (): void => {
        blocked = false;
        pump.emit('wrote');
        while (sent < total) {
          sent += chunk.length;
          if (!s.write(chunk)) {
            blocked = true;
            s.once('drain', write);
            pump.emit('blocked');
            return;
          }
        }
        s.end();
      };
      write();
    });
    await new Promise<void>((r) => big.listen(0, '127.0.0.1', r));
    try {
      const port = await serve(tcpIR([tcpRoute('default/big', [{ cluster: 'big', weight: 100 }])], [cluster('big', (big.address() as AddressInfo).port)]));
      const client = net.connect(port, '127.0.0.1');
      client.on('error', () => {});
      client.pause();
      await nextEvent(client, 'connect', 'the client to connect');
      // The pipeline is full when the upstream's writes stay blocked across many event-loop turns: a
      // gateway still taking bytes would have read some in any of them (and so let a 'drain' through).
      const QUIET_TURNS = 50;
      let quietTurns = 0;
      pump.on('wrote', () => (quietTurns = 0));
      await pollUntil('the upstream to stay blocked while the client reads nothing', async () => {
        await nextTurn();
        quietTurns = blocked ? quietTurns + 1 : 0;
        return quietTurns >= QUIET_TURNS;
      }, { everyMs: 0 });
      const writtenWhilePaused = serverSocket?.bytesWritten ?? 0;
      assert.ok(writtenWhilePaused < total / 2, `upstream wrote ${writtenWhilePaused} bytes to a client that read nothing`);
      let received = 0;
      client.on('data', (c: Buffer) => (received += c.length));
      const closed = nextEvent(client, 'close', 'the whole stream to arrive', { timeoutMs: 60_000 });
      client.resume();
      await closed;
      assert.equal(received, total);
    } finally {
      big.close();
    }
  });

  it('routes TLS by SNI: passthrough to the upstream that holds the certificate, or terminates with the route context', async () => {
    const passthrough = await upstream('pass', { cert: pki.a.certPem, key: pki.a.keyPem });
    const plain = await upstream('term');
    const fallback = await upstream('any');
    const ctxB = servingContext('ctx-b', 'b.example.test', 'default/b');
    const ir = tcpIR([
      tcpRoute('default/a', [{ cluster: 'pass', weight: 100 }], { sni: 'a.example.test' }),
      tcpRoute('default/b', [{ cluster: 'term', weight: 100 }], { sni: 'b.example.test', tlsContext: 'ctx-b' }),
      tcpRoute('default/any', [{ cluster: 'any', weight: 100 }]),
    ], [cluster('pass', passthrough.port), cluster('term', plain.port), cluster('any', fallback.port)], [ctxB], true);
    const port = await serve(ir, { 'default/b': { certPem: pki.b.certPem, keyPem: pki.b.keyPem } });
    const viaTLS = (servername: string) => (p: number) => tls.connect({ port: p, host: '127.0.0.1', servername, ca: pki.caPem, allowHalfOpen: true } as tls.ConnectionOptions);
    // a.example.test: the upstream's own certificate verifies, so the bytes went through untouched
    assert.deepEqual(await exchange(port, 'to-a', viaTLS('a.example.test')), { reply: 'pass:to-a', closed: true });
    // b.example.test: the gateway terminated with the b certificate and the upstream got cleartext
    assert.deepEqual(await exchange(port, 'to-b', viaTLS('b.example.test')), { reply: 'term:to-b', closed: true });
    // no SNI route matches, and plain bytes: the catch-all route
    assert.deepEqual(await exchange(port, 'plain'), { reply: 'any:plain', closed: true });
  });

  it('originates TLS to an https upstream, verifying it with the context CA', async () => {
    const secureUp = await upstream('tls', { cert: pki.a.certPem, key: pki.a.keyPem });
    const orig = tlsContext('orig', { ca: { secret: 'default/ca', sha256: '' }, sni: 'a.example.test' });
    const ir = tcpIR([tcpRoute('default/o', [{ cluster: 'o', weight: 100 }])], [cluster('o', secureUp.port, { scheme: 'https', tls: { context: 'orig', sni: 'a.example.test' } })], [orig]);
    const port = await serve(ir, { 'default/ca': { caPem: pki.caPem } });
    assert.deepEqual(await exchange(port, 'secret'), { reply: 'tls:secret', closed: true });
  });
});
