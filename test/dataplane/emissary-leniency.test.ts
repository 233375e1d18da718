// Lenient where Emissary is lenient (issue 15 item 7): unknown fields, a path in a service URL, a
// retry count above 10 and CORS origins no browser sends load with a warning and are served as
// Emissary serves them; "*" with credentials is the one exception, for security. Built from
// Emissary's docs examples and test YAML (test/testdata/emissary, see its READMEs), served for real.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFiles, type LoadResult } from '../../src/load/index.js';
import { compile, type CompileResult } from '../../src/compile/index.js';
import { formatOrigin } from '../../src/api/origin.js';
import type { Resource } from '../../src/api/resource.js';
import type { Problem } from '../../src/api/problems.js';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { request } from '../support/http-client.js';
import { startRawUpstream, OK_RESPONSE, type RawUpstream } from '../support/raw-upstream.js';
import { cleartextHostYaml } from '../support/policy-yaml.js';

const EMISSARY = join(process.cwd(), 'test', 'testdata', 'emissary');
const read = (path: string): string => readFileSync(join(EMISSARY, path), 'utf8');

function load(path: string, text = read(path), ambassadorId?: string): LoadResult {
  return loadFiles([{ path, content: text }], ambassadorId ? { ambassadorId } : {});
}

const show = (p: Problem): string => `${formatOrigin(p.origin)} ${p.severity} ${p.code} ${p.field}`;

/** A loaded resource with some spec fields replaced (to point it at a local upstream). */
function withSpec(r: Resource, spec: Record<string, unknown>): Resource {
  return { ...r, spec: { ...(r.spec as Record<string, unknown>), ...spec } } as Resource;
}

/** Compiled with a Host that routes cleartext (with no Host, cleartext is redirected, as in Emissary). */
function compiled(rs: Resource[], problems: readonly Problem[] = []): CompileResult {
  const c = compile([...rs, ...loadFiles([{ path: 'host.yaml', content: cleartextHostYaml() }]).resources], {}, problems);
  assert.equal(c.report.errors, 0, JSON.stringify(c.report.problems.filter((p) => p.severity === 'error')));
  return c;
}

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function serve(c: CompileResult, opts: { random?: () => number } = {}): Promise<TestGateway> {
  const gw = await startGateway(c.ir, opts);
  cleanups.push(() => gw.close());
  return gw;
}

describe('unknown fields: a warning naming the field and the closest one; the object loads without it', () => {
  it('the docs typo "hosname" (topics/running/host-crd.md) is ignored, as Emissary ignores it', () => {
    const r = load('docs/topics.running.host-crd.4.yaml');
    assert.deepEqual(r.problems.map(show), ['docs/topics.running.host-crd.4.yaml:17:3 warning UnknownField spec.hosname']);
    assert.match(r.problems[0]!.message, /unknown field "hosname" \(did you mean "hostname"\?\); ignored/);
    const m = r.resources.find((x) => x.name === 'skip-mapping-wrong-hostname')!;
    assert.deepEqual(Object.keys(m.spec as object).sort(), ['prefix', 'service']);
  });

  it('an unknown key deep in rate-limit labels (howtos/rate-limiting-tutorial.md) is ignored; the Mapping loads', () => {
    const r = load('docs/howtos.rate-limiting-tutorial.2.yaml');
    assert.deepEqual(r.problems.map(show), [
      'docs/howtos.rate-limiting-tutorial.2.yaml:13:11 warning UnknownField spec.labels.emissary[0].request_label_group[0].x-emissary-test-allow',
    ]);
    assert.equal(r.resources.length, 1);
  });
});

describe('a path in the service URL is ignored, as Emissary ignores it', () => {
  let echo: EchoUpstream;
  before(async () => {
    echo = await startEcho('upstream');
    cleanups.push(() => echo.close());
  });

  it('service: https://upstream/ (topics/using/mappings.md) loads with a warning and routes to upstream:443', () => {
    const r = load('docs/topics.using.mappings.2.yaml');
    assert.deepEqual(r.problems.map(show), ['docs/topics.using.mappings.2.yaml:8:3 warning ServicePathIgnored spec.service']);
    const c = compiled([withSpec(r.resources[0]!, { hostname: '*' })], r.problems);
    assert.deepEqual(c.ir.clusters.map((k) => [k.scheme, k.endpoints[0]!.host, k.endpoints[0]!.port]), [['https', 'upstream', 443]]);
  });

  it('served: requests reach the host and port of the service, with the route\'s own path', async () => {
    const r = load('docs/topics.using.mappings.2.yaml');
    const c = compiled([withSpec(r.resources[0]!, { hostname: '*', service: `http://127.0.0.1:${echo.port}/ignored/path?q=1` })]);
    const gw = await serve(c);
    const res = await request(gw.port, { path: '/prefix/item' });
    assert.equal(res.status, 200);
    assert.equal(echo.received.at(-1)!.url, '/item');
  });
});

