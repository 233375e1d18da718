#!/usr/bin/env node
// A ghz-style gRPC load client for the gRPC section: N concurrent calls over M HTTP/2 connections
// ("channels") for T seconds, counting calls that end with grpc-status 0 and every expected message.
// Frames gRPC by hand over node:http2 (prior-knowledge h2c): a grpc-js client costs several times as
// much CPU per call, and the load generator shares its core with the upstream.
//
//   node bench/grpc-load.js --target 127.0.0.1:PORT --method Unary|Stream [--messages K] [--calls 50]
//     [--channels 5] [--seconds 5] [--warmup 1]      → one JSON line on stdout
import http2 from 'node:http2';

function args(argv) {
  const o = { target: null, method: 'Unary', messages: 1, calls: 50, channels: 5, seconds: 5, warmup: 1, authority: 'grpc.bench' };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!(k in o)) throw new Error(`unknown option ${argv[i]}`);
    o[k] = typeof o[k] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!o.target) throw new Error('--target HOST:PORT is required');
  return o;
}

const o = args(process.argv.slice(2));
// The request: a 16-byte protobuf (field 1 bytes) in one gRPC frame (uncompressed, 4-byte length).
const message = Buffer.concat([Buffer.from([0x0a, 14]), Buffer.alloc(14, 0x62)]);
const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
const path = `/bench.Bench/${o.method}`;

const sessions = [];
for (let i = 0; i < o.channels; i++) {
  const s = http2.connect(`http://${o.target}`, { settings: { initialWindowSize: 1 << 20 } });
  s.on('error', () => {});
  sessions.push(s);
}
await Promise.all(sessions.map((s) => new Promise((resolve, reject) => {
  s.once('connect', resolve);
  s.once('error', reject);
})));

let recording = false;
let running = true;
let ok = 0;
let failed = 0;
let messages = 0;
const statuses = {};
const latenciesUs = [];

function call(session) {
  const t0 = process.hrtime.bigint();
  const req = session.request({ ':method': 'POST', ':path': path, ':authority': o.authority, 'content-type': 'application/grpc', te: 'trailers' });
  let bytes = 0;
  let status;
  req.on('response', (h) => {
    if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
  });
  req.on('trailers', (t) => {
    status = String(t['grpc-status']);
  });
  req.on('data', (c) => {
    bytes += c.length;
  });
  req.on('error', () => {});
  req.on('close', () => {
    // every reply is a 5-byte frame header and the upstream's 32-byte message
    const got = Math.floor(bytes / 37);
    const good = status === '0' && got === o.messages;
    if (recording) {
      if (good) {
        ok++;
        messages += got;
        latenciesUs.push(Number(process.hrtime.bigint() - t0) / 1000);
      } else {
        failed++;
        statuses[status ?? `rst-${req.rstCode}`] = (statuses[status ?? `rst-${req.rstCode}`] ?? 0) + 1;
      }
    }
    if (running && !session.closed && !session.destroyed) call(session);
  });
  req.end(frame);
}

for (let i = 0; i < o.calls; i++) call(sessions[i % sessions.length]);
await new Promise((r) => setTimeout(r, o.warmup * 1000));
recording = true;
const started = process.hrtime.bigint();
await new Promise((r) => setTimeout(r, o.seconds * 1000));
recording = false;
running = false;
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
for (const s of sessions) s.close();
latenciesUs.sort((a, b) => a - b);
const pct = (p) => (latenciesUs.length ? latenciesUs[Math.min(latenciesUs.length - 1, Math.ceil((p / 100) * latenciesUs.length) - 1)] / 1000 : null);
console.log(JSON.stringify({ method: o.method, calls: o.calls, channels: o.channels, seconds, ok, failed, statuses, rps: ok / seconds, messagesPerSec: messages / seconds, p50Ms: pct(50), p99Ms: pct(99) }));
setTimeout(() => process.exit(0), 2000).unref();
