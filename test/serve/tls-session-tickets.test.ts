// TLS session resumption: a client that presents the ticket of its first connection is resumed,
// across hosts' contexts and applies, on another worker of `serve --workers 2`, and after a key
// rotation while the ticket lives; the server's cipher and key-exchange order favours fast suites.

import { after, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Gateway } from '../../src/serve/gateway.js';
import { startTicketKeyRotation, ticketKeyCallbackAvailable, TicketKeyRing, TICKET_KEY_ROTATION_MS } from '../../src/serve/session-tickets.js';
import type { IR } from '../../src/ir/types.js';
import { buildStubRuntime } from './stub-runtime.js';
import { makeIR } from './ir-fixtures.js';
import { servingContext } from '../support/ir-builder.js';
import { freePort } from '../support/free-port.js';
import { makeTestPKI, pkiSecrets, type TestPKI } from '../support/test-pki.js';
import { ConfigDir, ServeProcess, startEcho, type Echo } from './serve-harness.js';

interface Visit {
  readonly reused: boolean;
  readonly status: string;
  /** The last ticket the server sent on this connection (TLS 1.3 sends them after the handshake). */
  readonly session: Buffer | undefined;
  readonly cipher: string;
  readonly group: string | undefined;
  /** The pid of the process that held the server side of the connection (when `holders` were given). */
  readonly heldBy: number | undefined;
}

/**
 * One HTTPS request on a fresh connection, offering `session` for resumption; the answer is read to
 * its end, so every ticket the server sent has arrived.
 */
