// The admin API answers only for Host names that cannot be rebound (issue 16, item 5): loopback
// names, IP addresses, its bound name and --admin-host names; webhook receivers answer for any name.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { AdminServer, type AdminServerOptions } from '../../src/admin/admin-server.js';
import { parseServeArgs } from '../../src/cli/serve-options.js';
import { UsageError } from '../../src/cli/args.js';
import { request } from '../serve/http-client.js';

const CONFIG = { generation: 7, ir: { listeners: [] } };

async function startAdmin(options: AdminServerOptions = {}): Promise<{ admin: AdminServer; port: number; hooks: string[] }> {
  const admin = new AdminServer({
    ready: () => true,
    config: () => CONFIG,
    routes: () => ({ routes: [] }),
    metrics: async () => 'portico_config_generation 7\n',
  }, options);
  const hooks: string[] = [];
  admin.register('/hooks/', (req, res) => {
    hooks.push(`${req.method ?? ''} ${req.url ?? ''} ${req.headers.host ?? ''}`);
    res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}\n');
  }, { methods: ['POST'] });
  const addr = await admin.listen('127.0.0.1', 0);
  after(() => admin.close());
  return { admin, port: addr.port, hooks };
}

function get(port: number, path: string, host: string, method = 'GET') {
  return request(`http://127.0.0.1:${port}${path}`, { method, headers: { host }, ...(method === 'POST' ? { body: '{}' } : {}) });
}

/** One request written byte for byte (no Host at all, or a path a client library would not send). */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(text));
    let out = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe('admin API Host check (DNS rebinding)', () => {
  it('answers a rebinding page\'s Host with 421 and a short body, on every read path', async () => {
    const { port } = await startAdmin();
    for (const path of ['/api/v1/config', '/api/v1/routes', '/metrics', '/healthz', '/readyz', '/nope']) {
      for (const host of ['evil.example', `evil.example:${port}`, 'localhost.evil.example', '127.0.0.1.nip.io', 'localhost:x']) {
        const r = await get(port, path, host);
        assert.equal(r.status, 421, `${path} Host: ${host}`);
        assert.ok(r.body.length < 200);
        assert.doesNotMatch(r.body, /generation|portico_config/);
      }
    }
  });

  it('answers loopback names, IP addresses (probes by pod IP) and the bound address, with or without port', async () => {
    const { port } = await startAdmin();
    for (const host of ['localhost', `localhost:${port}`, 'LOCALHOST', 'localhost.', '127.0.0.1', `127.0.0.1:${port}`, '[::1]', `[::1]:${port}`, `10.1.2.3:${port}`, '[fd00::7]']) {
      const r = await get(port, '/api/v1/config', host);
      assert.equal(r.status, 200, `Host: ${host}`);
      assert.equal(JSON.parse(r.body).generation, 7);
    }
  });

  it('answers names given with --admin-host, and no others', async () => {
    const { port } = await startAdmin({ hosts: ['admin.internal.example', 'Edge-Admin'] });
    assert.equal((await get(port, '/api/v1/config', `admin.internal.example:${port}`)).status, 200);
    assert.equal((await get(port, '/healthz', 'edge-admin')).status, 200);
    assert.equal((await get(port, '/api/v1/config', 'other.internal.example')).status, 421);
  });

  it('a request without Host (HTTP/1.0, no browser sends one) is answered', async () => {
    const { port } = await startAdmin();
    assert.match(await raw(port, 'GET /healthz HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 200 /);
  });

  it('webhooks under /hooks/ answer for the public name git hosts use; the rest of the API does not', async () => {
    const { port, hooks } = await startAdmin();
    const r = await get(port, '/hooks/github/team-a', 'gateway.public.example', 'POST');
    assert.equal(r.status, 202);
    assert.deepEqual(hooks, ['POST /hooks/github/team-a gateway.public.example']);
    assert.equal((await get(port, '/api/v1/config', 'gateway.public.example')).status, 421);
    // a dot segment cannot borrow the exemption: the path is resolved before the check
    const climbed = await raw(port, 'GET /hooks/../api/v1/config HTTP/1.1\r\nHost: gateway.public.example\r\nconnection: close\r\n\r\n');
    assert.match(climbed, /^HTTP\/1\.1 421 /);
    assert.doesNotMatch(climbed, /generation/);
  });

  it('serve takes --admin-host NAME, repeatable, and refuses a value that is not a host name', () => {
    const o = parseServeArgs(['--config', 'x', '--admin-host', 'a.example', '--admin-host=b.example', '--admin-host', '10.0.0.1']);
    assert.deepEqual(o.serve.adminHosts, ['a.example', 'b.example', '10.0.0.1']);
    assert.equal(parseServeArgs(['--config', 'x']).serve.adminHosts, undefined);
    for (const bad of ['a.example:8877', 'http://a.example', '', 'a b']) {
      assert.throws(() => parseServeArgs(['--config', 'x', '--admin-host', bad]), UsageError, bad);
    }
  });
});
