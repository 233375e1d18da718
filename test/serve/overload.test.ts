// Overload protection (HARDENING case 50) on real processes and sockets: per-client and global
// connection caps, keep-alive off and 503 + Retry-After shedding, /healthz meanwhile, and recovery.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { serveStable, startEcho, type Echo, type ServeProcess, type StableServe } from './serve-harness.js';
import { request } from './http-client.js';
import { freePort } from '../support/free-port.js';
import { Gateway } from '../../src/serve/gateway.js';
import { buildStubRuntime } from './stub-runtime.js';
import { DEFAULT_OVERLOAD } from '../../src/compile/global-policy.js';
import { OverloadMonitor, OVERLOAD_NO_KEEPALIVE, OVERLOAD_NORMAL, OVERLOAD_SHEDDING } from '../../src/serve/overload-monitor.js';
import type { IROverload } from '../../src/ir/types.js';
import { makeIR, testGlobal } from './ir-fixtures.js';
import { nextTurn } from '../support/wait-until.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

let echo: Echo | undefined;
async function upstream(): Promise<Echo> {
  if (!echo) {
    const e = await startEcho();
    echo = e;
    cleanups.unshift(() => e.close());
  }
  return echo;
}

function moduleYAML(config: string): string {
  return `apiVersion: getambassador.io/v3alpha1
kind: Module
metadata:
  name: ambassador
spec:
  config:
${config.trim().split('\n').map((l) => `    ${l}`).join('\n')}
`;
}

async function setup(moduleConfig: string | undefined, env: NodeJS.ProcessEnv = process.env, workers = 0): Promise<StableServe & { up: Echo }> {
  const up = await upstream();
  const files: Record<string, string> = moduleConfig ? { 'module.yaml': moduleYAML(moduleConfig) } : {};
  return { ...(await serveStable(up, cleanups, { args: ['--workers', String(workers)], env, files })), up };
}

/**
 * A keep-alive connection from `localAddress` that got one 200: the gateway admitted it, and it
 * stays open (and counted) until the test closes it.
 */
async function hold(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port, localAddress });
  cleanups.push(async () => void s.destroy());
  s.on('error', () => {});
  const got = await new Promise<string>((resolve) => {
    let text = '';
    s.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (text.includes('\r\n\r\n')) resolve(text);
    });
    s.once('close', () => resolve(text));
    s.write('GET /stable/held HTTP/1.1\r\nHost: example.com\r\n\r\n');
  });
  assert.match(got, /^HTTP\/1\.1 200 /, `a held connection from ${localAddress} is served`);
  return s;
}

/** Connect, send one request, and report whether any response byte came back before the close (a refused connection is closed at accept). */
function probe(port: number, localAddress = '127.0.0.1'): Promise<{ admitted: boolean; head: string }> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    let text = '';
    const done = () => {
      s.destroy();
      resolve({ admitted: text.length > 0, head: text });
    };
    s.on('error', done);
    s.on('close', done);
    s.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (text.includes('\r\n\r\n')) done();
    });
    s.once('connect', () => s.write('GET /stable/probe HTTP/1.1\r\nHost: example.com\r\n\r\n'));
    s.setTimeout(15_000, done);
  });
}

function closeAndWait(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve();
    s.once('close', () => resolve());
    s.destroy();
  });
}