function visit(port: number, servername: string, ca: string, o: { session?: Buffer; holders?: readonly number[]; extra?: tls.ConnectionOptions } = {}): Promise<Visit> {
  return new Promise((resolve, reject) => {
    let session: Buffer | undefined;
    let heldBy: number | undefined;
    let reply = '';
    let reused = false;
    let cipher = '';
    let group: string | undefined;
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca, ...(o.session ? { session: o.session } : {}), ...o.extra }, () => {
      // read while the connection is up: a closed socket has no TLS state left to ask
      reused = s.isSessionReused();
      cipher = s.getCipher().name;
      const key = s.getEphemeralKeyInfo();
      group = key && 'name' in key ? (key as { name?: string }).name : undefined;
      if (o.holders) heldBy = processHolding(port, s.localPort!, o.holders);
      s.write(`GET /x HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
    });
    s.on('session', (t: Buffer) => (session = t));
    s.setEncoding('latin1').on('data', (c: string) => (reply += c));
    s.on('error', reject);
    s.on('close', () => resolve({ reused, status: reply.slice(0, 12), session, cipher, group, heldBy }));
  });
}

/** Which of `pids` holds the server end of the loopback connection from `clientPort` to `serverPort` (/proc). */
function processHolding(serverPort: number, clientPort: number, pids: readonly number[]): number | undefined {
  const hex = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');
  let inode: string | undefined;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[1]!.endsWith(`:${hex(serverPort)}`) && f[2]!.endsWith(`:${hex(clientPort)}`)) inode = f[9];
    }
  }
  if (inode === undefined) return undefined;
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return pid;
      } catch {}
    }
  }
  return undefined;
}

/** Two hosts on one HTTPS port, each with its own certificate (its own TLS context); `bMutual`: b requires a client certificate. */
function twoHostIR(port: number, bMutual = false): IR {
  const base = makeIR([{ port, routes: ['/'], tls: true, tlsContext: 'ctx-a' }]);
  const vh = base.listeners[0]!.virtualHosts[0]!;
  const mutual = bMutual ? { ca: { secret: 'default/ca', sha256: '' }, certRequired: true } : {};
  return {
    ...base,
    tlsContexts: [servingContext('ctx-a', 'a.example.test', 'default/a'), servingContext('ctx-b', 'b.example.test', 'default/b', mutual)],
    listeners: base.listeners.map((l) => ({
      ...l,
      virtualHosts: [{ ...vh, hostname: 'a.example.test', tlsContext: 'ctx-a' }, { ...vh, hostname: 'b.example.test', tlsContext: 'ctx-b' }],
    })),
  };
}

describe('TLS session tickets', () => {
  let pki: TestPKI;
  before(() => {
    pki = makeTestPKI();
  });
  after(() => pki.cleanup());

  it('resumes a second connection that presents the first one\'s ticket, on every host and across an apply', async () => {
    const g = new Gateway({ buildRuntime: buildStubRuntime, drainTimeoutMs: 1000 });
    after(() => g.forceClose());
    const port = await freePort();
    assert.equal((await g.apply(twoHostIR(port), pkiSecrets(pki), { source: 't' })).ok, true);
    for (const host of ['a.example.test', 'b.example.test']) {
      const first = await visit(port, host, pki.caPem);
      assert.equal(first.status, 'HTTP/1.1 200');
      assert.equal(first.reused, false);
      assert.ok(first.session, `${host}: the server sent a ticket`);
      const second = await visit(port, host, pki.caPem, { session: first.session });
      assert.equal(second.status, 'HTTP/1.1 200');
      assert.equal(second.reused, true, `${host}: the second connection is resumed`);
    }
    const a = await visit(port, 'a.example.test', pki.caPem);
    // A ticket sealed for one host's context is not taken by another's: that host's full handshake runs.
    assert.equal((await visit(port, 'b.example.test', pki.caPem, { session: a.session })).reused, false);
    // A new generation builds new contexts; the keys are the process's, so tickets outlive the apply.
    assert.equal((await g.apply(twoHostIR(port), pkiSecrets(pki), { source: 't2' })).ok, true);
    assert.equal((await visit(port, 'a.example.test', pki.caPem, { session: a.session })).reused, true);
  });

  it('gives no HTTP to a resumed connection on a host that requires a client certificate the ticket never showed', async () => {
    const g = new Gateway({ buildRuntime: buildStubRuntime, drainTimeoutMs: 1000 });
    after(() => g.forceClose());
    const port = await freePort();
    assert.equal((await g.apply(twoHostIR(port, true), pkiSecrets(pki), { source: 't' })).ok, true);
    const a = await visit(port, 'a.example.test', pki.caPem);
    assert.equal(a.status, 'HTTP/1.1 200');
    const onB = await visit(port, 'b.example.test', pki.caPem, { session: a.session });
    assert.equal(onB.status, '', `no answer without a verified client certificate (resumed: ${onB.reused})`);
    const withCert = await visit(port, 'b.example.test', pki.caPem, { extra: { cert: pki.client.certPem, key: pki.client.keyPem } });
    assert.equal(withCert.status, 'HTTP/1.1 200');
    const resumed = await visit(port, 'b.example.test', pki.caPem, { session: withCert.session });
    assert.equal(resumed.reused, true);
    assert.equal(resumed.status, 'HTTP/1.1 200', 'the verified certificate travels with the ticket');
  });

  it('still resumes a ticket sealed before a key rotation, and not one sealed two rotations ago', async () => {
    const ring = new TicketKeyRing();
    const g = new Gateway({ buildRuntime: buildStubRuntime, drainTimeoutMs: 1000, ticketKeys: ring });
    after(() => g.forceClose());
    const port = await freePort();
    assert.equal((await g.apply(twoHostIR(port), pkiSecrets(pki), { source: 't' })).ok, true);
    mock.timers.enable({ apis: ['setInterval'] });
    after(() => mock.timers.reset());
    let rotations = 0;
    const stop = startTicketKeyRotation(ring, () => rotations++);
    after(stop);

    const first = await visit(port, 'a.example.test', pki.caPem);
    mock.timers.tick(TICKET_KEY_ROTATION_MS);
    assert.equal(rotations, 1);
    const afterOne = await visit(port, 'a.example.test', pki.caPem, { session: first.session });
    assert.equal(afterOne.reused, true, 'the previous key still opens the ticket');
    assert.ok(afterOne.session, 'and a fresh ticket, sealed with the new key, comes back');
    mock.timers.tick(TICKET_KEY_ROTATION_MS);
    assert.equal((await visit(port, 'a.example.test', pki.caPem, { session: first.session })).reused, false, 'the key two rotations old is gone');
    assert.equal((await visit(port, 'a.example.test', pki.caPem, { session: afterOne.session })).reused, true, 'the renewed ticket resumes');
  });

  it('orders TLS 1.2 suites and key exchange groups for speed: ECDHE AES-128-GCM, X25519', async () => {
    const g = new Gateway({ buildRuntime: buildStubRuntime, drainTimeoutMs: 1000 });
    after(() => g.forceClose());
    const port = await freePort();
    assert.equal((await g.apply(twoHostIR(port), pkiSecrets(pki), { source: 't' })).ok, true);
    const v = await visit(port, 'a.example.test', pki.caPem, {
      extra: { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256', ecdhCurve: 'P-384:P-256:X25519' },
    });
    assert.equal(v.status, 'HTTP/1.1 200');
    assert.equal(v.cipher, 'ECDHE-ECDSA-AES128-GCM-SHA256');
    assert.equal(v.group, 'X25519');
  });

  describe('portico serve --workers 2', () => {
    let echo: Echo;
    let dir: ConfigDir;
    let proc: ServeProcess;
    before(async () => {
      echo = await startEcho();
      dir = await ConfigDir.create();
    });
    after(async () => {
      await proc?.stop();
      await dir.dispose();
      await echo.close();
    });

    it('resumes a ticket from one worker on the other', async () => {
      const port = await freePort();
      await dir.https(port, 'a.example.test', pki.a.certPem, pki.a.keyPem);
      await dir.mapping('stable', '/', echo.port);
      // Round-robin: the primary hands consecutive connections to alternate workers.
      proc = new ServeProcess(['--config', dir.path, '--admin', '127.0.0.1:0', '--access-log', 'off', '--workers', '2'], { ...process.env, NODE_CLUSTER_SCHED_POLICY: 'rr' });
      await proc.ready();
      const workers = ((await proc.config()).workers as { pid: number }[]).map((w) => w.pid);
      assert.equal(workers.length, 2);

      const first = await visit(port, 'a.example.test', pki.caPem, { holders: workers });
      assert.equal(first.status, 'HTTP/1.1 200');
      assert.ok(first.heldBy !== undefined && first.session);
      const seen = new Set<number>();
      for (let i = 0; i < 6 && !seen.has(workers.find((w) => w !== first.heldBy)!); i++) {
        const again = await visit(port, 'a.example.test', pki.caPem, { session: first.session, holders: workers });
        assert.equal(again.status, 'HTTP/1.1 200');
        assert.equal(again.reused, true, `resumed on worker ${again.heldBy} (the ticket came from ${first.heldBy})`);
        if (again.heldBy !== undefined) seen.add(again.heldBy);
      }
      assert.ok([...seen].some((pid) => pid !== first.heldBy), `a resumed connection landed on the other worker (${[...seen].join(', ')})`);
      assert.ok(!proc.stderr.some((l) => /ticket/i.test(l) && /[A-Za-z0-9+/]{40,}={0,2}/.test(l)), 'no ticket key reaches the log');
    });
  });
});

describe('a Node.js without the ticket-key hook', () => {
  it('leaves the context to its own ticket keys instead of failing the listener', () => {
    const ring = new TicketKeyRing();
    assert.equal(ring.attach(tls.createSecureContext()), true, 'this Node.js has the hook');
    // The same object shape with the private hook gone, as a future Node.js might have it.
    const bare = { context: {} } as unknown as tls.SecureContext;
    assert.equal(ticketKeyCallbackAvailable(bare), false);
    assert.equal(ring.attach(bare), false);
  });
});
