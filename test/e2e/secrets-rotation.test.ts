// `portico serve` as a real process (two workers) with a Host in a git repository whose certificate
// comes from the secrets directory: the files are rotated while a client keeps making requests; the
// served certificate changes, no request fails, a connection opened before keeps going. Header
// credentials reach the upstream with their real values while the admin API, render, explain, plan,
// history and the logs show them redacted; no key material or credential is in the state folder.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestRepo, removeDir, tempDir } from '../sources/git-fixture.js';
import { startEcho, echoedHeader, type EchoUpstream } from '../support/echo-upstream.js';
import { httpsEcho, type EchoAnswer } from '../support/tls-client.js';
import { freePort } from '../support/free-port.js';
import { makeTestPKI, type TestPKI } from '../support/test-pki.js';
import { listenerYaml, mappingYaml } from '../support/policy-yaml.js';
import { ServeProcess } from '../serve/serve-harness.js';
import { eventually, request } from '../serve/http-client.js';

const BIN = join(process.cwd(), 'bin', 'portico.js');
const LITERAL_ONE = 'Bearer lit-cred-one-8c2f';
const LITERAL_TWO = 'Bearer lit-cred-two-5e7a';
const TOKEN_ONE = 'dir-token-one-3b9d';
const TOKEN_TWO = 'dir-token-two-d41c';

interface Answer extends EchoAnswer {
  readonly ok: boolean;
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Every file under `dir`, read whole. */
function everyFile(dir: string): { path: string; bytes: Buffer }[] {
  const out: { path: string; bytes: Buffer }[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...everyFile(p));
    else if (st.isFile()) out.push({ path: p, bytes: readFileSync(p) });
  }
  return out;
}

