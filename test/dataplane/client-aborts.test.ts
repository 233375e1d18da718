import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readdirSync } from 'node:fs';
import fc from 'fast-check';
import { backend, buildIR, cluster, route } from '../support/ir-builder.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { startRawUpstream, type RawUpstream } from '../support/raw-upstream.js';
import { startBlackhole } from '../support/fault-upstream.js';
import { startEcho, type EchoUpstream, type Echoed } from '../support/echo-upstream.js';
import { json, request } from '../support/http-client.js';

const fds = (): number => readdirSync('/proc/self/fd').length;

async function until(cond: () => boolean, ms = 3000): Promise<boolean> {
  for (let waited = 0; !cond() && waited < ms; waited += 10) await new Promise((r) => setTimeout(r, 10));
  return cond();
}

const BODY = 'z'.repeat(200_000);

describe('client aborts at any point (HARDENING case 29)', () => {
  let up: RawUpstream;
  let gw: TestGateway;
  let uncaught = 0;
  const onUncaught = (): void => {
    uncaught++;
  };
  before(async () => {
    process.on('uncaughtException', onUncaught);
    up = await startRawUpstream((c) => {
      if (c.request.requestLine.startsWith('GET')) c.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${BODY.length}\r\n\r\n${BODY}`);
      else c.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    gw = await startGateway(buildIR({ clusters: [cluster('u', up.port)], routes: [route('default/r', { prefix: '/' }, [backend('u')])] }));
  });
  after(async () => {
    process.off('uncaughtException', onUncaught);
    await gw.close();
    await up.close();
  });

  it('never leaks sockets or in-flight requests, whatever the abort offset', async () => {
    await request(gw.port, { path: '/warm' });
    const baseline = fds();
    const upload = `POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;
    const download = 'GET /down HTTP/1.1\r\nHost: a\r\n\r\n';
    await fc.assert(fc.asyncProperty(fc.boolean(), fc.integer({ min: 1, max: 250_000 }), async (isUpload, offset) => {
      const s = net.connect(gw.port, '127.0.0.1');
      s.on('error', () => {});
      await new Promise<void>((resolve) => s.once('connect', () => resolve()));
      if (isUpload) {
        s.write(upload.slice(0, Math.min(offset, upload.length - 1)));
        await new Promise((r) => setTimeout(r, 5));
        s.destroy();
      } else {
        let got = 0;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 2000);
          s.on('data', (d: Buffer) => {
            got += d.length;
            if (got >= Math.min(offset, BODY.length)) {
              clearTimeout(t);
              resolve();
            }
          });
          s.on('close', () => {
            clearTimeout(t);
            resolve();
          });
          s.write(download);
        });
        s.destroy();
      }
      assert.ok(await until(() => gw.runtime.inflight() === 0), 'request still in flight after the client left');
    }), { numRuns: 40, seed: 29 });
    // the gateway still serves
    assert.equal((await request(gw.port, { method: 'POST', path: '/after', body: 'x', headers: { host: 'a' } })).status, 200);
    assert.ok(await until(() => fds() <= baseline + 4), `fds ${fds()} vs baseline ${baseline}`);
    assert.equal(uncaught, 0);
  });
});

describe('shadow never delays the real request', () => {
  let real: EchoUpstream;
  let hole: RawUpstream;
  let gw: TestGateway;
  before(async () => {
    real = await startEcho('real');
    hole = await startBlackhole();
    gw = await startGateway(buildIR({
      clusters: [cluster('real', real.port), cluster('hole', hole.port)],
      routes: [route('default/r', { prefix: '/' }, [backend('real')], { shadow: { cluster: 'hole', weight: 100 } })],
    }));
  });
  after(async () => {
    await gw.close();
    await real.close();
    await hole.close();
  });

  it('answers from the real upstream while the mirror hangs, bodies included', async () => {
    const r = await request(gw.port, { method: 'POST', path: '/x', body: 'payload', headers: { host: 'a', 'content-type': 'text/plain' }, timeoutMs: 2000 });
    assert.equal(r.status, 200);
    assert.equal(json<Echoed>(r).body, 'payload');
    assert.ok(await until(() => hole.requests.length === 1));
    assert.equal(hole.requests[0]?.body.toString(), 'payload');
  });
});
