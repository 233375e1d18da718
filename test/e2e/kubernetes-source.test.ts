// `serve` with a team source in a Kubernetes cluster (the fake API server, real HTTP): the central
// folder declares `Source shop` with `spec.kubernetes: {namespace: shop}`; Mappings applied in that
// namespace go live and away with real traffic; a bad one gets Accepted=False with its field and no
// file while the rest serves; a dropped watch misses nothing; two replicas elect one status writer.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { freePort } from '../support/free-port.js';
import { cleartextGatewayYaml } from '../support/policy-yaml.js';
import { FakeKubeApi } from '../support/fake-kube-api.js';
import { removeDir, tempDir } from '../sources/git-fixture.js';
import { ServeProcess } from '../serve/serve-harness.js';
import { eventually, request } from '../serve/http-client.js';

type Obj = Record<string, any>;

const root = tempDir('kubernetes-source');
let api: FakeKubeApi;
let a: EchoUpstream;
let b: EchoUpstream;
let port = 0;
let kubeconfig = '';
let central = '';
const procs: ServeProcess[] = [];

before(async () => {
  api = await new FakeKubeApi().start();
  a = await startEcho('a');
  b = await startEcho('b');
  port = await freePort();
  kubeconfig = api.writeKubeconfig(join(root, 'kubeconfig'), 'portico');
  central = join(root, 'central');
  mkdirSync(central);
  writeFileSync(
    join(central, 'gateway.yaml'),
    `${cleartextGatewayYaml(port)}---
apiVersion: portico.dev/v1alpha1
kind: Source
metadata:
  name: shop
spec:
  kubernetes:
    namespace: shop
  claims:
    kinds: [Mapping]
    hostnames: ["*"]
    pathPrefixes: [/shop/]
`,
  );
});

after(async () => {
  for (const p of procs) await p.stop();
  await api.close();
  await a.close();
  await b.close();
  removeDir(root);
});

function serve(identity: string, bind: string): ServeProcess {
  const p = new ServeProcess(['--config', `ops=${central}`, '--kubeconfig', kubeconfig, '--identity', identity, '--lease', 'portico/portico-status-writer', '--bind', bind, '--admin', `${bind}:0`, '--workers', '0', '--access-log', 'off']);
  procs.push(p);
  return p;
}

function mapping(name: string, prefix: string, upstream: number, extra: Obj = {}): Obj {
  return { apiVersion: 'getambassador.io/v3alpha1', kind: 'Mapping', metadata: { name, namespace: 'shop' }, spec: { hostname: '*', prefix, service: `127.0.0.1:${upstream}`, ...extra } };
}

async function upstreamOf(path: string, host = '127.0.0.1'): Promise<string> {
  const r = await request(`http://${host}:${port}${path}`, { headers: { host: 'shop.example.com' } });
  return r.status === 200 ? (JSON.parse(r.body) as { name: string }).name : `status ${r.status}`;
}

function condition(name: string, type: string): Obj | undefined {
  const o = api.get('Mapping', 'shop', name) as Obj | undefined;
  return (o?.status?.conditions as Obj[] | undefined)?.find((c) => c.type === type);
}

/** Waits until the object's status describes its current generation with the wanted condition statuses. */
function statusOf(name: string, accepted: string, programmed: string): Promise<Obj> {
  return eventually(`status of ${name}: Accepted=${accepted} Programmed=${programmed}`, async () => {
    const o = api.get('Mapping', 'shop', name) as Obj | undefined;
    if (!o?.status || o.status.observedGeneration !== o.metadata.generation) return undefined;
    return condition(name, 'Accepted')?.status === accepted && condition(name, 'Programmed')?.status === programmed ? o : undefined;
  });
}

