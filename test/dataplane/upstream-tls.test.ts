import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { backend, buildIR, cluster, route, tlsContext } from '../support/ir-builder.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import { request } from '../support/http-client.js';
import http from 'node:http';
import type { IR, IRTLSContext } from '../../src/ir/types.js';
import type { SecretStore } from '../../src/ir/secrets.js';
import type { Runtime } from '../../src/dataplane/runtime-types.js';

/** A self-signed certificate for 127.0.0.1, made with the openssl CLI. */
function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

describe('TLS to the upstream (https clusters)', () => {
  let dir: string;
  let upstream: https.Server;
  let port: number;
  let pem: { cert: string; key: string };
  let other: { cert: string; key: string };
  const servers: http.Server[] = [];
  const runtimes: Runtime[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-tls-'));
    pem = selfSigned(dir, 'upstream');
    other = selfSigned(dir, 'other-ca');
    upstream = https.createServer({ cert: pem.cert, key: pem.key }, (q, s) => s.end(`secure ${q.url}`));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    port = (upstream.address() as AddressInfo).port;
  });
  after(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
    for (const rt of runtimes) await rt.drain(0);
    rmSync(dir, { recursive: true, force: true });
  });

  async function serve(ir: IR, secrets: SecretStore): Promise<number> {
    const rt = buildRuntime(ir, secrets, { generation: 1, hash: 't' });
    runtimes.push(rt);
    const s = http.createServer((q, r) => rt.handle(q, r, { listener: ir.listeners[0]?.name ?? '', port: 0, tls: false }));
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as AddressInfo).port;
  }

  const ctx = (name: string): IRTLSContext => tlsContext(name, { ca: { secret: `default/${name}`, sha256: 'x' } });

  it('originates TLS without verification when no CA is configured (as Emissary does)', async () => {
    const ir = buildIR({ clusters: [cluster('s', port, { scheme: 'https' })], routes: [route('default/r', { prefix: '/' }, [backend('s', { rewrite: { prefix: null } })])] });
    const r = await request(await serve(ir, {}), { path: '/x' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'secure /x');
  });

  it('verifies the upstream against a configured CA, and refuses a certificate it does not trust', async () => {
    const good = { ...buildIR({ clusters: [cluster('s', port, { scheme: 'https', tls: { context: 'good' } })], routes: [route('default/r', { prefix: '/' }, [backend('s', { rewrite: { prefix: null } })])] }), tlsContexts: [ctx('good')] };
    assert.equal((await request(await serve(good, { 'default/good': { caPem: pem.cert } }), { path: '/y' })).body, 'secure /y');
    const bad = { ...buildIR({ clusters: [cluster('s', port, { scheme: 'https', tls: { context: 'bad' } })], routes: [route('default/r', { prefix: '/' }, [backend('s', { rewrite: { prefix: null } })])] }), tlsContexts: [ctx('bad')] };
    const r = await request(await serve(bad, { 'default/bad': { caPem: other.cert } }), { path: '/y' });
    assert.equal(r.status, 502);
  });
});
