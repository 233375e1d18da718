// Emissary's own test data: hostsem cases must compile to the same (scheme, host, path, action,
// target) routes Emissary renders, and every e2e fixture must load and compile with no error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadPaths } from '../../src/load/index.js';
import { compile } from '../../src/compile/index.js';
import { routeTable } from '../../src/ir/route-table.js';

const corpus = fileURLToPath(new URL('../../../test/testdata/emissary/', import.meta.url));

interface ExpectedRoute {
  scheme: string;
  host: string;
  path: string;
  action: string;
  action_arg: string;
}

function expectedRoutes(file: string): string[] {
  const listeners = JSON.parse(readFileSync(file, 'utf8')) as { chains: { vhosts: { routes: ExpectedRoute[] }[] }[] }[];
  const out = new Set<string>();
  for (const l of listeners)
    for (const c of l.chains)
      for (const v of c.vhosts)
        for (const r of v.routes) {
          if (r.path.startsWith('/ambassador/v0/')) continue; // Emissary's own diagnostics and probes
          out.add([r.scheme, r.host, r.path, r.action, r.action === 'ROUTE' ? r.action_arg.trim() : 'HTTPS'].join(' '));
        }
  return [...out].sort();
}

for (const name of readdirSync(join(corpus, 'hostsem')).filter((f) => f.endsWith('.yaml')).sort()) {
  test(`hostsem ${name}: routes match Emissary's expected scheme/host/path/action/target`, async () => {
    const loaded = await loadPaths([join(corpus, 'hostsem', name)]);
    const r = compile(loaded.resources, {}, loaded.problems);
    assert.equal(r.report.errors, 0, JSON.stringify(r.report.problems));
    const got = new Set<string>();
    for (const row of routeTable(r.ir)) {
      if (row.action.type !== 'route') continue;
      const path = row.match.prefix ?? row.match.path ?? row.match.regex ?? '';
      const cluster = row.action.upstreams[0]!.cluster;
      if (row.schemes.https) got.add(['https', row.virtualHost.hostname, path, 'ROUTE', cluster].join(' '));
      if (row.schemes.http === 'route') got.add(['implicit-http', row.virtualHost.hostname, path, 'ROUTE', cluster].join(' '));
      if (row.schemes.http === 'redirect') got.add(['implicit-http', row.virtualHost.hostname, path, 'REDIRECT', 'HTTPS'].join(' '));
    }
    assert.deepEqual([...got].sort(), expectedRoutes(join(corpus, 'hostsem', name.replace(/\.yaml$/, '-expected.json'))));
  });
}

for (const name of readdirSync(join(corpus, 'e2e')).sort()) {
  test(`e2e fixture ${name}: manifests load and compile with no error under its ambassador_id`, async () => {
    const loaded = await loadPaths([join(corpus, 'e2e', name, 'manifests.yaml')], { ambassadorId: "(env('SLOT'))" });
    const r = compile(loaded.resources, { ambassadorId: "(env('SLOT'))" }, loaded.problems);
    // AuthService and RateLimitService are refused (NotEnforced): Portico does not enforce them.
    assert.deepEqual(r.report.problems.filter((p) => p.severity === 'error' && p.code !== 'NotEnforced'), []);
    assert.ok(loaded.resources.length > 0, 'the fixture has gateway resources');
    // Non-gateway kinds (Deployment, Service) are skipped with a note, never silently.
    const text = readFileSync(join(corpus, 'e2e', name, 'manifests.yaml'), 'utf8');
    if (/kind: Deployment/.test(text)) assert.ok(r.report.problems.some((p) => p.code === 'NonEmissaryKind'));
  });
}
