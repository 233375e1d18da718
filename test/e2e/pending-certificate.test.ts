// `portico serve` as a real process with a Host whose certificate has not been issued yet, as with a
// cert-manager Certificate solved over HTTP-01: the Host is served without a certificate (handshakes
// for its name fail), the ACME challenge Mapping answers over cleartext although the Host redirects
// cleartext to HTTPS, a client that sends no name gets the other Host's certificate, and the Secret,
// once written to the secrets directory, is served with no other change. `validate` warns;
// `validate --strict` refuses; `explain` says why the challenge is routed.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, tempDir } from '../sources/git-fixture.js';
import { startEcho, type EchoUpstream, type Echoed } from '../support/echo-upstream.js';
import { runPortico } from '../support/portico-cli.js';
import { handshake, httpsEcho } from '../support/tls-client.js';
import { freePort } from '../support/free-port.js';
import { makeTestPKI, type TestPKI } from '../support/test-pki.js';
import { listenerYaml, mappingYaml } from '../support/policy-yaml.js';
import { ServeProcess } from '../serve/serve-harness.js';
import { request } from '../serve/http-client.js';

describe('serve: a Host whose certificate is not issued yet', () => {
  const root = tempDir('e2e-pending-cert');
  const config = join(root, 'config');
  const secrets = join(root, 'secrets');
  let pki: TestPKI;
  let echo: EchoUpstream;
  let proc: ServeProcess;
  let port = 0;

  /** The problems the admin page's overview lists, as text. */
  async function overviewProblems(): Promise<string> {
    return JSON.stringify((JSON.parse((await request(`${proc.admin}/api/v1/diag/overview`)).body) as { problems: unknown[] }).problems);
  }

  before(async () => {
    pki = makeTestPKI();
    echo = await startEcho('app');
    port = await freePort();
    mkdirSync(config, { recursive: true });
    mkdirSync(join(secrets, 'b-cert'), { recursive: true });
    writeFileSync(join(secrets, 'b-cert', 'tls.crt'), pki.b.certPem);
    writeFileSync(join(secrets, 'b-cert', 'tls.key'), pki.b.keyPem);
    // The challenge Mapping as Emissary's cert-manager guide writes it (rewrite "": the solver sees the whole path).
    writeFileSync(
      join(config, 'gateway.yaml'),
      `${listenerYaml(port, 'https', 'HTTPS')}---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata:
  name: a
spec:
  hostname: a.example.test
  tlsSecret:
    name: edge-cert
---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata:
  name: b
spec:
  hostname: b.example.test
  tlsSecret:
    name: b-cert
---
${mappingYaml('app', '/', echo.port)}---
${mappingYaml('acme-challenge', '/.well-known/acme-challenge/', echo.port, '  rewrite: ""\n')}`,
    );
    proc = new ServeProcess(['--config', config, '--secrets', secrets, '--admin', '127.0.0.1:0', '--access-log', 'off']);
    await proc.ready();
  });

  after(async () => {
    await proc?.stop();
    await echo?.close();
    pki?.cleanup();
    removeDir(root);
  });

  it('is served without a certificate: the ACME challenge answers over cleartext, other cleartext is redirected, handshakes for its name fail', async () => {
    const challenge = await request(`http://127.0.0.1:${port}/.well-known/acme-challenge/tok3n`, { headers: { host: 'a.example.test' } });
    assert.equal(challenge.status, 200, challenge.body);
    assert.equal((JSON.parse(challenge.body) as Echoed).url, '/.well-known/acme-challenge/tok3n');
    const other = await request(`http://127.0.0.1:${port}/app`, { headers: { host: 'a.example.test' } });
    assert.equal(other.status, 301);
    assert.equal(other.headers.location, 'https://a.example.test/app');
    const hs = await handshake(port, 'a.example.test', pki.caPem);
    assert.equal(hs.cert, undefined, 'no certificate is served for a.example.test');
    assert.ok(hs.error, 'the handshake fails');
    const noName = await handshake(port, null);
    assert.equal(noName.cert, new X509Certificate(pki.b.certPem).fingerprint256, `a client that sends no name gets the Host that has a certificate (${noName.error})`);
    assert.match(await overviewProblems(), /TLSSecretMissing/, 'the admin page lists the warning');
  });

  it('validate warns and exits 0; --strict refuses; explain says why the challenge is routed', async () => {
    const plain = await runPortico(['validate', config]);
    assert.equal(plain.code, 0, plain.stdout + plain.stderr);
    assert.match(plain.stdout + plain.stderr, /gateway\.yaml:\d+:\d+: warning: TLS secret 'default\/edge-cert' does not exist .*\[TLSSecretMissing\] \(Host default\/a, spec\.tlsSecret\.name\)/);
    const strict = await runPortico(['validate', '--strict', config]);
    assert.equal(strict.code, 1, strict.stdout + strict.stderr);
    assert.match(strict.stdout + strict.stderr, /error: .*\[TLSSecretMissing\]/);
    const explained = await runPortico(['explain', config, 'GET http://a.example.test/.well-known/acme-challenge/tok3n', '--port', String(port)]);
    assert.equal(explained.code, 0, explained.stdout + explained.stderr);
    assert.match(explained.stdout, /routed all the same, as a route with prefix \/\.well-known\/acme-challenge\/ always is/);
  });

  it('the issued Secret, written to the secrets directory, is served at once with no other change', async () => {
    // As a mounted Secret appears: the entry complete, in one step.
    const staged = join(root, 'staged-cert');
    mkdirSync(staged);
    writeFileSync(join(staged, 'tls.crt'), pki.a.certPem);
    writeFileSync(join(staged, 'tls.key'), pki.a.keyPem);
    renameSync(staged, join(secrets, 'edge-cert'));
    const served = await proc.poll('the issued certificate on a new handshake', async () => {
      const hs = await handshake(port, 'a.example.test', pki.caPem);
      return hs.cert === new X509Certificate(pki.a.certPem).fingerprint256 ? hs : undefined;
    });
    assert.ok(served.cert);
    const r = await httpsEcho(port, '/app', 'a.example.test', pki.caPem);
    assert.equal(r.status, 200);
    assert.equal(r.echoed?.url, '/app');
    const challenge = await request(`http://127.0.0.1:${port}/.well-known/acme-challenge/renewal`, { headers: { host: 'a.example.test' } });
    assert.equal(challenge.status, 200, 'renewals keep answering over cleartext');
    assert.doesNotMatch(await overviewProblems(), /TLSSecretMissing/, 'and the warning is gone');
  });
});
