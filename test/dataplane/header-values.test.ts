// Envoy's dynamic values in add_request_headers / add_response_headers (%PROTOCOL%,
// %DOWNSTREAM_REMOTE_ADDRESS%, %REQ(x)%, %START_TIME%, ...), filled in per request with Envoy's output
// formats: Mappings compiled from YAML, through a real gateway to an echo upstream, over cleartext
// HTTP/1.1 and HTTP/1.0, behind trusted X-Forwarded-For hops, and over TLS (HTTP/1.1 and HTTP/2) on
// the serving Gateway with its fallback certificate.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import http2 from 'node:http2';
import net from 'node:net';
import { hostname } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import { compileRouteAction, type CompiledBackend } from '../../src/dataplane/route-action.js';
import { compileValue, fillValue, formatTime, type FilledValue, type ValueScope } from '../../src/dataplane/header-values.js';
import { parseTimeFormat, splitHeaderValue } from '../../src/api/header-operators.js';
import { scanRequestHeaders } from '../../src/dataplane/header-policy.js';
import { Gateway } from '../../src/serve/gateway.js';
import { compileYaml } from '../support/compile-yaml.js';
import { echoedHeader, startEcho, type Echoed, type EchoUpstream } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { json, request } from '../support/http-client.js';
import { freePort } from '../support/free-port.js';
import { cleartextHostYaml, listenerYaml } from '../support/policy-yaml.js';
import { nextEvent } from '../support/wait-until.js';

const REQUEST_RULES = `  add_request_headers:
    x-remote: "%DOWNSTREAM_REMOTE_ADDRESS%"
    x-remote-ip: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"
    x-remote-port: "%DOWNSTREAM_REMOTE_PORT%"
    x-direct: "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%"
    x-direct-ip: "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%"
    x-direct-port: "%DOWNSTREAM_DIRECT_REMOTE_PORT%"
    x-local: "%DOWNSTREAM_LOCAL_ADDRESS%"
    x-local-ip: "%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%"
    x-local-port: "%DOWNSTREAM_LOCAL_PORT%"
    x-proto: "%PROTOCOL%"
    x-host: "%HOSTNAME%"
    x-user-copy: "user=%REQ(x-user)%"
    x-user-or-login: "%REQ(x-nobody?x-user)%"
    x-user-short: "%REQ(X-User):5%"
    x-request-line: "%REQ(:method)% %REQ(:scheme)%://%REQ(:authority)%%REQ(:path)%"
    x-forwarded-copy: "%REQ(x-forwarded-for)%"
    x-start: "%START_TIME%"
    x-start-s: "%START_TIME(%s)%"
    x-start-fmt: "%START_TIME(%Y/%m/%d %H:%M:%S.%3f %Z)%"
    x-percent: "100%% of %PROTOCOL%"
    x-sni: "%REQUESTED_SERVER_NAME%"
    x-tls: "%DOWNSTREAM_TLS_VERSION%"
    x-upstream: "%UPSTREAM_REMOTE_ADDRESS%"
    x-partly: "%RESPONSE_FLAGS% %PROTOCOL%"
    x-identity:
      value: "%REQ(x-absent)%"
      append: false
    x-appended: "%REQ(x-user)%"
`;

const RESPONSE_RULES = `  add_response_headers:
    x-resp-proto: "%PROTOCOL%"
    x-resp-ip: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"
    x-resp-upstream: "%UPSTREAM_REMOTE_ADDRESS%"
    x-resp-upstream-port: "%UPSTREAM_REMOTE_PORT%"
    x-resp-from-upstream: "%RESP(x-upstream-name)% %RESP(:status)%"
    x-resp-request: "%REQ(x-user)% %REQ(:path)%"
    x-resp-removed:
      value: "%RESP(x-absent)%"
      append: false
`;

function dynamicMapping(port: number, extra = ''): string {
  return `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: dynamic }
spec:
  hostname: "*"
  prefix: /dyn/
  service: 127.0.0.1:${port}
${REQUEST_RULES}${RESPONSE_RULES}${extra}`;
}

/** The request's headers as the upstream received them, lower-case names, several values joined. */
function sent(e: Echoed): Map<string, string> {
  const m = new Map<string, string>();
  for (const [k, v] of e.headers) m.set(k.toLowerCase(), m.has(k.toLowerCase()) ? `${m.get(k.toLowerCase())}, ${v}` : v);
  return m;
}

