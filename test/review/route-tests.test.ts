// Route tests as code: offline against the compiled configuration (pass, fail with a readable diff,
// invalid files with file:line:col), and with --target against a real `portico serve` and echo upstream.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/free-port.js';
import { pollUntil } from '../support/wait-until.js';
import { parseRouteTests } from '../../src/review/route-tests.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'bin/portico.js');
const SHOP = join(ROOT, 'test/testdata/review/shop');

let dir = '';
let echo: http.Server | undefined;
let gateway: ChildProcess | undefined;
let gatewayPort = 0;

function portico(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Asynchronous: the echo upstream lives in this process and must keep answering meanwhile. */
function porticoAsync(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const t = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}


function get(port: number, path: string, host: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host }, agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portico-routetests-'));
  // An echo upstream that reports the path and headers it received.
  echo = http.createServer((req, res) => {
    const headers: [string, string][] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string]);
    const body = JSON.stringify({ url: req.url, headers });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((r) => echo!.listen(0, '127.0.0.1', r));
  const echoPort = (echo.address() as AddressInfo).port;
  gatewayPort = await freePort();
  writeFileSync(
    join(dir, 'gateway.yaml'),
    `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: http }
spec: { port: ${gatewayPort}, protocol: HTTP, securityModel: XFP, hostBinding: { namespace: { from: ALL } } }
---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: api }
spec: { hostname: api.example.com, requestPolicy: { insecure: { action: Route } } }
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: orders, namespace: shop }
spec:
  hostname: api.example.com
  prefix: /orders/
  service: 127.0.0.1:${echoPort}
  add_request_headers: { x-team: shop }
`,
  );
  writeFileSync(
    join(dir, 'live.test.yaml'),
    `apiVersion: review.portico.dev/v1alpha1
kind: RouteTests
tests:
  - name: orders reach the echo with the prefix rewritten
    request: { url: http://api.example.com/orders/42?x=1, headers: { x-a: b } }
    expect: { route: shop/orders, upstream: 127.0.0.1, status: 200, path: /42?x=1, headers: { x-team: shop, x-a: b } }
  - name: unknown paths get 404
    request: { url: http://api.example.com/nothing }
    expect: { route: null, status: 404 }
  - name: a wrong expectation
    request: { url: http://api.example.com/orders/7 }
    expect: { status: 200, path: /orders/7, route: shop/other }
`,
  );
  gateway = spawn(process.execPath, [BIN, 'serve', '--config', dir, '--admin', '127.0.0.1:0', '--workers', '0', '--access-log', 'off'], { stdio: 'ignore' });
  // Another process: polled within a bound that a busy machine's start-up fits in.
  await pollUntil('the gateway to start serving', async () => (await get(gatewayPort, '/orders/ready', 'api.example.com')) === 200, { timeoutMs: 60_000 });
});

after(async () => {
  if (gateway && gateway.exitCode === null) {
    const exited = new Promise((r) => gateway!.once('exit', r));
    gateway.kill('SIGTERM');
    const t = setTimeout(() => gateway!.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
  if (echo) {
    echo.closeAllConnections();
    await new Promise((r) => echo!.close(r));
  }
  rmSync(dir, { recursive: true, force: true });
});

test('offline: the shop route tests pass (text and TAP)', () => {
  const tests = join(SHOP, 'routes.test.yaml');
  const text = portico('test', SHOP, '--tests', tests);
  assert.equal(text.code, 0, text.stdout + text.stderr);
  assert.match(text.stdout, /5 tests, 5 passed, 0 failed/);
  // The test file sits next to the Mappings: the loader skips it, and the command says nothing about it.
  assert.equal(text.stderr, '');
  const tap = portico('test', SHOP, '--tests', tests, '--format', 'tap');
  assert.equal(tap.code, 0);
  assert.match(tap.stdout, /^TAP version 13\n1\.\.5\nok 1 - orders go to v1/);
  // --tests DIR finds the *.test.yaml files beside the Mappings
  const byDir = portico('test', SHOP, '--tests', SHOP);
  assert.equal(byDir.code, 0, byDir.stdout + byDir.stderr);
  assert.match(byDir.stdout, /5 tests, 5 passed, 0 failed/);
});

test('offline: a failing test shows expected and actual per field (text, TAP, JUnit)', () => {
  const file = join(dir, 'failing.yaml');
  writeFileSync(file, 'tests:\n  - name: orders go to v2\n    request: { url: http://api.example.com/orders/42 }\n    expect: { upstream: orders-v2, path: /orders/42 }\n');
  const text = portico('test', SHOP, '--tests', file);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /FAIL orders go to v2 \(.*failing\.yaml:2\)/);
  assert.match(text.stdout, /upstream {2}- expected: orders-v2\n\s+\+ actual: {3}orders-v1\.shop:8080/);
  assert.match(text.stdout, /path {6}- expected: \/orders\/42\n\s+\+ actual: {3}\/42/);
  const tap = portico('test', SHOP, '--tests', file, '--format', 'tap');
  assert.match(tap.stdout, /not ok 1 - orders go to v2[^\n]*\n {2}---\n[\s\S]*- field: upstream\n {6}expected: "orders-v2"\n {6}actual: "orders-v1\.shop:8080"/);
  const junit = portico('test', SHOP, '--tests', file, '--format', 'junit');
  assert.match(junit.stdout, /<testsuites name="portico route tests" tests="1" failures="1">/);
  assert.match(junit.stdout, /<failure message="upstream: expected orders-v2, got orders-v1\.shop:8080; path: expected \/orders\/42, got \/42" type="mismatch">/);
});

test('offline: a bare service qualified with its Mapping’s namespace still matches the name the Mapping wrote', (t) => {
  // Its own folder: `dir` is the live gateway's configuration.
  const own = mkdtempSync(join(tmpdir(), 'portico-routetests-qualified-'));
  t.after(() => rmSync(own, { recursive: true, force: true }));
  const config = join(own, 'config');
  mkdirSync(config);
  writeFileSync(
    join(config, 'quote.yaml'),
    `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata: { name: api }
spec: { hostname: api.example.com, requestPolicy: { insecure: { action: Route } } }
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: quote, namespace: shop }
spec: { hostname: api.example.com, prefix: /quote/, service: "quote:8080" }
`,
  );
  const tests = join(own, 'qualified.test.yaml');
  const expect = (upstream: string): string => `  - name: quote as ${upstream}\n    request: { url: http://api.example.com/quote/1 }\n    expect: { route: shop/quote, upstream: "${upstream}" }\n`;
  writeFileSync(tests, 'tests:\n' + ['quote:8080', 'quote.shop:8080', 'quote', 'cluster_quote_shop_8080_shop', 'quote:9090'].map(expect).join(''));
  const r = portico('test', config, '--tests', tests);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /5 tests, 4 passed, 1 failed/);
  assert.match(r.stdout, /upstream {2}- expected: quote:9090\n\s+\+ actual: {3}quote\.shop:8080/);
});

