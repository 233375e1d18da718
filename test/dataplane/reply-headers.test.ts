// A Mapping's add_response_headers on the replies the gateway makes for its route, as Envoy applies
// a route's response_headers_to_add to them: the Mapping's redirect (host_redirect), the https
// redirect of an insecure request on its Host, and an upstream failure. Compiled from YAML, served by
// the real runtime and HTTP/1.1 front, over real sockets.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileYaml } from '../support/compile-yaml.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { request, type Reply } from '../support/http-client.js';
import { freePort } from '../support/free-port.js';

describe('a route\'s response header rules on the replies the gateway makes for it', () => {
  let gw: TestGateway;
  let closedPort = 0;

  before(async () => {
    closedPort = await freePort();
    const ir = compileYaml(`apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: http, namespace: default }
spec: { port: 8080, protocol: HTTP, securityModel: XFP, hostBinding: { namespace: { from: ALL } } }
---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: any, namespace: default }
spec: { hostname: "*", requestPolicy: { insecure: { action: Route } } }
---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: secure, namespace: default }
spec: { hostname: secure.example.com, requestPolicy: { insecure: { action: Redirect } } }
---
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: { name: ambassador, namespace: default }
spec:
  config:
    defaults:
      add_response_headers:
        x-edge: portico
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: moved-plain, namespace: default }
spec: { hostname: "*", prefix: /gone/, service: elsewhere.example.com, host_redirect: true }
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: moved, namespace: default }
spec:
  hostname: "*"
  prefix: /old/
  service: new.example.com
  host_redirect: true
  add_response_headers:
    strict-transport-security: max-age=31536000
    x-asked: "%REQ(x-test)%"
    content-length: "0"
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: down, namespace: default }
spec:
  hostname: "*"
  prefix: /down/
  service: 127.0.0.1:${closedPort}
  add_response_headers:
    x-served-by: { value: edge-1 }
    cache-control: { value: "no-cache, private", append: false }
    content-type: text/plain
`).ir;
    gw = await startGateway(ir);
  });

  after(() => gw.close());

  const header = (r: Reply, name: string): string[] => {
    const out: string[] = [];
    for (let i = 0; i < r.rawHeaders.length; i += 2) if (r.rawHeaders[i]!.toLowerCase() === name) out.push(r.rawHeaders[i + 1]!);
    return out;
  };

  it('the Mapping\'s redirect carries its response headers, values filled in per request', async () => {
    const r = await request(gw.port, { path: '/old/page', headers: { host: 'a.example.com', 'x-test': 'hello' } });
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, 'http://new.example.com/old/page');
    assert.deepEqual(header(r, 'strict-transport-security'), ['max-age=31536000']);
    assert.deepEqual(header(r, 'x-asked'), ['hello']);
    assert.equal(header(r, 'content-length').length, 1, 'a rule never reframes the reply');
    assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
  });

  it('an upstream failure\'s 503 carries the route\'s response headers; a rule replaces the gateway\'s own field with append: false', async () => {
    const r = await request(gw.port, { path: '/down/x', headers: { host: 'a.example.com' } });
    assert.equal(r.status, 503);
    assert.deepEqual(header(r, 'x-served-by'), ['edge-1']);
    assert.deepEqual(header(r, 'cache-control'), ['no-cache, private']);
    assert.deepEqual(header(r, 'content-type'), ['application/json'], 'the reply says what its body is');
    assert.equal(JSON.parse(r.body).code, 'upstream_unavailable');
  });

  it('a redirect Mapping without rules of its own takes the Module\'s defaults, as a Mapping does', async () => {
    const r = await request(gw.port, { path: '/gone/x', headers: { host: 'a.example.com' } });
    assert.equal(r.status, 301);
    assert.deepEqual(header(r, 'x-edge'), ['portico']);
  });

  it('the https redirect of an insecure request carries the route\'s response headers, as Emissary\'s redirect variant of the route does', async () => {
    const r = await request(gw.port, { path: '/down/x', headers: { host: 'secure.example.com' } });
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, 'https://secure.example.com/down/x');
    assert.deepEqual(header(r, 'x-served-by'), ['edge-1']);
  });

  it('a reply for no route carries none of them', async () => {
    const r = await request(gw.port, { path: '/nowhere', headers: { host: 'a.example.com' } });
    assert.equal(r.status, 404);
    assert.deepEqual(header(r, 'x-served-by'), []);
    assert.deepEqual(header(r, 'x-edge'), []);
  });
});
