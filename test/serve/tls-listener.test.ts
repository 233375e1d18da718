// HTTPS listeners: termination from the SecretStore, certificate rotation on a kept socket, bad
// key material rejected before the swap, a protocol change on one port, and the header deadline.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway, GENERATION_HEADER } from '../../src/serve/gateway.js';
import type { IR } from '../../src/ir/types.js';
import type { SecretStore } from '../../src/ir/secrets.js';
import { buildStubRuntime } from './stub-runtime.js';
import { nextEvent } from '../support/wait-until.js';
import { makeIR } from './ir-fixtures.js';
import { servingContext } from '../support/ir-builder.js';
import { request } from './http-client.js';
import { freePort } from '../support/free-port.js';

interface Cert {
  readonly certPem: string;
  readonly keyPem: string;
  readonly fingerprint: string;
}

const work = mkdtempSync(join(tmpdir(), 'portico-tls-'));
after(() => rmSync(work, { recursive: true, force: true }));

function selfSigned(name: string, cn: string): Cert {
  const key = join(work, `${name}.key`);
  const crt = join(work, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn}`], { stdio: 'ignore' });
  const certPem = readFileSync(crt, 'utf8');
  return { certPem, keyPem: readFileSync(key, 'utf8'), fingerprint: new crypto.X509Certificate(certPem).fingerprint256 };
}

function tlsIR(port: number, secret: string): IR {
  const base = makeIR([{ port, routes: ['/'], tls: true, tlsContext: 'ctx-a' }]);
  const ctx = servingContext('ctx-a', 'a.example.com', secret);
  return { ...base, tlsContexts: [ctx], listeners: base.listeners.map((l) => ({ ...l, virtualHosts: l.virtualHosts.map((v) => ({ ...v, hostname: 'a.example.com' })) })) };
}

function get(port: number, ca: string, agent?: https.Agent): Promise<{ status: number; generation: string; fingerprint: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/x', servername: 'a.example.com', headers: { host: 'a.example.com' }, ca, agent: agent ?? false }, (res) => {
      const peer = (res.socket as tls.TLSSocket).getPeerX509Certificate();
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, generation: String(res.headers[GENERATION_HEADER]), fingerprint: peer?.fingerprint256 ?? '', body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('TLS listeners', () => {
  let one: Cert;
  let two: Cert;
  const gateways: Gateway[] = [];
  before(() => {
    one = selfSigned('one', 'a.example.com');
    two = selfSigned('two', 'a.example.com');
  });
  after(() => gateways.forEach((g) => g.forceClose()));
  const gateway = () => {
    const g = new Gateway({ buildRuntime: buildStubRuntime, exposeGeneration: true, drainTimeoutMs: 1000 });
    gateways.push(g);
    return g;
  };

  it('terminates TLS with the SecretStore certificate and rotates it without rebinding', async () => {
    const g = gateway();
    const port = await freePort();
    const secrets: SecretStore = { 'default/one': { certPem: one.certPem, keyPem: one.keyPem }, 'default/two': { certPem: two.certPem, keyPem: two.keyPem } };
    assert.equal((await g.apply(tlsIR(port, 'default/one'), secrets, { source: 't' })).ok, true);
    const first = await get(port, one.certPem);
    assert.equal(first.status, 200);
    assert.equal(first.fingerprint, one.fingerprint);

    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: two.certPem + one.certPem });
    after(() => agent.destroy());
    await get(port, one.certPem + two.certPem, agent);
    const rotated = await g.apply(tlsIR(port, 'default/two'), secrets, { source: 't' });
    assert.deepEqual(rotated.ok && rotated.listeners.kept, [`listener-${port}`]);
    const after2 = await get(port, two.certPem);
    assert.equal(after2.fingerprint, two.fingerprint, 'new handshakes get the new certificate');
    const onOld = await get(port, one.certPem + two.certPem, agent);
    assert.equal(onOld.generation, '2', 'an open TLS connection carries on under the new generation');
  });

  it('prefers AES-128-GCM over a client\'s AES-256-GCM first choice, and ChaCha20 when the client lists it first', async () => {
    const g = gateway();
    const port = await freePort();
    assert.equal((await g.apply(tlsIR(port, 'default/one'), { 'default/one': { certPem: one.certPem, keyPem: one.keyPem } }, { source: 't' })).ok, true);
    const cipherWith = (ciphers?: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, servername: 'a.example.com', ca: one.certPem, ...(ciphers ? { ciphers } : {}) }, () => {
          resolve(s.getCipher().name);
          s.end();
        });
        s.on('error', reject);
      });
    // Node's client, like OpenSSL's, offers TLS_AES_256_GCM_SHA384 first.
    assert.equal(await cipherWith(), 'TLS_AES_128_GCM_SHA256');
    assert.equal(await cipherWith('TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256'), 'TLS_CHACHA20_POLY1305_SHA256');
  });

  it('rejects key material that does not match its certificate and keeps serving the old one', async () => {
    const g = gateway();
    const port = await freePort();
    const good: SecretStore = { 'default/one': { certPem: one.certPem, keyPem: one.keyPem } };
    await g.apply(tlsIR(port, 'default/one'), good, { source: 't' });
    const mismatched: SecretStore = { 'default/one': { certPem: one.certPem, keyPem: two.keyPem } };
    const res = await g.apply(tlsIR(port, 'default/one'), mismatched, { source: 't' });
    assert.equal(res.ok, false);
    assert.equal(!res.ok && res.error.code, 'TLSMaterial');
    assert.match(!res.ok ? res.error.message : '', /ctx-a/);
    assert.doesNotMatch(!res.ok ? res.error.message : '', /BEGIN/);
    assert.equal((await get(port, one.certPem)).fingerprint, one.fingerprint);
    assert.equal(g.generation, 1);
  });

  it('moves a port from HTTP to HTTPS', async () => {
    const g = gateway();
    const port = await freePort();
    await g.apply(makeIR([{ port, routes: ['/'] }]), {}, { source: 't' });
    assert.equal((await request(`http://127.0.0.1:${port}/`)).status, 200);
    const res = await g.apply(tlsIR(port, 'default/one'), { 'default/one': { certPem: one.certPem, keyPem: one.keyPem } }, { source: 't' });
    assert.equal(res.ok, true);
    const r = await get(port, one.certPem);
    assert.equal(r.status, 200);
    assert.equal(r.generation, '2');
  });

  it('cuts off a client that never finishes its headers (slowloris) with 408', async () => {
    const g = gateway();
    const port = await freePort();
    await g.apply(makeIR([{ port, routes: ['/'] }], { requestHeadersTimeoutMs: 1000 }), {}, { source: 't' });
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n'));
    let reply = '';
    s.on('data', (c) => (reply += c.toString('latin1')));
    s.on('error', () => {});
    await nextEvent(s, 'close', 'the gateway to cut off the slow client').finally(() => s.destroy());
    assert.match(reply, /^HTTP\/1\.1 408 /);
  });
});