describe('Envoy dynamic values filled in per request (cleartext HTTP/1.x)', () => {
  let echo: EchoUpstream;
  let gw: TestGateway;
  let trusting: TestGateway;
  before(async () => {
    echo = await startEcho('echo', () => ({ headers: { 'x-upstream-name': 'echo-1', 'x-resp-removed': 'from the upstream' } }));
    gw = await startGateway(compileYaml(`${cleartextHostYaml()}---\n${dynamicMapping(echo.port)}`).ir);
    trusting = await startGateway(compileYaml(`${cleartextHostYaml()}---\n${dynamicMapping(echo.port)}---
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: { name: ambassador }
spec: { config: { xff_num_trusted_hops: 1 } }
`).ir);
  });
  after(async () => {
    await gw.close();
    await trusting.close();
    await echo.close();
  });

  it('every operator in add_request_headers, with Envoy\'s formats, and the response headers the client gets', async () => {
    let clientPort = 0;
    const before = Date.now();
    const r = await request(gw.port, {
      path: '/dyn/a?q=1',
      headers: { host: 'example.com', 'x-user': 'alice-in-wonderland', 'x-identity': 'spoofed', 'x-appended': 'client' },
      onResponse: (res) => (clientPort = res.socket.localPort ?? 0),
    });
    const afterwards = Date.now();
    assert.equal(r.status, 200);
    const h = sent(json<Echoed>(r));
    assert.equal(h.get('x-remote'), `127.0.0.1:${clientPort}`);
    assert.equal(h.get('x-remote-ip'), '127.0.0.1');
    assert.equal(h.get('x-remote-port'), String(clientPort));
    assert.equal(h.get('x-direct'), `127.0.0.1:${clientPort}`);
    assert.equal(h.get('x-direct-ip'), '127.0.0.1');
    assert.equal(h.get('x-direct-port'), String(clientPort));
    assert.equal(h.get('x-local'), `127.0.0.1:${gw.port}`);
    assert.equal(h.get('x-local-ip'), '127.0.0.1');
    assert.equal(h.get('x-local-port'), String(gw.port));
    assert.equal(h.get('x-proto'), 'HTTP/1.1');
    assert.equal(h.get('x-host'), hostname());
    assert.equal(h.get('x-user-copy'), 'user=alice-in-wonderland');
    assert.equal(h.get('x-user-or-login'), 'alice-in-wonderland', 'the alternative when the first is absent');
    assert.equal(h.get('x-user-short'), 'alice', ':5 keeps five bytes; names are case-insensitive');
    assert.equal(h.get('x-request-line'), 'GET http://example.com/dyn/a?q=1', 'pseudo-headers: the request as routed, before the rewrite');
    assert.equal(h.get('x-forwarded-copy'), '127.0.0.1', 'REQ() reads the request as the gateway forwards it');
    assert.match(h.get('x-start')!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const start = Date.parse(h.get('x-start')!);
    assert.ok(start >= before - 1 && start <= afterwards, `${h.get('x-start')} within the request`);
    const seconds = Number(h.get('x-start-s'));
    assert.ok(seconds >= Math.floor(before / 1000) && seconds <= Math.floor(afterwards / 1000), h.get('x-start-s'));
    assert.match(h.get('x-start-fmt')!, /^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}\.\d{3} UTC$/);
    const formatted = Date.parse(h.get('x-start-fmt')!.replace(/\//g, '-').replace(' ', 'T').replace(' UTC', 'Z'));
    assert.ok(Math.abs(formatted - start) <= 2, `${h.get('x-start-fmt')} is ${h.get('x-start')}`);
    assert.equal(h.get('x-percent'), '100% of HTTP/1.1', '%% is one percent sign');
    assert.equal(h.has('x-sni'), false, 'no SNI on cleartext: an empty value adds nothing');
    assert.equal(h.has('x-tls'), false);
    assert.equal(h.has('x-upstream'), false, 'no upstream yet when request headers are made, as in Envoy');
    assert.equal(h.get('x-partly'), '%RESPONSE_FLAGS% HTTP/1.1', 'an operator Portico does not fill in stays as written');
    assert.equal(h.has('x-identity'), false, "append: false removes the client's value even when the rule adds nothing");
    assert.equal(h.get('x-appended'), 'client, alice-in-wonderland', 'append: true keeps the client\'s value');
    // and the route's response rules, as the client received them
    assert.equal(r.headers['x-resp-proto'], 'HTTP/1.1');
    assert.equal(r.headers['x-resp-ip'], '127.0.0.1');
    assert.equal(r.headers['x-resp-upstream'], `127.0.0.1:${echo.port}`);
    assert.equal(r.headers['x-resp-upstream-port'], String(echo.port));
    assert.equal(r.headers['x-resp-from-upstream'], 'echo-1 200');
    assert.equal(r.headers['x-resp-request'], 'alice-in-wonderland /a?q=1', 'in response rules REQ() reads the request as sent upstream (rewritten)');
    assert.equal(r.headers['x-resp-removed'], undefined, "append: false removes the upstream's value even when the rule adds nothing");
  });

  it('HTTP/1.0 is %PROTOCOL% HTTP/1.0', async () => {
    const socket = net.connect(gw.port, '127.0.0.1');
    await nextEvent(socket, 'connect', 'the connection');
    let text = '';
    socket.setEncoding('latin1').on('data', (c: string) => (text += c));
    socket.write('GET /dyn/old HTTP/1.0\r\nHost: example.com\r\n\r\n');
    await nextEvent(socket, 'close', 'the end of the HTTP/1.0 response');
    const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Echoed;
    assert.equal(echoedHeader(body, 'x-proto'), 'HTTP/1.0');
    assert.match(text, /\r\nx-resp-proto: HTTP\/1\.0\r\n/i);
  });

  it('behind a trusted hop the remote address is the client X-Forwarded-For names (Envoy prints its port as 0); the direct one is the connection', async () => {
    const cases: [string, string, string][] = [
      ['203.0.113.7', '203.0.113.7:0', '203.0.113.7'],
      ['198.51.100.1, 2001:db8::7', '[2001:db8::7]:0', '2001:db8::7'],
    ];
    for (const [xff, remote, ip] of cases) {
      let clientPort = 0;
      const r = await request(trusting.port, { path: '/dyn/x', headers: { host: 'example.com', 'x-forwarded-for': xff }, onResponse: (res) => (clientPort = res.socket.localPort ?? 0) });
      const h = sent(json<Echoed>(r));
      assert.equal(h.get('x-remote'), remote, xff);
      assert.equal(h.get('x-remote-ip'), ip);
      assert.equal(h.get('x-remote-port'), '0');
      assert.equal(h.get('x-direct'), `127.0.0.1:${clientPort}`);
      assert.equal(r.headers['x-resp-ip'], ip);
    }
    // an entry that is no address is no address to Envoy either: the connection's client stands
    let clientPort = 0;
    const r = await request(trusting.port, { path: '/dyn/x', headers: { host: 'example.com', 'x-forwarded-for': 'unknown' }, onResponse: (res) => (clientPort = res.socket.localPort ?? 0) });
    assert.equal(sent(json<Echoed>(r)).get('x-remote'), `127.0.0.1:${clientPort}`);
    // without the trusted hop, the client's X-Forwarded-For changes nothing
    const untrusted = await request(gw.port, { path: '/dyn/x', headers: { host: 'example.com', 'x-forwarded-for': '203.0.113.7' } });
    assert.equal(sent(json<Echoed>(untrusted)).get('x-remote-ip'), '127.0.0.1');
    assert.equal(sent(json<Echoed>(untrusted)).get('x-forwarded-copy'), '203.0.113.7, 127.0.0.1');
  });
});

describe('over TLS on the serving Gateway (fallback certificate): SNI, TLS version, HTTP/2', () => {
  let echo: EchoUpstream;
  let gateway: Gateway | undefined;
  let port = 0;
  before(async () => {
    echo = await startEcho('echo', () => ({ headers: { 'x-upstream-name': 'echo-1' } }));
    port = await freePort();
    const r = compileYaml(`${listenerYaml(port, 'https', 'HTTPS')}---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: secure }
spec:
  hostname: "*"
  prefix: /tls/
  service: 127.0.0.1:${echo.port}
  add_request_headers:
    x-sni: "%REQUESTED_SERVER_NAME%"
    x-tls: "%DOWNSTREAM_TLS_VERSION%"
    x-cipher: "%DOWNSTREAM_TLS_CIPHER%"
    x-proto: "%PROTOCOL%"
    x-remote: "%DOWNSTREAM_REMOTE_ADDRESS%"
    x-local-port: "%DOWNSTREAM_LOCAL_PORT%"
    x-user-copy: "%REQ(x-user)%"
  add_response_headers:
    x-resp-tls: "%DOWNSTREAM_TLS_VERSION% %REQUESTED_SERVER_NAME%"
    x-resp-upstream: "%UPSTREAM_REMOTE_ADDRESS% %RESP(x-upstream-name)%"
`);
    gateway = new Gateway({ buildRuntime, exposeGeneration: false, drainTimeoutMs: 1000 });
    const applied = await gateway.apply(r.ir, r.secrets, { source: 'test' });
    assert.equal(applied.ok, true, JSON.stringify(applied));
  });
  after(async () => {
    gateway?.forceClose();
    await echo.close();
  });

  const get = (tls: { minVersion?: 'TLSv1.2' | 'TLSv1.3'; maxVersion?: 'TLSv1.2' | 'TLSv1.3' }): Promise<{ echoed: Echoed; headers: Record<string, unknown>; clientPort: number; cipher: string }> =>
    new Promise((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1', port, path: '/tls/x', servername: 'shop.example.com', headers: { host: 'shop.example.com', 'x-user': 'bob' },
        rejectUnauthorized: false, agent: false, ...tls,
      }, (res) => {
        const socket = res.socket as TLSSocket;
        const clientPort = socket.localPort ?? 0;
        const cipher = socket.getCipher().name;
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ echoed: JSON.parse(body) as Echoed, headers: res.headers, clientPort, cipher }));
      });
      req.on('error', reject);
      req.end();
    });

  it('TLS 1.2 and TLS 1.3 over HTTP/1.1: the SNI, the version and cipher as negotiated, the client', async () => {
    for (const [version, opts] of [['TLSv1.2', { maxVersion: 'TLSv1.2' }], ['TLSv1.3', { minVersion: 'TLSv1.3' }]] as const) {
      const r = await get(opts);
      const h = sent(r.echoed);
      assert.equal(h.get('x-sni'), 'shop.example.com');
      assert.equal(h.get('x-tls'), version);
      assert.equal(h.get('x-cipher'), r.cipher);
      assert.equal(h.get('x-proto'), 'HTTP/1.1');
      assert.equal(h.get('x-remote'), `127.0.0.1:${r.clientPort}`);
      assert.equal(h.get('x-local-port'), String(port));
      assert.equal(h.get('x-user-copy'), 'bob');
      assert.equal(r.headers['x-resp-tls'], `${version} shop.example.com`);
      assert.equal(r.headers['x-resp-upstream'], `127.0.0.1:${echo.port} echo-1`);
    }
  });

  it('HTTP/2 over TLS (ALPN h2) is %PROTOCOL% HTTP/2, with the same connection values', async () => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { servername: 'shop.example.com', rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    session.on('error', () => {});
    try {
      const { headers, body } = await new Promise<{ headers: http2.IncomingHttpHeaders; body: string }>((resolve, reject) => {
        const stream = session.request({ ':path': '/tls/h2', ':authority': 'shop.example.com', 'x-user': 'carol' });
        let got: http2.IncomingHttpHeaders = {};
        let text = '';
        stream.on('response', (h) => (got = h));
        stream.setEncoding('utf8').on('data', (c: string) => (text += c));
        stream.on('end', () => resolve({ headers: got, body: text }));
        stream.on('error', reject);
      });
      const h = sent(JSON.parse(body) as Echoed);
      const socket = session.socket as TLSSocket;
      assert.equal(h.get('x-proto'), 'HTTP/2');
      assert.equal(h.get('x-sni'), 'shop.example.com');
      assert.equal(h.get('x-tls'), socket.getProtocol());
      assert.equal(h.get('x-remote'), `127.0.0.1:${socket.localPort}`);
      assert.equal(h.get('x-user-copy'), 'carol');
      assert.equal(headers['x-resp-tls'], `${socket.getProtocol()} shop.example.com`);
      assert.equal(headers['x-resp-upstream'], `127.0.0.1:${echo.port} echo-1`);
    } finally {
      session.close();
    }
  });
});

