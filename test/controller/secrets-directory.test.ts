// The secrets directory with the controller and a real gateway: reading it (mounted-Secret links,
// confinement, caps), noticing a change, rotating without a dropped connection (a half-written pair
// is refused, the old certificate stays), credentials in header rules reaching the upstream only,
// and a key committed to git kept out of the last-known-good yet restored after a restart.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEcho, echoedHeader, type EchoUpstream } from '../support/echo-upstream.js';
import { freePort } from '../support/free-port.js';
import { makeTestPKI, type TestPKI } from '../support/test-pki.js';
import { httpsEcho, type EchoAnswer } from '../support/tls-client.js';
import { TestRepo, removeDir, tempDir } from '../sources/git-fixture.js';
import { listenerYaml, mappingYaml, newController, newGateway, rootSource } from './controller-fixture.js';
import { readSecretsDirectory, secretsInputs, SecretsDirectory, SecretsDirectoryError, type SecretsRead } from '../../src/controller/secrets-directory.js';
import { readHistory } from '../../src/controller/history.js';
import { LastKnownGoodStore } from '../../src/controller/last-known-good.js';
import { NoValidConfigurationError, type Controller } from '../../src/controller/controller.js';
import type { DeclaredSource } from '../../src/controller/source-kind.js';
import type { Gateway } from '../../src/serve/gateway.js';
import { REDACTED } from '../../src/ir/secrets.js';
import { canonicalJSON } from '../../src/ir/canonical.js';

const root = tempDir('secrets-dir');
let pki: TestPKI;
let echo: EchoUpstream;
const gateways: Gateway[] = [];
const controllers: Controller[] = [];
before(async () => {
  pki = makeTestPKI();
  echo = await startEcho('app');
});
after(async () => {
  for (const c of controllers) await c.stop();
  for (const g of gateways) g.forceClose();
  await echo.close();
  pki.cleanup();
  removeDir(root);
});

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;
const b64 = (s: string): string => Buffer.from(s).toString('base64');

function hostYaml(secretName: string): string {
  return `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata:
  name: a
spec:
  hostname: a.example.test
  tlsSecret:
    name: ${secretName}
`;
}

/** One HTTPS request to a.example.test: the certificate served, and what the upstream received. */
function httpsGet(port: number, path: string, agent: https.Agent | false = false): Promise<EchoAnswer> {
  return httpsEcho(port, path, 'a.example.test', pki.caPem, agent);
}

function folderRoot(dir: string): DeclaredSource {
  return { spec: { name: 'dir', url: dir, branch: '', path: '' }, kind: 'directory', intervalMs: Infinity, onForcePush: 'refuse' };
}

function writeEntry(secrets: string, name: string, files: Record<string, string>): void {
  mkdirSync(join(secrets, name), { recursive: true });
  for (const [f, content] of Object.entries(files)) writeFileSync(join(secrets, name, f), content);
}

/** A folder configuration, a secrets directory and a controller whose inputs are re-read on demand. */
async function world(label: string, config: (port: number) => string, extraEntries: Record<string, Record<string, string>> = {}) {
  const dir = join(root, label);
  const cfg = join(dir, 'config');
  const secrets = join(dir, 'secrets');
  mkdirSync(cfg, { recursive: true });
  mkdirSync(secrets, { recursive: true });
  const port = await freePort();
  writeFileSync(join(cfg, 'gateway.yaml'), config(port));
  writeEntry(secrets, 'edge-cert', { 'tls.crt': pki.a.certPem, 'tls.key': pki.a.keyPem });
  for (const [name, files] of Object.entries(extraEntries)) writeEntry(secrets, name, files);
  let read: SecretsRead = await readSecretsDirectory(secrets);
  const gateway = newGateway();
  gateways.push(gateway);
  const stateDir = join(dir, 'state');
  const controller = newController(gateway, { roots: [folderRoot(cfg)], stateDir, compileInputs: () => secretsInputs(read) });
  controllers.push(controller);
  await controller.start();
  /** What the watcher does on a change: read again, recompile, wait for the pass. */
  const reread = async (): Promise<void> => {
    read = await readSecretsDirectory(secrets);
    controller.recompile();
    await controller.idle();
  };
  return { port, secrets, stateDir, gateway, controller, reread };
}

