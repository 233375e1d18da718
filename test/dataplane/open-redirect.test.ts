// No redirect the gateway writes leaves the request's origin (issue 16, item 2): escaped-slash
// redirects with merge_slashes off, https redirects and Mapping redirects, over real sockets.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { backend, buildIR, cluster, route, vhost } from '../support/ir-builder.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { startRawUpstream, type RawUpstream } from '../support/raw-upstream.js';
import { sendRaw } from '../support/raw-h1-sender.js';
import type { IRRoute } from '../../src/ir/types.js';

const ORIGIN = 'http://a.example';

interface Redirect {
  readonly status: number;
  readonly location: string;
}

async function get(port: number, path: string): Promise<Redirect> {
  const x = await sendRaw(port, `GET ${path} HTTP/1.1\r\nHost: a.example\r\nconnection: close\r\n\r\n`);
  const location = /\r\nlocation: ([^\r]*)\r\n/i.exec(x.text)?.[1] ?? '';
  return { status: x.statuses[0] ?? 0, location };
}

/** What a browser does with the Location: the URL it goes to next, resolved against the request's URL. */
function followed(location: string, requestPath: string): URL {
  return new URL(location, ORIGIN + requestPath);
}

function assertStaysOnOrigin(r: Redirect, requestPath: string): URL {
  assert.ok(r.location !== '', 'a Location is given');
  assert.doesNotMatch(r.location, /^\/[/\\]/, `${r.location} must not be a network-path reference`);
  const next = followed(r.location, requestPath);
  assert.equal(next.host, 'a.example', `${r.location} leads to ${next.href}`);
  return next;
}

describe('escaped-slash redirects with merge_slashes off never leave the origin', () => {
  let up: RawUpstream;
  let gw: TestGateway;
  before(async () => {
    up = await startRawUpstream();
    gw = await startGateway(buildIR({
      clusters: [cluster('public', up.port)],
      routes: [route('default/public', { prefix: '/public/' }, [backend('public', { rewrite: { prefix: null } })])],
      global: { mergeSlashes: false, escapedSlashesAction: 'UNESCAPE_AND_REDIRECT' },
    }));
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  const attacks: [string, string][] = [
    ['/public/..%2f%2fevil.example/x', '//evil.example/x'],
    ['/%2f%2fevil.example/x', '///evil.example/x'],
    ['/%5c%5cevil.example/x', '///evil.example/x'],
    ['/%2f%5cevil.example/x', '///evil.example/x'],
    ['/public/..%2F%5Cevil.example/x?next=1', '//evil.example/x'],
  ];
  for (const [path, canonical] of attacks) {
    it(`${path} → 307 to the canonical path ${canonical} on this origin`, async () => {
      const before = up.requests.length;
      const r = await get(gw.port, path);
      assert.equal(r.status, 307);
      const next = assertStaysOnOrigin(r, path);
      assert.equal(next.pathname, canonical, 'the client comes back on the canonical path');
      assert.equal(next.search, path.includes('?') ? '?next=1' : '');
      // Following it ends the redirects (no loop): the canonical path is routed like any other.
      const again = await get(gw.port, next.pathname + next.search);
      assert.equal(again.status, 404);
      assert.equal(up.requests.length, before, 'never forwarded');
    });
  }

  it('the path-confusion corpus (HARDENING case 33) with merge_slashes off: never outside /public/, never off the origin', async () => {
    const rows = parse(readFileSync(new URL('../../../test/dataplane/corpus/path-confusion.yaml', import.meta.url), 'utf8')) as { path: string }[];
    assert.ok(rows.length >= 20);
    for (const { path } of rows) {
      const before = up.requests.length;
      const r = await get(gw.port, path);
      if (r.status >= 300 && r.status < 400) assertStaysOnOrigin(r, path);
      for (const seen of up.requests.slice(before)) assert.match(seen.requestLine, /^GET \/public\//, `${path} was forwarded as ${seen.requestLine}`);
      if (r.status === 200) assert.equal(up.requests.length, before + 1);
    }
  });

  it('an escaped-slash redirect that stays under /public/ still works as before', async () => {
    const r = await get(gw.port, '/public/a%2fb');
    assert.equal(r.status, 307);
    assert.equal(r.location, '/public/a/b');
    assert.equal((await get(gw.port, '/public/a/b')).status, 200);
  });
});

describe('https and Mapping redirects name this host, whatever the path holds', () => {
  let up: RawUpstream;
  let insecure: TestGateway;
  let mappings: TestGateway;
  before(async () => {
    up = await startRawUpstream();
    const routes = [route('default/public', { prefix: '/' }, [backend('public', { rewrite: { prefix: null } })])];
    insecure = await startGateway(buildIR({
      clusters: [cluster('public', up.port)],
      vhosts: [vhost('*', routes, { insecureAction: 'Redirect' })],
      global: { mergeSlashes: false, escapedSlashesAction: 'KEEP_UNCHANGED' },
    }));
    const redirect = (id: string, prefix: string, r: NonNullable<IRRoute['redirect']>): IRRoute => route(id, { prefix }, [], { redirect: r });
    mappings = await startGateway(buildIR({
      clusters: [cluster('public', up.port)],
      routes: [
        redirect('default/prefix', '/go/', { prefixRedirect: '/', responseCode: 301 }),
        redirect('default/regex', '/re/', { regexRedirect: { pattern: '^/re/(.*)$', substitution: '/\\1' }, responseCode: 302 }),
        redirect('default/path', '/fixed/', { pathRedirect: '//evil.example/x', responseCode: 308 }),
        redirect('default/elsewhere', '/moved/', { hostRedirect: 'other.example', responseCode: 301 }),
      ],
      global: { mergeSlashes: false, escapedSlashesAction: 'KEEP_UNCHANGED' },
    }));
  });
  after(async () => {
    await insecure.close();
    await mappings.close();
    await up.close();
  });

  it('https redirect of //evil.example/x → https://a.example//evil.example/x', async () => {
    const r = await get(insecure.port, '//evil.example/x');
    assert.equal(r.status, 301);
    const next = assertStaysOnOrigin(r, '//evil.example/x');
    assert.equal(next.protocol, 'https:');
    assert.equal(next.pathname, '//evil.example/x');
  });

  for (const [path, status] of [['/go//evil.example/x', 301], ['/re//evil.example/x', 302], ['/fixed/y', 308]] as const) {
    it(`Mapping redirect of ${path} stays on this host`, async () => {
      const r = await get(mappings.port, path);
      assert.equal(r.status, status);
      assert.equal(assertStaysOnOrigin(r, path).pathname, '//evil.example/x');
    });
  }

  it('a configured host_redirect is the one way to another host', async () => {
    const r = await get(mappings.port, '/moved//evil.example/x');
    assert.equal(r.status, 301);
    assert.equal(followed(r.location, '/moved/').host, 'other.example');
  });
});
