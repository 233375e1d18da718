// Header rules are checked at load (issue 16 item 3): a name that is not an HTTP token or a value
// with CR, LF or NUL (header injection), a control character or a character beyond Latin-1 is an
// InvalidHeaderRule error with file:line:col and field, instead of a route answering 500 to every
// request. Built from the Mapping and defaults examples of Emissary's headers docs.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadFiles, type LoadResult } from '../../src/load/index.js';
import { compile } from '../../src/compile/index.js';
import { formatOrigin } from '../../src/api/origin.js';
import type { Problem } from '../../src/api/problems.js';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { startGateway } from '../support/gateway-server.js';
import { request } from '../support/http-client.js';
import { cleartextHostYaml } from '../support/policy-yaml.js';

const DOCS = join(process.cwd(), 'test', 'testdata', 'emissary', 'docs');
/** topics/using/headers/add-request-headers.md, "Mapping example" (x-test-static: This is a test header, line 11). */
const MAPPING_EXAMPLE = readFileSync(join(DOCS, 'topics.using.headers.add-request-headers.1.yaml'), 'utf8');
/** The same page's "Defaults example": a Module with defaults.httpmapping.add_request_headers and two Mappings. */
const DEFAULTS_EXAMPLE = readFileSync(join(DOCS, 'topics.using.headers.add-request-headers.2.yaml'), 'utf8');

function load(text: string, path = 'headers.yaml'): LoadResult {
  return loadFiles([{ path, content: text }], { source: 'edge', revision: '0123456789abcdef0123' });
}

const show = (p: Problem): string => `${formatOrigin(p.origin)} ${p.severity} ${p.code} ${p.field}`;
const headerRuleProblems = (r: LoadResult): Problem[] => r.problems.filter((p) => p.code !== 'NotImplemented');

describe('the docs Mapping example with one header made unsendable is refused at load, naming file:line:col and field', () => {
  const cases: Record<string, { from: string; to: string; at: string; field: string; message: RegExp }> = {
    'a value with CR LF (header injection)': {
      from: 'x-test-static: This is a test header',
      to: 'x-test-static: "This is a test header\\r\\nX-Injected: 1"',
      at: '11:5',
      field: 'spec.add_request_headers.x-test-static',
      message: /the value contains CR, LF or NUL: that would be header injection/,
    },
    'a value with NUL': { from: 'x-test-static: This is a test header', to: 'x-test-static: "a\\0b"', at: '11:5', field: 'spec.add_request_headers.x-test-static', message: /CR, LF or NUL/ },
    'an object value with LF': {
      from: '      value: This the test header ',
      to: '      value: "two\\nlines"',
      at: '13:7',
      field: 'spec.add_request_headers.x-test-static-2.value',
      message: /header injection/,
    },
    'a value with a control character': { from: 'x-test-static: This is a test header', to: 'x-test-static: "a\\u0001b"', at: '11:5', field: 'spec.add_request_headers.x-test-static', message: /U\+0001/ },
    'a value beyond Latin-1': { from: 'x-test-static: This is a test header', to: 'x-test-static: "5 €"', at: '11:5', field: 'spec.add_request_headers.x-test-static', message: /U\+20AC.*beyond Latin-1/ },
    'a name with a space': { from: 'x-test-static: This', to: '"x test static": This', at: '11:5', field: 'spec.add_request_headers.x test static', message: /not a valid header name .*found a space/ },
    'a pseudo-header name': { from: 'x-test-static: This', to: '":authority": This', at: '11:5', field: 'spec.add_request_headers.:authority', message: /not a valid header name .*found ":"/ },
    'a name with CR LF': { from: 'x-test-static: This', to: '"x-a\\r\\nx-b": This', at: '11:5', field: 'spec.add_request_headers.x-a\r\nx-b', message: /header injection/ },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      assert.ok(MAPPING_EXAMPLE.includes(c.from), c.from);
      const r = load(MAPPING_EXAMPLE.replace(c.from, c.to));
      assert.deepEqual(headerRuleProblems(r).map(show), [`edge@0123456789ab:headers.yaml:${c.at} error InvalidHeaderRule ${c.field}`]);
      assert.match(headerRuleProblems(r)[0]!.message, c.message);
      assert.equal(r.resources.length, 0, 'the Mapping is refused');
    });
  }

  it('the example as written loads with no problem at all (Portico fills in its Envoy dynamic values), and so does a Latin-1 value', () => {
    assert.deepEqual(load(MAPPING_EXAMPLE).problems.map(show), []);
    assert.deepEqual(load(MAPPING_EXAMPLE.replace('This is a test header', 'café')).problems.map(show), []);
  });
});

describe('removed headers, CORS lists and the fields that become a header value are checked too', () => {
  const mapping = (extra: string) => `apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: {name: m}\nspec:\n  hostname: "*"\n  prefix: /m/\n  service: quote\n${extra}`;
  const cases: Record<string, { extra: string; field: string }> = {
    'remove_request_headers with CR LF': { extra: '  remove_request_headers: ["x-a\\r\\nx-b"]\n', field: 'spec.remove_request_headers[0]' },
    'remove_response_headers with a space': { extra: '  remove_response_headers: x powered by\n', field: 'spec.remove_response_headers[0]' },
    'host_rewrite with CR LF': { extra: '  host_rewrite: "a.example\\r\\nx: 1"\n', field: 'spec.host_rewrite' },
    'prefix_redirect with LF': { extra: '  host_redirect: true\n  prefix_redirect: "/x\\nSet-Cookie: a=b"\n', field: 'spec.prefix_redirect' },
    'a CORS header name with a space': { extra: '  cors: {origins: ["https://a.example"], headers: ["x token"]}\n', field: 'spec.cors.headers[0]' },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const r = load(mapping(c.extra));
      assert.deepEqual(r.problems.map((p) => [p.code, p.severity, p.field]), [['InvalidHeaderRule', 'error', c.field]]);
    });
  }
  it('a blank removal is dropped, not refused (as before)', () => {
    assert.deepEqual(load(mapping('  remove_request_headers: [x-a, " "]\n')).problems, []);
  });
});

