// Kubernetes source at scale: the fake API server (test/support/fake-kube-api.ts) holding N Mappings in
// one team namespace, and an in-process controller + gateway reading them through the Kubernetes
// source. Measures (1) start → ready: from the controller's start (first list of every collection) to
// the first configuration applied; (2) change → live: from the watch event of one changed Mapping
// leaving the fake server to the new configuration applied in the gateway (checked with a request).
//
// Usage (after `npm run build`): node bench/kubernetes-source.js [--mappings N] [--changes N]
// The last stdout line is the result as JSON.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const REPO = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const dist = (p) => join(REPO, 'dist', p);
const { FakeKubeApi } = await import(dist('test/support/fake-kube-api.js'));
const { Controller } = await import(dist('src/controller/controller.js'));
const { Gateway } = await import(dist('src/serve/gateway.js'));
const { buildRuntime } = await import(dist('src/dataplane/runtime.js'));
const { KubernetesCluster } = await import(dist('src/kubernetes/cluster.js'));
const { KubeClient, kubeconfigConnection } = await import(dist('src/kubernetes/kube-client.js'));

const args = process.argv.slice(2);
const opt = (name, d) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : d);
const N = opt('--mappings', 10_000);
const CHANGES = opt('--changes', 10);

function freePort() {
  return new Promise((resolve) => {
    const s = http.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function get(port, path) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { host: 'shop.example.com' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
  });
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const root = mkdtempSync(join(tmpdir(), 'portico-bench-k8s-'));
const api = await new FakeKubeApi().start();
const port = await freePort();
const upstream = http.createServer((req, res) => res.end('ok'));
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
const upPort = upstream.address().port;
const mapping = (i, extra = {}) => ({ apiVersion: 'getambassador.io/v3alpha1', kind: 'Mapping', metadata: { name: `m${i}`, namespace: 'shop' }, spec: { hostname: '*', prefix: `/shop/svc-${i}/`, service: `127.0.0.1:${upPort}`, timeout_ms: 3000, ...extra } });
const setup = performance.now();
for (let i = 0; i < N; i++) api.apply(mapping(i));
console.error(`${N} Mappings stored in the fake API server in ${Math.round(performance.now() - setup)} ms (each validated against its CRD)`);

const central = join(root, 'central');
const { mkdirSync } = await import('node:fs');
mkdirSync(central);
writeFileSync(
  join(central, 'gateway.yaml'),
  `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: {name: http}
spec: {port: ${port}, protocol: HTTP, securityModel: XFP, hostBinding: {namespace: {from: ALL}}}
---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: {name: any}
spec: {hostname: "*", requestPolicy: {insecure: {action: Route}}}
---
apiVersion: portico.dev/v1alpha1
kind: Source
metadata: {name: shop}
spec: {kubernetes: {namespace: shop}, claims: {kinds: [Mapping], hostnames: ["*"], pathPrefixes: [/shop/]}}
`,
);
const client = new KubeClient(kubeconfigConnection(api.writeKubeconfig(join(root, 'kubeconfig'))));
const cluster = new KubernetesCluster(client);
const gateway = new Gateway({ buildRuntime, drainTimeoutMs: 200 });
let applied = () => {};
const sink = {
  apply: async (ir, secrets, meta) => {
    const r = await gateway.apply(ir, secrets, meta);
    applied(performance.now());
    return r;
  },
};
const controller = new Controller({
  roots: [{ spec: { name: 'ops', url: central, branch: '', path: '' }, kind: 'directory', intervalMs: 30_000, onForcePush: 'refuse' }],
  sink,
  kubernetes: () => cluster,
  folderPollMs: 0,
});

const t0 = performance.now();
await controller.start();
const readyMs = performance.now() - t0;
const status = await get(port, `/shop/svc-${N - 1}/x`);
console.error(`ready in ${Math.round(readyMs)} ms (last Mapping answers ${status})`);

const live = [];
for (let c = 0; c < CHANGES; c++) {
  const i = c * 7;
  const done = new Promise((resolve) => (applied = resolve));
  const sent = performance.now();
  api.apply(mapping(i, { prefix: `/shop/changed-${c}/` }));
  const at = await done;
  live.push(at - sent);
  const s = await get(port, `/shop/changed-${c}/x`);
  if (s !== 200) throw new Error(`change ${c} not live (status ${s})`);
}
console.error(`change → live: p50 ${Math.round(pct(live, 50))} ms, max ${Math.round(Math.max(...live))} ms over ${CHANGES} changes`);

await controller.stop();
await gateway.shutdown(100);
cluster.close();
await api.close();
upstream.close();
rmSync(root, { recursive: true, force: true });
console.log(JSON.stringify({ mappings: N, readyMs: Math.round(readyMs), changeToLive: { p50Ms: Math.round(pct(live, 50)), maxMs: Math.round(Math.max(...live)), samples: live.map(Math.round) } }));
