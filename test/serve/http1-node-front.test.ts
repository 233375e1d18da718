// The node:http fallback of the HTTP/1.1 front (issue 14, item 7): when it is chosen, that the probe
// accepts this Node.js, that serve says so once, and the conformance, smuggling and upgrade tests through it.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { LLHTTP_SUPPORT } from '../../src/dataplane/llhttp.js';
import { chooseHttp1Front, unknownFrontSetting } from '../../src/serve/http1-front-choice.js';
import { request } from './http-client.js';
import { serveStable, startEcho, type Echo } from './serve-harness.js';

const FINE = { parser: undefined, directRead: undefined };

describe('which HTTP/1.1 front serves', () => {
  it('the llhttp front where every internal it needs passed the start-up probe, unless node:http is asked for', () => {
    assert.deepEqual(chooseHttp1Front(FINE, undefined), { front: 'llhttp', reason: undefined });
    assert.deepEqual(chooseHttp1Front(FINE, 'llhttp'), { front: 'llhttp', reason: undefined });
    assert.deepEqual(chooseHttp1Front(FINE, ' Node '), { front: 'node', reason: 'PORTICO_HTTP1_FRONT=node' });
    assert.deepEqual(chooseHttp1Front(FINE, 'bogus'), { front: 'llhttp', reason: undefined });
    assert.equal(unknownFrontSetting({ PORTICO_HTTP1_FRONT: 'bogus' }), 'bogus');
    assert.equal(unknownFrontSetting({ PORTICO_HTTP1_FRONT: 'node' }), undefined);
    assert.equal(unknownFrontSetting({}), undefined);
  });

  it('node:http where the parser or the direct socket reads are missing or of another shape, with the reason', () => {
    const noParser = { parser: '_http_common has no HTTPParser', directRead: '_http_common has no HTTPParser' };
    assert.deepEqual(chooseHttp1Front(noParser, undefined), { front: 'node', reason: '_http_common has no HTTPParser' });
    assert.deepEqual(chooseHttp1Front(noParser, 'llhttp'), { front: 'node', reason: '_http_common has no HTTPParser' });
    assert.deepEqual(chooseHttp1Front({ parser: undefined, directRead: 'HTTPParser#consume is missing' }, undefined), { front: 'node', reason: 'HTTPParser#consume is missing' });
  });

  it('the probe accepts the parser of the Node.js running the tests (no fallback by accident)', () => {
    assert.deepEqual(LLHTTP_SUPPORT, FINE);
  });
});

describe('serve on the node:http front', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let up: Echo;
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await up?.close();
  });

  it('logs the fallback once (primary only, with workers) and serves through it', async () => {
    up = await startEcho();
    const { proc, port } = await serveStable(up, cleanups, { args: ['--workers', '2'], env: { ...process.env, PORTICO_HTTP1_FRONT: 'node' } });
    const r = await request(`http://127.0.0.1:${port}/stable/x`);
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).path, '/x');
    const warnings = proc.logs.filter((l) => l.msg === 'HTTP/1.1 clients are served by node:http (fallback front)');
    assert.equal(warnings.length, 1, JSON.stringify(proc.logs));
    assert.equal(warnings[0]!.reason, 'PORTICO_HTTP1_FRONT=node');
  });
});

/** The files whose tests must hold through either front. */
const THROUGH_BOTH = [
  'dist/test/serve/http1-conformance.test.js',
  'dist/test/dataplane/smuggling-corpus.test.js',
  'dist/test/serve/upgrade-window.test.js',
  'dist/test/dataplane/websocket.test.js',
  'dist/test/serve/node-front-in-use.js',
];

describe('HTTP/1.1 conformance, smuggling and upgrade tests through the node:http front', () => {
  it('pass with PORTICO_HTTP1_FRONT=node', { timeout: 600_000 }, async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PORTICO_HTTP1_FRONT: 'node' };
    // a child of the test runner would otherwise report to it in its own protocol, not as TAP
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(process.execPath, ['--test', '--test-reporter=tap', '--test-concurrency=1', ...THROUGH_BOTH.map((f) => resolve(f))], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    const failed = out.split('\n').filter((l) => /^\s*not ok /.test(l));
    assert.deepEqual(failed, [], out.slice(-4000));
    assert.equal(code, 0, out.slice(-4000));
    const passed = Number(/^# pass (\d+)$/m.exec(out)?.[1] ?? 0);
    assert.ok(passed >= 100, `only ${passed} tests ran`);
  });
});
