// The PROXY protocol on Listeners (protocol HTTPPROXY / HTTPSPROXY, or PROXY in protocolStack): the
// header's parser on every version and shape, then real listeners compiled from YAML — the client a
// load balancer names is the one the upstream, the access record and the per-client cap see, over
// HTTP/1.1, TLS, HTTP/2 and TCP; a connection without the header is closed before anything reads it.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { Gateway } from '../../src/serve/gateway.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import type { RequestInfo } from '../../src/dataplane/runtime-types.js';
import type { ConnectionRefusal } from '../../src/serve/port-listener.js';
import { ipv6, parseProxyHeader } from '../../src/serve/proxy-protocol.js';
import { listeningLine } from '../../src/serve/listener-lines.js';
import { compileYaml } from '../support/compile-yaml.js';
import { cleartextHostYaml, mappingYaml } from '../support/policy-yaml.js';
import { echoedHeader, startEcho, type Echoed, type EchoUpstream } from '../support/echo-upstream.js';
import { freePort } from '../support/free-port.js';
import { closedByPeer } from '../support/socket-exchange.js';
import { nextEvent } from '../support/wait-until.js';

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** A version 2 header: command (0 LOCAL, 1 PROXY), family/transport byte, address block, TLVs. */
function v2(command: number, famTransport: number, addresses: Buffer, tlvs: Buffer = Buffer.alloc(0), version = 2): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(addresses.length + tlvs.length);
  return Buffer.concat([SIG, Buffer.from([(version << 4) | command, famTransport]), len, addresses, tlvs]);
}

function v4Block(src: string, dst: string, sport: number, dport: number): Buffer {
  const b = Buffer.alloc(12);
  src.split('.').forEach((o, i) => b.writeUInt8(Number(o), i));
  dst.split('.').forEach((o, i) => b.writeUInt8(Number(o), 4 + i));
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return b;
}

/** 16 bytes of an IPv6 address from its eight groups. */
function v6Bytes(groups: number[]): Buffer {
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(g, 2 * i));
  return b;
}

function v6Block(src: number[], dst: number[], sport: number, dport: number): Buffer {
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sport, 0);
  ports.writeUInt16BE(dport, 2);
  return Buffer.concat([v6Bytes(src), v6Bytes(dst), ports]);
}

/** An AWS-style TLV (type 0xEA, a VPC endpoint id) after the addresses: skipped. */
const TLV = Buffer.concat([Buffer.from([0xea, 0x00, 0x09, 0x01]), Buffer.from('vpce-1234')]);