describe('in the Module defaults (the docs defaults example), a bad rule is an error on its key; the rest of the Module applies', () => {
  it('a CR LF value in defaults.httpmapping.add_request_headers', () => {
    const text = DEFAULTS_EXAMPLE.replace('x-test-static: This is a test header', 'x-test-static: "ok\\r\\nx-injected: 1"').replace('  config:\n', '  config:\n    cluster_request_timeout_ms: 9000\n');
    const r = load(text);
    assert.deepEqual(headerRuleProblems(r).map(show), ['edge@0123456789ab:headers.yaml:13:11 error InvalidHeaderRule spec.config.defaults.httpmapping.add_request_headers.x-test-static']);
    const c = compile(r.resources, {}, r.problems);
    assert.equal(c.report.errors, 1, 'the configuration is refused');
    assert.equal(c.ir.global.requestTimeoutMs, 9000, "the Module's other keys still apply");
  });
});

describe('validate names the refused rule with file:line:col and exits 1', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'portico-headers-'));
    writeFileSync(join(dir, 'quote.yaml'), MAPPING_EXAMPLE.replace('x-test-static: This is a test header', 'x-test-static: "a\\r\\nb"'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  it('portico validate', () => {
    const bin = fileURLToPath(new URL('../../../bin/portico.js', import.meta.url));
    const r = spawnSync(process.execPath, [bin, 'validate', 'quote.yaml'], { encoding: 'utf8', cwd: dir });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /quote\.yaml:11:5: error: Mapping default\/quote-backend: add_request_headers\.x-test-static: the value contains CR, LF or NUL: that would be header injection \[InvalidHeaderRule\] \(Mapping default\/quote-backend, spec\.add_request_headers\.x-test-static\)/);
  });
});

/** Emissary's headers docs: the Mapping and defaults examples of add_request_headers and add_response_headers. */
const EXAMPLES = ['1', '2'].flatMap((n) => [`topics.using.headers.add-request-headers.${n}.yaml`, `topics.using.headers.add-response-headers.${n}.yaml`]);

describe('validate --strict passes the docs examples, whose Envoy dynamic values Portico fills in; an operator it does not fill in fails it', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'portico-dynamic-'));
    // the add_response_headers Mapping example has no hostname, so it would attach nowhere (an error of its own)
    for (const f of EXAMPLES) writeFileSync(join(dir, f), readFileSync(join(DOCS, f), 'utf8').replace(/^spec:\n {2}prefix: \/backend\/\n/m, 'spec:\n  hostname: "*"\n  prefix: /backend/\n'));
    mkdirSync(join(dir, 'unsupported'));
    writeFileSync(join(dir, 'unsupported', 'm.yaml'), MAPPING_EXAMPLE.replace('"%PROTOCOL%"', '"%PROTOCOL% %RESPONSE_FLAGS%"'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  it('portico validate --strict', () => {
    const bin = fileURLToPath(new URL('../../../bin/portico.js', import.meta.url));
    // one at a time: the examples share their names and prefixes
    for (const f of EXAMPLES) {
      const ok = spawnSync(process.execPath, [bin, 'validate', '--strict', f], { encoding: 'utf8', cwd: dir });
      assert.equal(ok.status, 0, f + ok.stdout + ok.stderr);
    }
    const bad = spawnSync(process.execPath, [bin, 'validate', '--strict', 'unsupported'], { encoding: 'utf8', cwd: dir });
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /add_request_headers\.x-test-proto: %RESPONSE_FLAGS% is one of Envoy's dynamic values, which Emissary fills in; Portico does not fill it in and sends it as written \[NotImplemented\]/);
  });
});

describe('what loads is served: the docs example, a Latin-1 value and its dynamic values included, answers 200 with the headers', () => {
  let echo: EchoUpstream;
  before(async () => {
    echo = await startEcho('quote');
  });
  after(() => echo.close());
  it('GET /backend/', async () => {
    const text = MAPPING_EXAMPLE.replace('This is a test header', 'café').replace('service: quote', `service: 127.0.0.1:${echo.port}`) + '---\n' + cleartextHostYaml();
    const r = load(text);
    const c = compile(r.resources, {}, r.problems);
    assert.equal(c.report.errors, 0);
    const gw = await startGateway(c.ir);
    try {
      const res = await request(gw.port, { path: '/backend/' });
      assert.equal(res.status, 200);
      const sent = new Map(echo.received.at(-1)!.headers.map(([k, v]) => [k.toLowerCase(), v]));
      assert.equal(sent.get('x-test-static'), 'café');
      assert.equal(sent.get('x-test-object'), 'This the value');
      // the example's Envoy dynamic values, as Envoy fills them in
      assert.equal(sent.get('x-test-proto'), 'HTTP/1.1');
      assert.equal(sent.get('x-test-ip'), '127.0.0.1');
    } finally {
      await gw.close();
    }
  });
});