describe('serve with a secrets directory: rotation under traffic, and credentials kept out of every view', () => {
  const root = tempDir('e2e-secrets');
  const secrets = join(root, 'secrets');
  const stateDir = join(root, 'state');
  let pki: TestPKI;
  let echo: EchoUpstream;
  let central: TestRepo;
  let proc: ServeProcess;
  let port = 0;
  let sourceArg = '';

  /** Key material and credentials that must never be printed or persisted. */
  const needles = (): string[] => [
    ...[pki.a.keyPem, pki.a2.keyPem].flatMap((k) => k.split('\n').filter((l) => l.length >= 40)),
    Buffer.from(pki.a.keyPem).toString('base64').slice(0, 48),
    Buffer.from(pki.a2.keyPem).toString('base64').slice(0, 48),
    TOKEN_ONE,
    TOKEN_TWO,
  ];

  function assertClean(what: string, text: string | Buffer, extra: string[] = []): void {
    for (const n of [...needles(), ...extra]) assert.equal(text.indexOf(n), -1, `${what} holds secret material (${n.slice(0, 12)}…)`);
  }

  function gatewayYaml(literal: string): string {
    return `${listenerYaml(port, 'https', 'HTTPS')}---
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata:
  name: a
spec:
  hostname: a.example.test
  tlsSecret:
    name: edge-cert
---
${mappingYaml('app', '/', echo.port, `  add_request_headers:
    authorization: "${literal}"
    x-upstream-token:
      valueFrom:
        secretKeyRef: { name: upstream, key: token }
`)}`;
  }

  async function get(path: string, agent: https.Agent | false = false): Promise<Answer> {
    const r = await httpsEcho(port, path, 'a.example.test', pki.caPem, agent);
    return { ...r, ok: r.status === 200 };
  }

  before(async () => {
    pki = makeTestPKI();
    echo = await startEcho('app');
    port = await freePort();
    mkdirSync(join(secrets, 'edge-cert'), { recursive: true });
    mkdirSync(join(secrets, 'upstream'), { recursive: true });
    writeFileSync(join(secrets, 'edge-cert', 'tls.crt'), pki.a.certPem);
    writeFileSync(join(secrets, 'edge-cert', 'tls.key'), pki.a.keyPem);
    writeFileSync(join(secrets, 'upstream', 'token'), `${TOKEN_ONE}\n`);
    central = new TestRepo(root, 'central');
    central.write('deploy/gateway.yaml', gatewayYaml(LITERAL_ONE)).commit('gateway');
    sourceArg = `ops=${central.bare}#main:deploy`;
    proc = new ServeProcess(['--source', sourceArg, '--secrets', secrets, '--state', stateDir, '--admin', '127.0.0.1:0', '--workers', '2', '--access-log', 'off', '--poll-interval', '1s']);
    await proc.ready();
  });

  after(async () => {
    await proc?.stop();
    await echo?.close();
    pki?.cleanup();
    removeDir(root);
  });

  it('rotating the files changes the served certificate for new handshakes; no request fails; an open connection keeps going', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get('/kept', agent);
      assert.equal(first.status, 200, first.error);
      assert.equal(first.cert, fingerprint(pki.a.certPem));

      const answers: Answer[] = [];
      let stop = false;
      const client = (async () => {
        while (!stop) answers.push(await get('/loop'));
      })();
      await eventually('a few requests before the rotation', async () => answers.length >= 5, 300, 20);

      // As by hand: the certificate first, then its key (a mounted Secret would swap both at once).
      writeFileSync(join(secrets, 'edge-cert', 'tls.crt'), pki.a2.certPem);
      writeFileSync(join(secrets, 'edge-cert', 'tls.key'), pki.a2.keyPem);
      await eventually('the new certificate on a new handshake', async () => answers.at(-1)?.cert === fingerprint(pki.a2.certPem), 300, 50);
      const seen = answers.length;
      await eventually('more requests after the rotation', async () => answers.length >= seen + 5, 300, 20);
      stop = true;
      await client;

      const failed = answers.filter((a) => !a.ok);
      assert.deepEqual(failed.map((a) => `${a.status} ${a.error ?? ''}`), [], 'no request failed');
      const certs = [...new Set(answers.map((a) => a.cert))];
      assert.deepEqual(certs, [fingerprint(pki.a.certPem), fingerprint(pki.a2.certPem)], 'the old certificate, then only the new one');

      const reused = await get('/kept', agent);
      assert.equal(reused.status, 200, reused.error);
      assert.equal(reused.socket, first.socket, 'the connection opened before the rotation still serves');
      assert.equal(reused.cert, fingerprint(pki.a.certPem));
    } finally {
      agent.destroy();
    }
  });

  it('the upstream receives the real credentials, also after they change', async () => {
    const r = await get('/creds');
    assert.equal(echoedHeader(r.echoed!, 'authorization'), LITERAL_ONE);
    assert.equal(echoedHeader(r.echoed!, 'x-upstream-token'), TOKEN_ONE);
    writeFileSync(join(secrets, 'upstream', 'token'), `${TOKEN_TWO}\n`);
    await eventually('the rotated token upstream', async () => echoedHeader((await get('/creds')).echoed!, 'x-upstream-token') === TOKEN_TWO, 300, 50);
    central.write('deploy/gateway.yaml', gatewayYaml(LITERAL_TWO)).commit('new literal credential');
    await eventually('the new literal upstream', async () => echoedHeader((await get('/creds')).echoed!, 'authorization') === LITERAL_TWO, 300, 50);
  });

  it('the admin API, render, explain, routes, validate, plan, history and the logs show redacted values only', async () => {
    const literals = [LITERAL_ONE, LITERAL_TWO];
    const config = (await request(`${proc.admin}/api/v1/config`)).body;
    assert.ok(config.includes('[redacted]'), 'the served IR shows the credential as redacted');
    assert.ok(config.includes('secrets:edge-cert'), 'and the certificate by its id');
    for (const path of ['/api/v1/config', '/api/v1/routes', '/api/v1/status', '/api/v1/history', '/metrics']) {
      const body = (await request(`${proc.admin}${path}`)).body;
      assertClean(`GET ${path}`, body, literals);
    }
    const status = JSON.parse((await request(`${proc.admin}/api/v1/status`)).body) as { secrets?: { state: string } };
    assert.equal(status.secrets?.state, 'Ready');

    const offline = ['--source', sourceArg, '--secrets', secrets];
    const render = await run(['render', ...offline]);
    assert.equal(render.code, 0, render.stderr);
    assert.ok(render.stdout.includes('[redacted]'));
    assertClean('render', render.stdout + render.stderr, literals);
    const explain = await run(['explain', ...offline, 'GET https://a.example.test/x']);
    assert.equal(explain.code, 0, explain.stderr);
    assert.match(explain.stdout, /authorization: \[redacted\]/);
    assert.match(explain.stdout, /x-upstream-token: \[redacted\]/);
    assertClean('explain', explain.stdout + explain.stderr, literals);
    const explainJson = await run(['explain', ...offline, '--format', 'json', 'GET https://a.example.test/x']);
    assertClean('explain --format json', explainJson.stdout + explainJson.stderr, literals);
    for (const cmd of ['routes', 'validate']) {
      const out = await run([cmd, ...offline]);
      assert.equal(out.code, 0, `${cmd}: ${out.stderr}`);
      assertClean(cmd, out.stdout + out.stderr, literals);
    }
    const plan = await run(['plan', '--repo', central.work, '--secrets', secrets, '--base', 'HEAD~1:deploy', '--head', 'HEAD:deploy', '--format', 'json']);
    assert.equal(plan.code, 3, `a changed credential is a change: ${plan.stdout}${plan.stderr}`);
    assertClean('plan', plan.stdout + plan.stderr, literals);
    const history = await run(['history', '--state', stateDir, '--format', 'json']);
    assert.equal(history.code, 0, history.stderr);
    assertClean('portico history', history.stdout, literals);
    assertClean('the serve logs', proc.stderr.join('\n'), literals);
  });

  it('the state folder (last-known-good, history, git cache) holds no key material and no credential from the directory', async () => {
    const files = everyFile(stateDir);
    assert.ok(files.some((f) => f.path.endsWith('last-known-good.json')) && files.some((f) => f.path.endsWith('history.jsonl')) && files.some((f) => f.path.includes(`${'cache'}`)));
    for (const f of files) assertClean(f.path, f.bytes);
    // The literal credentials are committed to git, so the git cache (a clone) holds them; the
    // last-known-good keeps that file as a digest only.
    const lkg = readFileSync(join(stateDir, 'last-known-good.json'), 'utf8');
    assertClean('last-known-good.json', lkg, [LITERAL_ONE, LITERAL_TWO]);
    assert.match(lkg, /"redacted":\{"sha256":"[0-9a-f]{64}"\}/);

    proc.signal('SIGTERM');
    assert.deepEqual(await proc.exited, { code: 0, signal: null });
  });
});
