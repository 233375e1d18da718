// Property: however applies and requests interleave, each response comes whole from one generation
// that was current while the request was open, matches that generation's routes, and never goes back.

import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import fc from 'fast-check';
import { Gateway, GENERATION_HEADER } from '../../src/serve/gateway.js';
import { buildStubRuntime } from './stub-runtime.js';
import { makeIR } from './ir-fixtures.js';
import { freePort } from '../support/free-port.js';

const PATHS = ['/a/', '/b/', '/c/'];

type Op = { kind: 'apply'; routes: string[] } | { kind: 'request'; path: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('apply' as const), routes: fc.subarray(PATHS) }),
  fc.record({ kind: fc.constant('request' as const), path: fc.constantFrom(...PATHS) }),
);

it('every response comes from one generation current during the request, with that generation\'s routes', async () => {
  const port = await freePort();
  const gateway = new Gateway({ buildRuntime: buildStubRuntime, exposeGeneration: true, drainTimeoutMs: 1000 });
  after(() => gateway.forceClose());
  const routesByGeneration = new Map<number, readonly string[]>();
  const first = await gateway.apply(makeIR([{ port, routes: PATHS }]), {}, { source: 't' });
  routesByGeneration.set(first.generation, PATHS);

  await fc.assert(
    fc.asyncProperty(fc.scheduler(), fc.array(opArb, { minLength: 2, maxLength: 12 }), async (s, ops) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
      const lastOnSocket = new WeakMap<Socket, number>();
      const problems: string[] = [];
      const run = ops.map((op) =>
        s.schedule(Promise.resolve(op.kind)).then(async () => {
          if (op.kind === 'apply') {
            const r = await gateway.apply(makeIR([{ port, routes: op.routes }]), {}, { source: 't' });
            if (r.ok) routesByGeneration.set(r.generation, op.routes);
            else problems.push(`apply failed: ${r.error.message}`);
            return;
          }
          const before = gateway.generation;
          await new Promise<void>((resolve) => {
            const req = http.get({ host: '127.0.0.1', port, path: `${op.path}x`, agent }, (res) => {
              // Captured now: the agent detaches the socket from the response once it ends.
              const socket = res.socket as Socket;
              res.resume();
              res.on('end', () => {
                const gen = Number(res.headers[GENERATION_HEADER]);
                const afterGen = gateway.generation;
                if (!(gen >= before && gen <= afterGen)) problems.push(`generation ${gen} outside [${before}, ${afterGen}]`);
                const routes = routesByGeneration.get(gen);
                const expected = routes?.includes(op.path) ? 200 : 404;
                if (res.statusCode !== expected) problems.push(`${op.path} on generation ${gen}: ${res.statusCode}, expected ${expected}`);
                if ((lastOnSocket.get(socket) ?? 0) > gen) problems.push(`generation went back on a connection`);
                lastOnSocket.set(socket, gen);
                resolve();
              });
            });
            req.on('error', (err) => {
              problems.push(`request error: ${err.message}`);
              resolve();
            });
          });
        }),
      );
      await s.waitAll();
      await Promise.all(run);
      agent.destroy();
      assert.deepEqual(problems, []);
    }),
    { numRuns: 40 },
  );
});