describe('retry_policy.num_retries above 10 is kept, as Emissary keeps it, with a warning', () => {
  let upstream: RawUpstream;
  let attempts = 0;
  before(async () => {
    // Fails with 503 (a gateway error) eleven times, then answers: only more than 10 retries reach the answer.
    upstream = await startRawUpstream((c) => {
      attempts++;
      c.socket.write(attempts <= 11 ? 'HTTP/1.1 503 Busy\r\ncontent-length: 4\r\n\r\nbusy' : OK_RESPONSE);
    });
    cleanups.push(() => upstream.close());
  });

  it('Mapping default/a of api-versions/v3alpha1/mappings.yaml (num_retries: 15) loads and keeps 15', async () => {
    const r = load('api-versions/v3alpha1/mappings.yaml', undefined, 'consultest');
    const above = r.problems.filter((p) => p.code === 'AboveLimit');
    assert.deepEqual(above.map(show), ['api-versions/v3alpha1/mappings.yaml:537:11 warning AboveLimit spec.retry_policy.num_retries']);
    assert.match(above[0]!.message, /15 is above 10: one failing request may reach the upstream 16 times; kept, as Emissary keeps it/);
    const a = r.resources.find((x) => x.name === 'a')!;
    const c = compiled([withSpec(a, { hostname: '*', service: `127.0.0.1:${upstream.port}` })]);
    const backend = c.ir.listeners[0]!.virtualHosts[0]!.routes[0]!.backends[0]!;
    assert.deepEqual([backend.retryPolicy?.numRetries, backend.retryPolicy?.retryOn], [15, ['gateway-error']]);
    // Served: the twelfth attempt answers.
    const gw = await serve(c, { random: () => 0 });
    const res = await request(gw.port, { path: '/api/v1/projects/p1/a/x' });
    assert.equal(res.status, 200);
    assert.equal(attempts, 12);
  });
});

describe('CORS: origins no browser sends warn and never match; "*" with credentials is never answered', () => {
  let echo: EchoUpstream;
  let gw: TestGateway;
  let problems: Problem[];
  before(async () => {
    echo = await startEcho('cors-example');
    cleanups.push(() => echo.close());
    // The CORS example of topics/using/cors.md, with "*" added to its origins as that page says
    // ("To allow all origins, use the wildcard"), next to its credentials: true.
    const text = read('docs/topics.using.cors.1.yaml')
      .replace('origins: http://foo.example,http://bar.example', 'origins: http://foo.example,http://bar.example,*')
      .replace('service: cors-example', `service: 127.0.0.1:${echo.port}\n  hostname: "*"`);
    const r = load('docs/topics.using.cors.1.yaml', text);
    problems = r.problems;
    gw = await serve(compiled(r.resources, r.problems));
  });

  it('"ffs,ffs2" with credentials (load-testing-base, api-versions/v3alpha1/mappings.yaml) warns per origin, with what was meant', () => {
    const r = load('api-versions/v3alpha1/mappings.yaml');
    const cors = r.problems.filter((p) => p.resource?.name === 'load-testing-base');
    assert.deepEqual(cors.map(show), [
      'api-versions/v3alpha1/mappings.yaml:450:22 warning InvalidCORS spec.cors.origins[0]',
      'api-versions/v3alpha1/mappings.yaml:450:29 warning InvalidCORS spec.cors.origins[1]',
    ]);
    assert.match(cors[0]!.message, /"ffs" is not an origin as browsers send it .* \(did you mean "https:\/\/ffs"\?\)/);
    const c = compile(r.resources.filter((x) => x.name === 'load-testing-base').map((x) => withSpec(x, { hostname: '*' })));
    assert.deepEqual(c.ir.listeners[0]!.virtualHosts[0]!.routes[0]!.cors?.origins, []);
  });

  it('"*" with credentials is a warning, not an error', () => {
    assert.deepEqual(problems.map(show), ['docs/topics.using.cors.1.yaml:11:5 warning InvalidCORS spec.cors.origins[2]']);
    assert.match(problems[0]!.message, /would let any site read responses with its users' cookies/);
  });

  const preflight = (origin: string) =>
    request(gw.port, { method: 'OPTIONS', path: '/cors/', headers: { host: 'example.com', origin, 'access-control-request-method': 'POST' } });

  it('a listed origin is answered with credentials, as in Emissary', async () => {
    const r = await preflight('http://foo.example');
    assert.equal(r.headers['access-control-allow-origin'], 'http://foo.example');
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    const get = await request(gw.port, { path: '/cors/', headers: { host: 'example.com', origin: 'http://bar.example' } });
    assert.equal(get.headers['access-control-allow-origin'], 'http://bar.example');
  });

  it('any other origin gets no CORS headers: Emissary would echo it with credentials', async () => {
    for (const origin of ['https://evil.example', 'null']) {
      const r = await preflight(origin);
      assert.equal(r.headers['access-control-allow-origin'], undefined, origin);
      assert.equal(r.headers['access-control-allow-credentials'], undefined, origin);
      const get = await request(gw.port, { path: '/cors/', headers: { host: 'example.com', origin } });
      assert.equal(get.status, 200);
      assert.equal(get.headers['access-control-allow-origin'], undefined, origin);
      assert.equal(get.headers['access-control-allow-credentials'], undefined, origin);
    }
  });
});
