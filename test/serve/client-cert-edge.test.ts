// The verified client identity at the HTTPS edge: x-forwarded-client-cert under each
// forward_client_cert_details mode (H1 and h2), and per-context ALPN lists.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import { createHash, X509Certificate } from 'node:crypto';
import { Gateway } from '../../src/serve/gateway.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import type { IR, IRClientCertDetails } from '../../src/ir/types.js';
import type { SecretStore } from '../../src/ir/secrets.js';
import { backend, buildIR, cluster, route, servingContext, vhost } from '../support/ir-builder.js';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { makeTestPKI, pkiSecrets, type PemPair, type TestPKI } from '../support/test-pki.js';

const ALL_FIELDS = { subject: true, cert: false, chain: false, dns: true, uri: true };

function xfccOf(body: string): string[] {
  const e = JSON.parse(body) as { headers: [string, string][] };
  return e.headers.filter(([n]) => n.toLowerCase() === 'x-forwarded-client-cert').map(([, v]) => v);
}

function hashOf(pemText: string): string {
  return createHash('sha256').update(new X509Certificate(pemText).raw).digest('hex');
}

describe('client certificate identity and ALPN at the edge', () => {
  let pki: TestPKI;
  let stranger: TestPKI;
  let svc: PemPair;
  let echo: EchoUpstream;
  let gw: Gateway;
  let base: IR;
  let tlsPort: number;
  let plainPort: number;
  let secrets: SecretStore;

  before(async () => {
    pki = makeTestPKI();
    stranger = makeTestPKI();
    svc = pki.issue('svc', 'svc/O=Portico Tests', 'URI:spiffe://example.test/ns/default/sa/svc,DNS:svc.example.test', true);
    echo = await startEcho('echo');
    secrets = pkiSecrets(pki);
    const peerHeaders = {
      requestAdd: [
        { name: 'x-client-subject', value: '%DOWNSTREAM_PEER_SUBJECT%', append: false },
        { name: 'x-client-id', value: 'uri=%DOWNSTREAM_PEER_URI_SAN%', append: false },
        { name: 'x-client-sha256', value: '%DOWNSTREAM_PEER_FINGERPRINT_256%', append: false },
      ],
      requestRemove: [], responseAdd: [], responseRemove: [],
    };
    const routes = [
      route('default/peer', { prefix: '/peer' }, [backend('echo', { rewrite: { prefix: null }, headers: peerHeaders })]),
      route('default/echo', { prefix: '/' }, [backend('echo', { rewrite: { prefix: null } })]),
    ];
    const ir = buildIR({ clusters: [cluster('echo', echo.port)] });
    const secure = {
      ...ir.listeners[0]!, name: 'https', port: 0, protocolStack: ['TLS', 'HTTP', 'TCP'], tls: true, securityModel: 'XFP' as const,
      virtualHosts: [vhost('a.example.test', routes, { tlsContext: 'ctx-a' }), vhost('b.example.test', routes, { tlsContext: 'ctx-b' })],
    };
    const plain = { ...ir.listeners[0]!, name: 'http', port: 0, virtualHosts: [vhost('*', routes)] };
    base = {
      ...ir,
      listeners: [plain, secure],
      // a: client certificates optional, verified with the test CA; b: no CA, HTTP/1.1 only
      tlsContexts: [
        servingContext('ctx-a', 'a.example.test', 'default/a', { ca: { secret: 'default/ca', sha256: '' } }),
        servingContext('ctx-b', 'b.example.test', 'default/b', { alpnProtocols: ['http/1.1'] }),
      ],
    };
    gw = new Gateway({ buildRuntime, drainTimeoutMs: 500 });
    await use(undefined);
    tlsPort = gw.boundPorts()['https']!;
    plainPort = gw.boundPorts()['http']!;
  });
  after(async () => {
    gw.forceClose();
    await echo.close();
    pki.cleanup();
    stranger.cleanup();
  });

  async function use(details: IRClientCertDetails | undefined): Promise<void> {
    const global = details === undefined ? base.global : { ...base.global, clientCertDetails: details };
    const r = await gw.apply({ ...base, global }, secrets, { source: 'test' });
    assert.equal(r.ok, true, JSON.stringify(r));
  }

  /** One HTTP/1.1 request over TLS to a.example.test; the upstream's view of x-forwarded-client-cert. */
  function viaH1(client: PemPair | undefined, headers: Record<string, string> = {}): Promise<string[]> {
    return echoedH1(client, '/', headers).then(xfccOf);
  }

  /** The echoed body of one HTTP/1.1 request over TLS to a.example.test. */
  function echoedH1(client: PemPair | undefined, path: string, headers: Record<string, string> = {}): Promise<string> {
    return new Promise((resolve, reject) => {
      const cert = client !== undefined ? { cert: client.certPem, key: client.keyPem } : {};
      https.get({ host: '127.0.0.1', port: tlsPort, path, servername: 'a.example.test', ca: pki.caPem, ...cert, headers: { host: 'a.example.test', ...headers }, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`status ${res.statusCode}`))));
      }).on('error', reject);
    });
  }

  function viaH2(client: PemPair, headers: Record<string, string> = {}): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(`https://127.0.0.1:${tlsPort}`, { servername: 'a.example.test', ca: pki.caPem, cert: client.certPem, key: client.keyPem });
      session.on('error', reject);
      const s = session.request({ ':path': '/', ':authority': 'a.example.test', ...headers });
      let body = '';
      s.setEncoding('utf8').on('data', (c: string) => (body += c));
      s.on('end', () => {
        session.close();
        resolve(xfccOf(body));
      });
      s.on('error', reject);
      s.end();
    });
  }

  function viaCleartext(headers: Record<string, string>): Promise<string[]> {
    return new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: plainPort, path: '/', headers: { host: 'a.example.test', ...headers }, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve(xfccOf(body)));
      }).on('error', reject);
    });
  }

  const forged = { 'x-forwarded-client-cert': 'Hash=forged;Subject="CN=admin"' };

  it('SANITIZE (the default): a forged header is stripped, even on an mTLS connection', async () => {
    await use(undefined);
    assert.deepEqual(await viaH1(svc, forged), []);
    assert.deepEqual(await viaH1(undefined, forged), []);
  });

  it('SANITIZE_SET: the verified certificate\'s hash, subject, URI and DNS reach the upstream (H1 and h2), never the forged value', async () => {
    await use({ forward: 'SANITIZE_SET', set: ALL_FIELDS });
    const want = `Hash=${hashOf(svc.certPem)};Subject="O=Portico Tests,CN=svc";URI=spiffe://example.test/ns/default/sa/svc;DNS=svc.example.test`;
    assert.deepEqual(await viaH1(svc, forged), [want]);
    assert.deepEqual(await viaH2(svc, forged), [want]);
    // no certificate, or one the context CA does not verify: no identity at all
    assert.deepEqual(await viaH1(undefined, forged), []);
    assert.deepEqual(await viaH1(stranger.client, forged), []);
  });

  it('SANITIZE_SET with cert and chain: URL-encoded PEM of the client certificate, and the chain up to the CA', async () => {
    await use({ forward: 'SANITIZE_SET', set: { subject: false, cert: true, chain: true, dns: false, uri: false } });
    const [value] = await viaH1(pki.client);
    const m = /^Hash=([0-9a-f]{64});Cert="([^"]+)";Chain="([^"]+)"$/.exec(value ?? '');
    assert.ok(m, value);
    assert.equal(m[1], hashOf(pki.client.certPem));
    assert.equal(decodeURIComponent(m[2]!).trim(), pki.client.certPem.trim());
    const chain = decodeURIComponent(m[3]!);
    assert.ok(chain.startsWith(pki.client.certPem.trim()), 'the chain starts with the client certificate');
    assert.ok(chain.includes(pki.caPem.trim()), 'the chain ends with the CA that verified it');
  });

  it('APPEND_FORWARD appends to the client\'s value on mTLS and strips it otherwise', async () => {
    await use({ forward: 'APPEND_FORWARD', set: { subject: true, cert: false, chain: false, dns: false, uri: false } });
    assert.deepEqual(await viaH1(pki.client, { 'x-forwarded-client-cert': 'Hash=abc' }), [`Hash=abc,Hash=${hashOf(pki.client.certPem)};Subject="CN=client-one"`]);
    assert.deepEqual(await viaH1(undefined, { 'x-forwarded-client-cert': 'Hash=abc' }), []);
  });

  it('FORWARD_ONLY passes the client\'s value only on mTLS; ALWAYS_FORWARD_ONLY passes it even in cleartext', async () => {
    await use({ forward: 'FORWARD_ONLY', set: ALL_FIELDS });
    assert.deepEqual(await viaH1(pki.client, { 'x-forwarded-client-cert': 'Hash=abc' }), ['Hash=abc']);
    assert.deepEqual(await viaH1(undefined, { 'x-forwarded-client-cert': 'Hash=abc' }), []);
    assert.deepEqual(await viaCleartext({ 'x-forwarded-client-cert': 'Hash=abc' }), []);
    await use({ forward: 'ALWAYS_FORWARD_ONLY', set: ALL_FIELDS });
    assert.deepEqual(await viaCleartext({ 'x-forwarded-client-cert': 'Hash=abc' }), ['Hash=abc']);
  });

  it('header rules name the verified peer (%DOWNSTREAM_PEER_*%); without one the rule adds nothing', async () => {
    await use(undefined);
    const named = (body: string): Record<string, string> => {
      const e = JSON.parse(body) as { headers: [string, string][] };
      return Object.fromEntries(e.headers.filter(([n]) => n.startsWith('x-client-')));
    };
    assert.deepEqual(named(await echoedH1(svc, '/peer', { 'x-client-subject': 'CN=forged' })), {
      'x-client-subject': 'O=Portico Tests,CN=svc',
      'x-client-id': 'uri=spiffe://example.test/ns/default/sa/svc',
      'x-client-sha256': hashOf(svc.certPem),
    });
    // no certificate: the forged value is replaced by nothing, the literal part stays
    assert.deepEqual(named(await echoedH1(undefined, '/peer', { 'x-client-subject': 'CN=forged' })), { 'x-client-id': 'uri=' });
  });

  it('ALPN follows the SNI-selected context: http/1.1 only for b (an h2 client falls back), both for a', async () => {
    await use(undefined);
    const negotiate = (servername: string, offered: string[]): Promise<string | false | Error> => new Promise((resolve) => {
      const s = tls.connect({ port: tlsPort, host: '127.0.0.1', servername, ca: pki.caPem, ALPNProtocols: offered }, () => {
        const p = s.alpnProtocol ?? false;
        s.destroy();
        resolve(p);
      });
      s.on('error', (err) => resolve(err));
    });
    assert.equal(await negotiate('b.example.test', ['h2', 'http/1.1']), 'http/1.1');
    assert.equal(await negotiate('a.example.test', ['h2', 'http/1.1']), 'h2');
    // a client that speaks only h2 finds no common protocol on b: the handshake fails, no HTTP/1.1 surprise
    assert.ok(await negotiate('b.example.test', ['h2']) instanceof Error);
    // and HTTP/1.1 over b still serves
    const status = await new Promise<number>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: tlsPort, path: '/', servername: 'b.example.test', ca: pki.caPem, headers: { host: 'b.example.test' }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(status, 200);
  });
});
