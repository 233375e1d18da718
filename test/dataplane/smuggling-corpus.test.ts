import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { backend, buildIR, cluster, route } from '../support/ir-builder.js';
import { roundTrip, startGateway, type TestGateway } from '../support/gateway-server.js';
import { startRawUpstream, type RawUpstream } from '../support/raw-upstream.js';
import { sendRaw } from '../support/raw-h1-sender.js';

interface Row {
  readonly name: string;
  readonly raw: string;
  readonly expect: { readonly status: number; readonly close: boolean; readonly upstreamRequests: number };
}

const rows = parse(readFileSync(new URL('../../../test/dataplane/corpus/smuggling.yaml', import.meta.url), 'utf8')) as Row[];
const VALID = 'GET /valid HTTP/1.1\r\nHost: a\r\n\r\n';
/** Sent after a row the gateway keeps the connection open for: its answer comes last, then the close. */
const CLOSER = 'GET /closer HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
/** A path the route forwards, for the round trip that shows what the upstream was sent. */
const BARRIER = '/round-trip';
const ours = (line: string): boolean => line.startsWith(`GET ${BARRIER} `) || line.startsWith('GET /closer ');

describe('HTTP/1.1 smuggling corpus (HARDENING case 31)', () => {
  let up: RawUpstream;
  let gw: TestGateway;
  before(async () => {
    up = await startRawUpstream();
    gw = await startGateway(buildIR({ clusters: [cluster('u', up.port)], routes: [route('default/r', { prefix: '/' }, [backend('u', { rewrite: { prefix: null } })])] }));
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  it('never runs with the insecure HTTP parser', () => {
    assert.ok(!process.execArgv.some((a) => a.includes('insecure-http-parser')));
    assert.ok(!(process.env.NODE_OPTIONS ?? '').includes('insecure-http-parser'));
  });

  for (const row of rows) {
    it(`${row.name}`, async () => {
      const before = up.requests.length;
      // A row answered on a kept connection is followed by a request that closes it; the answers
      // are then exactly the row's and the closer's (nothing smuggled in between).
      const x = await sendRaw(gw.port, row.expect.close ? row.raw : row.raw + CLOSER);
      assert.ok(x.closed, 'connection must close');
      assert.equal(x.statuses[0], row.expect.status, x.text.slice(0, 200));
      if (!row.expect.close) assert.deepEqual(x.statuses, [row.expect.status, 200], x.text.slice(0, 300));
      await roundTrip(gw.port, BARRIER);
      const seen = up.requests.slice(before).filter((r) => !ours(r.requestLine));
      assert.equal(seen.length, row.expect.upstreamRequests);
      assert.deepEqual(up.parseErrors, [], 'the upstream only ever receives well-framed requests');
      for (const r of seen) {
        assert.equal(r.headers.get('transfer-encoding')?.length ?? 0, r.headers.has('content-length') ? 0 : 1);
        assert.equal(r.body.toString(), 'hello');
      }
    });

    if (row.expect.close) {
      it(`${row.name} — pipelined behind a valid request`, async () => {
        const before = up.requests.length;
        const x = await sendRaw(gw.port, VALID + row.raw);
        assert.ok(x.closed, 'connection must close');
        assert.equal(x.statuses.at(-1), row.expect.status, x.text.slice(0, 300));
        await roundTrip(gw.port, BARRIER);
        const seen = up.requests.slice(before).filter((r) => !ours(r.requestLine));
        assert.ok(seen.length <= 1, `upstream saw ${seen.length} requests`);
        for (const r of seen) assert.equal(r.requestLine, 'GET /valid HTTP/1.1');
        assert.deepEqual(up.parseErrors, []);
      });
    }
  }
});
