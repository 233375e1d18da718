// What a client sends while its WebSocket upgrade waits for the upstream's answer, on plain and TLS
// ports of the real edge: held and parsed in order after a refusal, tunnelled after a 101, never lost.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { Gateway } from '../../src/serve/gateway.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import { webSocketAccept } from '../../src/dataplane/websocket-tunnel.js';
import type { IR } from '../../src/ir/types.js';
import { backend, buildIR, cluster, route, servingContext, vhost } from '../support/ir-builder.js';
import { startRawUpstream, type RawUpstream } from '../support/raw-upstream.js';
import { makeTestPKI, pkiSecrets, type TestPKI } from '../support/test-pki.js';

/** The attack's body: 41 bytes that read as a request to the /admin/ upstream. */
const SMUGGLED = 'GET /admin/smuggled HTTP/1.1\r\nHost: a\r\n\r\n';

/** One upgrade request held by the upstream until the test says how to answer it. */
interface HeldUpgrade {
  readonly head: string;
  readonly key: string;
  /** Bytes the upstream received on this connection after the upgrade request's head. */
  after: Buffer;
  refuse(): void;
  accept(): void;
  /** Resolves once `after` holds at least n bytes. */
  received(n: number): Promise<Buffer>;
}

/** An upstream that answers upgrades only when told (426 or a valid 101), after the test's own step. */
async function startGatedUpgrades(): Promise<{ port: number; next(): Promise<HeldUpgrade>; close(): Promise<void> }> {
  const queue: HeldUpgrade[] = [];
  const waiters: ((h: HeldUpgrade) => void)[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    let buf = Buffer.alloc(0);
    let held: HeldUpgrade | undefined;
    let wantBytes: { n: number; resolve: (b: Buffer) => void } | undefined;
    socket.on('data', (d: Buffer) => {
      if (held !== undefined) {
        held.after = Buffer.concat([held.after, d]);
        if (wantBytes !== undefined && held.after.length >= wantBytes.n) wantBytes.resolve(held.after);
        return;
      }
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1] ?? '';
      const h: HeldUpgrade = {
        head,
        key,
        after: buf.subarray(end + 4),
        refuse: () => socket.end('HTTP/1.1 426 Upgrade Required\r\nsec-websocket-version: 13\r\ncontent-length: 7\r\n\r\nupgrade'),
        accept: () => socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${webSocketAccept(key)}\r\n\r\n`),
        received: (n) => new Promise((resolve) => {
          if (h.after.length >= n) resolve(h.after);
          else wantBytes = { n, resolve };
        }),
      };
      held = h;
      const w = waiters.shift();
      if (w !== undefined) w(h);
      else queue.push(h);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    next: () => new Promise((resolve) => {
      const h = queue.shift();
      if (h !== undefined) resolve(h);
      else waiters.push(resolve);
    }),
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

interface Reply {
  readonly status: number;
  readonly body: string;
}

/** The complete responses at the start of `text` (every reply here is framed by content-length). */
function completeReplies(text: string): Reply[] {
  const out: Reply[] = [];
  let pos = 0;
  for (;;) {
    const end = text.indexOf('\r\n\r\n', pos);
    if (end < 0) return out;
    const head = text.slice(pos, end);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    if (status === 101) {
      out.push({ status, body: '' });
      return out;
    }
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (text.length < end + 4 + length) return out;
    out.push({ status, body: text.slice(end + 4, end + 4 + length) });
    pos = end + 4 + length;
  }
}

/** A client connection: writes resolve once the bytes are handed to the kernel; reads are awaited by condition. */
class Client {
  text = '';
  closed = false;
  private wake: (() => void) | undefined;

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.text += d;
      this.wake?.();
    });
    socket.on('error', () => {});
    socket.once('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static open(kind: 'plain' | 'tls', port: number, ca: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = kind === 'plain'
        ? net.connect(port, '127.0.0.1', () => resolve(new Client(s)))
        : tls.connect({ port, host: '127.0.0.1', servername: 'a.example.test', ca }, () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
  }

  /** Resolves with the complete replies once there are n of them; fails if the connection closes first. */
  async replies(n: number): Promise<Reply[]> {
    for (;;) {
      const r = completeReplies(this.text);
      if (r.length >= n) return r;
      if (this.closed) assert.fail(`connection closed after ${r.length} replies: ${JSON.stringify(this.text)}`);
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** One turn of the event loop: the gateway (same process) gets to read what was just sent. */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function upgradeRequest(path: string): string {
  const key = Buffer.alloc(16, 9).toString('base64');
  return `GET ${path} HTTP/1.1\r\nHost: a.example.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
}

describe('bytes sent while a WebSocket upgrade is pending (issue 16, item 1)', () => {
  let pki: TestPKI;
  let gated: Awaited<ReturnType<typeof startGatedUpgrades>>;
  let publicUp: RawUpstream;
  let adminUp: RawUpstream;
  let gw: Gateway;
  const ports = { plain: 0, tls: 0 };

  before(async () => {
    pki = makeTestPKI();
    gated = await startGatedUpgrades();
    publicUp = await startRawUpstream();
    adminUp = await startRawUpstream();
    const routes = [
      route('default/ws', { prefix: '/ws/' }, [backend('ws', { rewrite: { prefix: null } })], { allowUpgrade: ['websocket'] }),
      route('default/public', { prefix: '/public/' }, [backend('public', { rewrite: { prefix: null } })]),
      route('default/admin', { prefix: '/admin/' }, [backend('admin', { rewrite: { prefix: null } })]),
    ];
    const base = buildIR({ clusters: [cluster('ws', gated.port), cluster('public', publicUp.port), cluster('admin', adminUp.port)] });
    const plain = { ...base.listeners[0]!, name: 'http', port: 0, virtualHosts: [vhost('*', routes)] };
    const secure = {
      ...base.listeners[0]!, name: 'https', port: 0, protocolStack: ['TLS', 'HTTP', 'TCP'], tls: true,
      virtualHosts: [vhost('a.example.test', routes, { tlsContext: 'ctx-a' })],
    };
    const ir: IR = { ...base, listeners: [plain, secure], tlsContexts: [servingContext('ctx-a', 'a.example.test', 'default/a')] };
    gw = new Gateway({ buildRuntime, drainTimeoutMs: 1000 });
    const r = await gw.apply(ir, pkiSecrets(pki), { source: 'test' });
    assert.equal(r.ok, true, JSON.stringify(r));
    ports.plain = gw.boundPorts()['http']!;
    ports.tls = gw.boundPorts()['https']!;
  });
  after(async () => {
    gw.forceClose();
    await gated.close();
    await publicUp.close();
    await adminUp.close();
    pki.cleanup();
  });

  for (const kind of ['plain', 'tls'] as const) {
    it(`${kind}: a POST sent during the upgrade keeps its head; its body is never routed as a request`, { timeout: 20_000 }, async () => {
      const publicBefore = publicUp.requests.length;
      const adminBefore = adminUp.requests.length;
      const c = await Client.open(kind, ports[kind], pki.caPem);
      try {
        await c.write(upgradeRequest('/ws/chat'));
        const held = await gated.next();
        await c.write('POST /public/e8b HTTP/1.1\r\nHost: a.example.test\r\nContent-Length: 41\r\n\r\n');
        await turn();
        held.refuse();
        const first = await c.replies(1);
        assert.equal(first[0]!.status, 426);
        await c.write(SMUGGLED);
        const replies = await c.replies(2);
        assert.deepEqual(replies.map((r) => r.status), [426, 200]);
        const seen = publicUp.requests.slice(publicBefore);
        assert.deepEqual(seen.map((r) => r.requestLine), ['POST /public/e8b HTTP/1.1']);
        assert.equal(seen[0]!.body.toString('latin1'), SMUGGLED, 'the 41 bytes reached /public/ as the POST body');
        assert.equal(adminUp.requests.length, adminBefore, 'the /admin/ upstream never saw the smuggled request');
        assert.equal(held.after.length, 0, 'nothing sent in the window reached the upgrade upstream');
      } finally {
        c.close();
      }
    });

    it(`${kind}: a GET sent during the upgrade is answered after the refusal, in order`, { timeout: 20_000 }, async () => {
      const publicBefore = publicUp.requests.length;
      const c = await Client.open(kind, ports[kind], pki.caPem);
      try {
        await c.write(upgradeRequest('/ws/chat'));
        const held = await gated.next();
        await c.write('GET /public/in-window HTTP/1.1\r\nHost: a.example.test\r\n\r\n');
        await turn();
        held.refuse();
        const replies = await c.replies(2);
        assert.deepEqual(replies.map((r) => r.status), [426, 200]);
        assert.equal(replies[0]!.body, 'upgrade');
        assert.deepEqual(publicUp.requests.slice(publicBefore).map((r) => r.requestLine), ['GET /public/in-window HTTP/1.1']);
        // the connection stays HTTP and keeps serving
        await c.write('GET /public/after HTTP/1.1\r\nHost: a.example.test\r\n\r\n');
        assert.equal((await c.replies(3))[2]!.status, 200);
      } finally {
        c.close();
      }
    });

    it(`${kind}: an accepted upgrade tunnels what was sent in the window first, then the rest, in order`, { timeout: 20_000 }, async () => {
      const publicBefore = publicUp.requests.length;
      const c = await Client.open(kind, ports[kind], pki.caPem);
      try {
        await c.write(upgradeRequest('/ws/chat'));
        const held = await gated.next();
        assert.match(held.head, /^GET \/ws\/chat HTTP\/1\.1\r\n/);
        await c.write('early;');
        await turn();
        held.accept();
        const replies = await c.replies(1);
        assert.equal(replies[0]!.status, 101);
        assert.match(c.text, new RegExp(`sec-websocket-accept: ${webSocketAccept(held.key).replace(/[+/=]/g, '\\$&')}`, 'i'));
        await c.write('later');
        assert.equal((await held.received(11)).toString(), 'early;later');
        assert.equal(publicUp.requests.length, publicBefore, 'nothing in the window was parsed as HTTP');
      } finally {
        c.close();
      }
    });
  }
});
