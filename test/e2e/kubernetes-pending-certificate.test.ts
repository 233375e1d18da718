// cert-manager's HTTP-01 flow against `serve` with a Kubernetes team source (the fake API server,
// real HTTP and TLS): a Host is applied before the Secret its Certificate will produce exists. The
// namespace is not held back: its Mappings go live, the Host is served without a certificate, and
// the challenge Mapping answers over cleartext although the Host redirects cleartext to HTTPS. When
// the Secret is created, the Host serves it; deleting it later is refused, and the certificate stays.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEcho, type EchoUpstream, type Echoed } from '../support/echo-upstream.js';
import { httpsEcho } from '../support/tls-client.js';
import { freePort } from '../support/free-port.js';
import { listenerYaml } from '../support/policy-yaml.js';
import { FakeKubeApi } from '../support/fake-kube-api.js';
import { makeTestPKI, type TestPKI } from '../support/test-pki.js';
import { removeDir, tempDir } from '../sources/git-fixture.js';
import { ServeProcess } from '../serve/serve-harness.js';
import { eventually, request } from '../serve/http-client.js';

type Obj = Record<string, any>;

describe('a Kubernetes namespace whose Host waits for its certificate', () => {
  const root = tempDir('kubernetes-pending-cert');
  let api: FakeKubeApi;
  let echo: EchoUpstream;
  let pki: TestPKI;
  let proc: ServeProcess;
  let port = 0;

  before(async () => {
    api = await new FakeKubeApi().start();
    echo = await startEcho('shop');
    pki = makeTestPKI();
    port = await freePort();
    const kubeconfig = api.writeKubeconfig(join(root, 'kubeconfig'), 'portico');
    const central = join(root, 'central');
    mkdirSync(central);
    writeFileSync(
      join(central, 'gateway.yaml'),
      `${listenerYaml(port, 'https', 'HTTPS')}---
apiVersion: portico.dev/v1alpha1
kind: Source
metadata:
  name: shop
spec:
  kubernetes:
    namespace: shop
  claims:
    kinds: [Mapping, Host, Secret]
    hostnames: [a.example.test]
    pathPrefixes: [/shop/, /.well-known/acme-challenge/]
`,
    );
    proc = new ServeProcess(['--config', `ops=${central}`, '--kubeconfig', kubeconfig, '--identity', 'replica-one', '--lease', 'portico/portico-status-writer', '--admin', '127.0.0.1:0', '--workers', '0', '--access-log', 'off']);
    await proc.ready();
  });

  after(async () => {
    await proc?.stop();
    await api?.close();
    await echo?.close();
    pki?.cleanup();
    removeDir(root);
  });

  const cleartext = (path: string) => request(`http://127.0.0.1:${port}${path}`, { headers: { host: 'a.example.test' } });

  it('the Host and the challenge Mapping go live before the Secret exists; the challenge answers over cleartext', async () => {
    api.apply({ apiVersion: 'getambassador.io/v3alpha1', kind: 'Host', metadata: { name: 'shop', namespace: 'shop' }, spec: { hostname: 'a.example.test', tlsSecret: { name: 'shop-cert' } } });
    api.apply({ apiVersion: 'getambassador.io/v3alpha1', kind: 'Mapping', metadata: { name: 'shop', namespace: 'shop' }, spec: { hostname: 'a.example.test', prefix: '/shop/', service: `127.0.0.1:${echo.port}` } });
    // The Mapping of Emissary's cert-manager guide, to the solver's Service.
    api.apply({
      apiVersion: 'getambassador.io/v3alpha1',
      kind: 'Mapping',
      metadata: { name: 'acme-challenge', namespace: 'shop' },
      spec: { hostname: 'a.example.test', prefix: '/.well-known/acme-challenge/', rewrite: '', service: `127.0.0.1:${echo.port}` },
    });
    const challenge = await eventually('the challenge served over cleartext', async () => {
      const r = await cleartext('/.well-known/acme-challenge/tok3n');
      return r.status === 200 ? r : undefined;
    });
    assert.equal((JSON.parse(challenge.body) as Echoed).url, '/.well-known/acme-challenge/tok3n', 'the solver sees the whole path');
    const other = await cleartext('/shop/cart');
    assert.equal(other.status, 301, 'other cleartext requests are redirected, as the Host says');
    assert.equal(other.headers.location, 'https://a.example.test/shop/cart');
    const tlsFirst = await httpsEcho(port, '/shop/cart', 'a.example.test', pki.caPem);
    assert.equal(tlsFirst.status, 0, 'no certificate is served for the Host yet');
    assert.ok(tlsFirst.error);

    const host = await eventually('the Host status', async () => {
      const o = api.get('Host', 'shop', 'shop') as Obj | undefined;
      const accepted = (o?.status?.conditions as Obj[] | undefined)?.find((c) => c.type === 'Accepted');
      return accepted?.reason === 'TLSSecretMissing' ? accepted : undefined;
    });
    assert.equal(host.status, 'True', 'the Host is accepted, with the warning as its reason');
    assert.match(host.message, /TLS secret 'shop\/shop-cert' does not exist/);
  });

  it('the Secret, once issued, is served for the Host with no other change', async () => {
    const b64 = (t: string) => Buffer.from(t).toString('base64');
    api.apply({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'shop-cert', namespace: 'shop' }, data: { 'tls.crt': b64(pki.a.certPem), 'tls.key': b64(pki.a.keyPem) } });
    const served = await eventually('the certificate served', async () => {
      const r = await httpsEcho(port, '/shop/cart', 'a.example.test', pki.caPem);
      return r.status === 200 ? r : undefined;
    });
    assert.equal(served.cert, new X509Certificate(pki.a.certPem).fingerprint256);
    assert.equal(served.echoed?.url, '/cart');
    assert.equal((await cleartext('/.well-known/acme-challenge/renewal')).status, 200, 'renewals keep answering over cleartext');
  });

  it('a served certificate is never lost to its Secret deleted: the namespace\'s change is refused, the certificate stays', async () => {
    api.remove('Secret', 'shop', 'shop-cert');
    const refusal = await eventually('the refusal', async () => {
      const status = JSON.parse((await request(`${proc.admin}/api/v1/status`)).body) as { sources: Obj[] };
      const shop = status.sources.find((x) => x.name === 'shop');
      return shop?.state === 'Refused' ? shop : undefined;
    });
    assert.match(refusal.message, /TLS secret 'shop\/shop-cert' was not found, and Host a\.example\.test serves its certificate now/);
    assert.match(refusal.remedy, /apply \(or delete\) the objects in namespace shop/);
    const still = await httpsEcho(port, '/shop/cart', 'a.example.test', pki.caPem);
    assert.equal(still.status, 200);
    assert.equal(still.cert, new X509Certificate(pki.a.certPem).fingerprint256, 'the certificate stays served');
  });
});