describe('the PROXY protocol header', () => {
  const headers: [string, Buffer, { version: 1 | 2; source?: string; port?: number; family?: string }][] = [
    ['v1 TCP4', Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 51234 443\r\n'), { version: 1, source: '203.0.113.7', port: 51234, family: 'IPv4' }],
    ['v1 TCP6 (lower-cased)', Buffer.from('PROXY TCP6 2001:DB8::7 2001:db8::1 65535 80\r\n'), { version: 1, source: '2001:db8::7', port: 65535, family: 'IPv6' }],
    ['v1 UNKNOWN keeps the connection\'s own address', Buffer.from('PROXY UNKNOWN ffff:f...f:ffff 1 2\r\n'), { version: 1 }],
    ['v1 bare UNKNOWN', Buffer.from('PROXY UNKNOWN\r\n'), { version: 1 }],
    ['v2 PROXY IPv4', v2(1, 0x11, v4Block('198.51.100.9', '10.0.0.1', 40000, 8080)), { version: 2, source: '198.51.100.9', port: 40000, family: 'IPv4' }],
    ['v2 PROXY IPv4 with a TLV', v2(1, 0x11, v4Block('198.51.100.9', '10.0.0.1', 1, 2), TLV), { version: 2, source: '198.51.100.9', port: 1, family: 'IPv4' }],
    ['v2 PROXY IPv6', v2(1, 0x21, v6Block([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7], [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 443, 8443)), { version: 2, source: '2001:db8::7', port: 443, family: 'IPv6' }],
    ['v2 LOCAL (a balancer\'s health check) keeps the connection\'s own address', v2(0, 0x00, Buffer.alloc(0)), { version: 2 }],
    ['v2 LOCAL with an address block still keeps it', v2(0, 0x11, v4Block('1.2.3.4', '5.6.7.8', 1, 2)), { version: 2 }],
    ['v2 UNSPEC', v2(1, 0x00, Buffer.alloc(0)), { version: 2 }],
    ['v2 UNIX', v2(1, 0x31, Buffer.alloc(216)), { version: 2 }],
  ];
  for (const [name, bytes, want] of headers) {
    it(`reads ${name}; every shorter prefix asks for more; what follows is not taken`, () => {
      const r = parseProxyHeader(Buffer.concat([bytes, Buffer.from('GET / HTTP/1.1\r\n')]));
      assert.equal(r.kind, 'header');
      if (r.kind !== 'header') return;
      assert.equal(r.length, bytes.length);
      assert.equal(r.version, want.version);
      assert.equal(r.source?.address, want.source);
      assert.equal(r.source?.port, want.port);
      assert.equal(r.source?.family, want.family);
      for (let n = 0; n < bytes.length; n++) assert.equal(parseProxyHeader(bytes.subarray(0, n)).kind, 'need-more', `${n} bytes`);
    });
  }

  const invalid: [string, Buffer, RegExp][] = [
    ['plain HTTP', Buffer.from('GET / HTTP/1.1\r\n'), /does not start with a PROXY protocol header/],
    ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), /does not start with/],
    ['the HTTP/2 preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), /does not start with/],
    ['v1 with a bad protocol', Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'), /protocol 'UDP4'/],
    ['v1 TCP4 with an IPv6 address', Buffer.from('PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n'), /not IPv4/],
    ['v1 TCP4 with a host name', Buffer.from('PROXY TCP4 example.com 5.6.7.8 1 2\r\n'), /not IPv4/],
    ['v1 with a port past 65535', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'), /port/],
    ['v1 with a leading-zero port', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n'), /port/],
    ['v1 with two spaces', Buffer.from('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'), /one space apart/],
    ['v1 with no CRLF in 107 bytes', Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`), /longer than 107/],
    ['v2 of version 1', v2(1, 0x11, v4Block('1.2.3.4', '5.6.7.8', 1, 2), undefined, 1), /version 1/],
    ['v2 with command 2', v2(2, 0x11, v4Block('1.2.3.4', '5.6.7.8', 1, 2)), /command 2/],
    ['v2 over UDP', v2(1, 0x12, v4Block('1.2.3.4', '5.6.7.8', 1, 2)), /STREAM/],
    ['v2 family 4', v2(1, 0x41, Buffer.alloc(12)), /family 4/],
    ['v2 IPv6 with an IPv4-sized block', v2(1, 0x21, Buffer.alloc(12)), /too short/],
  ];
  for (const [name, bytes, reason] of invalid) {
    it(`refuses ${name}`, () => {
      const r = parseProxyHeader(bytes);
      assert.equal(r.kind, 'invalid');
      if (r.kind === 'invalid') assert.match(r.reason, reason);
    });
  }

  it('writes version 2 IPv6 addresses as RFC 5952 text', () => {
    const cases: [number[], string][] = [
      [[0, 0, 0, 0, 0, 0, 0, 1], '::1'],
      [[0, 0, 0, 0, 0, 0, 0, 0], '::'],
      [[0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], '2001:db8::1:0:0:1'],
      [[0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], '2001:db8:0:1:1:1:1:1'],
      [[0x2001, 0xdb8, 0, 0, 0, 1, 0, 0], '2001:db8::1:0:0'],
      [[0xfe80, 0, 0, 0, 0xabcd, 0, 0, 0], 'fe80::abcd:0:0:0'],
      [[0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201], '::ffff:192.0.2.1'],
    ];
    for (const [groups, text] of cases) assert.equal(ipv6(v6Bytes(groups), 0), text);
  });
});

interface Served {
  readonly gateway: Gateway;
  readonly port: number;
  readonly done: RequestInfo[];
  readonly events: EventEmitter;
  readonly refused: ConnectionRefusal[];
}

/** A socket to `port` that has sent `header` and nothing else yet. */
async function proxied(port: number, header: Buffer): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await nextEvent(socket, 'connect', 'the connection to the gateway');
  socket.write(header);
  return socket;
}

/** One HTTP/1.1 GET over a connection that starts with `header`; the echoed request. */
function getVia(port: number, header: Buffer, path = '/echo/x'): Promise<{ status: number; echoed: Echoed }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      path, headers: { host: 'example.com' },
      createConnection: () => {
        const s = net.connect(port, '127.0.0.1');
        s.write(header);
        return s;
      },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, echoed: JSON.parse(body) as Echoed }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('PROXY listeners in the serving path', () => {
  let echo: EchoUpstream;
  const started: Served[] = [];
  const serve = async (yaml: string): Promise<Served> => {
    const done: RequestInfo[] = [];
    const events = new EventEmitter();
    const refused: ConnectionRefusal[] = [];
    const gateway = new Gateway({
      buildRuntime, drainTimeoutMs: 1000,
      onRequestDone: (i) => {
        done.push(i);
        events.emit('done', i);
      },
      onConnectionRefused: (_l, reason) => {
        refused.push(reason);
        events.emit('refused', reason);
      },
    });
    const r = compileYaml(yaml);
    const applied = await gateway.apply(r.ir, r.secrets, { source: 'test' });
    assert.equal(applied.ok, true, JSON.stringify(applied));
    const served = { gateway, port: r.ir.listeners[0]!.port, done, events, refused };
    started.push(served);
    return served;
  };
  const listener = (port: number, protocol: string, extra = ''): string => `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: edge }
spec:
  port: ${port}
  ${protocol}
  securityModel: XFP
  hostBinding: { namespace: { from: ALL } }
${extra}---
`;
  const cleartext = async (module = ''): Promise<Served> =>
    serve(`${listener(await freePort(), 'protocol: HTTPPROXY')}${cleartextHostYaml()}---\n${mappingYaml('echo', '/echo/', echo.port)}${module}`);

  before(async () => {
    echo = await startEcho('echo');
  });
  after(async () => {
    for (const s of started) s.gateway.forceClose();
    await echo.close();
  });

  it('HTTPPROXY: the upstream, the request record and the listening line name the client the header names (v1 and v2)', async () => {
    const gw = await cleartext();
    const one = await getVia(gw.port, Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 51234 8080\r\n'));
    assert.equal(one.status, 200);
    assert.equal(echoedHeader(one.echoed, 'x-forwarded-for'), '203.0.113.7');
    assert.equal(gw.done.at(-1)!.clientAddress, '203.0.113.7');
    const two = await getVia(gw.port, v2(1, 0x21, v6Block([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x17], [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 4000, 8080), TLV));
    assert.equal(two.status, 200);
    assert.equal(echoedHeader(two.echoed, 'x-forwarded-for'), '2001:db8::17');
    // A balancer's own check (LOCAL) is served as the connection it is.
    const local = await getVia(gw.port, v2(0, 0x00, Buffer.alloc(0)));
    assert.equal(local.status, 200);
    assert.equal(echoedHeader(local.echoed, 'x-forwarded-for'), '127.0.0.1');
    const ir = compileYaml(`${listener(8080, 'protocol: HTTPPROXY')}${cleartextHostYaml()}`).ir;
    assert.equal(listeningLine(ir.listeners[0]!), 'listening on http://0.0.0.0:8080 (Listener default/edge, PROXY protocol)');
  });

  it("Envoy's header values: the remote address is the header's client, the direct one the balancer, the local one the header's destination", async () => {
    const rules = `  add_request_headers:
    x-remote: "%DOWNSTREAM_REMOTE_ADDRESS%"
    x-direct: "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%"
    x-local: "%DOWNSTREAM_LOCAL_ADDRESS%"
`;
    const port = await freePort();
    const gw = await serve(`${listener(port, 'protocol: HTTPPROXY')}${cleartextHostYaml()}---\n${mappingYaml('echo', '/echo/', echo.port, rules)}`);
    const get = async (header: Buffer): Promise<{ echoed: Echoed; balancerPort: number }> => {
      const socket = await proxied(gw.port, header);
      const echoed = await new Promise<Echoed>((resolve, reject) => {
        const req = http.request({ path: '/echo/x', headers: { host: 'example.com' }, createConnection: () => socket }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (c: string) => (body += c));
          res.on('end', () => resolve(JSON.parse(body) as Echoed));
        });
        req.on('error', reject);
        req.end();
      });
      return { echoed, balancerPort: socket.localPort ?? 0 };
    };
    const one = await get(Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 51234 8080\r\n'));
    assert.equal(echoedHeader(one.echoed, 'x-remote'), '203.0.113.7:51234');
    assert.equal(echoedHeader(one.echoed, 'x-direct'), `127.0.0.1:${one.balancerPort}`);
    assert.equal(echoedHeader(one.echoed, 'x-local'), '192.0.2.1:8080');
    const two = await get(v2(1, 0x21, v6Block([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x17], [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 4000, 443)));
    assert.equal(echoedHeader(two.echoed, 'x-remote'), '[2001:db8::17]:4000');
    assert.equal(echoedHeader(two.echoed, 'x-direct'), `127.0.0.1:${two.balancerPort}`);
    assert.equal(echoedHeader(two.echoed, 'x-local'), '[2001:db8::1]:443');
    // a balancer's own check (LOCAL) is the connection it is
    const local = await get(v2(0, 0x00, Buffer.alloc(0)));
    assert.equal(echoedHeader(local.echoed, 'x-remote'), `127.0.0.1:${local.balancerPort}`);
    assert.equal(echoedHeader(local.echoed, 'x-local'), `127.0.0.1:${gw.port}`);
  });

  it('a header written a byte at a time, and requests kept alive on one proxied connection, are served as that client', async () => {
    const gw = await cleartext();
    const header = Buffer.from('PROXY TCP4 198.51.100.4 192.0.2.1 3333 8080\r\n');
    const socket = net.connect(gw.port, '127.0.0.1');
    socket.on('error', () => {});
    await nextEvent(socket, 'connect', 'the connection');
    for (const byte of header) await new Promise<void>((resolve) => socket.write(Buffer.from([byte]), () => resolve()));
    let got = '';
    socket.setEncoding('utf8').on('data', (c: string) => {
      got += c;
      socket.emit('got');
    });
    const answered = (n: number): Promise<unknown> => (got.split('HTTP/1.1 200').length > n ? Promise.resolve() : nextEvent(socket, 'got', `response ${n}`, { accept: () => got.split('HTTP/1.1 200').length > n }));
    socket.write('GET /echo/1 HTTP/1.1\r\nHost: example.com\r\n\r\n');
    await answered(1);
    socket.write('GET /echo/2 HTTP/1.1\r\nHost: example.com\r\n\r\n');
    await answered(2);
    socket.destroy();
    assert.deepEqual(gw.done.slice(-2).map((d) => d.clientAddress), ['198.51.100.4', '198.51.100.4']);
    assert.match(got, /"x-forwarded-for","198\.51\.100\.4"/i);
  });

  it('a connection without a header (or with a bad one) is closed unanswered and counted as refused', async () => {
    const gw = await cleartext();
    for (const first of ['GET /echo/x HTTP/1.1\r\nHost: example.com\r\n\r\n', 'PROXY TCP4 not-an-address 1.2.3.4 1 2\r\nGET / HTTP/1.1\r\n\r\n']) {
      const seen = echo.received.length;
      const socket = net.connect(gw.port, '127.0.0.1');
      let reply = '';
      socket.setEncoding('utf8').on('data', (c: string) => (reply += c));
      const refused = nextEvent(gw.events, 'refused', 'the refusal');
      await nextEvent(socket, 'connect', 'the connection');
      socket.write(first);
      assert.equal(await closedByPeer(socket), true);
      assert.deepEqual(await refused, ['proxy_protocol']);
      assert.equal(reply, '', 'not a byte of HTTP');
      assert.equal(echo.received.length, seen);
    }
  });

  it('the per-client connection cap counts the clients the header names, not the balancer', async () => {
    const gw = await cleartext(`---
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: { name: ambassador }
spec: { config: { portico_max_connections_per_client: 1 } }
`);
    const header = (client: string): Buffer => Buffer.from(`PROXY TCP4 ${client} 192.0.2.1 1000 8080\r\n`);
    const a = await proxied(gw.port, header('198.51.100.1'));
    const aServed = nextEvent(gw.events, 'done', 'the first client served');
    a.write('GET /echo/a HTTP/1.1\r\nHost: example.com\r\n\r\n');
    await aServed;
    // Another client through the same balancer: its own first connection.
    const b = await getVia(gw.port, header('198.51.100.2'));
    assert.equal(b.status, 200);
    // The first client again while its connection is open: over the cap.
    const refused = nextEvent(gw.events, 'refused', 'the refusal');
    const again = await proxied(gw.port, header('198.51.100.1'));
    assert.deepEqual(await refused, ['max_connections_per_client']);
    assert.equal(await closedByPeer(again), true);
    a.destroy();
  });

  it('HTTPSPROXY: the header comes before the TLS handshake; HTTP/1.1 and HTTP/2 over it see the header\'s client', async () => {
    const port = await freePort();
    const rules = '  add_request_headers: { x-remote: "%DOWNSTREAM_REMOTE_ADDRESS%", x-direct-ip: "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%", x-tls: "%DOWNSTREAM_TLS_VERSION%" }\n';
    const gw = await serve(`${listener(port, 'protocol: HTTPSPROXY')}${mappingYaml('echo', '/echo/', echo.port, rules)}`);
    const secure = async (header: Buffer, alpn: string[]): Promise<tls.TLSSocket> => {
      const raw = await proxied(gw.port, header);
      const s = tls.connect({ socket: raw, servername: 'example.com', rejectUnauthorized: false, ALPNProtocols: alpn });
      s.on('error', () => {});
      await nextEvent(s, 'secureConnect', 'the TLS handshake');
      return s;
    };
    const h1 = await secure(Buffer.from('PROXY TCP4 203.0.113.50 192.0.2.1 1234 443\r\n'), ['http/1.1']);
    const one = await new Promise<Echoed>((resolve, reject) => {
      const req = http.request({ path: '/echo/tls', headers: { host: 'example.com' }, createConnection: () => h1 }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve(JSON.parse(body) as Echoed));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(echoedHeader(one, 'x-forwarded-for'), '203.0.113.50');
    assert.equal(echoedHeader(one, 'x-forwarded-proto'), 'https');
    assert.equal(echoedHeader(one, 'x-remote'), '203.0.113.50:1234');
    assert.equal(echoedHeader(one, 'x-direct-ip'), '127.0.0.1');
    assert.equal(echoedHeader(one, 'x-tls'), h1.getProtocol());

    const h2socket = await secure(v2(1, 0x11, v4Block('203.0.113.51', '192.0.2.1', 1, 443)), ['h2']);
    assert.equal(h2socket.alpnProtocol, 'h2');
    const session = http2.connect('https://example.com', { createConnection: () => h2socket });
    session.on('error', () => {});
    const two = await new Promise<Echoed>((resolve, reject) => {
      const stream = session.request({ ':path': '/echo/h2', ':authority': 'example.com' });
      let body = '';
      stream.setEncoding('utf8').on('data', (c: string) => (body += c));
      stream.on('end', () => resolve(JSON.parse(body) as Echoed));
      stream.on('error', reject);
    });
    session.close();
    assert.equal(echoedHeader(two, 'x-forwarded-for'), '203.0.113.51');
    assert.equal(echoedHeader(two, 'x-remote'), '203.0.113.51:1');
    assert.equal(echoedHeader(two, 'x-direct-ip'), '127.0.0.1');
    assert.equal(echoedHeader(two, 'x-tls'), h2socket.getProtocol());
    assert.equal(gw.done.at(-1)!.clientAddress, '203.0.113.51');

    // TLS straight away, with no header: closed before the handshake.
    const refused = nextEvent(gw.events, 'refused', 'the refusal');
    const bare = tls.connect({ host: '127.0.0.1', port: gw.port, servername: 'example.com', rejectUnauthorized: false });
    let handshook = false;
    bare.on('secureConnect', () => (handshook = true));
    bare.on('error', () => {});
    assert.deepEqual(await refused, ['proxy_protocol']);
    assert.equal(await closedByPeer(bare), true);
    assert.equal(handshook, false, 'no handshake, no certificate');
  });

  it('a TCP Listener with PROXY in its stack takes the header off: the upstream receives only what the client sent', async () => {
    const received: Buffer[] = [];
    const upstream = net.createServer((s) => {
      s.on('data', (c: Buffer) => received.push(c));
      s.on('end', () => s.end('bye'));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    try {
      const port = await freePort();
      const gw = await serve(`${listener(port, 'protocolStack: [PROXY, TCP]')}apiVersion: getambassador.io/v3alpha1
kind: TCPMapping
metadata: { name: db }
spec: { port: ${port}, service: "127.0.0.1:${(upstream.address() as AddressInfo).port}" }
`);
      const socket = await proxied(gw.port, Buffer.from('PROXY TCP4 203.0.113.9 192.0.2.1 5000 5432\r\n'));
      let reply = '';
      socket.setEncoding('utf8').on('data', (c: string) => (reply += c));
      socket.end('hello upstream');
      await nextEvent(socket, 'close', 'the proxied TCP session to end');
      assert.equal(Buffer.concat(received).toString(), 'hello upstream');
      assert.equal(reply, 'bye');
    } finally {
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });
});