describe('values are compiled once, at runtime build', () => {
  const build = (yaml: string): CompiledBackend[] => {
    const { ir } = compileYaml(`${cleartextHostYaml()}---\n${yaml}`);
    const vh = ir.listeners[0]!.virtualHosts[0]!;
    return vh.routes.map((route) => compileRouteAction(ir, route, vh, new Map())).map((a) => a.backends[0]!);
  };
  const mapping = (name: string, rules: string): string => `---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: ${name} }
spec:
  hostname: "*"
  prefix: /${name}/
  service: ${name}
${rules}`;

  it('a route whose rules have no dynamic value has nothing to fill in per request; %% is made one % once', () => {
    const [plain] = build(mapping('plain', '  add_request_headers: { x-a: "one", x-share: "100%" }\n  add_response_headers: { x-b: "two" }\n'));
    assert.equal(plain!.requestAddValues, undefined);
    assert.equal(plain!.responseAddValues, undefined);
    assert.deepEqual(plain!.requestAdd.map((a) => a.value), ['one', '100%']);
    const [escaped] = build(mapping('escaped', '  add_request_headers: { x-share: "100%%" }\n'));
    assert.equal(escaped!.requestAddValues, undefined, 'constant: nothing per request');
    assert.deepEqual(escaped!.requestAdd.map((a) => a.value), ['100%']);
  });

  it("the Module's defaults are compiled once for every route that takes them", () => {
    const backends = build(`---
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: { name: ambassador }
spec: { config: { defaults: { httpmapping: { add_request_headers: { x-test-proto: "%PROTOCOL%", x-static: fixed } } } } }
${mapping('one', '')}${mapping('two', '')}`);
    assert.equal(backends.length, 2);
    const [a, b] = backends.map((x) => x.requestAddValues!);
    const i = backends[0]!.requestAdd.findIndex((r) => r.name === 'x-test-proto');
    assert.ok(a![i] !== undefined && a![i] === b![i], 'one compiled value');
    assert.equal(a![1 - i], undefined, 'the static rule stays as written');
  });

  it('a filled-in value that could not go on the wire (CR, LF, NUL) adds nothing', () => {
    const v = compileValue('id=%REQ(x-evil)%') as FilledValue;
    const raw = ['x-evil', 'a\r\nx-injected: 1'];
    const scope: ValueScope = {
      facts: { req: { socket: {} } as never, conn: { listener: 'l', port: 1, tls: false }, start: 0, method: 'GET', path: '/', query: '', authority: 'a', clientAddress: '', clientViaXff: false },
      scan: scanRequestHeaders([], 1, compileYaml(cleartextHostYaml()).ir.global),
      request: ['host', '', ...raw], path: '/', authority: 'a', response: undefined, status: 0, upstream: undefined,
    };
    assert.equal(fillValue(v, scope), '');
    assert.equal(fillValue(compileValue('id=%REQ(x-ok)%') as FilledValue, { ...scope, request: ['host', '', 'x-ok', 'fine'] }), 'id=fine');
  });
});