async function metric(proc: ServeProcess, line: RegExp): Promise<number> {
  const text = (await request(`${proc.admin}/metrics`)).body;
  const m = new RegExp(`^${line.source} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

describe('connection caps (per listener, per serving process)', () => {
  it('refuses the connection above the per-client cap while another client address still gets in', async () => {
    const { proc, port } = await setup('portico_max_connections_per_client: 3');
    const held = [await hold(port), await hold(port), await hold(port)];

    const fourth = await probe(port);
    assert.equal(fourth.admitted, false, 'the 4th connection from 127.0.0.1 is closed before any byte is answered');
    const other = await probe(port, '127.0.0.2');
    assert.equal(other.admitted, true, 'another client address is not affected');
    assert.match(other.head, /^HTTP\/1\.1 200 /);

    // A freed slot is usable again.
    await closeAndWait(held.pop()!);
    await proc.poll('a slot to free up', async () => (await probe(port)).admitted);

    assert.ok((await metric(proc, /portico_connections_refused_total\{listener="http",reason="max_connections_per_client"\}/)) >= 1);
    for (const s of held) await closeAndWait(s);
    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
  });

  it('refuses connections above the global cap for every client address; a new Module lifts the cap on the kept port', async () => {
    const { dir, proc, port } = await setup('portico_max_connections: 2\nportico_max_connections_per_client: 0');
    const held = [await hold(port), await hold(port, '127.0.0.2')];
    assert.equal((await probe(port, '127.0.0.3')).admitted, false, 'a third client is refused: the listener is full');
    assert.equal((await probe(port)).admitted, false);
    assert.ok((await metric(proc, /portico_connections_refused_total\{listener="http",reason="max_connections"\}/)) >= 2);

    await dir.write('module.yaml', moduleYAML('portico_max_connections: 3'));
    await proc.waitGeneration(2);
    const third = await probe(port, '127.0.0.3');
    assert.equal(third.admitted, true, 'the raised cap applies to the listener that kept its socket');
    for (const s of held) await closeAndWait(s);
    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
  });

  it('under a flood of connections above the cap, admits at most the cap and keeps serving afterwards', async () => {
    const { proc, port } = await setup('portico_max_connections: 20\nportico_max_connections_per_client: 0');
    const sockets: net.Socket[] = [];
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, () =>
        new Promise<'open' | 'closed'>((resolve) => {
          const s = net.connect({ host: '127.0.0.1', port });
          sockets.push(s);
          s.on('error', () => {});
          s.once('close', () => resolve('closed'));
          // Admitted: answered, and kept open (keep-alive) so that it holds its slot through the flood.
          // Refused: closed at accept, before any byte.
          s.once('data', () => resolve('open'));
          s.once('connect', () => s.write('GET /stable/flood HTTP/1.1\r\nHost: example.com\r\n\r\n'));
        }),
      ),
    );
    const open = outcomes.filter((o) => o === 'open').length;
    assert.ok(open <= 20, `${open} connections held, cap 20`);
    assert.ok(open >= 1, 'some connections were admitted');
    assert.ok((await metric(proc, /portico_connections_refused_total\{listener="http",reason="max_connections"\}/)) >= 180, 'every connection above the cap is counted');
    for (const s of sockets) s.destroy();
    await proc.poll('service after the flood', async () => (await request(`http://127.0.0.1:${port}/stable/after`)).status === 200);
    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
  });

  it('rejects a bad cap in the Module with its field and keeps serving', async () => {
    const { dir, proc, port } = await setup(undefined);
    await dir.write('module.yaml', moduleYAML('portico_max_connections_per_client: -1\nportico_overload:\n  heap_shed_ratio: 2'));
    const rejected = await proc.poll('the rejection', async () => {
      const c = await proc.config();
      return (c.sources as any[])[0]?.result === 'rejected' ? c : undefined;
    });
    const text = JSON.stringify(rejected.sources[0].problems);
    assert.match(text, /portico_max_connections_per_client/);
    assert.match(text, /heap_shed_ratio/);
    assert.match(text, /module\.yaml:\d+:\d+/);
    assert.equal((await request(`http://127.0.0.1:${port}/stable/x`)).status, 200);
    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
  });
});

