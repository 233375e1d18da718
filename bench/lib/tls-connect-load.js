#!/usr/bin/env node
// Handshake load for the HTTP/2 and TLS section: LOOPS connections at a time, each a new TLS
// connection carrying one HTTP/1.1 request (Connection: close); with --resume each presents the
// newest session ticket the server sent, so the server's cost of a resumed handshake is measured.
//
//   node bench/lib/tls-connect-load.js --port P --path /x --host localhost [--resume] [--loops 10] [--seconds 4]
//     → one JSON line: connections answered 2xx per second, how many were resumed, p50/p99 ms
import tls from 'node:tls';

const o = { port: 0, path: '/', host: 'localhost', resume: false, loops: 10, seconds: 4, warmup: 1 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const k = argv[i].replace(/^--/, '');
  if (k === 'resume') o.resume = true;
  else if (k in o) o[k] = typeof o[k] === 'number' ? Number(argv[++i]) : argv[++i];
  else throw new Error(`unknown option ${argv[i]}`);
}

let ticket;
let recording = false;
let running = true;
let ok = 0;
let failed = 0;
let resumed = 0;
const latencies = [];

function once() {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const s = tls.connect({ host: '127.0.0.1', port: o.port, servername: o.host, rejectUnauthorized: false, ...(o.resume && ticket ? { session: ticket } : {}) }, () => {
      if (recording && s.isSessionReused()) resumed++;
      s.write(`GET ${o.path} HTTP/1.1\r\nHost: ${o.host}\r\nConnection: close\r\n\r\n`);
    });
    if (o.resume) s.on('session', (t) => { ticket = t; });
    let head = '';
    s.on('data', (c) => { if (head.length < 12) head += c.toString('latin1'); });
    s.on('error', () => {});
    s.on('close', () => {
      if (recording) {
        if (/^HTTP\/1\.1 2/.test(head)) {
          ok++;
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        } else failed++;
      }
      resolve();
    });
  });
}

async function loop() {
  while (running) await once();
}

const loops = Array.from({ length: o.loops }, loop);
await new Promise((r) => setTimeout(r, o.warmup * 1000));
recording = true;
const started = process.hrtime.bigint();
await new Promise((r) => setTimeout(r, o.seconds * 1000));
recording = false;
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
running = false;
await Promise.all(loops);
latencies.sort((a, b) => a - b);
const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] : null);
console.log(JSON.stringify({ resume: o.resume, seconds, ok, failed, resumed, rps: ok / seconds, p50Ms: pct(50), p99Ms: pct(99) }));