test('invalid test files are reported with file:line:col and do not stop the others', () => {
  const r = parseRouteTests('t.yaml', 'tests:\n  - name: ok\n    request: { url: http://a.example.com/ }\n    expect: { status: 200 }\n  - name: typo\n    request: { url: http://a.example.com/ }\n    expect: { stauts: 200 }\n  - name: bad url\n    request: { url: "ftp://x" }\n    expect: { status: 200 }\n');
  assert.equal(r.tests.length, 1);
  assert.deepEqual(r.problems.map((p) => `${p.line}:${p.col}`), ['7:15', '9:14']);
  assert.match(r.problems[0]!.message, /unknown key 'stauts'/);
  const yamlErr = parseRouteTests('t.yaml', 'tests: [\n');
  assert.equal(yamlErr.tests.length, 0);
  assert.equal(yamlErr.problems.length > 0, true);
  const none = portico('test', SHOP, '--tests', join(dir, 'missing.yaml'));
  assert.equal(none.code, 1);
  assert.equal(none.stdout, '');
  assert.match(none.stderr, /^portico test: PORTICO_ERR_IO: cannot read --tests .*missing\.yaml: ENOENT \(no such file or directory\)\n$/);
});

test('a request that is not an absolute http(s) URL is an invalid test that says what to change', () => {
  const r = parseRouteTests('t.yaml', 'tests:\n  - name: relative\n    request: { url: /shop/cart }\n    expect: { status: 200 }\n  - name: ftp\n    request: { url: "ftp://x/" }\n    expect: { status: 200 }\n  - name: port\n    request: { url: "http://a.example.com:99999/" }\n    expect: { status: 200 }\n');
  assert.equal(r.tests.length, 0);
  assert.deepEqual(
    r.problems.map((p) => `${p.line}:${p.col} ${p.message}`),
    [
      "3:14 relative: '/shop/cart' is not an absolute URL: give the scheme and host, e.g. 'https://api.example.com/shop/cart'",
      "6:14 ftp: 'ftp://x/': the scheme must be http or https, not 'ftp'",
      "9:14 port: 'http://a.example.com:99999/': the port must be a number from 1 to 65535, not '99999'",
    ],
  );
});

test('--target: route tests against a live gateway and a real echo upstream', async () => {
  const file = join(dir, 'live.test.yaml');
  const r = await porticoAsync('test', dir, '--tests', file, '--target', `http://127.0.0.1:${gatewayPort}`, '--format', 'tap');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /ok 1 - orders reach the echo with the prefix rewritten/);
  assert.match(r.stdout, /ok 2 - unknown paths get 404/);
  assert.match(r.stdout, /not ok 3 - a wrong expectation/);
  // the live path comes from the echo; the route comes from the configuration
  assert.match(r.stdout, /- field: path\n {6}expected: "\/orders\/7"\n {6}actual: "\/7"/);
  assert.match(r.stdout, /- field: route \(configuration\)\n {6}expected: "shop\/other"\n {6}actual: "shop\/orders"/);
  // the same file offline agrees with the live gateway
  const offline = portico('test', dir, '--tests', file, '--format', 'tap');
  assert.match(offline.stdout, /ok 1 - orders reach[\s\S]*ok 2 - unknown[\s\S]*not ok 3 - a wrong/);
});

test('--target with nothing listening reports an error per test, not a crash', async () => {
  const port = await freePort();
  const r = portico('test', SHOP, '--tests', join(SHOP, 'routes.test.yaml'), '--target', `http://127.0.0.1:${port}`, '--timeout', '2000');
  assert.equal(r.code, 1);
  assert.match(r.stdout, /error: http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  assert.equal(portico('test', SHOP, '--tests', 'x.yaml', '--target', 'ftp://x').code, 2);
});
