import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import fc from 'fast-check';
import { backend, buildIR, cluster, LISTENER, route } from '../support/ir-builder.js';
import { roundTrip, startGateway, type TestGateway } from '../support/gateway-server.js';
import { startRawUpstream, type RawUpstream } from '../support/raw-upstream.js';
import { sendRaw } from '../support/raw-h1-sender.js';
import { parseRequestTarget } from '../../src/dataplane/path-normalize.js';
import { buildRuntimeIndex, matchRoute } from '../../src/dataplane/route-index.js';
import { defaultGlobal } from '../../src/compile/global-policy.js';

interface Row {
  readonly name: string;
  readonly path: string;
  readonly expect: number;
  readonly upstream?: string;
  readonly location?: string;
}

const rows = parse(readFileSync(new URL('../../../test/dataplane/corpus/path-confusion.yaml', import.meta.url), 'utf8')) as Row[];

/** A path the route forwards, for the round trip that shows what the upstream was sent. */
const BARRIER = '/public/round-trip';

const ir = (port: number) => buildIR({ clusters: [cluster('public', port)], routes: [route('default/public', { prefix: '/public/' }, [backend('public', { rewrite: { prefix: null } })])] });

/**
 * How a lenient upstream (Express/Tomcat-like) reads a path: percent-decode everything, treat
 * backslash as slash, drop ;parameters, resolve dot segments.
 */
function upstreamView(path: string): string {
  let p: string;
  try {
    p = decodeURIComponent(path.split('?')[0] as string);
  } catch {
    p = path;
  }
  p = p.replace(/\\/g, '/').replace(/;[^/]*/g, '');
  const out: string[] = [];
  for (const s of p.split('/').slice(1)) {
    if (s === '..') out.pop();
    else if (s !== '.' && s !== '') out.push(s);
  }
  return '/' + out.join('/');
}

describe('path-confusion corpus (HARDENING case 33)', () => {
  let up: RawUpstream;
  let gw: TestGateway;
  before(async () => {
    up = await startRawUpstream();
    gw = await startGateway(ir(up.port));
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  for (const row of rows) {
    it(`${row.name}: ${row.path} → ${row.expect}`, async () => {
      const before = up.requests.length;
      const x = await sendRaw(gw.port, `GET ${row.path} HTTP/1.1\r\nHost: a\r\nconnection: close\r\n\r\n`);
      assert.ok(x.closed, 'the gateway closes the connection after the response');
      assert.equal(x.statuses[0], row.expect, x.text.slice(0, 200));
      await roundTrip(gw.port, BARRIER);
      const seen = up.requests.slice(before).filter((r) => !r.requestLine.includes(BARRIER));
      if (row.expect === 200) {
        assert.equal(seen.length, 1);
        const forwarded = (seen[0]?.requestLine ?? '').split(' ')[1] as string;
        assert.equal(forwarded, row.upstream);
        assert.ok(upstreamView(forwarded).startsWith('/public/'), 'what the upstream resolves is still under /public/');
        // the access log shows the same path the upstream got (no rewrite on this route)
        const info = gw.done.findLast((d) => d.path !== BARRIER);
        assert.equal(info?.path, forwarded.split('?')[0]);
      } else {
        assert.equal(seen.length, 0, 'never forwarded');
      }
      if (row.location !== undefined) assert.match(x.text, new RegExp(`\\r\\nlocation: ${row.location.replace(/[/]/g, '\\/')}\\r\\n`, 'i'));
    });
  }

  it('property: whatever the gateway forwards under /public/, a lenient upstream also resolves under /public/', () => {
    const index = buildRuntimeIndex(ir(1), () => undefined);
    const g = defaultGlobal();
    const seg = fc.constantFrom('public', 'admin', '..', '.', '%2e%2e', '%2E', '%2f', '%5c', '..%2f', '%61dmin', '', 'x;y', '..;', 'a', '%00', '%25');
    fc.assert(fc.property(fc.array(seg, { maxLength: 8 }), (segs) => {
      const target = '/' + segs.join('/');
      const t = parseRequestTarget(target, g);
      if (t.kind !== 'ok') return;
      const m = matchRoute(index, LISTENER, { host: 'a', path: t.path, query: '', method: 'GET', header: () => undefined });
      if (m.route === undefined) return;
      assert.ok((upstreamView(t.path) + '/').startsWith('/public/'), `${target} → ${t.path} → ${upstreamView(t.path)}`);
      // idempotent: the forwarded path parses to itself
      const again = parseRequestTarget(t.path, g);
      assert.equal(again.kind === 'ok' && again.path, t.path);
    }), { numRuns: 2000, seed: 7 });
  });
});
