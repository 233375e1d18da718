// Module buffer.max_request_bytes end to end: bodies up to the limit reach the upstream whole (with a
// length or chunked), a longer one gets 413 in the local-reply shape before the upstream sees it, a
// declared length over the limit is refused before a byte is read, and the connection closes.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { request, json } from '../support/http-client.js';
import { RawConnection, field } from '../support/raw-http.js';
import { compileYaml } from '../support/compile-yaml.js';
import { cleartextGatewayYaml, mappingYaml } from '../support/policy-yaml.js';
import { Explainer } from '../../src/review/explain-engine.js';
import { parseRequestLine } from '../../src/review/request-spec.js';

const LIMIT = 1000;
const yaml = (echoPort: number): string =>
  `${cleartextGatewayYaml(8080)}---\n${mappingYaml('echo', '/', echoPort)}---\napiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata:\n  name: ambassador\nspec:\n  config:\n    buffer:\n      max_request_bytes: ${LIMIT}\n`;

describe('buffer.max_request_bytes', () => {
  let echo: EchoUpstream;
  let gw: TestGateway;
  before(async () => {
    echo = await startEcho('echo');
    gw = await startGateway(compileYaml(yaml(echo.port)).ir);
  });
  after(async () => {
    await gw.close();
    await echo.close();
  });

  it('a body at the limit reaches the upstream whole, with its length', async () => {
    const body = 'x'.repeat(LIMIT);
    const r = await request(gw.port, { method: 'POST', path: '/up', headers: { host: 'example.com', 'content-type': 'text/plain' }, body });
    assert.equal(r.status, 200);
    const e = json<{ body: string; headers: [string, string][] }>(r);
    assert.equal(e.body, body);
    assert.deepEqual(e.headers.filter(([n]) => n.toLowerCase() === 'content-length').map(([, v]) => v), [String(LIMIT)]);
    assert.deepEqual(gw.done.at(-1)!.policies, ['request_buffer Module default/ambassador', 'allow']);
  });

  it('a chunked body under the limit reaches the upstream whole', async () => {
    const c = await RawConnection.open(gw.port);
    c.write('POST /chunked HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
    const r = await c.readResponse();
    c.destroy();
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body.toString()) as { body: string }).body, 'hello world');
  });

  it('a declared length over the limit gets 413 at once, before a byte of body; the connection closes', async () => {
    const seen = echo.received.length;
    const c = await RawConnection.open(gw.port);
    c.write(`POST /big HTTP/1.1\r\nHost: example.com\r\nContent-Length: ${LIMIT + 1}\r\n\r\n`);
    const r = await c.readResponse();
    assert.equal(r.status, 413);
    assert.equal(field(r, 'connection'), 'close');
    const body = JSON.parse(r.body.toString()) as { code: string; status: number };
    assert.deepEqual([body.status, body.code], [413, 'payload_too_large']);
    assert.ok(await c.waitClosed(), 'the unread body is not waited for');
    c.destroy();
    assert.equal(echo.received.length, seen);
    assert.equal(gw.done.at(-1)!.localReply, 'payload_too_large');
  });

  it('a chunked body that passes the limit gets 413 once it does, and never reaches the upstream', async () => {
    const seen = echo.received.length;
    const c = await RawConnection.open(gw.port);
    const chunk = 'y'.repeat(600);
    c.write(`POST /big HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n${(600).toString(16)}\r\n${chunk}\r\n`);
    c.write(`${(600).toString(16)}\r\n${chunk}\r\n`);
    const r = await c.readResponse();
    assert.equal(r.status, 413);
    assert.ok(await c.waitClosed());
    c.destroy();
    assert.equal(echo.received.length, seen);
  });

  it('a request without a body passes at once', async () => {
    assert.equal((await request(gw.port, { path: '/get', headers: { host: 'example.com' } })).status, 200);
  });

  it('explain says 413 for a declared length over the limit', () => {
    const e = new Explainer(compileYaml(yaml(9)).ir);
    const big = e.explain(parseRequestLine('POST http://example.com/x', [['Content-Length', String(LIMIT + 1)]]));
    assert.deepEqual([big.outcome, big.status], ['policy_denied', 413]);
    const small = e.explain(parseRequestLine('POST http://example.com/x', [['Content-Length', '10']]));
    assert.deepEqual([small.outcome, small.policies[0]?.decision], ['forward', 'allow']);
  });
});