describe('the secrets directory with the controller and a real gateway', () => {
  it('rotation: a half-written pair and a removed entry are refused and the old certificate stays; the full pair goes to new handshakes while an open connection keeps going', async () => {
    const w = await world('rotate', (port) => `${listenerYaml(port, 'https', 'HTTPS')}---\n${hostYaml('edge-cert')}---\n${mappingYaml('app', '/', echo.port)}`);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await httpsGet(w.port, '/one', agent);
      assert.equal(first.status, 200);
      assert.equal(first.cert, fingerprint(pki.a.certPem));

      // tls.crt written, tls.key not yet: the pair does not match.
      writeFileSync(join(w.secrets, 'edge-cert', 'tls.crt'), pki.a2.certPem);
      await w.reread();
      assert.equal((await httpsGet(w.port, '/two')).cert, fingerprint(pki.a.certPem), 'the previous certificate stays');
      const refused = readHistory(w.stateDir, { source: '@secrets' }).at(-1)!;
      assert.equal(refused.result, 'Rejected');
      assert.equal(refused.reason, 'InvalidSecrets');
      assert.match(refused.detail!, /edge-cert\/tls\.key in the secrets directory does not match the certificate/);
      const status = w.controller.secretsStatus()!;
      assert.equal(status.state, 'Refused');
      assert.match(status.remedy!, /fix the files in the secrets directory/);

      writeFileSync(join(w.secrets, 'edge-cert', 'tls.key'), pki.a2.keyPem);
      await w.reread();
      const rotated = await httpsGet(w.port, '/three');
      assert.equal(rotated.status, 200);
      assert.equal(rotated.cert, fingerprint(pki.a2.certPem), 'a new handshake gets the new certificate');
      assert.equal(w.controller.secretsStatus()!.state, 'Ready');
      assert.equal(readHistory(w.stateDir, { source: '@secrets' }).at(-1)!.result, 'Applied');

      // The connection opened before the rotation is still open and still answers.
      const reused = await httpsGet(w.port, '/four', agent);
      assert.equal(reused.status, 200);
      assert.equal(reused.socket, first.socket, 'the same connection');
      assert.equal(reused.cert, fingerprint(pki.a.certPem), 'it keeps the certificate it was opened with');

      // An entry a Host still names is removed: refused, the certificate stays served.
      rmSync(join(w.secrets, 'edge-cert'), { recursive: true });
      await w.reread();
      assert.equal((await httpsGet(w.port, '/five')).cert, fingerprint(pki.a2.certPem));
      assert.match(readHistory(w.stateDir, { source: '@secrets' }).at(-1)!.detail!, /TLS secret 'default\/edge-cert' was not found/);

      const history = readFileSync(join(w.stateDir, 'history.jsonl'), 'utf8');
      for (const k of [pki.a.keyPem, pki.a2.keyPem]) assert.ok(!history.includes(k.split('\n')[1]!), 'no key material in the history');
    } finally {
      agent.destroy();
    }
  });

  it('credentials in header rules reach the upstream; the served IR shows them redacted', async () => {
    const extra = `  add_request_headers:
    authorization: "Bearer literal-cred-7d1e"
    x-upstream-token:
      valueFrom:
        secretKeyRef: { name: upstream, key: token }
`;
    const w = await world('headers', (port) => `${listenerYaml(port, 'https', 'HTTPS')}---\n${hostYaml('edge-cert')}---\n${mappingYaml('app', '/', echo.port, extra)}`, { upstream: { token: 'tok-from-dir-91c3\n' } });
    const r = await httpsGet(w.port, '/h');
    assert.equal(echoedHeader(r.echoed!, 'authorization'), 'Bearer literal-cred-7d1e');
    assert.equal(echoedHeader(r.echoed!, 'x-upstream-token'), 'tok-from-dir-91c3');
    const shown = canonicalJSON(w.gateway.ir);
    assert.ok(!shown.includes('literal-cred-7d1e') && !shown.includes('tok-from-dir-91c3'));
    assert.ok(shown.includes(JSON.stringify(REDACTED)));

    writeFileSync(join(w.secrets, 'upstream', 'token'), 'tok-rotated-44aa');
    await w.reread();
    assert.equal(echoedHeader((await httpsGet(w.port, '/h')).echoed!, 'x-upstream-token'), 'tok-rotated-44aa', 'a changed value is sent at once');
  });
});

