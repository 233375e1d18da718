// GitOps merge → live latency: a bare repository served by `git daemon` on loopback, a `portico serve`
// process syncing from it, and N commits pushed one by one; "live" is the first response through the
// gateway carrying the header the new commit adds. Measured with a webhook per push, then by polling.
//
// Usage (from the repository root, after `npm run build`): node bench/gitops-latency.js [--quick] [--commits N]
// The last stdout line is the result as JSON: {"commits":N,"webhook":{"p50Ms":..,"p95Ms":..},"polling":{...}}.
import { spawn, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';

const REPO = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const BIN = join(REPO, 'bin', 'portico.js');
const SECRET = 'bench-webhook-secret';
const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Bench',
  GIT_AUTHOR_EMAIL: 'bench@example.com',
  GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const commitsArg = args.indexOf('--commits');
const COMMITS = commitsArg >= 0 ? Number(args[commitsArg + 1]) : quick ? 8 : 20;

const git = (cwd, a) => execFileSync('git', a, { cwd, env: GIT_ENV, stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

function request(port, path, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers }));
    });
    req.setTimeout(3000, () => req.destroy());
    req.on('error', () => resolve({ status: 0, headers: {} }));
    req.end(body);
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round(sorted[Math.max(0, i)]);
}

function config(listenerPort, upstreamPort, rev) {
  return `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata:
  name: http
spec:
  port: ${listenerPort}
  protocol: HTTP
  securityModel: XFP
  hostBinding:
    namespace:
      from: ALL
---
# Cleartext is routed, not redirected to HTTPS (what a configuration without a Host does).
apiVersion: getambassador.io/v3alpha1
kind: Host
metadata:
  name: cleartext
spec:
  hostname: "*"
  requestPolicy:
    insecure:
      action: Route
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
  name: bench
spec:
  hostname: "*"
  prefix: /
  service: 127.0.0.1:${upstreamPort}
  add_response_headers:
    x-bench-rev: "${rev}"
`;
}

async function measure(mode, dir, upstreamPort) {
  const served = join(dir, `served-${mode}`);
  const work = join(dir, `work-${mode}`);
  mkdirSync(served, { recursive: true });
  mkdirSync(work, { recursive: true });
  git(dir, ['init', '-q', '--bare', '-b', 'main', join(served, 'central.git')]);
  git(work, ['init', '-q', '-b', 'main']);
  git(work, ['remote', 'add', 'origin', join(served, 'central.git')]);
  const gatewayPort = await freePort();
  const adminPort = await freePort();
  const commit = (rev) => {
    writeFileSync(join(work, 'gateway.yaml'), config(gatewayPort, upstreamPort, rev));
    git(work, ['add', '-A']);
    git(work, ['commit', '-q', '--no-gpg-sign', '-m', `rev ${rev}`]);
    git(work, ['push', '-q', 'origin', 'HEAD:refs/heads/main']);
  };
  commit(0);

  const daemonPort = await freePort();
  const daemon = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${served}`, '--listen=127.0.0.1', `--port=${daemonPort}`, served], { stdio: 'ignore', env: GIT_ENV });
  for (let i = 0; i < 100 && !(await canConnect(daemonPort)); i++) await sleep(50);

  const serveArgs = [BIN, 'serve', '--source', `ops=git://127.0.0.1:${daemonPort}/central.git#main`, '--state', join(dir, `state-${mode}`), '--admin', `127.0.0.1:${adminPort}`, '--workers', '0', '--access-log', 'off'];
  // Webhook mode keeps polling slow, so that the webhook is what makes the change go live.
  if (mode === 'webhook') serveArgs.push('--poll-interval', '300s', '--webhook-secret', SECRET);
  else serveArgs.push('--poll-interval', '1s');
  const gw = spawn(process.execPath, serveArgs, { stdio: 'ignore' });
  const samples = [];
  try {
    for (let i = 0; i < 150 && (await request(adminPort, '/readyz')).status !== 200; i++) await sleep(100);
    for (let rev = 1; rev <= COMMITS; rev++) {
      // Polling: land commits at random phases of the poll timer.
      if (mode === 'polling') await sleep(Math.random() * 1000);
      // Webhooks: merges at least 1.1 s apart, since one source is fetched at most once a second
      // (closer webhooks coalesce into the fetch after that second; docs/gitops.md).
      else await sleep(1100);
      commit(rev);
      const t0 = performance.now();
      if (mode === 'webhook') {
        // A push event names the commit it delivers (identical bodies within a minute are ignored as replays).
        const body = JSON.stringify({ ref: 'refs/heads/main', after: git(work, ['rev-parse', 'HEAD']) });
        const sig = 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex');
        await request(adminPort, '/hooks/github', { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig, 'x-github-delivery': `bench-${rev}` } });
      }
      let live = false;
      for (let i = 0; i < 3000 && !live; i++) {
        const r = await request(gatewayPort, '/');
        if (r.headers['x-bench-rev'] === String(rev)) live = true;
        else await sleep(5);
      }
      if (!live) throw new Error(`${mode}: revision ${rev} never went live`);
      samples.push(performance.now() - t0);
    }
  } finally {
    gw.kill('SIGTERM');
    daemon.kill('SIGTERM');
    await Promise.all([new Promise((r) => (gw.exitCode !== null ? r() : gw.once('exit', r))), new Promise((r) => (daemon.exitCode !== null ? r() : daemon.once('exit', r)))]);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50Ms: percentile(sorted, 50), p95Ms: percentile(sorted, 95), maxMs: Math.round(sorted.at(-1)), samples: sorted.length };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'portico-gitops-bench-'));
  const upstream = http.createServer((req, res) => {
    req.resume();
    res.end('ok');
  });
  await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
  try {
    const webhook = await measure('webhook', dir, upstream.address().port);
    console.log(`webhook: p50 ${webhook.p50Ms} ms, p95 ${webhook.p95Ms} ms over ${webhook.samples} commits`);
    const polling = await measure('polling', dir, upstream.address().port);
    console.log(`polling (1 s interval): p50 ${polling.p50Ms} ms, p95 ${polling.p95Ms} ms over ${polling.samples} commits`);
    console.log(JSON.stringify({ commits: COMMITS, webhook, polling }));
  } finally {
    upstream.closeAllConnections();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err?.stack ?? String(err));
  process.exit(1);
});
