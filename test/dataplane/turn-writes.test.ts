// Writes held to the end of the event-loop turn: nothing is lost or reordered, nothing is held past
// the turn, and a socket that dies meanwhile does not stop the others from being flushed.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { endAtTurnEnd, holdWritesUntilTurnEnds } from '../../src/dataplane/turn-writes.js';
import { nextEvent, whenTrue } from '../support/wait-until.js';

interface Pair {
  client: net.Socket;
  /** The accepted side: what the client's writes reach. */
  peer: net.Socket;
  received: () => string;
  closed: Promise<void>;
}

describe('writes held until the turn ends', () => {
  let server: net.Server;
  const accepted: net.Socket[] = [];

  before(async () => {
    server = net.createServer((s) => accepted.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    for (const s of accepted) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  async function pair(): Promise<Pair> {
    const n = accepted.length;
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await nextEvent(client, 'connect', 'the client to connect');
    const peer = await whenTrue('the server to accept the connection', () => accepted[n], [[server, 'connection']]);
    let got = '';
    peer.on('data', (b: Buffer) => (got += b.toString('latin1')));
    const closed = new Promise<void>((r) => peer.once('close', () => r()));
    peer.on('error', () => {});
    return { client, peer, received: () => got, closed };
  }

  /** Resolves once `check` holds, re-checked as bytes reach the given pairs. */
  const received = (what: string, check: () => boolean, ...pairs: Pair[]): Promise<boolean> =>
    whenTrue(what, check, pairs.map((p) => [p.peer, 'data'] as const));

  it('holds every write of the turn, then delivers each socket its bytes in order', async () => {
    const a = await pair();
    const b = await pair();
    holdWritesUntilTurnEnds(a.client);
    a.client.write('GET / HTTP/1.1\r\n');
    holdWritesUntilTurnEnds(b.client);
    b.client.write('one,');
    a.client.write('host: x\r\n\r\n');
    b.client.write(Buffer.from('two'));
    // still in this turn: the bytes wait in the sockets
    assert.ok(a.client.writableLength > 0 && b.client.writableLength > 0);
    await new Promise((r) => setImmediate(r));
    assert.equal(a.client.writableLength, 0, 'flushed when the turn ended');
    assert.equal(b.client.writableLength, 0);
    await received('both sockets\' bytes', () => a.received().length === 27 && b.received().length === 7, a, b);
    assert.equal(a.received(), 'GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    assert.equal(b.received(), 'one,two');
    a.client.destroy();
    b.client.destroy();
  });

  it('a socket held twice in one turn is still flushed at its end', async () => {
    const a = await pair();
    holdWritesUntilTurnEnds(a.client);
    a.client.write('first ');
    holdWritesUntilTurnEnds(a.client);
    a.client.write('second');
    await new Promise((r) => setImmediate(r));
    assert.equal(a.client.writableLength, 0);
    await received('both writes', () => a.received() === 'first second', a);
    assert.equal(a.received(), 'first second');
    a.client.destroy();
  });

  it('a socket destroyed before the turn ends does not hold back the others', async () => {
    const gone = await pair();
    const kept = await pair();
    holdWritesUntilTurnEnds(gone.client);
    gone.client.write('never sent');
    holdWritesUntilTurnEnds(kept.client);
    kept.client.write('delivered');
    gone.client.destroy();
    await new Promise((r) => setImmediate(r));
    await received('the kept socket\'s bytes', () => kept.received() === 'delivered', kept);
    assert.equal(kept.received(), 'delivered');
    await gone.closed;
    assert.equal(gone.received(), '', 'a destroyed socket sends nothing it held');
    // holding a destroyed stream is a no-op, not an error
    holdWritesUntilTurnEnds(gone.client);
    holdWritesUntilTurnEnds(null);
    kept.client.destroy();
  });

  it('an HTTP/1 response ended at the turn end stays held; a plain end() would flush it at once', async () => {
    const seen: { immediate: boolean; deferred: boolean }[] = [];
    const srv = http.createServer((req, res) => {
      holdWritesUntilTurnEnds(res.socket);
      res.writeHead(200, { 'content-length': '2' });
      if (req.url === '/plain') {
        res.end('ok');
        // Node's end() uncorks fully: this is why the gateway defers the end itself
        seen.push({ immediate: res.socket!.writableLength === 0, deferred: false });
        return;
      }
      res.write('ok');
      endAtTurnEnd(res);
      const heldNow = res.socket!.writableLength > 0 && !res.writableEnded;
      setImmediate(() => seen.push({ immediate: false, deferred: heldNow && res.writableEnded }));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    try {
      for (const path of ['/plain', '/deferred']) {
        const body = await new Promise<string>((resolve, reject) => {
          http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
            let b = '';
            res.on('data', (c: Buffer) => (b += c.toString()));
            res.on('end', () => resolve(b));
          }).on('error', reject);
        });
        assert.equal(body, 'ok', `${path}: the whole body arrives`);
      }
      assert.deepEqual(seen, [{ immediate: true, deferred: false }, { immediate: false, deferred: true }]);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
