// `explain` and offline route tests on Emissary's 8080/8443 layout, where both Listeners are
// `protocol: HTTPS` and so take cleartext too: they give the data plane's answer, redirect included.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Explainer } from '../../src/review/explain-engine.js';
import { offlineState } from '../../src/controller/offline.js';
import { parseRequestLine } from '../../src/review/request-spec.js';
import { parseRouteTests, runOffline } from '../../src/review/route-tests.js';

// Emissary's cmd/entrypoint/testdata/hostsem-basic.yaml (two Listeners, 8080 and 8443, both
// protocol HTTPS) with the routes Emissary renders for it: cleartext ("implicit-http") redirected
// to HTTPS, TLS routed. Copied unchanged with its notice into test/testdata/emissary/.
const HOSTSEM = fileURLToPath(new URL('../../../test/testdata/emissary/hostsem', import.meta.url));

interface ExpectedRoute {
  readonly scheme: 'https' | 'implicit-http';
  readonly host: string;
  readonly path: string;
  readonly action: 'ROUTE' | 'REDIRECT';
  readonly action_arg: string;
}

function expectedRoutes(name: string, port: number): ExpectedRoute[] {
  const listeners = JSON.parse(readFileSync(join(HOSTSEM, `${name}-expected.json`), 'utf8')) as { port: number; chains: { vhosts: { routes: ExpectedRoute[] }[] }[] }[];
  const l = listeners.find((x) => x.port === port)!;
  return l.chains.flatMap((c) => c.vhosts.flatMap((v) => v.routes)).filter((r) => !r.path.startsWith('/ambassador/'));
}

test('hostsem basic: on HTTPS listeners explain redirects or routes cleartext per Host and forwards TLS, as Emissary renders it', async () => {
  const c = await offlineState({ paths: [join(HOSTSEM, 'basic.yaml')] });
  const e = new Explainer(c.result.ir, c.resources);
  let checked = 0;
  for (const port of [8080, 8443]) {
    for (const r of expectedRoutes('basic', port)) {
      const scheme = r.scheme === 'https' ? 'https' : 'http';
      const host = r.host === '*' ? 'anything.example.com' : r.host;
      const got = e.explain(parseRequestLine(`GET ${scheme}://${host}${r.path}x`), { port });
      const what = `${port} ${scheme}://${host}${r.path}`;
      assert.equal(got.listener?.port, port, what);
      if (r.action === 'REDIRECT') {
        assert.equal(got.outcome, 'https_redirect', what);
        assert.equal(got.status, 301, what);
        assert.equal(got.location, `https://${host}${r.path}x`, what);
        assert.equal(got.secure?.value, false, what);
      } else {
        assert.equal(got.outcome, 'forward', what);
        assert.equal(got.backends[0]?.cluster, r.action_arg.trim(), what);
      }
      checked++;
    }
  }
  assert.ok(checked >= 4);
  // Without --port, a cleartext URL goes to the first HTTPS listener (8080), which serves cleartext.
  const plain = e.explain(parseRequestLine('GET http://h2.example.com/quote/'));
  assert.equal(plain.listener?.port, 8080);
  assert.equal(plain.outcome, 'https_redirect');
  assert.deepEqual(plain.notes.filter((n) => /explained as if/.test(n)), []);
});

test('hostsem basic: an offline route test of the redirect passes, and one expecting 200 over cleartext fails', async () => {
  const c = await offlineState({ paths: [join(HOSTSEM, 'basic.yaml')] });
  const e = new Explainer(c.result.ir, c.resources);
  const { tests, problems } = parseRouteTests(
    'redirect.test.yaml',
    `tests:
  - name: cleartext is sent to https
    request: { url: "http://h2.example.com/quote/a?b=1" }
    expect: { status: 301, redirect: "https://h2.example.com/quote/a?b=1" }
  - name: TLS is forwarded
    request: { url: "https://h2.example.com/quote/a" }
    expect: { status: 200, upstream: quote, path: /a }
  - name: wrong, cleartext is not forwarded
    request: { url: "http://h2.example.com/quote/a" }
    expect: { status: 200 }
`,
  );
  assert.deepEqual(problems, []);
  const results = tests.map((t) => runOffline(e, t));
  assert.deepEqual(results.map((r) => r.ok), [true, true, false]);
  assert.deepEqual(results[2]!.mismatches, [{ field: 'status', expected: 200, actual: 301 }]);
});