describe('a private key committed to git', () => {
  it('is kept out of the last-known-good as a digest, restored from the git cache after a restart, and not restored without it', async () => {
    const dir = join(root, 'lkg');
    mkdirSync(dir);
    const port = await freePort();
    const central = new TestRepo(dir, 'central');
    const secret = `apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata:
  name: git-cert
data:
  tls.crt: ${b64(pki.a.certPem)}
  tls.key: ${b64(pki.a.keyPem)}
`;
    central.write('gateway.yaml', `${listenerYaml(port, 'https', 'HTTPS')}---\n${hostYaml('git-cert')}---\n${mappingYaml('app', '/', echo.port)}`).write('secret.yaml', secret).commit('central');
    const stateDir = join(dir, 'state');
    /** A fresh gateway and controller on the same state folder (the previous ones are stopped and closed). */
    const start = async (): Promise<{ controller: Controller; warnings: string[] }> => {
      for (const c of controllers) await c.stop();
      for (const g of gateways) g.forceClose();
      const warnings: string[] = [];
      const gateway = newGateway();
      gateways.push(gateway);
      const controller = newController(gateway, { roots: [rootSource('ops', central.bare)], stateDir, log: { info() {}, warn: (_o, m) => warnings.push(m), error() {} } });
      controllers.push(controller);
      await controller.start();
      return { controller, warnings };
    };

    const one = await start();
    assert.equal((await httpsGet(port, '/')).cert, fingerprint(pki.a.certPem));
    await one.controller.stop();
    assert.ok(one.warnings.length === 0, one.warnings.join('; '));
    const lkgFile = join(stateDir, 'last-known-good.json');
    const lkg = readFileSync(lkgFile, 'utf8');
    assert.ok(!lkg.includes(b64(pki.a.keyPem).slice(0, 40)), 'no base64 key in the state file');
    assert.ok(!lkg.includes(pki.a.keyPem.split('\n')[1]!), 'no PEM key in the state file');
    const files = new LastKnownGoodStore(stateDir).load()!.sources['ops']!.files;
    assert.deepEqual(files.map((f) => [f.path, f.redacted !== undefined, f.content === '']), [
      ['gateway.yaml', false, false],
      ['secret.yaml', true, true],
    ]);

    // git is gone: the restart serves the set, reading secret.yaml again from the cache.
    renameSync(central.bare, `${central.bare}.gone`);
    await start();
    const restored = await httpsGet(port, '/');
    assert.equal(restored.status, 200);
    assert.equal(restored.cert, fingerprint(pki.a.certPem));

    // A state file an older Portico wrote, key in clear, is rewritten without it on restore.
    const store = new LastKnownGoodStore(stateDir);
    const set = store.load()!;
    const ops = set.sources['ops']!;
    store.save({ ...set, sources: { ops: { ...ops, files: [ops.files[0]!, { path: 'secret.yaml', content: secret }] } } });
    assert.ok(readFileSync(lkgFile, 'utf8').includes(b64(pki.a.keyPem).slice(0, 40)));
    await start();
    assert.ok(!readFileSync(lkgFile, 'utf8').includes(b64(pki.a.keyPem).slice(0, 40)), 'rewritten without the key');

    // Without the cache, the redacted file cannot be read again: the source is not restored.
    rmSync(join(stateDir, 'cache'), { recursive: true, force: true });
    await assert.rejects(start(), (err: Error) => err instanceof NoValidConfigurationError && /the last-known-good state in .* cannot be served either \(ops: secret\.yaml held key material/.test(err.message));
    assert.ok(existsSync(lkgFile));
  });
});

describe('reading the directory', () => {
  it('reads a mounted Kubernetes Secret through its links; leaves out a link leading out, an oversized and a binary file', async () => {
    const dir = join(root, 'read');
    const secrets = join(dir, 'secrets');
    const entry = join(secrets, 'edge-cert');
    mkdirSync(join(entry, '..2026_01_01_00_00_00.1'), { recursive: true });
    writeFileSync(join(entry, '..2026_01_01_00_00_00.1', 'tls.crt'), pki.a.certPem);
    writeFileSync(join(entry, '..2026_01_01_00_00_00.1', 'tls.key'), pki.a.keyPem);
    symlinkSync('..2026_01_01_00_00_00.1', join(entry, '..data'));
    symlinkSync('..data/tls.crt', join(entry, 'tls.crt'));
    symlinkSync('..data/tls.key', join(entry, 'tls.key'));
    writeFileSync(join(dir, 'outside.key'), pki.b.keyPem);
    mkdirSync(join(secrets, 'escape'));
    symlinkSync(join(dir, 'outside.key'), join(secrets, 'escape', 'tls.key'));
    symlinkSync(dir, join(secrets, 'parent'));
    mkdirSync(join(secrets, 'big'));
    writeFileSync(join(secrets, 'big', 'token'), 'x'.repeat(2000));
    writeFileSync(join(secrets, 'big', 'bin'), Buffer.from([0xff, 0xfe, 0x00, 0x80]));

    const read = await readSecretsDirectory(secrets, { maxFileBytes: 1024, maxTotalBytes: 1 << 20, maxFiles: 100, maxDepth: 4 });
    assert.deepEqual(Object.keys(read.files.files).sort(), ['edge-cert/tls.crt', 'edge-cert/tls.key']);
    assert.equal(read.files.files['edge-cert/tls.key'], pki.a.keyPem);
    assert.deepEqual(read.files.skipped['escape/tls.key'], { reason: 'it leads outside the secrets directory', outside: true });
    assert.deepEqual(read.files.skipped['parent'], { reason: 'it leads outside the secrets directory', outside: true });
    assert.match(read.files.skipped['big/token']!.reason, /larger than 1024 bytes/);
    assert.match(read.files.skipped['big/bin']!.reason, /not UTF-8/);
    assert.ok(!Object.values(read.files.files).some((c) => c === pki.b.keyPem), 'nothing from outside was read');

    // The key follows the material: a Kubernetes-style swap of ..data changes it.
    mkdirSync(join(entry, '..2026_01_02_00_00_00.2'));
    writeFileSync(join(entry, '..2026_01_02_00_00_00.2', 'tls.crt'), pki.a2.certPem);
    writeFileSync(join(entry, '..2026_01_02_00_00_00.2', 'tls.key'), pki.a2.keyPem);
    symlinkSync('..2026_01_02_00_00_00.2', join(entry, '..data.tmp'));
    renameSync(join(entry, '..data.tmp'), join(entry, '..data'));
    const swapped = await readSecretsDirectory(secrets, { maxFileBytes: 1024 * 16, maxTotalBytes: 1 << 20, maxFiles: 100, maxDepth: 4 });
    assert.notEqual(swapped.key, read.key);
    assert.equal(swapped.files.files['edge-cert/tls.crt'], pki.a2.certPem);

    await assert.rejects(readSecretsDirectory(join(dir, 'missing')), SecretsDirectoryError);
  });

  it('notices a change and calls back once it has read it', async () => {
    const secrets = join(root, 'watch');
    writeEntry(secrets, 'api', { token: 'one' });
    const watched = new SecretsDirectory(secrets, { settleMs: 20 });
    await watched.load();
    const before = watched.inputs().key;
    try {
      const changed = new Promise<void>((resolve) => watched.watch(resolve));
      writeFileSync(join(secrets, 'api', 'token'), 'two');
      await changed;
      assert.notEqual(watched.inputs().key, before);
      assert.equal(watched.inputs().compile.secretFiles?.files['api/token'], 'two');
    } finally {
      watched.close();
    }
  });
});
