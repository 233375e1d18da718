// AuthService proto grpc (envoy.service.auth.v3.Authorization/Check, protocol_version v3) end to
// end with a real @grpc/grpc-js ext_authz server: the CheckRequest's attributes (trusted client
// address, normalised path, headers, body, context_extensions), ok_response header changes,
// denied_response, gRPC errors, timeouts, failure modes, and a gRPC client through the gateway.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startEcho, echoedHeader, type EchoUpstream, type Echoed } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';
import { request, json, type Reply } from '../support/http-client.js';
import { compileYaml } from '../support/compile-yaml.js';
import { cleartextGatewayYaml, mappingYaml } from '../support/policy-yaml.js';
import { startGrpcAuth, type GrpcAuthServer } from '../support/auth-servers.js';
import { closedPort } from '../support/fault-upstream.js';
import { Gateway } from '../../src/serve/gateway.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import { loadFiles } from '../../src/load/index.js';
import { compile } from '../../src/compile/index.js';

const indent = (s: string): string => s.replace(/^(?=.)/gm, '  ');

function authYaml(port: number, extra = ''): string {
  return `---\napiVersion: getambassador.io/v3alpha1\nkind: AuthService\nmetadata:\n  name: grpc-auth\nspec:\n  auth_service: "127.0.0.1:${port}"\n  proto: grpc\n  protocol_version: v3\n${indent(extra)}`;
}

function gatewayYaml(echoPort: number, auth: string, module = ''): string {
  return `${cleartextGatewayYaml(8080)}---\n${mappingYaml('api', '/api/', echoPort, '  auth_context_extensions:\n    team: payments\n    tier: gold\n')}---\n${mappingYaml('open', '/open/', echoPort, '  bypass_auth: true\n')}${auth}${module}`;
}

const answer = (a: object): Record<string, string> => ({ 'x-want-answer': JSON.stringify(a) });

