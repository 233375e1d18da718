// A trace collector for the tracing variants: takes every OTLP/HTTP export request and answers 200,
// counting requests, bytes and spans, so that what Portico pays for tracing is measured, not the
// collector.
//
// It runs in a process of its own, on the load generator's cores at the lowest CPU priority: a
// collector is not on the load generator's core in production, and here, when it took its turn
// while wrk had work, the server under test waited for requests (tracing's measured cost then
// included the collector's: at 100 % sampling the server was idle 3.5–5 % of a slice, against
// 0.5–2 % with the collector niced). Its work can wait: the exporter keeps up to four requests' worth of
// spans in flight, and the spans it receives are counted, so a collector that fell behind (and made
// the exporter drop spans, and so work) shows in the results.
import { fork } from 'node:child_process';
import http from 'node:http';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { repin } from './cpu-layout.js';

/** Starts the collector's process; `cpus` pins it (taskset list), as the load generator is. */
export async function startTraceSink({ cpus } = {}) {
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const answers = [];
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const firstMessage = new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code, signal) => reject(new Error(`trace sink exited (${code ?? signal}) before it listened`)));
  });
  child.on('message', (m) => { if (m.stats) answers.shift()?.(m.stats); });
  const { port } = await firstMessage;
  try { setPriority(child.pid, 19); } catch {}
  repin(child.pid, cpus);
  return {
    port,
    pid: child.pid,
    /** { requests, bytes, spans, malformed } received so far. */
    stats: () => new Promise((resolve) => { answers.push(resolve); child.send('stats'); }),
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Span messages in an ExportTraceServiceRequest: resource_spans (1) → scope_spans (2) → spans (2). */
export function countSpans(buf) {
  let spans = 0;
  forEachField(buf, 0, buf.length, (f, s, e) => {
    if (f === 1) forEachField(buf, s, e, (g, s2, e2) => {
      if (g === 2) forEachField(buf, s2, e2, (h) => { if (h === 2) spans++; });
    });
  });
  return spans;
}

function forEachField(buf, start, end, onMessage) {
  let p = start;
  const varint = () => {
    let n = 0;
    for (let shift = 0; ; shift += 7) {
      if (p >= end || shift > 49) throw new Error(`bad varint at ${p}`);
      const b = buf[p++];
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
    }
  };
  while (p < end) {
    const tag = varint();
    const wire = tag % 8;
    if (wire === 0) varint();
    else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else if (wire === 2) {
      const len = varint();
      if (p + len > end) throw new Error(`field of ${len} bytes at ${p} past the end (${end})`);
      onMessage(Math.floor(tag / 8), p, p + len);
      p += len;
    } else throw new Error(`wire type ${wire} at ${p}`);
  }
}

function serve() {
  let requests = 0;
  let bytes = 0;
  let spans = 0;
  let malformed = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => { chunks.push(c); bytes += c.length; });
    req.on('end', () => {
      requests++;
      try {
        spans += countSpans(Buffer.concat(chunks));
      } catch {
        malformed++;
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 }).end();
    });
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', (m) => { if (m === 'stats') process.send({ stats: { requests, bytes, spans, malformed } }); });
  // The parent going away ends the collector too.
  process.on('disconnect', () => process.exit(0));
}

if (process.argv[2] === '--serve' && process.send) serve();

/** A TracingService YAML sending to the sink at `percent` random sampling. */
export function tracingServiceYaml(sinkPort, percent) {
  return `apiVersion: getambassador.io/v3alpha1
kind: TracingService
metadata:
  name: bench-tracing
spec:
  service: 127.0.0.1:${sinkPort}
  driver: opentelemetry
  sampling:
    random: ${percent}
`;
}
