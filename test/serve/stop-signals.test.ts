// The signals serve catches from its first moment: the first stop is kept (and said) for start-up to
// act on, later stops force, SIGHUP re-reads only once serve asked for it, close lets go of all three.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { StopSignals } from '../../src/serve/stop-signals.js';

/** Stands for `process`: emit('SIGTERM', 'SIGTERM') is the signal arriving. */
function signalTarget(): EventEmitter & { send(signal: NodeJS.Signals): void } {
  const e = new EventEmitter() as EventEmitter & { send(signal: NodeJS.Signals): void };
  e.send = (signal) => e.emit(signal, signal);
  return e;
}

test('a stop before anyone looks is kept: requested names it and whenStopped has resolved with it', async () => {
  const target = signalTarget();
  const signals = new StopSignals(target);
  assert.equal(signals.requested, undefined);
  target.send('SIGINT');
  assert.equal(signals.requested, 'SIGINT');
  assert.equal(await signals.whenStopped, 'SIGINT');
  target.send('SIGTERM');
  assert.equal(signals.requested, 'SIGINT', 'the first stop is the one kept');
});

test('every stop after the first forces, with its signal', () => {
  const target = signalTarget();
  const signals = new StopSignals(target);
  const forced: string[] = [];
  signals.onForce((s) => forced.push(s));
  target.send('SIGTERM');
  assert.deepEqual(forced, []);
  target.send('SIGINT');
  target.send('SIGTERM');
  assert.deepEqual(forced, ['SIGINT', 'SIGTERM']);
});

test('SIGHUP does nothing until a re-read is set, and stops nothing', () => {
  const target = signalTarget();
  const signals = new StopSignals(target);
  target.send('SIGHUP');
  let rereads = 0;
  signals.onReread(() => rereads++);
  target.send('SIGHUP');
  assert.equal(rereads, 1);
  assert.equal(signals.requested, undefined);
});

test('close lets go of SIGTERM, SIGINT and SIGHUP', () => {
  const target = signalTarget();
  const signals = new StopSignals(target);
  assert.deepEqual(['SIGTERM', 'SIGINT', 'SIGHUP'].map((s) => target.listenerCount(s)), [1, 1, 1]);
  signals.close();
  assert.deepEqual(['SIGTERM', 'SIGINT', 'SIGHUP'].map((s) => target.listenerCount(s)), [0, 0, 0]);
});