describe('AuthService proto grpc', () => {
  let echo: EchoUpstream;
  let authz: GrpcAuthServer;
  let gw: TestGateway;
  const gateways: TestGateway[] = [];
  const start = async (yaml: string): Promise<TestGateway> => {
    const g = await startGateway(compileYaml(yaml).ir);
    gateways.push(g);
    return g;
  };
  const get = (path: string, headers: Record<string, string> = {}, port = gw.port): Promise<Reply> =>
    request(port, { path, headers: { host: 'api.example', ...headers } });

  before(async () => {
    echo = await startEcho('api');
    authz = await startGrpcAuth();
    gw = await start(gatewayYaml(echo.port, authYaml(authz.port, 'allowed_authorization_headers: [x-tenant]\n'), '---\napiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata: {name: ambassador}\nspec:\n  config:\n    xff_num_trusted_hops: 1\n'));
  });
  after(async () => {
    for (const g of gateways) await g.close();
    await echo.close();
    await authz.close();
  });

  it('a Check carries the trusted client address, the normalised path, the headers and the Mapping\'s context_extensions', async () => {
    const r = await get('/api/a/../orders/1?x=2', { 'X-Forwarded-For': '203.0.113.7', 'X-Tenant': 'forged', 'User-Agent': 'grpc-test' });
    assert.equal(r.status, 200);
    const c = authz.checks.at(-1)!;
    assert.equal(c.source, '203.0.113.7', 'the address the trusted hop names, not the connection');
    assert.equal(c.path, '/api/orders/1?x=2');
    assert.equal(c.method, 'GET');
    assert.equal(c.host, 'api.example');
    assert.equal(c.scheme, 'http');
    assert.equal(c.protocol, 'HTTP/1.1');
    assert.deepEqual(c.contextExtensions, { team: 'payments', tier: 'gold' });
    assert.equal(c.headers[':path'], '/api/orders/1?x=2');
    assert.equal(c.headers[':authority'], 'api.example');
    assert.equal(c.headers['user-agent'], 'grpc-test');
    assert.equal(c.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    assert.equal(c.headers['x-tenant'], undefined, 'a client\'s claim to an identity only the service sets is not sent');
    const e = json<Echoed>(r);
    assert.equal(c.id, echoedHeader(e, 'x-request-id'), 'the check and the upstream share the request id');
    assert.equal(echoedHeader(e, 'x-tenant'), undefined, '...nor forwarded');
  });

  it('ok_response: headers set (append false) or appended, headers_to_remove, and response_headers_to_add for the client', async () => {
    const r = await get('/api/x', {
      ...answer({
        status: { code: 0 },
        ok_response: {
          headers: [
            { header: { key: 'x-user-id', value: 'alice' } },
            { header: { key: 'x-trace', value: 't2' }, append: { value: true } },
            { header: { key: 'x-tenant', value: 'acme' } },
            { header: { key: 'host', value: 'evil.example' } },
            { header: { key: 'x-forwarded-for', value: '6.6.6.6' } },
          ],
          headers_to_remove: ['x-remove-me'],
          response_headers_to_add: [{ header: { key: 'x-auth-note', value: 'checked' } }],
        },
      }),
      'X-User-Id': 'mallory', 'X-Trace': 't1', 'X-Remove-Me': 'secret',
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-auth-note'], 'checked');
    const e = json<Echoed>(r);
    assert.equal(echoedHeader(e, 'x-user-id'), 'alice');
    assert.equal(echoedHeader(e, 'x-trace'), 't1, t2');
    assert.equal(echoedHeader(e, 'x-tenant'), 'acme');
    assert.equal(echoedHeader(e, 'x-remove-me'), undefined);
    assert.equal(echoedHeader(e, 'host'), 'api.example', 'a policy never sets the Host');
    assert.equal(echoedHeader(e, 'x-forwarded-for'), '127.0.0.1', 'nor X-Forwarded-For');
  });

  it('denied_response is the client\'s answer: its status, headers and body', async () => {
    const r = await get('/api/x', answer({
      status: { code: 16 },
      denied_response: { status: { code: 401 }, headers: [{ header: { key: 'www-authenticate', value: 'Bearer' } }, { header: { key: 'content-length', value: '999' } }], body: 'token required' },
    }));
    assert.equal(r.status, 401);
    assert.equal(r.body, 'token required');
    assert.equal(r.headers['www-authenticate'], 'Bearer');
    assert.equal(r.headers['content-length'], '14', 'the gateway frames the reply itself');
    assert.deepEqual(gw.done.at(-1)!.policies, ['auth AuthService default/grpc-auth', 'deny']);
  });

  it('a non-OK status without denied_response is 403 in the local-reply shape', async () => {
    const r = await get('/api/x', answer({ status: { code: 7 } }));
    assert.equal(r.status, 403);
    assert.equal(json<{ code: string }>(r).code, 'auth_denied');
  });

  it('a failed call (gRPC UNAVAILABLE) gets status_on_error (403 by default)', async () => {
    const r = await get('/api/x', { 'x-want-grpc-error': String(grpc.status.UNAVAILABLE) });
    assert.equal(r.status, 403);
    assert.equal(json<{ code: string }>(r).code, 'auth_error');
    assert.match(gw.done.at(-1)!.upstreamError ?? '', /grpc_status_14/);
  });

  it('timeout_ms bounds the call; status_on_error answers; the service down fails closed, failure_mode_allow opens', async () => {
    const slow = await start(gatewayYaml(echo.port, authYaml(authz.port, 'timeout_ms: 300\nstatus_on_error: {code: 503}\n')));
    const hung = await get('/api/x', { 'x-want-hang': '1' }, slow.port);
    assert.equal(hung.status, 503);
    assert.equal(slow.done.at(-1)!.upstreamError, 'auth service timeout');
    const down = await closedPort();
    const closed = await start(gatewayYaml(echo.port, authYaml(down)));
    assert.equal((await get('/api/x', {}, closed.port)).status, 403);
    const open = await start(gatewayYaml(echo.port, authYaml(down, 'failure_mode_allow: true\n')));
    assert.equal((await get('/api/x', {}, open.port)).status, 200);
    assert.deepEqual(open.done.at(-1)!.policies, ['auth AuthService default/grpc-auth', 'error_allow']);
  });

  it('include_body sends the body in the Check; the upstream gets it too', async () => {
    const g = await start(gatewayYaml(echo.port, authYaml(authz.port, 'include_body: {max_bytes: 64, allow_partial: false}\n')));
    const r = await request(g.port, { method: 'POST', path: '/api/pay', headers: { host: 'api.example', 'content-type': 'application/json' }, body: '{"amount":5}' });
    assert.equal(r.status, 200);
    const c = authz.checks.at(-1)!;
    assert.equal(c.body, '{"amount":5}');
    assert.equal(c.size, 12);
    assert.equal(c.headers['x-envoy-auth-partial-body'], 'false');
    assert.equal(json<Echoed>(r).body, '{"amount":5}');
  });

  it('bypass_auth skips the Check', async () => {
    const before = authz.checks.length;
    assert.equal((await get('/open/x', answer({ status: { code: 7 } }))).status, 200);
    assert.equal(authz.checks.length, before);
  });

  it('protocol_version must be v3: the default (v2) is refused at compile, as Emissary 3 cannot serve it', () => {
    const yaml = `apiVersion: getambassador.io/v3alpha1\nkind: AuthService\nmetadata: {name: old}\nspec:\n  auth_service: auth:3000\n  proto: grpc\n`;
    const loaded = loadFiles([{ path: 'auth.yaml', content: yaml }]);
    const problems = compile(loaded.resources, {}, loaded.problems).report.problems;
    assert.deepEqual(problems.map((p) => `${p.severity} ${p.code} ${p.field}`), ['error SchemaViolation spec.proto']);
    assert.match(problems[0]!.message, /protocol_version: v3/);
  });
});

describe('a gRPC client through the gateway, checked by a gRPC AuthService', () => {
  const PROTO = 'syntax = "proto3";\npackage echo;\nmessage Msg { string text = 1; }\nservice Echo { rpc Unary (Msg) returns (Msg); }\n';
  type EchoClient = grpc.Client & { Unary(m: { text: string }, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: { text: string }) => void): void };
  let dir: string;
  let upstream: grpc.Server;
  let authz: GrpcAuthServer;
  let gw: Gateway;
  let client: EchoClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-grpc-auth-'));
    writeFileSync(join(dir, 'echo.proto'), PROTO);
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(join(dir, 'echo.proto'), { keepCase: true })) as unknown as {
      echo: { Echo: (new (addr: string, creds: grpc.ChannelCredentials) => EchoClient) & { service: grpc.ServiceDefinition } };
    };
    upstream = new grpc.Server();
    upstream.addService(pkg.echo.Echo.service, {
      Unary: (call: grpc.ServerUnaryCall<{ text: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { text: `${call.request.text} for ${String(call.metadata.get('x-user-id')[0] ?? 'nobody')}` }),
    });
    const upPort = await new Promise<number>((resolve, reject) => upstream.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    authz = await startGrpcAuth();
    const yaml = `${cleartextGatewayYaml(8080)}---\n${mappingYaml('echo', '/echo.Echo/', upPort, '  grpc: true\n  rewrite: ""\n')}${authYaml(authz.port)}`;
    const ir = compileYaml(yaml).ir;
    gw = new Gateway({ buildRuntime, drainTimeoutMs: 500 });
    assert.equal((await gw.apply({ ...ir, listeners: ir.listeners.map((l) => ({ ...l, port: 0 })) }, {}, { source: 't' })).ok, true);
    client = new pkg.echo.Echo(`127.0.0.1:${Object.values(gw.boundPorts())[0]!}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    client.close();
    gw.forceClose();
    upstream.forceShutdown();
    await authz.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (md: Record<string, string>): Promise<{ err: grpc.ServiceError | null; text?: string }> => new Promise((resolve) => {
    const m = new grpc.Metadata();
    for (const [k, v] of Object.entries(md)) m.set(k, v);
    client.Unary({ text: 'hi' }, m, (err, r) => resolve({ err, ...(r ? { text: r.text } : {}) }));
  });

  it('allowed: the call reaches the upstream with the service\'s headers, over HTTP/2', async () => {
    const r = await call(answer({ status: { code: 0 }, ok_response: { headers: [{ header: { key: 'x-user-id', value: 'alice' } }] } }));
    assert.equal(r.err, null);
    assert.equal(r.text, 'hi for alice');
    assert.equal(authz.checks.at(-1)!.protocol, 'HTTP/2');
    assert.equal(authz.checks.at(-1)!.path, '/echo.Echo/Unary');
  });

  it('denied 401: the gRPC client sees UNAUTHENTICATED; 403: PERMISSION_DENIED', async () => {
    const unauth = await call(answer({ status: { code: 16 }, denied_response: { status: { code: 401 } } }));
    assert.equal(unauth.err?.code, grpc.status.UNAUTHENTICATED);
    const denied = await call(answer({ status: { code: 7 } }));
    assert.equal(denied.err?.code, grpc.status.PERMISSION_DENIED);
  });
});
