// What tracing costs one request, without the proxy around it: the request path's tracing hooks
// (begin, attempt, the CLIENT span's answer, end) and the export, timed in CPU µs per request.
// Usage: node bench/trace-cost-probe.js [--requests N] [--rounds R] [--dist DIR]   (after `npm run build`)
// The collector is a child process that takes every OTLP request, so its CPU is not counted; the
// probe's own CPU (process.cpuUsage) is. Steadier than the HTTP/1.1 section on a busy machine, and
// no substitute for it: it leaves out the proxy's work, and what spans do to its heap.
import { cleartextGatewayYaml } from './lib/gateway-yaml.js';
import { fork } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setImmediate as turn } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';

const home = dirname(dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const requests = Number(opt('--requests', 20_000));
const rounds = Number(opt('--rounds', 3));
const dist = resolve(opt('--dist', join(home, 'dist')));
const load = (p) => import(pathToFileURL(join(dist, p)).href);

if (process.argv[2] === '--collector') {
  const http = await import('node:http');
  let received = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 }).end();
    });
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', () => process.send({ received }));
} else {
  const { loadFiles } = await load('src/load/index.js');
  const { compile } = await load('src/compile/index.js');
  const { TraceExporters } = await load('src/tracing/trace-exporters.js');
  const { RequestTracer } = await load('src/tracing/request-tracing.js');
  const collector = fork(fileURLToPath(import.meta.url), ['--collector'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port } = await new Promise((r) => collector.once('message', r));

  const results = {};
  for (const percent of [0, 100]) {
    const yaml = `${cleartextGatewayYaml(8080)}---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: svc-050}
spec: {hostname: "*", prefix: /svc-050/, rewrite: /items/, service: 127.0.0.1:9999}
---
apiVersion: getambassador.io/v3alpha1
kind: TracingService
metadata: {name: tracing}
spec: {service: "127.0.0.1:${port}", driver: opentelemetry, sampling: {random: ${percent}}}
`;
    const loaded = loadFiles([{ path: 'probe.yaml', content: yaml }]);
    const { ir } = compile(loaded.resources, {}, loaded.problems);
    const route = ir.listeners[0].virtualHosts[0].routes[0];
    const exporters = new TraceExporters({});
    const tracer = new RequestTracer(ir.global.tracing, exporters.acquire(ir.global.tracing), Math.random);
    const req = { rawHeaders: ['Host', 'api-00.bench.local', 'User-Agent', 'wrk/4.1.0', 'Accept', '*/*'], method: 'GET', httpVersionMajor: 1, httpVersionMinor: 1 };
    let n = 0;
    const one = () => {
      const t = tracer.begin(req, performance.now());
      t.routed(route);
      const headers = ['host', 'api-00.bench.local', 'user-agent', 'wrk/4.1.0', 'accept', '*/*'];
      const a = t.attempt(headers, { method: 'GET', scheme: 'http', authority: 'api-00.bench.local', path: '/items/17?page=2', cluster: 'cluster_127_0_0_1_9999', endpoint: '127.0.0.1:9999', resend: 0 });
      a?.response(200);
      a?.end();
      n++;
      t.end({ req, method: 'GET', path: `/svc-050/items/${n % 64}`, host: 'api-00.bench.local', requestId: `req-${n}`, clientAddress: '127.0.0.1', secure: false, status: 200, cluster: 'cluster_127_0_0_1_9999', localReply: undefined, upstreamError: undefined, conn: { port: 8080, listener: 'http' } }, performance.now());
    };
    const run = async (count) => {
      const before = process.cpuUsage();
      for (let i = 0; i < count; i++) {
        one();
        // Let the event loop run (export requests, answers) as a server's would between requests.
        if (i % 64 === 63) await turn();
      }
      await exporters.flush();
      const used = process.cpuUsage(before);
      return (used.user + used.system) / count;
    };
    await run(requests / 4);
    const figures = [];
    for (let r = 0; r < rounds; r++) figures.push(Number((await run(requests)).toFixed(2)));
    await exporters.shutdown();
    const sorted = [...figures].sort((x, y) => x - y);
    results[`${percent} %`] = { cpuUsPerRequest: sorted[Math.floor(sorted.length / 2)], rounds: figures };
  }
  collector.send('count');
  const { received } = await new Promise((r) => collector.once('message', r));
  collector.kill();
  console.log(JSON.stringify({ dist, requests, rounds, results, exportRequests: received }, null, 2));
}
