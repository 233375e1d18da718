// Response compression served end to end, HTTP/1.1 and HTTP/2 (h2c): real clients ask with
// Accept-Encoding, get gzip or brotli, and the decompressed bytes are the upstream's; what must not
// be compressed (already encoded, small, no-transform, images) arrives as the upstream sent it; a
// streamed body reaches the client while the upstream is still writing.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { brotliDecompressSync, createGunzip, gunzipSync, gzipSync } from 'node:zlib';
import { Gateway } from '../../src/serve/gateway.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import { compileYaml } from '../support/compile-yaml.js';
import { cleartextGatewayYaml, mappingYaml } from '../support/policy-yaml.js';

/** 10 KiB of order-like JSON. */
const JSON_BODY = Buffer.from(JSON.stringify(Array.from({ length: 120 }, (_, i) => ({ id: i, sku: `SKU-${i * 7919}`, price: i * 1.5, tags: ['a', 'b'] }))));
const PRECOMPRESSED = gzipSync(Buffer.from('already gzipped by the upstream '.repeat(20)));

interface Upstream {
  readonly port: number;
  /** Lets the /stream response write its second part. */
  releaseStream(): void;
  close(): Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  let release: () => void = () => {};
  const server = http.createServer((req, res) => {
    const send = (headers: Record<string, string>, body: Buffer): void => {
      res.writeHead(200, { 'content-length': String(body.length), ...headers }).end(body);
    };
    switch (req.url) {
      case '/json':
        send({ 'content-type': 'application/json', etag: '"v1"', vary: 'Origin' }, JSON_BODY);
        return;
      case '/small':
        send({ 'content-type': 'application/json' }, Buffer.from('{"ok":1}'));
        return;
      case '/gzipped':
        send({ 'content-type': 'text/plain', 'content-encoding': 'gzip' }, PRECOMPRESSED);
        return;
      case '/no-transform':
        send({ 'content-type': 'application/json', 'cache-control': 'public, no-transform' }, JSON_BODY);
        return;
      case '/image':
        send({ 'content-type': 'image/png' }, JSON_BODY);
        return;
      case '/stream':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first part\n');
        release = () => res.end('second part\n');
        return;
      default:
        res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    releaseStream: () => release(),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

interface Got {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

function get1(port: number, path: string, headers: Record<string, string> = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false, headers: { host: 'www.example.com', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

function decode(g: Got): Buffer {
  const enc = g.headers['content-encoding'];
  if (enc === 'gzip') return gunzipSync(g.body);
  if (enc === 'br') return brotliDecompressSync(g.body);
  return g.body;
}

describe('response compression through the gateway', () => {
  let up: Upstream;
  let gw: Gateway;
  let port: number;

  before(async () => {
    up = await startUpstream();
    const yaml = `${cleartextGatewayYaml(8080)}---
${mappingYaml('www', '/', up.port)}---
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: {name: ambassador}
spec:
  config:
    gzip: {enabled: true}
    portico_brotli: {enabled: true}
`;
    const ir = compileYaml(yaml).ir;
    gw = new Gateway({ buildRuntime, drainTimeoutMs: 500 });
    const applied = await gw.apply({ ...ir, listeners: ir.listeners.map((l) => ({ ...l, port: 0, bindAddress: '127.0.0.1' })) }, {}, { source: 't' });
    assert.equal(applied.ok, true);
    port = Object.values(gw.boundPorts())[0]!;
  });
  after(async () => {
    gw.forceClose();
    await up.close();
  });

  it('HTTP/1.1: gzip and brotli as negotiated; the decompressed body is the upstream\'s', async () => {
    const cases: [string, string | undefined][] = [['gzip', 'gzip'], ['br', 'br'], ['gzip, deflate, br', 'br'], ['br;q=0.1, gzip', 'gzip'], ['identity', undefined], ['br;q=0, gzip;q=0', undefined]];
    for (const [accept, want] of cases) {
      const g = await get1(port, '/json', { 'accept-encoding': accept });
      assert.equal(g.status, 200);
      assert.equal(g.headers['content-encoding'], want, accept);
      assert.equal(g.headers.vary, 'Origin, Accept-Encoding', accept);
      assert.deepEqual(decode(g), JSON_BODY, accept);
      if (want !== undefined) {
        assert.equal(g.headers['content-length'], undefined, 'a compressed body streams');
        assert.equal(g.headers.etag, undefined, 'a strong ETag does not describe the compressed bytes');
        assert.ok(g.body.length < JSON_BODY.length / 3, `${want} is smaller`);
      } else {
        assert.equal(g.headers.etag, '"v1"');
      }
    }
  });

  it('fetch (undici) decompresses what it asked for and gets the same JSON', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/json`, { headers: { host: 'www.example.com', 'accept-encoding': 'gzip, br' } });
    assert.equal(r.headers.get('content-encoding'), 'br');
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), JSON_BODY);
  });

  it('left alone: already encoded, small, no-transform, an image', async () => {
    const gz = await get1(port, '/gzipped', { 'accept-encoding': 'br, gzip' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.deepEqual(gz.body, PRECOMPRESSED, 'passed through byte for byte');
    for (const path of ['/small', '/no-transform', '/image']) {
      const g = await get1(port, path, { 'accept-encoding': 'gzip, br' });
      assert.equal(g.headers['content-encoding'], undefined, path);
      assert.ok(g.headers['content-length'] !== undefined, path);
    }
  });

  it('a streamed body reaches the client before the upstream has finished it', async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/stream', agent: false, headers: { host: 'www.example.com', 'accept-encoding': 'gzip' } }, resolve).on('error', reject);
    });
    assert.equal(res.headers['content-encoding'], 'gzip');
    const gunzip = createGunzip();
    res.pipe(gunzip);
    let text = '';
    const firstPart = new Promise<void>((resolve) => gunzip.on('data', (c: Buffer) => {
      text += c.toString();
      if (text.includes('first part\n')) resolve();
    }));
    await firstPart; // the upstream has not ended: it waits for releaseStream()
    assert.equal(text, 'first part\n');
    up.releaseStream();
    await new Promise((resolve) => gunzip.on('end', resolve));
    assert.equal(text, 'first part\nsecond part\n');
  });

  it('HTTP/2 (h2c): compressed as negotiated, decompressed bytes equal', async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      for (const [accept, want] of [['gzip', 'gzip'], ['br', 'br'], [undefined, undefined]] as const) {
        const got = await new Promise<Got>((resolve, reject) => {
          const s = session.request({ ':path': '/json', ':authority': 'www.example.com', ...(accept ? { 'accept-encoding': accept } : {}) });
          const chunks: Buffer[] = [];
          let headers: http2.IncomingHttpHeaders = {};
          s.on('response', (h) => {
            headers = h;
          });
          s.on('data', (c: Buffer) => chunks.push(c));
          s.on('end', () => resolve({ status: Number(headers[':status']), headers: headers as http.IncomingHttpHeaders, body: Buffer.concat(chunks) }));
          s.on('error', reject);
          s.end();
        });
        assert.equal(got.status, 200);
        assert.equal(got.headers['content-encoding'], want);
        assert.deepEqual(decode(got), JSON_BODY);
      }
    } finally {
      session.close();
    }
  });
});
