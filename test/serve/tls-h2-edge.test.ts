// HTTPS and HTTP ports through the real Gateway and request path: SNI certificates, ALPN h2 and
// http/1.1, cleartext on the TLS port, h2c prior knowledge, mTLS, 421, handshake timeout, GOAWAY (case 36).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { Gateway } from '../../src/serve/gateway.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import type { IR, IRTLSContext } from '../../src/ir/types.js';
import type { SecretStore } from '../../src/ir/secrets.js';
import { backend, buildIR, cluster, route, servingContext, vhost } from '../support/ir-builder.js';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { makeTestPKI, pkiSecrets, type TestPKI } from '../support/test-pki.js';
import { closedByPeer } from '../support/socket-exchange.js';

/** The edge offers HTTP/2 and HTTP/1.1 unless a test says otherwise. */
function ctx(name: string, host: string, secret: string, over: Partial<IRTLSContext> = {}): IRTLSContext {
  return servingContext(name, host, secret, { alpnProtocols: ['h2', 'http/1.1'], ...over });
}

interface H2Reply {
  status: number;
  body: string;
  headers: http2.IncomingHttpHeaders;
}

function h2get(session: http2.ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ':path': path, ...headers });
    let body = '';
    let h: http2.IncomingHttpHeaders = {};
    s.on('response', (x) => (h = x));
    s.setEncoding('utf8').on('data', (c: string) => (body += c));
    s.on('end', () => resolve({ status: Number(h[':status']), body, headers: h }));
    s.on('error', reject);
    s.end();
  });
}

function peerFingerprint(port: number, servername: string | undefined, ca: string, client?: { certPem: string; keyPem: string }): Promise<string> {
  return new Promise((resolve) => {
    const cert = client ? { cert: client.certPem, key: client.keyPem } : {};
    const s = tls.connect({ port, host: '127.0.0.1', ...(servername ? { servername } : {}), ca, ...cert, rejectUnauthorized: false }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? '';
      s.destroy();
      resolve(fp);
    });
    s.on('error', () => resolve(''));
  });
}

