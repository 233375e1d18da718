import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileYaml } from '../support/compile-yaml.js';
import { echoedHeader, startEcho, type EchoUpstream, type Echoed } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { json, request } from '../support/http-client.js';
import { cleartextHostYaml } from '../support/policy-yaml.js';

function mapping(name: string, spec: string): string {
  // Not beside host: with both, host is ignored, as in Emissary.
  const hostname = /^host:/m.test(spec) ? '' : '\n  hostname: "*"';
  return `---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: ${name}, namespace: default }
spec:${hostname}
${spec.trim().split('\n').map((l) => '  ' + l).join('\n')}
`;
}

describe('Emissary Mappings compiled from YAML and served', () => {
  let a: EchoUpstream;
  let b: EchoUpstream;
  let gw: TestGateway;
  before(async () => {
    a = await startEcho('a');
    b = await startEcho('b');
    const svcA = `127.0.0.1:${a.port}`;
    const svcB = `127.0.0.1:${b.port}`;
    const yaml = [
      mapping('quote', `prefix: /backend/\nservice: ${svcA}`),
      mapping('norewrite', `prefix: /keep/\nrewrite: ""\nservice: ${svcA}`),
      mapping('custom-rewrite', `prefix: /v1/\nrewrite: /api/v1/\nservice: ${svcA}`),
      mapping('by-header', `prefix: /hdr/\nheaders: { x-team: blue }\nservice: ${svcB}`),
      mapping('by-header-fallback', `prefix: /hdr/\nservice: ${svcA}`),
      mapping('by-query', `prefix: /q/\nquery_parameters: { beta: "true" }\nservice: ${svcB}`),
      mapping('by-query-fallback', `prefix: /q/\nservice: ${svcA}`),
      mapping('by-method', `prefix: /m/\nmethod: PUT\nservice: ${svcB}`),
      mapping('regex', `prefix: /items/[0-9]+\nprefix_regex: true\nservice: ${svcB}`),
      mapping('regex-rewrite', `prefix: /rr/\nregex_rewrite: { pattern: "^/rr/([^/]+)/(.*)$", substitution: "/\\\\2/\\\\1" }\nservice: ${svcA}`),
      mapping('add-headers', `prefix: /ah/\nadd_request_headers: { x-from-gw: "yes" }\nadd_response_headers: { x-resp: { value: "r", append: false } }\nremove_response_headers: [x-powered-by]\nservice: ${svcA}`),
      mapping('host-specific', `prefix: /hs/\nhost: only.example.com\nservice: ${svcB}`),
      mapping('host-specific-fallback', `prefix: /hs/\nservice: ${svcA}`),
      mapping('host-rw', `prefix: /hrw/\nhost_rewrite: upstream.internal\nservice: ${svcA}`),
    ].join('');
    // A cleartext Host: with none, Emissary's default Host redirects these requests to HTTPS.
    const { ir } = compileYaml(cleartextHostYaml() + yaml);
    gw = await startGateway(ir);
  });
  after(async () => {
    await gw.close();
    await Promise.all([a.close(), b.close()]);
  });

  const get = async (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    json<Echoed>(await request(gw.port, { path, method, headers: { host: 'example.com', ...headers } }));

  it('prefix with the default rewrite "/", rewrite "" keeps the path, custom rewrite replaces the prefix', async () => {
    assert.equal((await get('/backend/a/b?x=1')).url, '/a/b?x=1');
    assert.equal((await get('/keep/a')).url, '/keep/a');
    assert.equal((await get('/v1/users')).url, '/api/v1/users');
  });

  it('headers, query_parameters and method narrow a Mapping; the broader one catches the rest', async () => {
    assert.equal((await get('/hdr/x', { 'x-team': 'blue' })).name, 'b');
    assert.equal((await get('/hdr/x', { 'x-team': 'red' })).name, 'a');
    assert.equal((await get('/q/x?beta=true')).name, 'b');
    assert.equal((await get('/q/x?beta=false')).name, 'a');
    assert.equal((await get('/m/x', {}, 'PUT')).name, 'b');
  });

  it('prefix_regex routes by regular expression', async () => {
    assert.equal((await get('/items/42')).name, 'b');
    const miss = await request(gw.port, { path: '/items/abc', headers: { host: 'example.com' } });
    assert.equal(miss.status, 404);
  });

  it('regex_rewrite substitutes groups', async () => {
    assert.equal((await get('/rr/first/rest/of/it')).url, '/rest/of/it/first');
  });

  it('add_request_headers, add_response_headers and remove_response_headers', async () => {
    const r = await request(gw.port, { path: '/ah/x', headers: { host: 'example.com' } });
    assert.equal(echoedHeader(json<Echoed>(r), 'x-from-gw'), 'yes');
    assert.equal(r.headers['x-resp'], 'r');
  });

  it('host narrows a Mapping to one authority', async () => {
    assert.equal((await get('/hs/x', { host: 'only.example.com' })).name, 'b');
    assert.equal((await get('/hs/x', { host: 'other.example.com' })).name, 'a');
  });

  it('host_rewrite sets the upstream Host', async () => {
    assert.equal(echoedHeader(await get('/hrw/x'), 'host'), 'upstream.internal');
  });
});
