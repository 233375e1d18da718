// The admin address off loopback: serve refuses to start it unprotected; a bearer token (re-read
// when its file changes) or a client certificate (mTLS) lets readers in; probes and the page's
// static shell stay open, its data does not.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminServer, type AdminServerOptions } from '../../src/admin/admin-server.js';
import { BearerToken, isLoopbackHost, readAdminTLS, AdminCredentialsError } from '../../src/admin/admin-access.js';
import { parseServeArgs } from '../../src/cli/serve-options.js';
import { UsageError } from '../../src/cli/args.js';
import { makeTestPKI } from '../support/test-pki.js';
import { request } from '../serve/http-client.js';

const dir = mkdtempSync(join(tmpdir(), 'portico-admin-access-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const TOKEN = 'a-long-enough-admin-token-1';

async function startAdmin(options: AdminServerOptions, home?: string): Promise<{ port: number }> {
  const admin = new AdminServer({ ready: () => true, config: () => ({ generation: 3 }), routes: () => ({ routes: [] }), metrics: async () => '' }, options);
  if (home !== undefined) admin.setHome(home);
  const addr = await admin.listen('127.0.0.1', 0);
  after(() => admin.close());
  return { port: addr.port };
}

describe('admin access control', () => {
  it('serve refuses an admin address off loopback unless a token or mTLS protects it', () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    assert.throws(() => parseServeArgs(['--config', 'x', '--admin', '0.0.0.0:8877']), (e: unknown) => e instanceof UsageError && /not a loopback address/.test(e.message));
    assert.throws(() => parseServeArgs(['--config', 'x', '--admin', '[::]:8877']), UsageError);
    assert.equal(parseServeArgs(['--config', 'x', '--admin', '127.0.0.5:0']).serve.adminAccess, undefined, 'loopback needs nothing');
    assert.equal(parseServeArgs(['--config', 'x', '--admin', '0.0.0.0:8877', '--admin-token-file', tokenFile]).serve.adminAccess?.tokenFile, tokenFile);
    assert.throws(() => parseServeArgs(['--config', 'x', '--admin-token-secret', 'admin/token']), /--secrets DIR/);
    const secrets = join(dir, 'secrets');
    mkdirSync(join(secrets, 'admin'), { recursive: true });
    writeFileSync(join(secrets, 'admin', 'token'), TOKEN);
    assert.equal(parseServeArgs(['--config', 'x', '--secrets', secrets, '--admin', '10.1.2.3:8877', '--admin-token-secret', 'admin/token']).serve.adminAccess?.tokenFile, join(secrets, 'admin', 'token'));
    assert.throws(() => parseServeArgs(['--config', 'x', '--secrets', secrets, '--admin-token-secret', 'admin/../x']), UsageError);
    assert.throws(() => readAdminTLS(secrets, 'missing'), AdminCredentialsError);
    assert.ok(isLoopbackHost('127.9.9.9') && isLoopbackHost('::1') && isLoopbackHost('localhost'));
    assert.ok(!isLoopbackHost('0.0.0.0') && !isLoopbackHost('::') && !isLoopbackHost('10.0.0.1'));
  });

  it('asks for the bearer token on data, not on probes or the page shell', async () => {
    const tokenFile = join(dir, 'token-live');
    writeFileSync(tokenFile, TOKEN);
    const { port } = await startAdmin({ token: new BearerToken(tokenFile) }, '/diag/overview');
    const get = (path: string, auth?: string) => request(`http://127.0.0.1:${port}${path}`, { headers: auth ? { authorization: auth } : {} });
    const denied = await get('/api/v1/config');
    assert.equal(denied.status, 401);
    assert.match(String(denied.headers['www-authenticate']), /^Bearer/);
    assert.equal((await get('/api/v1/config', 'Bearer wrong-token-of-some-length')).status, 401);
    assert.equal((await get('/api/v1/config', `Basic ${TOKEN}`)).status, 401);
    assert.equal((await get('/api/v1/config', `Bearer ${TOKEN}`)).status, 200);
    assert.equal((await get('/healthz')).status, 200);
    assert.equal((await get('/readyz')).status, 200);
    assert.equal((await get('/metrics')).status, 401, 'metrics are data');
    assert.equal((await get('/diag/overview?json=true')).status, 401, 'a page as JSON is data');
    const home = await get('/');
    assert.equal(home.status, 302, 'the address itself leads a browser to the page shell');
    assert.equal(home.headers.location, '/diag/overview');
  });

  it('answers the address itself with 404 when no page is served there', async () => {
    const { port } = await startAdmin({});
    assert.equal((await request(`http://127.0.0.1:${port}/`)).status, 404);
  });

  it('uses a rotated token from the next check on, and keeps the old one while the file is broken', () => {
    const tokenFile = join(dir, 'token-rotate');
    writeFileSync(tokenFile, TOKEN);
    const t = new BearerToken(tokenFile);
    assert.equal(t.accepts(`Bearer ${TOKEN}`, 1_000_000), true);
    writeFileSync(tokenFile, 'the-next-admin-token-2 ');
    assert.equal(t.accepts('Bearer the-next-admin-token-2', 1_005_000), true);
    assert.equal(t.accepts(`Bearer ${TOKEN}`, 1_010_000), false);
    writeFileSync(tokenFile, 'short');
    assert.equal(t.accepts('Bearer the-next-admin-token-2', 1_015_000), true, 'a broken rewrite keeps the previous token');
    writeFileSync(tokenFile, 'x');
    assert.throws(() => new BearerToken(tokenFile), AdminCredentialsError);
  });

  it('with mTLS lets in only a client with a certificate from the CA', async () => {
    const pki = makeTestPKI();
    after(() => pki.cleanup());
    const { port } = await startAdmin({ tls: { cert: pki.a.certPem, key: pki.a.keyPem, ca: pki.caPem } });
    const get = (client?: { cert: string; key: string }) =>
      new Promise<number | string>((resolve) => {
        const req = https.get({ host: '127.0.0.1', port, path: '/api/v1/config', ca: pki.caPem, servername: 'a.example.test', ...client }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
    assert.equal(await get({ cert: pki.client.certPem, key: pki.client.keyPem }), 200);
    assert.notEqual(await get(), 200, 'no client certificate, no answer');
    const stranger = makeTestPKI();
    after(() => stranger.cleanup());
    assert.notEqual(await get({ cert: stranger.client.certPem, key: stranger.client.keyPem }), 200, 'a certificate from another CA is refused');
  });
});
