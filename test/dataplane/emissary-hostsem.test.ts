import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { loadFiles } from '../../src/load/index.js';
import { compile } from '../../src/compile/index.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import type { RequestInfo, Runtime } from '../../src/dataplane/runtime-types.js';
import type { IR } from '../../src/ir/types.js';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { request } from '../support/http-client.js';

// Emissary's own host-semantics data: per listener, which (scheme, host, path) is routed to which
// cluster and which is redirected to https. "https" requests arrive secure (TLS terminated, so
// X-Forwarded-Proto is https); "implicit-http" ones arrive in clear text.

interface ExpectedRoute {
  readonly scheme: 'https' | 'implicit-http';
  readonly host: string;
  readonly path: string;
  readonly action: 'ROUTE' | 'REDIRECT';
  readonly action_arg: string;
}
interface ExpectedListener {
  readonly name: string;
  readonly port: number;
  readonly chains: readonly { readonly vhosts: readonly { readonly routes: readonly ExpectedRoute[] }[] }[];
}

const CORPUS = fileURLToPath(new URL('../../../test/testdata/emissary/hostsem', import.meta.url));
const CASES = ['basic', 'cleartextonly', 'minimal'];

describe('Emissary host semantics (hostsem corpus) through compile and the request path', () => {
  let echo: EchoUpstream;
  const servers: http.Server[] = [];
  const runtimes: Runtime[] = [];
  before(async () => {
    echo = await startEcho('svc');
  });
  after(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    for (const r of runtimes) await r.drain(0);
    await echo.close();
  });

  /** Every cluster points at the local echo server (no DNS lookups leave the machine). */
  function localClusters(ir: IR): IR {
    return { ...ir, clusters: ir.clusters.map((c) => ({ ...c, dns: false, scheme: 'http' as const, tls: undefined, endpoints: [{ host: '127.0.0.1', port: echo.port }] })) };
  }

  async function serve(rt: Runtime, listener: string, port: number, tls: boolean): Promise<number> {
    const s = http.createServer((q, r) => rt.handle(q, r, { listener, port, tls }));
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as AddressInfo).port;
  }

  for (const name of CASES) {
    it(`${name}: routes and redirects exactly as Emissary renders them`, async () => {
      const loaded = loadFiles([{ path: `${name}.yaml`, content: readFileSync(`${CORPUS}/${name}.yaml`) }]);
      const compiled = compile(loaded.resources, {}, loaded.problems);
      const done: RequestInfo[] = [];
      const rt = buildRuntime(localClusters(compiled.ir), compiled.secrets, { generation: 1, hash: compiled.hash, onRequestDone: (i) => done.push(i) });
      runtimes.push(rt);
      const expected = JSON.parse(readFileSync(`${CORPUS}/${name}-expected.json`, 'utf8')) as ExpectedListener[];
      let checked = 0;
      for (const l of expected) {
        const irl = compiled.ir.listeners.find((x) => x.port === l.port && x.l7);
        const routes = l.chains.flatMap((c) => c.vhosts.flatMap((v) => v.routes)).filter((r) => !r.path.startsWith('/ambassador/'));
        if (routes.length === 0) continue;
        assert.ok(irl, `listener on port ${l.port}`);
        const secure = await serve(rt, irl.name, irl.port, true);
        const clear = await serve(rt, irl.name, irl.port, false);
        for (const r of routes) {
          const port = r.scheme === 'https' ? secure : clear;
          const host = r.host === '*' ? 'anything.example.com' : r.host;
          const res = await request(port, { path: `${r.path}x`, headers: { host } });
          const what = `${l.name} ${r.scheme}://${host}${r.path}`;
          if (r.action === 'REDIRECT') {
            assert.equal(res.status, 301, what);
            assert.equal(res.headers.location, `https://${host}${r.path}x`, what);
          } else {
            assert.equal(res.status, 200, what);
            assert.equal(done.at(-1)?.cluster, r.action_arg.trim(), what);
          }
          checked++;
        }
      }
      assert.ok(checked > 0);
    });
  }
});
