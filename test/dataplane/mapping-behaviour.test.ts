import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backend, buildIR, cluster, route, vhost } from '../support/ir-builder.js';
import { echoedHeader, startEcho, type EchoUpstream, type Echoed } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { json, request } from '../support/http-client.js';
import { whenTrue } from '../support/wait-until.js';
import { Agent, request as httpRequest } from 'node:http';

/** Many requests over a few keep-alive connections, bounded in count. */
async function many(port: number, n: number, path: string, concurrency = 8): Promise<string[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const names: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      const name = await new Promise<string>((resolve, reject) => {
        const rq = httpRequest({ host: '127.0.0.1', port, path, agent, headers: { host: 'example.com' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve((JSON.parse(Buffer.concat(chunks).toString()) as Echoed).name));
        });
        rq.on('error', reject);
        rq.end();
      });
      names.push(name);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return names;
}

describe('Mapping behaviour through the gateway', () => {
  let a: EchoUpstream;
  let b: EchoUpstream;
  let shadow: EchoUpstream;
  let gw: TestGateway;

  before(async () => {
    a = await startEcho('a');
    b = await startEcho('b', (e) => (e.url.includes('status=500') ? { status: 500 } : { headers: { 'x-upstream': 'yes', 'x-secret': 'internal' } }));
    shadow = await startEcho('shadow');
    const rng = fc.sample(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { numRuns: 20_000, seed: 42 });
    let i = 0;
    const random = (): number => rng[i++ % rng.length] as number;
    const ir = buildIR({
      clusters: [cluster('a', a.port), cluster('b', b.port), cluster('shadow', shadow.port)],
      global: { headers: { requestAdd: [{ name: 'x-global', value: 'g', append: true }], requestRemove: [], responseAdd: [{ name: 'x-served-by', value: 'portico', append: false }], responseRemove: [] } },
      vhosts: [
        vhost('secure.example.com', [route('default/secure', { prefix: '/' }, [backend('a')])], { insecureAction: 'Redirect' }),
        vhost('reject.example.com', [route('default/reject', { prefix: '/' }, [backend('a')])], { insecureAction: 'Reject' }),
        vhost('*', [
          route('default/canary', { prefix: '/canary/' }, [backend('a', { weight: 90 }), backend('b', { weight: 10 })]),
          route('default/shadowed', { prefix: '/shadowed/' }, [backend('a')], { shadow: { cluster: 'shadow', weight: 100 } }),
          route('default/regex', { prefix: '/regex/' }, [backend('a', { rewrite: { prefix: '/', regex: { pattern: '^/regex/([a-z]+)/([0-9]+)$', substitution: '/\\2/\\1' } } })]),
          route('default/hostrw', { prefix: '/hostrw/' }, [backend('a', { hostRewrite: 'internal.svc' })]),
          route('default/autohost', { prefix: '/autohost/' }, [backend('a', { autoHostRewrite: true })]),
          route('default/headers', { prefix: '/headers/' }, [backend('b', {
            headers: {
              requestAdd: [{ name: 'x-added', value: 'one', append: true }, { name: 'x-replace', value: 'mine', append: false }],
              requestRemove: ['x-drop-me'],
              responseAdd: [{ name: 'x-resp', value: 'r', append: true }, { name: 'x-served-by', value: 'route', append: true }],
              responseRemove: ['x-secret'],
            },
          })]),
          route('default/redir-host', { prefix: '/rh/' }, [], { redirect: { hostRedirect: 'other.example.com', responseCode: 301 } }),
          route('default/redir-path', { prefix: '/rp/' }, [], { redirect: { pathRedirect: '/new/place', responseCode: 302 } }),
          route('default/redir-prefix', { prefix: '/rx/' }, [], { redirect: { prefixRedirect: '/moved/', responseCode: 308 } }),
          route('default/redir-regex', { prefix: '/rr/' }, [], { redirect: { regexRedirect: { pattern: '^/rr/(.*)$', substitution: '/regex-moved/\\1' }, responseCode: 307 } }),
          route('default/redir-https', { prefix: '/rs/' }, [], { redirect: { httpsRedirect: true, responseCode: 301 } }),
        ]),
      ],
    });
    gw = await startGateway(ir, { random });
  });
  after(async () => {
    await gw.close();
    await Promise.all([a.close(), b.close(), shadow.close()]);
  });

  it('splits canary traffic by weight per request (90/10 within tolerance over 2000 requests)', async () => {
    const names = await many(gw.port, 2000, '/canary/x');
    const toB = names.filter((n) => n === 'b').length;
    assert.equal(names.length, 2000);
    assert.ok(toB > 140 && toB < 260, `b got ${toB} of 2000`);
  });

  it('mirrors to the shadow cluster with a -shadow Host; the real response is unaffected', async () => {
    const before = shadow.received.length;
    const r = await request(gw.port, { path: '/shadowed/x', headers: { host: 'example.com' } });
    assert.equal(r.status, 200);
    assert.equal(json<Echoed>(r).name, 'a');
    await whenTrue('the mirrored request at the shadow', () => shadow.received.length > before, [[shadow.events, 'request']]);
    const seen = shadow.received.at(-1);
    assert.ok(seen);
    assert.equal(echoedHeader(seen, 'host'), 'example.com-shadow');
    assert.equal(seen.url, '/x');
  });

  it('applies regex_rewrite with RE2-style group references', async () => {
    assert.equal(json<Echoed>(await request(gw.port, { path: '/regex/item/42' })).url, '/42/item');
  });

  it('applies host_rewrite and auto_host_rewrite', async () => {
    const hr = json<Echoed>(await request(gw.port, { path: '/hostrw/x' }));
    assert.equal(echoedHeader(hr, 'host'), 'internal.svc');
    // Envoy adds X-Forwarded-Host only with append_x_forwarded_host, which Emissary never sets.
    assert.equal(echoedHeader(hr, 'x-forwarded-host'), undefined);
    const ah = json<Echoed>(await request(gw.port, { path: '/autohost/x' }));
    assert.equal(echoedHeader(ah, 'host'), '127.0.0.1');
  });

  it('adds and removes request headers with append semantics, route rules then global', async () => {
    const r = await request(gw.port, { path: '/headers/x', headers: { host: 'example.com', 'x-added': 'client', 'x-replace': 'client', 'x-drop-me': '1' } });
    const e = json<Echoed>(r);
    assert.equal(echoedHeader(e, 'x-added'), 'client, one');
    assert.equal(echoedHeader(e, 'x-replace'), 'mine');
    assert.equal(echoedHeader(e, 'x-drop-me'), undefined);
    assert.equal(echoedHeader(e, 'x-global'), 'g');
    assert.equal(r.headers['x-resp'], 'r');
    assert.equal(r.headers['x-secret'], undefined);
    assert.equal(r.headers['x-upstream'], 'yes');
    assert.equal(r.headers['x-served-by'], 'portico', 'global append:false replaces the route value');
  });

  it('redirects: host, path, prefix, regex and https, with the configured codes', async () => {
    const rh = await request(gw.port, { path: '/rh/a?q=1' });
    assert.equal(rh.status, 301);
    assert.equal(rh.headers.location, 'http://other.example.com/rh/a?q=1');
    const rp = await request(gw.port, { path: '/rp/a?q=1' });
    assert.equal(rp.status, 302);
    assert.equal(rp.headers.location, 'http://example.com/new/place?q=1');
    const rx = await request(gw.port, { path: '/rx/a/b' });
    assert.equal(rx.status, 308);
    assert.equal(rx.headers.location, 'http://example.com/moved/a/b');
    const rr = await request(gw.port, { path: '/rr/z' });
    assert.equal(rr.status, 307);
    assert.equal(rr.headers.location, 'http://example.com/regex-moved/z');
    const rs = await request(gw.port, { path: '/rs/z' });
    assert.equal(rs.status, 301);
    assert.equal(rs.headers.location, 'https://example.com/rs/z');
  });

  it('insecure requests: Redirect → 301 to https, Reject → 404, XFP from a client is not trusted', async () => {
    const r = await request(gw.port, { path: '/p?x', headers: { host: 'secure.example.com', 'x-forwarded-proto': 'https' } });
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, 'https://secure.example.com/p?x');
    const rj = await request(gw.port, { path: '/p', headers: { host: 'reject.example.com' } });
    assert.equal(rj.status, 404);
  });
});

describe('insecure action behind a trusted proxy (securityModel XFP, l7Depth 1)', () => {
  let a: EchoUpstream;
  let gw: TestGateway;
  before(async () => {
    a = await startEcho('a');
    gw = await startGateway(buildIR({
      clusters: [cluster('a', a.port)],
      listener: { l7Depth: 1 },
      vhosts: [vhost('*', [route('default/r', { prefix: '/' }, [backend('a')])], { insecureAction: 'Redirect', redirectPort: 8443 })],
    }));
  });
  after(async () => {
    await gw.close();
    await a.close();
  });

  it('routes requests the trusted proxy marked https and redirects the others to the redirect port', async () => {
    const ok = await request(gw.port, { path: '/x', headers: { host: 'example.com', 'x-forwarded-proto': 'https' } });
    assert.equal(ok.status, 200);
    assert.equal(echoedHeader(json<Echoed>(ok), 'x-forwarded-proto'), 'https');
    const red = await request(gw.port, { path: '/x', headers: { host: 'example.com', 'x-forwarded-proto': 'http' } });
    assert.equal(red.status, 301);
    assert.equal(red.headers.location, 'https://example.com:8443/x');
  });
});
