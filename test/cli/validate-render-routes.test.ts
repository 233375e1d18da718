// The offline commands as a user runs them: `node bin/portico.js validate|render|routes`, exit codes and formats.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTestPKI } from '../support/test-pki.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin/portico.js');
let dir = '';

function portico(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: dir });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'portico-cli-'));
  mkdirSync(join(dir, 'good/teams'), { recursive: true });
  writeFileSync(join(dir, 'good/listener.yaml'), 'apiVersion: getambassador.io/v3alpha1\nkind: Listener\nmetadata: { name: http, namespace: default }\nspec: { port: 8080, protocol: HTTP, securityModel: INSECURE, hostBinding: { namespace: { from: ALL } } }\n');
  writeFileSync(join(dir, 'good/host.yaml'), 'apiVersion: getambassador.io/v3alpha1\nkind: Host\nmetadata: { name: api, namespace: default }\nspec: { hostname: api.example.com, requestPolicy: { insecure: { action: Route } } }\n');
  writeFileSync(join(dir, 'good/teams/orders.yaml'), 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: { name: orders, namespace: shop }\nspec:\n  hostname: api.example.com\n  prefix: /orders/\n  service: orders:8080\n---\napiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: { name: orders-canary, namespace: shop }\nspec: { hostname: api.example.com, prefix: /orders/, service: orders-v2:8080, weight: 20 }\n');
  mkdirSync(join(dir, 'bad'));
  writeFileSync(join(dir, 'bad/typo.yaml'), 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: { name: typo, namespace: default }\nspec:\n  hostname: "*"\n  prefix: /x/\n  service: x\n  timout_ms: 5\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('validate: a clean folder exits 0 and summarises resources and routes', () => {
  const r = portico('validate', 'good');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /4 resources, 1 routes, 0 errors, 0 warnings/);
});

test('validate: a misspelled field is a warning naming file:line:col, resource and field; exit 0, as Emissary ignores it', () => {
  const r = portico('validate', 'bad');
  assert.equal(r.code, 0, r.stdout);
  assert.match(r.stdout, /bad\/typo\.yaml:8:3: warning: .*timout_ms.* \[UnknownField\] \(Mapping default\/typo, spec\.timout_ms\)/);
  assert.match(r.stdout, /1 resources, \d+ routes, 0 errors, 1 warnings/);
});

test('validate loads no JWT, metrics, telemetry, Redis or YAML-writer packages (start-up is most of a small validate)', () => {
  // A preload that prints every module the process resolves: ESM through a resolve hook, CommonJS through require's resolver.
  writeFileSync(join(dir, 'load-hooks.mjs'), 'export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write(`LOADED ${r.url}\\n`); return r; }\n');
  writeFileSync(
    join(dir, 'record-loads.mjs'),
    "import { register, createRequire } from 'node:module';\nregister('./load-hooks.mjs', import.meta.url);\n" +
      "const Module = createRequire(import.meta.url)('node:module');\nconst resolve = Module._resolveFilename;\n" +
      'Module._resolveFilename = function (...a) { const f = resolve.apply(this, a); process.stderr.write(`LOADED ${f}\\n`); return f; };\n',
  );
  const r = spawnSync(process.execPath, ['--import', './record-loads.mjs', bin, 'validate', 'good'], { encoding: 'utf8', cwd: dir });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const packages = new Set<string>();
  const packageOf = (path: string): string | undefined => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)?.[1];
  // A file of the CLI's bundle (npm run build) stands for the modules it was built from.
  const bundleMeta = join(root, 'dist/bundle/cli/meta.json');
  const outputs = existsSync(bundleMeta) ? (JSON.parse(readFileSync(bundleMeta, 'utf8')) as { outputs: Record<string, { inputs: Record<string, unknown> }> }).outputs : {};
  for (const [, url] of r.stderr.matchAll(/^LOADED (.*)$/gm)) {
    const pkg = packageOf(url!);
    if (pkg) packages.add(pkg);
    const inBundle = url!.startsWith('file:') ? outputs[relative(root, fileURLToPath(url!))] : undefined;
    for (const input of Object.keys(inBundle?.inputs ?? {})) {
      const p = packageOf(input);
      if (p) packages.add(p);
    }
  }
  // The preload sees what validate does load.
  assert.ok(packages.has('re2js') && packages.has('@sinclair/typebox'), [...packages].join(' '));
  for (const p of ['jose', 'prom-client', '@opentelemetry/api', 'yaml', 'ioredis', 'protobufjs', 'pino']) assert.ok(!packages.has(p), `validate loaded ${p}`);
});

