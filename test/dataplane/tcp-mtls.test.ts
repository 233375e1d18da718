// Client certificates on TLS-terminated TCPMappings: a route whose context has a CA and cert_required
// proxies only clients whose certificate chains to that CA; the others never reach the upstream.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { Gateway } from '../../src/serve/gateway.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import type { IR } from '../../src/ir/types.js';
import { cluster, servingContext, sourceRef } from '../support/ir-builder.js';
import { defaultGlobal } from '../../src/compile/global-policy.js';
import { exchange as sendAndRead } from '../support/socket-exchange.js';
import { makeTestPKI, type PemPair, type TestPKI } from '../support/test-pki.js';

interface Collector {
  port: number;
  received: string[];
  close(): Promise<void>;
}

/** Answers "got:" + what it received once the client half-closes; remembers every payload. */
async function startCollector(): Promise<Collector> {
  const sockets = new Set<net.Socket>();
  const received: string[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => sockets.delete(s));
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      received.push(text);
      s.end(`got:${text}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

/** TLS to the gateway as `servername`, optionally with a client certificate; send, half-close, read to the end. */
function exchange(port: number, servername: string, ca: string, data: string, client?: PemPair): Promise<{ reply: string; closed: boolean }> {
  const s = tls.connect({
    port, host: '127.0.0.1', servername, ca, allowHalfOpen: true,
    ...(client !== undefined ? { cert: client.certPem, key: client.keyPem } : {}),
  } as tls.ConnectionOptions);
  return sendAndRead(s, data, 'secureConnect');
}

describe('TCPMapping with client certificates (cert_required)', () => {
  let pki: TestPKI;
  let other: TestPKI;
  let up: Collector;
  let gw: Gateway;
  let port: number;

  before(async () => {
    pki = makeTestPKI();
    other = makeTestPKI();
    up = await startCollector();
    const mtls = servingContext('ctx-m', 'b.example.test', 'default/b', { ca: { secret: 'default/ca', sha256: '' }, certRequired: true });
    const ir: IR = {
      version: 1, ambassadorId: 'default', global: { ...defaultGlobal(), connectTimeoutMs: 500 },
      listeners: [{
        name: 'tcp', bindAddress: '127.0.0.1', port: 0, protocolStack: ['TLS', 'TCP'], l7: false, tls: true,
        securityModel: 'SECURE', l7Depth: 0, virtualHosts: [],
        tcpRoutes: [{
          id: 'default/m', sni: 'b.example.test', tlsContext: 'ctx-m', backends: [{ cluster: 'm', weight: 100 }], idleTimeoutMs: 60_000,
          mapping: { ...sourceRef('default/m'), kind: 'TCPMapping' },
        }],
      }],
      clusters: [cluster('m', up.port)], tlsContexts: [mtls], resolvers: [],
    };
    gw = new Gateway({ buildRuntime, drainTimeoutMs: 500 });
    const r = await gw.apply(ir, { 'default/b': { certPem: pki.b.certPem, keyPem: pki.b.keyPem }, 'default/ca': { caPem: pki.caPem } }, { source: 'test' });
    assert.equal(r.ok, true, JSON.stringify(r));
    port = gw.boundPorts()['tcp'] as number;
  });
  after(async () => {
    gw.forceClose();
    await up.close();
    pki.cleanup();
    other.cleanup();
  });

  it('refuses a client without a certificate: nothing reaches the upstream', async () => {
    const r = await exchange(port, 'b.example.test', pki.caPem, 'no-cert');
    assert.deepEqual(r, { reply: '', closed: true });
    assert.ok(!up.received.includes('no-cert'));
  });

  it('refuses a certificate from another CA', async () => {
    const r = await exchange(port, 'b.example.test', pki.caPem, 'stranger', other.client);
    assert.deepEqual(r, { reply: '', closed: true });
    assert.ok(!up.received.includes('stranger'));
  });

  it('proxies a client whose certificate chains to the context CA', async () => {
    const r = await exchange(port, 'b.example.test', pki.caPem, 'with-cert', pki.client);
    assert.deepEqual(r, { reply: 'got:with-cert', closed: true });
    assert.ok(up.received.includes('with-cert'));
  });
});