describe('a Kubernetes team source', () => {
  let one: ServeProcess;

  it('a Mapping created, changed and deleted in the namespace goes live and away; its status says so', async () => {
    one = serve('replica-one', '127.0.0.1');
    await one.ready();
    assert.equal(await upstreamOf('/shop/orders/1'), 'status 404');

    api.apply(mapping('orders', '/shop/orders/', a.port));
    await eventually('orders live on a', async () => (await upstreamOf('/shop/orders/1')) === 'a');
    const created = await statusOf('orders', 'True', 'True');
    assert.equal(created.status.observedGeneration, 1);
    assert.equal(created.status.source, 'shop');
    assert.match(created.status.revision, /^sha256:[0-9a-f]{64}$/);
    assert.equal(condition('orders', 'Programmed')!.reason, 'Programmed');
    assert.equal(condition('orders', 'Accepted')!.reason, 'Accepted');

    api.apply(mapping('orders', '/shop/orders/', b.port));
    await eventually('orders live on b', async () => (await upstreamOf('/shop/orders/1')) === 'b');
    const changed = await statusOf('orders', 'True', 'True');
    assert.equal(changed.status.observedGeneration, 2);
    assert.equal(changed.status.servedGeneration, 2);
    assert.notEqual(changed.status.revision, created.status.revision);

    api.remove('Mapping', 'shop', 'orders');
    await eventually('orders gone', async () => (await upstreamOf('/shop/orders/1')) === 'status 404');
  });

  it('the CRD schema refuses a wrong type at admission (422), before any gateway sees it', () => {
    assert.throws(() => api.apply(mapping('typed', '/shop/typed/', a.port, { timeout_ms: 'soon' })), /422 .*spec\/timeout_ms: must be integer/);
  });

  it('a bad Mapping gets Accepted=False naming its field, never a file; the rest of the namespace keeps serving', async () => {
    api.apply(mapping('cart', '/shop/cart/', a.port));
    await eventually('cart live', async () => (await upstreamOf('/shop/cart/1')) === 'a');

    // Outside the team's claim (/shop/): the namespace's new revision is refused as a whole.
    api.apply(mapping('admin', '/admin/', b.port));
    const bad = await statusOf('admin', 'False', 'False');
    const accepted = bad.status.conditions.find((c: Obj) => c.type === 'Accepted');
    assert.equal(accepted.reason, 'ClaimViolation');
    assert.match(accepted.message, /^spec\.prefix: /);
    assert.doesNotMatch(accepted.message, /\.ya?ml|:\d+:\d+/, 'no file, line or column');
    assert.equal(bad.status.conditions.find((c: Obj) => c.type === 'Programmed').reason, 'ClaimViolation');
    assert.equal(await upstreamOf('/admin/x'), 'status 404');
    assert.equal(await upstreamOf('/shop/cart/1'), 'a', 'the last-known-good revision keeps serving');

    const status = JSON.parse((await request(`${one.admin}/api/v1/status`)).body) as { sources: Obj[] };
    const shop = status.sources.find((s) => s.name === 'shop')!;
    assert.equal(shop.kind, 'kubernetes');
    assert.equal(shop.state, 'Refused');
    assert.match(shop.message, /failed: shop:Mapping shop\/admin: /, 'the origin names the object, not a file');
    assert.equal(shop.url, 'kubernetes:shop');

    // cart is valid and still served, at its own generation.
    const cart = await statusOf('cart', 'True', 'True');
    assert.match(cart.status.conditions.find((c: Obj) => c.type === 'Accepted').message, /revision .* was refused/);

    // A change in the same namespace waits for the bad one to be fixed (per-source atomicity, as for git).
    api.apply(mapping('cart', '/shop/cart/', b.port));
    await statusOf('cart', 'True', 'False');
    assert.equal(await upstreamOf('/shop/cart/1'), 'a');
    api.remove('Mapping', 'shop', 'admin');
    await eventually('cart v2 live once the bad Mapping is gone', async () => (await upstreamOf('/shop/cart/1')) === 'b');
    await statusOf('cart', 'True', 'True');
  });

  it('a dropped watch resumes: changes made while it was down all go live', async () => {
    api.dropWatches();
    api.apply(mapping('during-drop', '/shop/drop/', a.port));
    api.apply(mapping('cart', '/shop/cart/', a.port));
    await eventually('both changes live', async () => (await upstreamOf('/shop/drop/1')) === 'a' && (await upstreamOf('/shop/cart/1')) === 'a');
  });

  it('an Ingress of class ambassador in the namespace is served as the Mappings it stands for; another class is not', async () => {
    const ingress = (name: string, cls: string, path: string): Obj => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name, namespace: 'shop', annotations: { 'kubernetes.io/ingress.class': cls, 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
      spec: { rules: [{ host: 'shop.example.com', http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: 'cart', port: { number: 8080 } } } }] } }] },
    });
    type Row = { id: string; match: string; backends: { cluster: string }[]; mappings: string[] };
    const routes = async (): Promise<Row[]> => (JSON.parse((await request(`${one.admin}/api/v1/routes`)).body) as { routes: Row[] }).routes;
    api.apply(ingress('other', 'nginx', '/shop/other/'));
    api.apply(ingress('web', 'ambassador', '/shop/web/'));
    const row = await eventually('the Ingress path routed', async () => (await routes()).find((r) => r.id === 'shop/web-0-0'));
    assert.match(row.match, /\/shop\/web\//);
    assert.match(row.backends[0]!.cluster, /cart_shop/, 'to the Service cart in the namespace');
    assert.match(row.mappings[0]!, /^Mapping\/shop\/web-0-0 \(shop:Ingress shop\/web\)$/, 'its origin is the Ingress object');
    assert.equal(await upstreamOf('/shop/other/x'), 'status 404', 'an Ingress of another class is not ours');
    assert.equal((await routes()).some((r) => r.id.startsWith('shop/other')), false);
    api.remove('Ingress', 'shop', 'web');
    await eventually('the Ingress route gone', async () => !(await routes()).some((r) => r.id === 'shop/web-0-0'));
    api.remove('Ingress', 'shop', 'other');
  });

  it('an Ingress served gets the load balancer of the gateway\'s Service as its status, and follows it; one of another class is left alone', async () => {
    const ingress = (name: string, cls: string, path: string): Obj => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name, namespace: 'shop', annotations: { 'kubernetes.io/ingress.class': cls } },
      spec: { rules: [{ host: 'shop.example.com', http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: 'cart', port: { number: 8080 } } } }] } }] },
    });
    const addresses = (name: string): unknown => ((api.get('Ingress', 'shop', name) as Obj | undefined)?.status?.loadBalancer?.ingress as unknown) ?? [];
    // As Emissary's chart labels the Service in front of it (and `portico manifests` labels Portico's).
    api.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'portico', namespace: 'portico', labels: { 'app.kubernetes.io/component': 'ambassador-service' } }, spec: { ports: [{ name: 'http', port: 80 }] } });
    api.setStatus('Service', 'portico', 'portico', { loadBalancer: { ingress: [{ ip: '203.0.113.7' }] } });
    api.apply(ingress('lb-other', 'nginx', '/shop/lb-other/'));
    api.apply(ingress('lb-web', 'ambassador', '/shop/lb-web/'));
    await eventually('the load balancer in the served Ingress\'s status', async () => JSON.stringify(addresses('lb-web')) === JSON.stringify([{ ip: '203.0.113.7' }]));
    api.setStatus('Service', 'portico', 'portico', { loadBalancer: { ingress: [{ hostname: 'lb.example.net' }] } });
    await eventually('the new load balancer', async () => JSON.stringify(addresses('lb-web')) === JSON.stringify([{ hostname: 'lb.example.net' }]));
    assert.deepEqual(addresses('lb-other'), [], 'an Ingress of another class is not ours to write');
    api.remove('Ingress', 'shop', 'lb-web');
    api.remove('Ingress', 'shop', 'lb-other');
    api.remove('Service', 'portico', 'portico');
  });

  it('a role that does not grant Ingresses (one written before Portico read them) costs nothing else: the Mappings serve', async () => {
    api.forbidden.add('ingresses');
    try {
      const three = serve('replica-three', '127.0.0.3');
      await three.ready();
      await eventually('replica three serves the namespace', async () => (await upstreamOf('/shop/drop/1', '127.0.0.3')) === 'a');
      const status = JSON.parse((await request(`${three.admin}/api/v1/status`)).body) as { sources: Obj[] };
      assert.equal(status.sources.find((s) => s.name === 'shop')!.state, 'Ready');
      await three.stop();
    } finally {
      api.forbidden.delete('ingresses');
    }
  });

  it('two replicas: one holds the Lease and writes statuses; when it stops, the other takes over', async () => {
    const two = serve('replica-two', '127.0.0.2');
    await two.ready();
    await eventually('replica two serves too', async () => (await upstreamOf('/shop/drop/1', '127.0.0.2')) === 'a');
    const lease = api.get('Lease', 'portico', 'portico-status-writer') as Obj | undefined;
    assert.equal(lease?.spec.holderIdentity, 'replica-one');

    api.apply(mapping('both', '/shop/both/', b.port));
    await eventually('both replicas serve it', async () => (await upstreamOf('/shop/both/1')) === 'b' && (await upstreamOf('/shop/both/1', '127.0.0.2')) === 'b');
    await statusOf('both', 'True', 'True');
    const writers = [...api.statusWriters().keys()];
    assert.ok(writers.every((w) => w.includes('(replica-one)')), `only replica one wrote statuses: ${writers.join(', ')}`);

    one.signal('SIGTERM');
    assert.equal((await one.exited).code, 0);
    await eventually('replica two holds the lease', async () => (api.get('Lease', 'portico', 'portico-status-writer') as Obj | undefined)?.spec.holderIdentity === 'replica-two');
    api.apply(mapping('after', '/shop/after/', a.port));
    await statusOf('after', 'True', 'True');
    assert.ok([...api.statusWriters().keys()].some((w) => w.includes('(replica-two)')), 'replica two writes now');
    two.signal('SIGTERM');
    assert.equal((await two.exited).code, 0);
  });
});