test('validate --strict: the same warning is an error, exit 1 (for CI)', () => {
  const r = portico('validate', '--strict', 'bad');
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stdout, /bad\/typo\.yaml:8:3: error: .*timout_ms.* \[UnknownField\]/);
  assert.match(r.stdout, /1 errors, 0 warnings/);
  // A clean folder stays clean.
  assert.equal(portico('validate', '--strict', 'good').code, 0);
});

test('validate --format github prints workflow annotations', () => {
  const r = portico('validate', '--format', 'github', 'bad');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^::warning file=bad\/typo\.yaml,line=8,col=3,title=UnknownField::/m);
  assert.match(portico('validate', '--strict', '--format', 'github', 'bad').stdout, /^::error file=bad\/typo\.yaml,line=8,col=3,title=UnknownField::/m);
});

test('validate --format json gives problems and conditions as data', () => {
  const r = portico('validate', '--format', 'json', 'good', 'bad');
  assert.equal(r.code, 0);
  const j = JSON.parse(r.stdout) as { valid: boolean; errors: number; warnings: number; problems: { code: string; severity: string; origin: { path: string; line: number } }[]; conditions: { name: string; status: string }[] };
  assert.equal(j.valid, true);
  assert.deepEqual([j.errors, j.warnings], [0, 1]);
  assert.deepEqual(j.problems.map((p) => [p.code, p.severity]), [['UnknownField', 'warning']]);
  assert.equal(j.conditions.find((c) => c.name === 'orders')!.status, 'Valid');
  const strict = JSON.parse(portico('validate', '--strict', '--format', 'json', 'good', 'bad').stdout) as typeof j;
  assert.deepEqual([strict.valid, strict.errors, strict.warnings], [false, 1, 0]);
});

// The AuthService example of Emissary's docs (datawire/ambassador-docs, docs/emissary/latest/topics/
// running/services/auth-service.md), without its ambassador_id: enforced, so it validates and
// renders; a gRPC one without protocol_version v3 (which Emissary 3 cannot serve) is an error.
test('validate and render: an AuthService is valid and rendered with its settings; a gRPC one without protocol_version v3 is an error, exit 1', () => {
  mkdirSync(join(dir, 'auth'), { recursive: true });
  writeFileSync(
    join(dir, 'auth/auth.yaml'),
    'apiVersion: getambassador.io/v3alpha1\nkind: AuthService\nmetadata:\n  name: authentication\nspec:\n  auth_service: "example-auth.authentication:3000"\n  proto: http\n  timeout_ms: 5000\n  failure_mode_allow: false\n',
  );
  assert.equal(portico('validate', 'good', 'auth').code, 0);
  const j = JSON.parse(portico('render', 'good', 'auth').stdout) as { ir: { global: { policies?: { authServices?: { name: string; timeoutMs: number; statusOnError: number; cluster: string }[] } } } };
  const a = j.ir.global.policies?.authServices?.[0];
  assert.deepEqual([a?.name, a?.timeoutMs, a?.statusOnError, a?.cluster], ['default/authentication', 5000, 403, 'cluster_extauth_example_auth_authentication_3000_default']);
  mkdirSync(join(dir, 'grpcauth'), { recursive: true });
  writeFileSync(join(dir, 'grpcauth/auth.yaml'), 'apiVersion: getambassador.io/v3alpha1\nkind: AuthService\nmetadata:\n  name: old\nspec:\n  auth_service: "auth:3000"\n  proto: grpc\n');
  const r = portico('validate', 'good', 'grpcauth');
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stdout, /grpcauth\/auth\.yaml:\d+:\d+: error: a gRPC AuthService needs protocol_version: v3.* \[SchemaViolation\]/);
});