describe('load shedding (overload monitor)', () => {
  it('sheds with 503 + Retry-After above the heap threshold, keeps /healthz up, and recovers when the threshold is above use again', async () => {
    const { dir, proc, port } = await setup(undefined);
    assert.equal((await request(`http://127.0.0.1:${port}/stable/a`)).status, 200);

    // A shed threshold below any possible heap use: the monitor sees pressure at its next sample.
    await dir.write('module.yaml', moduleYAML('portico_overload:\n  heap_shed_ratio: 0.0001'));
    await proc.waitGeneration(2);
    const shed = await proc.poll('shedding', async () => {
      const r = await request(`http://127.0.0.1:${port}/stable/b`);
      return r.status === 503 ? r : undefined;
    });
    assert.equal(shed.headers['retry-after'], '1');
    assert.equal(shed.headers['connection'], 'close');
    const body = JSON.parse(shed.body) as { status: number; code: string; requestId: string };
    assert.equal(body.status, 503);
    assert.equal(body.code, 'overloaded');
    assert.equal(shed.headers['x-request-id'], body.requestId);
    const health = await request(`${proc.admin}/healthz`);
    assert.equal(health.status, 200, 'the admin health endpoint answers while the gateway sheds');
    assert.equal(await metric(proc, /portico_overload_state/), 2);
    assert.ok((await metric(proc, /portico_requests_shed_total\{listener="http"\}/)) >= 1);
    assert.ok(proc.logs.some((l) => l.msg === 'overload: shedding new requests'), 'the level change is logged');

    await dir.write('module.yaml', moduleYAML('portico_overload:\n  heap_shed_ratio: 0.99'));
    await proc.waitGeneration(3);
    await proc.poll('recovery', async () => (await request(`http://127.0.0.1:${port}/stable/c`)).status === 200);
    assert.equal(await metric(proc, /portico_overload_state/), 0);
    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
  });

  it('sheds under real heap growth in a process with a small heap, and recovers once the memory is released', async () => {
    // A 32 MiB old space and 1 MiB semi-spaces: V8 collects soon after memory is released, and
    // short-lived garbage cannot hide the signal. 1000 routes keep about 6 MiB of heap alive.
    const { dir, proc, port, up } = await setup(undefined, { ...process.env, NODE_OPTIONS: '--max-old-space-size=32 --max-semi-space-size=1' });
    type Sample = { heapRatio: number; heapUsedBytes: number; heapLimitBytes: number; level: number };
    const sample = async () => (await proc.config()).overload as Sample | null;
    // The baseline is the live heap, not whatever garbage a sample happens to see (a busy machine
    // delays collections, and a garbage-inflated baseline set a threshold the routes never reached).
    // A threshold below any heap use makes the monitor collect before its next sample, and the level
    // change it logs carries that collected sample.
    await dir.write('module.yaml', moduleYAML('portico_overload:\n  heap_shed_ratio: 0.0001\n  heap_disable_keepalive_ratio: 0'));
    await proc.waitGeneration(2);
    const live = await proc.waitLog('the heap sampled after a full collection', (l) => l.msg === 'overload: shedding new requests');
    const liveBytes = Number(live.heapUsedBytes);
    const limitBytes = Number(live.heapLimitBytes);
    assert.ok(liveBytes > 0 && limitBytes > liveBytes, `a heap sample: ${JSON.stringify(live)}`);
    const threshold = (liveBytes + 3 * 1024 * 1024) / limitBytes;
    await dir.write('module.yaml', moduleYAML(`portico_overload:\n  heap_shed_ratio: ${threshold.toFixed(4)}\n  heap_disable_keepalive_ratio: 0`));
    await proc.waitGeneration(3);
    await proc.poll('normal service below the threshold', async () => (await request(`http://127.0.0.1:${port}/stable/a`)).status === 200);

    for (let f = 0; f < 2; f++) {
      let text = '';
      for (let i = f * 500; i < f * 500 + 500; i++) {
        text += `---\napiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata:\n  name: bulk-${i}\nspec:\n  hostname: "*"\n  prefix: /bulk-${i}/\n  service: 127.0.0.1:${up.port}\n`;
      }
      await dir.write(`bulk-${f}.yaml`, text);
    }
    await proc.waitGeneration(4);
    let last: Sample | null = null;
    const shed = await proc.poll('shedding under heap growth', async () => {
      last = await sample();
      const r = await request(`http://127.0.0.1:${port}/stable/b`);
      return r.status === 503 ? r : undefined;
    }).catch((err: Error) => assert.fail(`${err.message}; threshold ${threshold}, last sample ${JSON.stringify(last)}`));
    assert.equal(shed.headers['retry-after'], '1');
    assert.equal(JSON.parse(shed.body).code, 'overloaded');
    assert.equal((await request(`${proc.admin}/healthz`)).status, 200);

    for (let f = 0; f < 2; f++) await dir.remove(`bulk-${f}.yaml`);
    // the routes are gone once a configuration without them is served (requests are shed meanwhile)
    await proc.poll('the bulk routes to be gone', async () => !(await request(`${proc.admin}/api/v1/routes`)).body.includes('bulk-'));
    // the monitor collects at most every few seconds while the heap reads above the threshold
    await proc.poll('recovery after the memory is released', async () => {
      last = await sample();
      return (await request(`http://127.0.0.1:${port}/stable/c`)).status === 200;
    }, 60_000).catch((err: Error) => assert.fail(`${err.message}; threshold ${threshold}, last sample ${JSON.stringify(last)}`));
    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
  });
});

