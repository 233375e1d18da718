// Starts each server the benchmarks compare: the upstream, nginx, HAProxy, the Node.js peers and
// Portico, each on its own loopback port, returning { name, pid, port, stop() } once it answers.
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import net from 'node:net';
import { startProcess, waitForOutput, waitUntil, stopProcess } from './process-group.js';
import { freePort } from './free-port.js';
import { writePorticoConfig, nginxServers } from '../gen-config.js';
import { portico } from './portico-build.js';

export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export { REPO_DIR } from './portico-build.js';

/** Where the reload benchmark inserts locations into nginx's catch-all server. */
export const EXTRA_LOCATIONS_MARK = '# bench: extra locations';

const UPSTREAM_BODY = '{"ok":true,"upstream":"nginx"}\\n';

/** GET a loopback URL; resolves { status, headers, body } or rejects (bounded by `timeoutMs`). */
export function httpGet(url, { headers = {}, timeoutMs = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { if (body.length < 65_536) body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** nginx.conf around `body` (the http block's servers): 1 worker by default, access log off, temp paths in `dir`. */
export function nginxMain({ dir, workers = 1, body }) {
  for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d), { recursive: true });
  return [
    `worker_processes ${workers};`,
    'daemon off;',
    'master_process on;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'worker_rlimit_nofile 20000;',
    'events { worker_connections 8192; multi_accept on; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${join(dir, 'client_body')};`,
    `  proxy_temp_path ${join(dir, 'proxy')};`,
    `  fastcgi_temp_path ${join(dir, 'fastcgi')};`,
    `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
    `  scgi_temp_path ${join(dir, 'scgi')};`,
    '  default_type application/octet-stream;',
    // wrk reuses each connection for the whole run: nginx's default of 1,000 requests per connection
    // would make every proxy reconnect on a schedule nobody else follows.
    '  keepalive_requests 10000000;',
    '  keepalive_timeout 65s;',
    '  server_tokens off;',
    body,
    '}',
    '',
  ].join('\n');
}

async function startNginx(name, dir, conf, { cpus, port }) {
  mkdirSync(dir, { recursive: true });
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(confPath, conf);
  const h = startProcess(name, 'nginx', ['-e', join(dir, 'error.log'), '-p', dir, '-c', confPath], { cpus });
  await waitUntil(h, 'listening', async () => (await httpGet(`http://127.0.0.1:${port}/__probe`)).status > 0, 10_000);
  return h;
}

/** nginx answering every request with a small static 200: the upstream behind every proxy. */
export async function startUpstreamNginx(workdir, { cpus } = {}) {
  const port = await freePort();
  const dir = join(workdir, 'upstream-nginx');
  const conf = nginxMain({
    dir,
    body: [
      '  server {',
      `    listen 127.0.0.1:${port} reuseport backlog=4096;`,
      '    location / { default_type application/json; return 200 \'' + UPSTREAM_BODY + '\'; }',
      '  }',
    ].join('\n'),
  });
  const h = await startNginx('upstream (nginx static 200)', dir, conf, { cpus, port });
  return { name: 'upstream', pid: h.pid, port, handle: h, stop: () => stopProcess(h) };
}

/** The small Node.js upstream (bench/upstream-node.js), when `--upstream node` is chosen. */
export async function startUpstreamNode(_workdir, { cpus } = {}) {
  const port = await freePort();
  const h = startProcess('upstream (node)', process.execPath, [join(BENCH_DIR, 'upstream-node.js')], { env: { PORT: String(port) }, cpus });
  await waitForOutput(h, /ready \d+/, 10_000);
  return { name: 'upstream', pid: h.pid, port, handle: h, stop: () => stopProcess(h) };
}

/** An nginx `upstream` block to one local server, with keep-alive connections as every nginx peer here uses. */
export function nginxKeepaliveUpstream(name, upstreamPort) {
  return [
    `  upstream ${name} {`,
    `    server 127.0.0.1:${upstreamPort};`,
    '    keepalive 256;',
    '    keepalive_requests 10000000;',
    '  }',
  ].join('\n');
}

/**
 * nginx as the proxy: 1 worker, upstream keepalive 256 (64 collapses at 200 connections).
 * With `model`, nginx holds the same routes as Portico (one server per Host, one location per Mapping);
 * a catch-all location forwards anything else. With `authRequest`, every server asks an auth
 * service first (auth_request, a keep-alive subrequest to `pathPrefix` + the request URI).
 */
export async function startNginxProxy(workdir, { upstreamPort, model, cpus, label = 'nginx', workers = 1, authRequest }) {
  const port = await freePort();
  const dir = join(workdir, label.replace(/[^a-z0-9-]/gi, '_'));
  const upstreamBlock = nginxKeepaliveUpstream('bench_upstream', upstreamPort);
  const fallback = [
    '  server {',
    `    listen 127.0.0.1:${port} default_server backlog=4096;`,
    '    location / {',
    '      proxy_pass http://bench_upstream;',
    '      proxy_http_version 1.1;',
    '      proxy_set_header Connection "";',
    '    }',
    `    ${EXTRA_LOCATIONS_MARK}`,
    '  }',
  ].join('\n');
  let servers = model ? nginxServers(model, { listen: `127.0.0.1:${port}` }) : '';
  let authBlock = '';
  if (authRequest) {
    authBlock = nginxKeepaliveUpstream('auth_upstream', authRequest.upstreamPort);
    const ask = [
      '    auth_request /_auth;',
      '    location = /_auth {',
      '      internal;',
      '      auth_request off;',
      `      proxy_pass http://auth_upstream${authRequest.pathPrefix}$request_uri;`,
      '      proxy_http_version 1.1;',
      '      proxy_set_header Connection "";',
      '      proxy_pass_request_body off;',
      '      proxy_set_header Content-Length "";',
      '    }',
    ].join('\n');
    servers = servers.replace(/( {4}server_name [^\n]+;\n)/g, `$1${ask}\n`);
  }
  const conf = nginxMain({
    dir,
    workers,
    body: [
      // Thousands of server names / locations need bigger hash tables than the defaults.
      '  server_names_hash_max_size 4096;',
      '  server_names_hash_bucket_size 128;',
      upstreamBlock,
      authBlock,
      fallback,
      servers,
    ].join('\n'),
  });
  const h = await startNginx(label, dir, conf, { cpus, port });
  return { name: label, pid: h.pid, port, handle: h, confPath: join(dir, 'nginx.conf'), stop: () => stopProcess(h) };
}

/** HAProxy in HTTP mode, one thread (like nginx's one worker), keep-alive to the upstream. */
export async function startHaproxy(workdir, { upstreamPort, cpus }) {
  const port = await freePort();
  const dir = join(workdir, 'haproxy');
  mkdirSync(dir, { recursive: true });
  const cfgPath = join(dir, 'haproxy.cfg');
  // maxconn stays under the file-descriptor limit: each proxied connection holds two descriptors.
  writeFileSync(cfgPath, [
    'global',
    '  maxconn 8000',
    '  nbthread 1',
    '',
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout http-keep-alive 65s',
    '  option http-keep-alive',
    '  http-reuse always',
    '',
    'frontend bench',
    `  bind 127.0.0.1:${port}`,
    '  default_backend upstream',
    '',
    'backend upstream',
    `  server up1 127.0.0.1:${upstreamPort}`,
    '',
  ].join('\n'));
  const h = startProcess('haproxy', 'haproxy', ['-db', '-f', cfgPath], { cpus });
  await waitUntil(h, 'listening', async () => (await httpGet(`http://127.0.0.1:${port}/__probe`)).status > 0, 10_000);
  return { name: 'haproxy', pid: h.pid, port, handle: h, stop: () => stopProcess(h) };
}

export const NODE_PEERS = {
  'fastify-http-proxy': 'peers/fastify-http-proxy.js',
  'http-proxy': 'peers/http-proxy.js',
  'fast-gateway': 'peers/fast-gateway.js',
};

export async function startNodePeer(name, { upstreamPort, cpus }) {
  const port = await freePort();
  const h = startProcess(name, process.execPath, [join(BENCH_DIR, NODE_PEERS[name])], {
    env: { PORT: String(port), UPSTREAM: `http://127.0.0.1:${upstreamPort}`, NODE_ENV: 'production' },
    cpus,
    cwd: BENCH_DIR,
  });
  await waitForOutput(h, /ready \d+/, 15_000);
  return { name, pid: h.pid, port, handle: h, stop: () => stopProcess(h) };
}

/** Why Portico's `serve` cannot be benchmarked in this build, or null when it can be started. */
export function porticoServeMissing() {
  if (!existsSync(join(portico.home, 'dist/src/cli/main.js'))) return 'Portico is not built (dist/src/cli/main.js missing; `npx tsc -p .` failed?)';
  if (!existsSync(join(portico.home, 'dist/src/serve/gateway.js'))) return 'Portico\'s data plane (src/serve/gateway.ts) is not in this build yet';
  return null;
}

/**
 * Portico serving a generated configuration folder: `portico serve --config DIR --admin ... --workers N`.
 * Ready when /readyz answers 200 and `probe` (host + path) is proxied with a 2xx.
 */
export async function startPortico(workdir, { label, model, upstreamPort, workers = 1, cpus, probe, tls, configDir, readyTimeoutMs = 60_000, accessLog = 'off', files = {}, env = {} }) {
  const port = await freePort();
  const adminPort = await freePort();
  const dir = configDir ?? join(workdir, `${label.replace(/[^a-z0-9-]/gi, '_')}-config`);
  const tlsPort = tls ? await freePort() : undefined;
  writePorticoConfig(dir, model, { port, upstream: `127.0.0.1:${upstreamPort}`, tls: tls ? { ...tls, port: tlsPort } : undefined });
  // Extra resources beside the generated ones (the tracing variants' TracingService).
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const started = Date.now();
  const h = startProcess(label, process.execPath, [
    join(portico.home, 'bin/portico.js'), 'serve', '--config', dir, '--admin', `127.0.0.1:${adminPort}`, '--workers', String(workers),
    // Off by default, like nginx here (access_log off) and the Node.js peers (no logging); the
    // portico-1w-log variant measures it.
    '--access-log', accessLog,
  ], { cpus, cwd: portico.home, env: { NODE_ENV: 'production', ...env } });
  await waitUntil(h, 'ready (/readyz 200)', async () => (await httpGet(`http://127.0.0.1:${adminPort}/readyz`)).status === 200, readyTimeoutMs);
  if (probe) {
    await waitUntil(h, `${probe.host}${probe.path} proxied`, async () => {
      const r = await httpGet(`http://127.0.0.1:${port}${probe.path}`, { headers: { host: probe.host } });
      if (r.status >= 200 && r.status < 300) return true;
      throw new Error(`probe answered ${r.status}: ${r.body.slice(0, 200)}`);
    }, readyTimeoutMs);
  }
  return {
    name: label, pid: h.pid, port, adminPort, tlsPort, configDir: dir, handle: h,
    readyMs: Date.now() - started, stop: () => stopProcess(h, 10_000),
  };
}

/** nginx terminating TLS with HTTP/2 and HTTP/1.1 (ALPN), 1 worker, proxying to the upstream with keepalive 256. */
export async function startNginxTls(workdir, { upstreamPort, certPath, keyPath, cpus }) {
  const port = await freePort();
  const dir = join(workdir, 'nginx-tls');
  const conf = nginxMain({
    dir,
    body: [
      nginxKeepaliveUpstream('bench_upstream', upstreamPort),
      '  server {',
      `    listen 127.0.0.1:${port} ssl http2 backlog=4096;`,
      `    ssl_certificate ${certPath};`,
      `    ssl_certificate_key ${keyPath};`,
      '    ssl_protocols TLSv1.2 TLSv1.3;',
      '    ssl_session_cache shared:SSL:10m;',
      '    http2_max_requests 10000000;',
      '    location / {',
      '      proxy_pass http://bench_upstream;',
      '      proxy_http_version 1.1;',
      '      proxy_set_header Connection "";',
      '    }',
      '  }',
    ].join('\n'),
  });
  const h = startNginxWith('nginx-tls', dir, conf, cpus);
  await waitUntil(h, 'listening', () => tcpOpen(port), 10_000);
  return { name: 'nginx', pid: h.pid, port, handle: h, stop: () => stopProcess(h) };
}

function tcpOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

/** nginx started on the configuration `conf`, written into `dir` (its prefix and error log too). */
export function startNginxWith(label, dir, conf, cpus) {
  mkdirSync(dir, { recursive: true });
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(confPath, conf);
  return startProcess(label, 'nginx', ['-e', join(dir, 'error.log'), '-p', dir, '-c', confPath], { cpus });
}