test('validate: TLSContexts with hosts and no Host at all are a warning, as Emissary ignores them; with a Host, none', () => {
  const pki = makeTestPKI();
  try {
    mkdirSync(join(dir, 'tls-secrets/api-cert'), { recursive: true });
    writeFileSync(join(dir, 'tls-secrets/api-cert/tls.crt'), pki.a.certPem);
    writeFileSync(join(dir, 'tls-secrets/api-cert/tls.key'), pki.a.keyPem);
  } finally {
    pki.cleanup();
  }
  const contexts =
    'apiVersion: getambassador.io/v3alpha1\nkind: TLSContext\nmetadata: { name: api, namespace: default }\nspec: { hosts: [api.example.com], secret: api-cert }\n' +
    // Origination only: no hosts, so nothing it could terminate.
    '---\napiVersion: getambassador.io/v3alpha1\nkind: TLSContext\nmetadata: { name: upstream, namespace: default }\nspec: { min_tls_version: v1.2 }\n';
  mkdirSync(join(dir, 'tls-no-host'));
  // The default Host terminates with a TLSContext named fallback: that one is used.
  const fallback = '---\napiVersion: getambassador.io/v3alpha1\nkind: TLSContext\nmetadata: { name: fallback, namespace: default }\nspec: { hosts: ["*"], secret: api-cert }\n';
  writeFileSync(join(dir, 'tls-no-host/tls.yaml'), contexts + fallback);
  mkdirSync(join(dir, 'tls-host'));
  writeFileSync(join(dir, 'tls-host/tls.yaml'), `${contexts}---\napiVersion: getambassador.io/v3alpha1\nkind: Host\nmetadata: { name: api, namespace: default }\nspec: { hostname: api.example.com, tlsContext: { name: api } }\n`);

  const r = portico('validate', 'tls-no-host', '--secrets', 'tls-secrets');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /tls-no-host\/tls\.yaml:4:9: warning: TLSContext 'api' names hosts \(api\.example\.com\) but no Host is defined: .*ignored, as in Emissary.*fallback certificate.* \[TLSContextNotUsed\] \(TLSContext default\/api, spec\.hosts\)/);
  assert.match(r.stdout, /3 resources, 0 routes, 0 errors, 1 warnings/);
  assert.equal(portico('validate', '--strict', 'tls-no-host', '--secrets', 'tls-secrets').code, 1);

  const withHost = portico('validate', 'tls-host', '--secrets', 'tls-secrets');
  assert.equal(withHost.code, 0, withHost.stdout + withHost.stderr);
  assert.doesNotMatch(withHost.stdout, /TLSContextNotUsed/);
});

test('usage errors exit 2', () => {
  assert.equal(portico('validate').code, 2);
  assert.equal(portico('validate', '--format', 'xml', 'good').code, 2);
  assert.equal(portico('nonsense').code, 2);
});

test('render is stable: the same folder renders byte-identical JSON, and YAML parses to the same data', () => {
  const a = portico('render', 'good');
  const b = portico('render', 'good');
  assert.equal(a.code, 0);
  assert.equal(a.stdout, b.stdout);
  const j = JSON.parse(a.stdout) as { hash: string; ir: { listeners: { port: number }[] } };
  assert.match(j.hash, /^[0-9a-f]{64}$/);
  assert.equal(j.ir.listeners[0]!.port, 8080);
  const y = portico('render', '--format', 'yaml', 'good');
  assert.match(y.stdout, new RegExp(`hash: ${j.hash}`));
});

test('routes --format json lists routes in evaluation order with match, action, owner and origin', () => {
  const r = portico('routes', '--format', 'json', 'good');
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as { listener: { port: number }; virtualHost: { hostname: string; name: string }; match: { prefix: string }; action: { type: string; upstreams: { service: string; weight: number }[] }; mapping: { name: string; namespace: string }; origin: { file: string; line: number } }[];
  assert.equal(rows.length, 1);
  const row = rows[0]!;
  assert.equal(row.listener.port, 8080);
  assert.equal(row.virtualHost.hostname, 'api.example.com');
  assert.equal(row.match.prefix, '/orders/');
  assert.deepEqual(row.action.upstreams.map((u) => [u.service, u.weight]), [['orders.shop:8080', 80], ['orders-v2.shop:8080', 20]]);
  assert.deepEqual(row.mapping, { name: 'orders', namespace: 'shop' });
  assert.equal(row.origin.file, join('good', 'teams', 'orders.yaml'));
  assert.equal(row.origin.line, 1);
});