describe('workers', () => {
  it('each worker sheds on its own, and the merged gauge shows the highest level, not the sum', async () => {
    const { proc, port } = await setup('portico_overload:\n  heap_shed_ratio: 0.0001', process.env, 2);
    await proc.poll('both workers shedding', async () => {
      for (let i = 0; i < 6; i++) if ((await request(`http://127.0.0.1:${port}/stable/${i}`)).status !== 503) return false;
      return (await metric(proc, /portico_overload_state/)) === 2;
    });
    assert.equal((await request(`${proc.admin}/healthz`)).status, 200);
    assert.ok((await metric(proc, /portico_requests_shed_total\{listener="http"\}/)) >= 6);
    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
  });
});

describe('keep-alive off under pressure (in-process gateway)', () => {
  it('answers HTTP/1.1 with Connection: close and sends H2 sessions GOAWAY, then keeps connections again', async () => {
    let thresholds: IROverload = { ...DEFAULT_OVERLOAD, heapDisableKeepAliveRatio: 0.0001, heapShedRatio: 0 };
    const port = await freePort();
    const gateway = new Gateway({ buildRuntime: buildStubRuntime, overloadSampleMs: 50 });
    cleanups.push(() => gateway.shutdown(100));
    const ir = (o: IROverload) => makeIR([{ port, routes: ['/stable/'] }], { limits: { ...testGlobal().limits, overload: o } });
    assert.equal((await gateway.apply(ir(thresholds), {}, { source: 'test' })).ok, true);
    assert.equal(gateway.overloadState()?.level, OVERLOAD_NO_KEEPALIVE);

    const h1 = await request(`http://127.0.0.1:${port}/stable/a`, { headers: { connection: 'keep-alive' } });
    assert.equal(h1.status, 200, 'requests are still served');
    assert.equal(h1.headers['connection'], 'close');

    const session = http2.connect(`http://127.0.0.1:${port}`);
    cleanups.push(async () => void session.destroy());
    session.on('error', () => {});
    const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
    const status = await new Promise<number>((resolve, reject) => {
      const s = session.request({ ':path': '/stable/h2', ':authority': 'example.com' });
      s.on('response', (h) => resolve(Number(h[':status'])));
      s.on('error', reject);
      s.resume();
      s.end();
    });
    assert.equal(status, 200, 'the stream the client already opened is served');
    await goaway;

    thresholds = DEFAULT_OVERLOAD;
    assert.equal((await gateway.apply(ir(thresholds), {}, { source: 'test' })).ok, true);
    assert.equal(gateway.overloadState()?.level, OVERLOAD_NORMAL);
    const again = await request(`http://127.0.0.1:${port}/stable/b`, { headers: { connection: 'keep-alive' } });
    assert.equal(again.status, 200);
    assert.equal(again.headers['connection'], 'keep-alive');
  });
});