describe('the value syntax and START_TIME formats', () => {
  it('splits operators from text as Envoy does', () => {
    assert.deepEqual(splitHeaderValue('a%%b %PROTOCOL%:%REQ(x-a?x-b):4% 10%20% %START_TIME(%s)%').map((p) => (typeof p === 'string' ? p : `{${p.name}|${p.arg ?? ''}|${p.maxLength ?? ''}}`)), [
      'a%b ', '{PROTOCOL||}', ':', '{REQ|x-a?x-b|4}', ' 10%20% ', '{START_TIME|%s|}',
    ]);
  });
  it('formats in UTC with Envoy\'s specifiers', () => {
    const ms = Date.UTC(2024, 1, 9, 7, 5, 3, 42) + 0.5;
    const f = (format: string): string => formatTime(parseTimeFormat(format)!, ms);
    assert.equal(f('%Y-%m-%dT%H:%M:%E3SZ'), '2024-02-09T07:05:03.042Z');
    assert.equal(f('%s.%3f'), `${Math.floor(ms / 1000)}.042`);
    assert.equal(f('%s.%6f'), `${Math.floor(ms / 1000)}.042500`);
    assert.equal(f('%a %b %e %T %Y %Z %z'), 'Fri Feb  9 07:05:03 2024 UTC +0000');
    assert.equal(f('%j %I%p %D %F %R 100%%'), '040 07AM 02/09/24 2024-02-09 07:05 100%');
    assert.equal(parseTimeFormat('%Q'), undefined, 'a specifier Portico does not format');
  });
});
