// The namespace Portico runs in, as every command takes it: `--ambassador-namespace`, else
// AMBASSADOR_NAMESPACE, else "default". serve routes a bare service name of a Mapping in another
// namespace to that namespace's Service, and render, routes, explain, validate and plan say the same.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPortico } from '../support/portico-cli.js';
import { ServeProcess } from '../serve/serve-harness.js';
import { freePort } from '../support/free-port.js';
import { cleartextGatewayYaml } from '../support/policy-yaml.js';
import { parseServeArgs } from '../../src/cli/serve-options.js';
import { offlineOptions } from '../../src/cli/offline-args.js';
import { parsePlanArgs } from '../../src/cli/plan.js';
import { UsageError } from '../../src/cli/args.js';

const mappings = (tcpPort: number): string => `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: quote, namespace: shop }
spec: { hostname: "*", prefix: /quote/, service: quote }
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: ledger, namespace: billing }
spec: { hostname: "*", prefix: /ledger/, service: "http://ledger:8080" }
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: local }
spec: { hostname: "*", prefix: /local/, service: status }
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: own, namespace: portico }
spec: { hostname: "*", prefix: /own/, service: metrics }
---
apiVersion: getambassador.io/v3alpha1
kind: TCPMapping
metadata: { name: pg, namespace: db }
spec: { port: ${tcpPort}, service: "postgres:5432" }
`;

/** What Portico in namespace `portico` connects to for each of the resources above, by cluster name. */
const IN_PORTICO: Record<string, string> = {
  cluster_ledger_billing_8080_billing: 'http://ledger.billing:8080',
  cluster_metrics_portico: 'metrics',
  cluster_postgres_db_5432_db: 'postgres.db:5432',
  cluster_quote_shop_shop: 'quote.shop',
  cluster_status_portico: 'status',
};

let root = '';
let config = '';
let head = '';
const env = (ns?: string): NodeJS.ProcessEnv => {
  const e = { ...process.env };
  delete e.AMBASSADOR_NAMESPACE;
  return ns !== undefined ? { ...e, AMBASSADOR_NAMESPACE: ns } : e;
};

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'portico-ambassador-namespace-'));
  config = join(root, 'config');
  head = join(root, 'head');
  mkdirSync(config);
  mkdirSync(head);
  const listener = cleartextGatewayYaml(await freePort());
  const tcpPort = await freePort();
  writeFileSync(join(config, 'listener.yaml'), listener);
  writeFileSync(join(config, 'mappings.yaml'), mappings(tcpPort));
  writeFileSync(join(head, 'listener.yaml'), listener);
  writeFileSync(join(head, 'mappings.yaml'), mappings(tcpPort) + `---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: cart, namespace: shop }
spec: { hostname: "*", prefix: /cart/, service: cart }
`);
});
after(() => rmSync(root, { recursive: true, force: true }));

const clusters = (ir: { clusters: { name: string; service: string }[] }): Record<string, string> => Object.fromEntries(ir.clusters.map((c) => [c.name, c.service]));