describe('TCP listeners while shedding (in-process gateway)', () => {
  it('closes new TCP connections at accept and counts them, then serves them again', async () => {
    const port = await freePort();
    const refused: string[] = [];
    const gateway = new Gateway({ buildRuntime: buildStubRuntime, onConnectionRefused: (_l, reason) => refused.push(reason) });
    cleanups.push(() => gateway.shutdown(100));
    const ir = (shed: number) => makeIR([{ port, routes: [], tcp: true }], { limits: { ...testGlobal().limits, overload: { ...DEFAULT_OVERLOAD, heapShedRatio: shed } } });
    const read = () => new Promise<string>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      let text = '';
      s.on('data', (c: Buffer) => (text += c.toString()));
      s.on('error', () => {});
      s.once('close', () => resolve(text));
    });
    assert.equal((await gateway.apply(ir(0.0001), {}, { source: 'test' })).ok, true);
    assert.equal(await read(), '', 'closed before any byte');
    assert.deepEqual(refused, ['overload']);
    assert.equal((await gateway.apply(ir(0.99), {}, { source: 'test' })).ok, true);
    assert.equal(await read(), 'tcp generation 2\n');
  });
});

describe('OverloadMonitor', () => {
  it('takes the highest level any signal calls for; 0 turns a signal off', () => {
    let t: IROverload | undefined;
    const changes: number[] = [];
    const m = new OverloadMonitor({ thresholds: () => t, onChange: (s) => changes.push(s.level) });
    assert.equal(m.sample().level, OVERLOAD_NORMAL, 'no configuration: no action');
    t = { heapDisableKeepAliveRatio: 0.0001, heapShedRatio: 0, eventLoopDelayDisableKeepAliveMs: 0, eventLoopDelayShedMs: 0 };
    assert.equal(m.sample().level, OVERLOAD_NO_KEEPALIVE);
    t = { ...t, heapShedRatio: 0.0001 };
    assert.equal(m.sample().level, OVERLOAD_SHEDDING);
    t = { heapDisableKeepAliveRatio: 1, heapShedRatio: 1, eventLoopDelayDisableKeepAliveMs: 0, eventLoopDelayShedMs: 0 };
    const s = m.sample();
    assert.equal(s.level, OVERLOAD_NORMAL);
    assert.ok(s.heapUsedBytes > 0 && s.heapLimitBytes > s.heapUsedBytes);
    assert.deepEqual(changes, [OVERLOAD_NO_KEEPALIVE, OVERLOAD_SHEDDING, OVERLOAD_NORMAL]);
    m.stop();
  });

  it('sheds while the event loop is blocked, when an event-loop delay threshold is set', async () => {
    const t: IROverload = { heapDisableKeepAliveRatio: 0, heapShedRatio: 0, eventLoopDelayDisableKeepAliveMs: 0, eventLoopDelayShedMs: 20 };
    const m = new OverloadMonitor({ thresholds: () => t });
    m.sample(); // starts the delay histogram
    // The histogram measures between the ticks of its own timer, which runs in the timers phase: a
    // turn of the loop (two check phases) lets the tick that follows a block run. The first block
    // makes the first tick (which only sets its starting point) overdue; the second is measured.
    const blockFor = (ms: number): void => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        // a blocked event loop: nothing else runs
      }
    };
    // two check phases: a timers phase runs between them
    const timersPhase = async (): Promise<void> => {
      await nextTurn();
      await nextTurn();
    };
    blockFor(50);
    await timersPhase();
    blockFor(200);
    await timersPhase();
    const s = m.sample();
    assert.equal(s.level, OVERLOAD_SHEDDING, `delay seen: ${s.eventLoopDelayMs} ms`);
    m.stop();
  });
});
