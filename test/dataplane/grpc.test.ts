// gRPC Mappings end to end with @grpc/grpc-js on both sides: unary, server and bidi streaming,
// trailers, upstream down → UNAVAILABLE, and grpc-timeout → DEADLINE_EXCEEDED from the gateway.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Gateway } from '../../src/serve/gateway.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import { backend, buildIR, cluster, route } from '../support/ir-builder.js';
import { closedPort } from '../support/fault-upstream.js';
import { whenTrue } from '../support/wait-until.js';

const PROTO = `syntax = "proto3";
package echo;
message Msg { string text = 1; int32 n = 2; }
service Echo {
  rpc Unary (Msg) returns (Msg);
  rpc Count (Msg) returns (stream Msg);
  rpc Chat (stream Msg) returns (stream Msg);
  rpc Slow (Msg) returns (Msg);
}
`;

interface Msg { text: string; n: number }
type EchoClient = grpc.Client & {
  Unary(m: Msg, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: Msg) => void): grpc.ClientUnaryCall;
  Count(m: Msg): grpc.ClientReadableStream<Msg>;
  Chat(): grpc.ClientDuplexStream<Msg, Msg>;
  Slow(m: Msg, cb: (e: grpc.ServiceError | null, r?: Msg) => void): grpc.ClientUnaryCall;
};

describe('gRPC through Portico', () => {
  let dir: string;
  let server: grpc.Server;
  let gw: Gateway;
  let port: number;
  let EchoCtor: new (addr: string, creds: grpc.ChannelCredentials) => EchoClient;
  const clients: grpc.Client[] = [];
  let slowCancelled = 0;
  const slowEvents = new EventEmitter();
  const slowPending = new Set<() => void>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-grpc-'));
    writeFileSync(join(dir, 'echo.proto'), PROTO);
    const def = protoLoader.loadSync(join(dir, 'echo.proto'), { keepCase: true, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { echo: { Echo: typeof EchoCtor & { service: grpc.ServiceDefinition } } };
    EchoCtor = pkg.echo.Echo;
    server = new grpc.Server();
    server.addService(pkg.echo.Echo.service, {
      Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        const who = call.metadata.get('x-who')[0];
        cb(null, { text: `hello ${call.request.text} from ${String(who)}`, n: call.request.n + 1 });
      },
      Count: (call: grpc.ServerWritableStream<Msg, Msg>) => {
        for (let i = 1; i <= call.request.n; i++) call.write({ text: `#${i}`, n: i });
        const md = new grpc.Metadata();
        md.set('x-trailer', 'counted');
        call.end(md);
      },
      Chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
        call.on('data', (m: Msg) => call.write({ text: m.text.toUpperCase(), n: m.n }));
        call.on('end', () => call.end());
      },
      // Never answers on its own: only a deadline can end the call (the file's end answers what is left).
      Slow: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        const answer = (): void => cb(null, { text: 'late', n: 0 });
        slowPending.add(answer);
        call.on('cancelled', () => {
          slowPending.delete(answer);
          slowCancelled++;
          slowEvents.emit('cancelled');
        });
      },
    });
    const upPort = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const down = await closedPort();
    const ir = buildIR({
      clusters: [cluster('grpc', upPort, { http2: true }), cluster('down', down, { http2: true })],
      routes: [
        route('default/down', { prefix: '/echo.Echo/Unary', headers: [{ name: 'x-down', present: true }] }, [backend('down', { rewrite: { prefix: null } })], { grpc: true }),
        route('default/grpc', { prefix: '/echo.Echo/' }, [backend('grpc', { rewrite: { prefix: null } })], { grpc: true }),
      ],
      listener: { port: 0 },
    });
    gw = new Gateway({ buildRuntime, drainTimeoutMs: 500 });
    assert.equal((await gw.apply(ir, {}, { source: 't' })).ok, true);
    port = Object.values(gw.boundPorts())[0]!;
  });
  after(async () => {
    for (const c of clients) c.close();
    for (const answer of slowPending) answer();
    gw.forceClose();
    await new Promise<void>((r) => server.tryShutdown(() => r()));
    server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  const client = (): EchoClient => {
    const c = new EchoCtor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    clients.push(c);
    return c;
  };

  it('unary call with request metadata', async () => {
    const md = new grpc.Metadata();
    md.set('x-who', 'portico');
    const r = await new Promise<Msg>((resolve, reject) => client().Unary({ text: 'grpc', n: 41 }, md, (e, m) => (e ? reject(e) : resolve(m!))));
    assert.deepEqual(r, { text: 'hello grpc from portico', n: 42 });
  });

  it('server streaming: every message, then the trailers (status and metadata) unchanged', async () => {
    const call = client().Count({ text: '', n: 5 });
    const got: string[] = [];
    call.on('data', (m: Msg) => got.push(m.text));
    const [status] = await Promise.all([
      new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve)),
      new Promise((resolve) => call.on('end', resolve)),
    ]);
    assert.deepEqual(got, ['#1', '#2', '#3', '#4', '#5']);
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(status.metadata.get('x-trailer'), ['counted']);
  });

  it('bidirectional streaming', async () => {
    const call = client().Chat();
    const got: string[] = [];
    call.on('data', (m: Msg) => got.push(m.text));
    const ended = new Promise((resolve) => call.on('end', resolve));
    for (const w of ['a', 'b', 'c']) call.write({ text: w, n: 0 });
    call.end();
    await ended;
    assert.deepEqual(got, ['A', 'B', 'C']);
  });

  it('upstream down → UNAVAILABLE (a trailers-only reply from the gateway)', async () => {
    const md = new grpc.Metadata();
    md.set('x-down', '1');
    const err = await new Promise<grpc.ServiceError>((resolve) => client().Unary({ text: 'x', n: 0 }, md, (e) => resolve(e!)));
    assert.equal(err.code, grpc.status.UNAVAILABLE, err.details);
  });

  it('honours grpc-timeout: DEADLINE_EXCEEDED from the gateway, and the upstream call is cancelled', async () => {
    // A raw h2 client without its own deadline, so only the gateway can end the call.
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const frame = Buffer.from([0, 0, 0, 0, 0]);
      const s = session.request({ ':method': 'POST', ':path': '/echo.Echo/Slow', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '200m' });
      s.end(frame);
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => s.on('response', resolve));
      s.resume();
      await new Promise((r) => s.on('close', r));
      assert.equal(headers[':status'], 200);
      assert.equal(headers['grpc-status'], String(grpc.status.DEADLINE_EXCEEDED));
      await whenTrue('the upstream call to be cancelled', () => slowCancelled > 0, [[slowEvents, 'cancelled']]);
      assert.equal(slowCancelled, 1);
    } finally {
      session.close();
    }
  });
});
