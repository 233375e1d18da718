// `headers: {":authority": ...}` and `regex_headers` on `:authority`, as older Emissary configuration
// writes a host match, served through a real listener: the request's host (the Host header in
// HTTP/1.1, :authority in HTTP/2) decides, as in Emissary and Envoy. `explain` and offline route tests
// read the same route index, so they give the same answers.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import { Gateway } from '../../src/serve/gateway.js';
import { Explainer } from '../../src/review/explain-engine.js';
import { parseRequestLine } from '../../src/review/request-spec.js';
import { parseRouteTests, runOffline } from '../../src/review/route-tests.js';
import { compileYaml } from '../support/compile-yaml.js';
import { startEcho, type EchoUpstream, type Echoed } from '../support/echo-upstream.js';
import { json, request } from '../support/http-client.js';
import { freePort } from '../support/free-port.js';
import { cleartextHostYaml, listenerYaml } from '../support/policy-yaml.js';

function mapping(name: string, spec: string): string {
  return `---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: ${name}, namespace: default }
spec:
${spec.trim().split('\n').map((l) => '  ' + l).join('\n')}
`;
}

describe(':authority header matches through the request path', () => {
  let a: EchoUpstream;
  let b: EchoUpstream;
  let gateway: Gateway;
  let port = 0;
  let explainer: Explainer;
  let session: http2.ClientHttp2Session;

  before(async () => {
    a = await startEcho('a');
    b = await startEcho('b');
    port = await freePort();
    const svcA = `127.0.0.1:${a.port}`;
    const svcB = `127.0.0.1:${b.port}`;
    const yaml = [
      listenerYaml(port),
      '---\n' + cleartextHostYaml(),
      // No hostname: the exact :authority is the Mapping's host, as Emissary reads it.
      mapping('by-authority', `prefix: /x/\nheaders: { ":authority": foo.example.com }\nservice: ${svcB}`),
      mapping('x-fallback', `hostname: "*"\nprefix: /x/\nservice: ${svcA}`),
      mapping('only-foo', `prefix: /only/\nheaders: { ":authority": foo.example.com }\nservice: ${svcB}`),
      mapping('by-regex', `hostname: "*"\nprefix: /r/\nregex_headers: { ":authority": "api[0-9]+\\\\.example\\\\.com" }\nservice: ${svcB}`),
      mapping('r-fallback', `hostname: "*"\nprefix: /r/\nservice: ${svcA}`),
    ].join('');
    const { ir } = compileYaml(yaml);
    explainer = new Explainer(ir);
    gateway = new Gateway({ buildRuntime, exposeGeneration: false, drainTimeoutMs: 1000 });
    const applied = await gateway.apply(ir, {}, { source: 'test' });
    assert.equal(applied.ok, true, JSON.stringify(applied));
    session = http2.connect(`http://127.0.0.1:${port}`);
  });
  after(async () => {
    session.destroy();
    gateway.forceClose();
    await Promise.all([a.close(), b.close()]);
  });

  const h1 = async (path: string, host: string): Promise<string> => json<Echoed>(await request(port, { path, headers: { host } })).name;
  const h2 = (path: string, authority: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = session.request({ ':path': path, ':authority': authority });
      let body = '';
      s.setEncoding('utf8');
      s.on('data', (c: string) => (body += c));
      s.on('end', () => resolve((JSON.parse(body) as Echoed).name));
      s.on('error', reject);
      s.end();
    });

  it('HTTP/1.1: the Host header is the authority an exact match compares, in any case and with the listener\'s port', async () => {
    assert.equal(await h1('/x/1', 'foo.example.com'), 'b');
    assert.equal(await h1('/x/1', `FOO.Example.com:${port}`), 'b');
    assert.equal(await h1('/x/1', 'other.example.com'), 'a');
    assert.equal(await h1('/x/1', 'foo.example.com.evil'), 'a');
    assert.equal((await request(port, { path: '/only/1', headers: { host: 'other.example.com' } })).status, 404);
  });

  it('HTTP/2: :authority is the authority', async () => {
    assert.equal(await h2('/x/1', 'foo.example.com'), 'b');
    assert.equal(await h2('/x/1', `foo.example.com:${port}`), 'b');
    assert.equal(await h2('/x/1', 'other.example.com'), 'a');
  });

  it('regex_headers on :authority match the whole host, in HTTP/1.1 and HTTP/2', async () => {
    assert.equal(await h1('/r/1', 'api7.example.com'), 'b');
    assert.equal(await h1('/r/1', 'api.example.com'), 'a');
    assert.equal(await h1('/r/1', 'xapi7.example.com'), 'a');
    assert.equal(await h2('/r/1', 'api42.example.com'), 'b');
    assert.equal(await h2('/r/1', 'www.example.com'), 'a');
  });

  it('explain and offline route tests give the gateway\'s answers', () => {
    const routeOf = (line: string): string | undefined => explainer.explain(parseRequestLine(line), { port }).route?.id;
    assert.equal(routeOf(`GET http://foo.example.com:${port}/x/1`), 'default/by-authority');
    assert.equal(routeOf(`GET http://other.example.com:${port}/x/1`), 'default/x-fallback');
    assert.equal(routeOf(`GET http://api7.example.com:${port}/r/1`), 'default/by-regex');
    const miss = explainer.explain(parseRequestLine(`GET http://Other.example.com:${port}/only/1`), { port });
    assert.equal(miss.status, 404);
    const near = miss.candidates.find((c) => c.route === 'default/only-foo');
    assert.match(near?.reason ?? '', /header :authority must be = foo\.example\.com \(request has 'other\.example\.com'\)/);
    const { tests, problems } = parseRouteTests('authority.test.yaml', `apiVersion: review.portico.dev/v1alpha1
kind: RouteTests
tests:
  - name: foo goes to the :authority Mapping
    request: { url: "http://foo.example.com:${port}/x/1" }
    expect: { route: default/by-authority }
  - name: any other host falls back
    request: { url: "http://bar.example.com:${port}/x/1" }
    expect: { route: default/x-fallback }
`);
    assert.deepEqual(problems, []);
    for (const t of tests) assert.deepEqual(runOffline(explainer, t).mismatches, [], t.name);
  });
});