describe('serve and the offline commands qualify bare service names alike', () => {
  let served: Record<string, string> = {};

  before(async () => {
    const proc = new ServeProcess(['--config', config, '--admin', '127.0.0.1:0', '--workers', '0', '--access-log', 'off'], env('portico'));
    try {
      await proc.ready();
      served = clusters((await proc.config()).ir);
    } finally {
      proc.signal('SIGTERM');
      await proc.exited;
    }
  });

  it('serve, with AMBASSADOR_NAMESPACE=portico, connects to each Mapping’s namespace', () => {
    assert.deepEqual(served, IN_PORTICO);
  });

  it('render with the same environment prints the clusters serve serves', async () => {
    const r = await runPortico(['render', config], { env: env('portico') });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(clusters((JSON.parse(r.stdout) as { ir: never }).ir), served);
  });

  it('render with --ambassador-namespace prints the same, and the flag outranks the environment', async () => {
    const r = await runPortico(['render', config, '--ambassador-namespace', 'portico'], { env: env('elsewhere') });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(clusters((JSON.parse(r.stdout) as { ir: never }).ir), served);
  });

  it('without either, Portico is in default: resources without a namespace stay there, portico/own is qualified', async () => {
    const r = await runPortico(['render', config], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(clusters((JSON.parse(r.stdout) as { ir: never }).ir), {
      cluster_ledger_billing_8080_billing: 'http://ledger.billing:8080',
      cluster_metrics_portico_portico: 'metrics.portico',
      cluster_postgres_db_5432_db: 'postgres.db:5432',
      cluster_quote_shop_shop: 'quote.shop',
      cluster_status_default: 'status',
    });
  });

  it('explain shows the address a request goes to', async () => {
    const r = await runPortico(['explain', config, 'GET http://api.example.com/quote/42', '--format', 'json'], { env: env('portico') });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { backends: { service: string; cluster: string; endpoints: string[] }[] };
    assert.deepEqual(out.backends.map((b) => [b.service, b.cluster, b.endpoints]), [['quote.shop', 'cluster_quote_shop_shop', ['http://quote.shop:80']]]);
    const text = await runPortico(['explain', config, 'GET http://api.example.com/ledger/', '--ambassador-namespace', 'portico'], { env: env() });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /http:\/\/ledger\.billing:8080/);
  });

  it('routes and validate read it too', async () => {
    const routes = await runPortico(['routes', config, '--format', 'json'], { env: env('portico') });
    assert.equal(routes.code, 0, routes.stderr);
    const rows = JSON.parse(routes.stdout) as { id: string; action: { upstreams?: { service: string }[] } }[];
    const upstreams = Object.fromEntries(rows.map((x) => [x.id, x.action.upstreams?.map((u) => u.service)]));
    assert.deepEqual([upstreams['shop/quote'], upstreams['portico/local'], upstreams['portico/own']], [['quote.shop'], ['status'], ['metrics']]);
    const validate = await runPortico(['validate', config, '--ambassador-namespace', 'Not_A_Namespace'], { env: env() });
    assert.equal(validate.code, 2);
    assert.match(validate.stderr, /--ambassador-namespace needs a namespace name/);
  });

  it('plan names the clusters serve would add, in the namespace it is given', async () => {
    const withNs = await runPortico(['plan', '--base', config, '--head', head, '--format', 'json'], { env: env('portico') });
    assert.equal(withNs.code, 3, withNs.stderr);
    assert.match(withNs.stdout, /"cluster_cart_shop_shop"/);
    const inShop = await runPortico(['plan', '--base', config, '--head', head, '--format', 'json', '--ambassador-namespace', 'shop'], { env: env() });
    assert.equal(inShop.code, 3, inShop.stderr);
    assert.match(inShop.stdout, /"cluster_cart_shop"/, 'a Mapping in Portico’s own namespace keeps its bare name');
  });
});

describe('reading the namespace', () => {
  it('serve takes --ambassador-namespace, else AMBASSADOR_NAMESPACE, else leaves it unset ("default")', () => {
    assert.equal(parseServeArgs(['--config', 'c'], { AMBASSADOR_NAMESPACE: 'portico' }, '/').sources.ambassadorNamespace, 'portico');
    assert.equal(parseServeArgs(['--config', 'c', '--ambassador-namespace', 'edge'], { AMBASSADOR_NAMESPACE: 'portico' }, '/').sources.ambassadorNamespace, 'edge');
    assert.equal(parseServeArgs(['--config', 'c'], {}, '/').sources.ambassadorNamespace, undefined);
    assert.equal(parseServeArgs(['--config', 'c'], { AMBASSADOR_NAMESPACE: ' ' }, '/').sources.ambassadorNamespace, undefined);
  });

  it('a value that is no namespace name is a usage error naming where it came from', () => {
    assert.throws(() => parseServeArgs(['--config', 'c'], { AMBASSADOR_NAMESPACE: 'Portico' }, '/'), (e: unknown) => e instanceof UsageError && /^AMBASSADOR_NAMESPACE needs a namespace name/.test(e.message));
    assert.throws(() => parseServeArgs(['--config', 'c', '--ambassador-namespace', 'a'.repeat(64)], {}, '/'), (e: unknown) => e instanceof UsageError && /^--ambassador-namespace needs/.test(e.message));
  });

  it('the offline commands and plan read it the same way', () => {
    assert.equal(offlineOptions(['c'], {}, {}, { AMBASSADOR_NAMESPACE: 'portico' }).ambassadorNamespace, 'portico');
    assert.equal(offlineOptions(['c'], { 'ambassador-namespace': 'edge' }, {}, { AMBASSADOR_NAMESPACE: 'portico' }).ambassadorNamespace, 'edge');
    assert.equal(offlineOptions(['c'], {}, {}, {}).ambassadorNamespace, undefined);
    assert.equal(parsePlanArgs(['--base', 'a', '--head', 'b'], { AMBASSADOR_NAMESPACE: 'portico' }).ambassadorNamespace, 'portico');
    assert.equal(parsePlanArgs(['--base', 'a', '--head', 'b', '--ambassador-namespace', 'edge'], { AMBASSADOR_NAMESPACE: 'portico' }).ambassadorNamespace, 'edge');
    assert.equal(parsePlanArgs(['--base', 'a', '--head', 'b'], {}).ambassadorNamespace, undefined);
  });
});