describe('TLS and HTTP/2 at the edge (case 36)', () => {
  let pki: TestPKI;
  let echo: EchoUpstream;
  let gw: Gateway;
  let tlsPort: number;
  let plainPort: number;
  let secrets: SecretStore;
  let ir: IR;

  before(async () => {
    pki = makeTestPKI();
    echo = await startEcho('echo');
    secrets = pkiSecrets(pki);
    const routes = [route('default/echo', { prefix: '/' }, [backend('echo', { rewrite: { prefix: null } })])];
    const base = buildIR({ clusters: [cluster('echo', echo.port)], global: { requestHeadersTimeoutMs: 2000 } });
    const secure = {
      ...base.listeners[0]!, name: 'https', port: 0, protocolStack: ['TLS', 'HTTP', 'TCP'], tls: true, securityModel: 'XFP' as const,
      virtualHosts: [
        vhost('a.example.test', routes, { tlsContext: 'ctx-a' }),
        vhost('b.example.test', routes, { tlsContext: 'ctx-b' }),
      ],
    };
    const plain = { ...base.listeners[0]!, name: 'http', port: 0, virtualHosts: [vhost('*', routes)] };
    ir = {
      ...base,
      global: { ...base.global, limits: { ...base.global.limits, tlsHandshakeTimeoutMs: 500 } },
      listeners: [plain, secure],
      tlsContexts: [ctx('ctx-a', 'a.example.test', 'default/a'), ctx('ctx-b', 'b.example.test', 'default/b', { ca: { secret: 'default/ca', sha256: '' }, certRequired: true })],
    };
    gw = new Gateway({ buildRuntime, drainTimeoutMs: 1000 });
    const r = await gw.apply(ir, secrets, { source: 'test' });
    assert.equal(r.ok, true, JSON.stringify(r));
    tlsPort = gw.boundPorts()['https']!;
    plainPort = gw.boundPorts()['http']!;
  });
  after(async () => {
    gw.forceClose();
    await echo.close();
    pki.cleanup();
  });

  it('selects the certificate by SNI; unknown or missing SNI gets the default one', async () => {
    const a = new X509Certificate(pki.a.certPem).fingerprint256;
    const b = new X509Certificate(pki.b.certPem).fingerprint256;
    assert.equal(await peerFingerprint(tlsPort, 'a.example.test', pki.caPem), a);
    assert.equal(await peerFingerprint(tlsPort, 'b.example.test', pki.caPem, pki.client), b);
    assert.equal(await peerFingerprint(tlsPort, 'unknown.example.test', pki.caPem), a);
    assert.equal(await peerFingerprint(tlsPort, undefined, pki.caPem), a);
  });

  it('speaks h2 when ALPN offers it, through the same routing as HTTP/1.1', async () => {
    const session = http2.connect(`https://127.0.0.1:${tlsPort}`, { servername: 'a.example.test', ca: pki.caPem });
    try {
      const r = await h2get(session, '/hello?x=1', { ':authority': 'a.example.test', 'x-forwarded-client-cert': 'By=forged;Subject="CN=admin"' });
      assert.equal(r.status, 200);
      const e = JSON.parse(r.body) as { url: string; headers: [string, string][] };
      assert.equal(e.url, '/hello?x=1');
      assert.ok(e.headers.some(([n, v]) => n === 'x-forwarded-proto' && v === 'https'));
      assert.ok(!e.headers.some(([n]) => n.startsWith(':')), 'no pseudo-headers leak upstream');
      assert.ok(!e.headers.some(([n]) => n === 'x-forwarded-client-cert'), 'a client-supplied client identity is stripped');
      assert.equal((session.socket as tls.TLSSocket).alpnProtocol, 'h2');
    } finally {
      session.close();
    }
  });

  it('speaks HTTP/1.1 when ALPN asks for it or offers nothing', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: tlsPort, path: '/', servername: 'a.example.test', ca: pki.caPem, headers: { host: 'a.example.test' }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(status, 200);
  });

  it('serves cleartext HTTP on the HTTPS port too (first byte is not a TLS record)', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: tlsPort, path: '/', headers: { host: 'a.example.test' }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(status, 200);
  });

  it('speaks h2c with prior knowledge on a cleartext port, and 400s a host that disagrees with :authority', async () => {
    const session = http2.connect(`http://127.0.0.1:${plainPort}`);
    try {
      const ok = await h2get(session, '/h2c');
      assert.equal(ok.status, 200);
      assert.equal((JSON.parse(ok.body) as { url: string }).url, '/h2c');
      const bad = await h2get(session, '/h2c', { ':authority': 'good.example', host: 'evil.example' });
      assert.equal(bad.status, 400);
    } finally {
      session.close();
    }
  });

  it('requires a client certificate where the Host says cert_required, and answers 421 to domain fronting', async () => {
    // b.example.test without a client certificate: no HTTP at all
    const refused = await new Promise<string>((resolve) => {
      const req = https.get({ host: '127.0.0.1', port: tlsPort, path: '/', servername: 'b.example.test', ca: pki.caPem, headers: { host: 'b.example.test' }, agent: false }, (res) => {
        res.resume();
        resolve(String(res.statusCode));
      });
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    assert.notEqual(refused, '200');
    // with the client certificate: served
    const withCert = await new Promise<number>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: tlsPort, path: '/', servername: 'b.example.test', ca: pki.caPem, cert: pki.client.certPem, key: pki.client.keyPem, headers: { host: 'b.example.test' }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(withCert, 200);
    // SNI a.example.test (no client cert asked) with Host b.example.test: misdirected
    const fronted = await new Promise<number>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: tlsPort, path: '/', servername: 'a.example.test', ca: pki.caPem, headers: { host: 'b.example.test' }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(fronted, 421);
  });

  it('closes a client that stalls the TLS handshake', async () => {
    const s = net.connect(tlsPort, '127.0.0.1');
    s.on('error', () => {});
    // a TLS record header and nothing more
    s.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x50]));
    assert.equal(await closedByPeer(s), true);
  });

  it('rotates certificates on apply: an open h2 session keeps working, new handshakes get the new certificate', async () => {
    const session = http2.connect(`https://127.0.0.1:${tlsPort}`, { servername: 'a.example.test', ca: pki.caPem });
    try {
      assert.equal((await h2get(session, '/before', { ':authority': 'a.example.test' })).status, 200);
      const rotated: SecretStore = { ...secrets, 'default/a': { certPem: pki.a2.certPem, keyPem: pki.a2.keyPem } };
      const r = await gw.apply({ ...ir, ambassadorId: 'rotated' }, rotated, { source: 'test' });
      assert.equal(r.ok, true);
      assert.equal(await peerFingerprint(tlsPort, 'a.example.test', pki.caPem), new X509Certificate(pki.a2.certPem).fingerprint256);
      assert.equal((await h2get(session, '/after', { ':authority': 'a.example.test' })).status, 200);
    } finally {
      session.close();
    }
  });
});

describe('HTTP/2 at drain', () => {
  it('sends GOAWAY to open sessions', async () => {
    const echo = await startEcho('echo');
    const gw = new Gateway({ buildRuntime, drainTimeoutMs: 1000 });
    try {
      const ir = buildIR({ clusters: [cluster('echo', echo.port)], routes: [route('default/e', { prefix: '/' }, [backend('echo')])], listener: { port: 0 } });
      assert.equal((await gw.apply(ir, {}, { source: 't' })).ok, true);
      const port = Object.values(gw.boundPorts())[0]!;
      const session = http2.connect(`http://127.0.0.1:${port}`);
      assert.equal((await h2get(session, '/')).status, 200);
      const goaway = new Promise<number>((resolve) => session.once('goaway', (code) => resolve(code)));
      const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
      await gw.shutdown(1000);
      assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
      await closed;
    } finally {
      gw.forceClose();
      await echo.close();
    }
  });
});
