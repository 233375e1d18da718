// `portico serve --workers 2` with a TracingService: each worker process exports its own spans to
// the collector, every span reaches it by the end of the drain, and the access log names each trace.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveStable, startEcho } from '../serve/serve-harness.js';
import { request } from '../serve/http-client.js';
import { byKind, startOtlpReceiver } from '../support/trace-receivers.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

describe('tracing in portico serve', () => {
  it('with two workers, each exports its own spans, and the access log carries the trace ids', async () => {
    const receiver = await startOtlpReceiver();
    const up = await startEcho();
    const out = await mkdtemp(join(tmpdir(), 'portico-trace-'));
    cleanups.push(() => receiver.close(), () => up.close(), () => rm(out, { recursive: true, force: true }));
    const accessLog = join(out, 'access.log');
    const tracing = `apiVersion: getambassador.io/v3alpha1
kind: TracingService
metadata:
  name: tracing
spec:
  service: ${new URL(receiver.url).host}
  driver: opentelemetry
  config:
    service_name: edge
`;
    // Round-robin: the primary hands consecutive connections to alternate workers. (By default each
    // worker accepts from the shared socket, and on a busy machine one worker can take them all.)
    const { proc, port } = await serveStable(up, cleanups, {
      args: ['--workers', '2', '--access-log', accessLog],
      env: { ...process.env, NODE_CLUSTER_SCHED_POLICY: 'rr' },
      files: { 'tracing.yaml': tracing },
    });
    const workers = ((await proc.config()).workers as { pid: number }[]).map((w) => w.pid);
    assert.equal(workers.length, 2);
    // A fresh connection each, so both workers serve some.
    const n = 12;
    for (let i = 0; i < n; i++) assert.equal((await request(`http://127.0.0.1:${port}/stable/${i}`, { agent: false })).status, 200);
    await receiver.waitFor((s) => byKind(s, 'SERVER').length === n, `${n} SERVER spans`);
    const servers = byKind(receiver.spans, 'SERVER');
    const pids = new Set(servers.map((s) => s.pid));
    assert.deepEqual([...pids].sort(), [...workers].sort(), 'both workers sent spans, and only workers');
    assert.ok(servers.every((s) => s.serviceName === 'edge'));

    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
    const lines = (await readFile(accessLog, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { path: string; traceId?: string });
    const logged = new Set(lines.filter((l) => l.path.startsWith('/stable/')).map((l) => l.traceId));
    assert.deepEqual([...logged].sort(), servers.map((s) => s.traceId).sort(), 'each access log line names its trace');
  });

  it('spans still held when serve drains are sent before it exits', async () => {
    const receiver = await startOtlpReceiver();
    const up = await startEcho();
    cleanups.push(() => receiver.close(), () => up.close());
    const tracing = `apiVersion: getambassador.io/v3alpha1
kind: TracingService
metadata:
  name: tracing
spec:
  service: ${new URL(receiver.url).host}
  driver: opentelemetry
`;
    // A batch goes out every 5 s; the drain does not wait for it.
    const { proc, port } = await serveStable(up, cleanups, { files: { 'tracing.yaml': tracing } });
    assert.equal((await request(`http://127.0.0.1:${port}/stable/x`)).status, 200);
    proc.signal('SIGTERM');
    assert.equal((await proc.exited).code, 0);
    assert.equal(byKind(receiver.spans, 'SERVER').length, 1);
  });
});
