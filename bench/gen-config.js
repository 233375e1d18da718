// Generates the configurations the benchmarks serve: Emissary-style YAML for Portico (Listener,
// Hosts, Mappings with header rules and rewrites) and the matching nginx locations, from one model.
// CLI: node bench/gen-config.js --mappings N --hosts H --upstream 127.0.0.1:PORT --port P OUTDIR
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pad = (n, w) => String(n).padStart(w, '0');

/**
 * The route model shared by Portico's YAML and nginx's configuration.
 * `style: 'realistic'` mixes header rules, rewrites, regex rewrites, header matches and method matches
 * the way a team's Mappings do; `style: 'plain'` keeps one header rule per route (route-count scaling).
 */
export function routeModel({ mappings, hosts, style = 'realistic', hostNames: names }) {
  const width = Math.max(3, String(mappings - 1).length);
  const hostNames = names ?? Array.from({ length: hosts }, (_, i) => (hosts === 1 ? 'bench.local' : `api-${pad(i, 2)}.bench.local`));
  hosts = hostNames.length;
  const routes = [];
  for (let i = 0; i < mappings; i++) {
    const id = pad(i, width);
    const r = {
      name: `svc-${id}`,
      team: `team-${pad(i % 20, 2)}`,
      host: hostNames[i % hosts],
      prefix: `/svc-${id}/`,
      rewrite: '/',
      addRequestHeaders: { 'x-route': `svc-${id}` },
      removeRequestHeaders: [],
      addResponseHeaders: {},
      removeResponseHeaders: [],
      regexRewrite: null,
      headers: null,
      method: null,
      timeoutMs: null,
    };
    if (style === 'realistic') {
      r.addRequestHeaders['x-team'] = r.team;
      r.removeRequestHeaders = ['x-debug'];
      r.addResponseHeaders = { 'x-served-by': 'edge' };
      r.removeResponseHeaders = ['x-powered-by'];
      r.timeoutMs = 5000;
      if (i % 5 === 1) {
        r.rewrite = null;
        r.regexRewrite = { pattern: `^/svc-${id}/(.*)$`, substitution: '/v2/\\1' };
      }
      if (i % 7 === 3) r.headers = { 'x-canary': 'true' };
      if (i % 10 === 9) r.method = 'GET';
    }
    routes.push(r);
  }
  return { hostNames, routes };
}

/** The request the HTTP/1.1 benchmark sends: a plain prefix + rewrite + header-rule route. */
export function benchRequest(model) {
  const r = model.routes.find((x, i) => i >= Math.floor(model.routes.length / 2) && x.rewrite === '/' && !x.headers && !x.method)
    ?? model.routes[0];
  return { host: r.host, path: `${r.prefix}items/17?page=2`, route: r.name };
}

/** Paths spread evenly over the route table (first and last included), for route-count scaling. */
export function spreadPaths(model, count = 64) {
  const n = model.routes.length;
  const out = [];
  for (let k = 0; k < Math.min(count, n); k++) {
    const idx = count >= n ? k : Math.round((k * (n - 1)) / (count - 1));
    out.push(`${model.routes[idx].prefix}items/${k}`);
  }
  return out;
}

function yamlMap(obj, indent) {
  return Object.entries(obj).map(([k, v]) => `${indent}${k}: ${JSON.stringify(v)}`).join('\n');
}

function mappingYaml(r, upstream) {
  const lines = [
    'apiVersion: getambassador.io/v3alpha1',
    'kind: Mapping',
    'metadata:',
    `  name: ${r.name}`,
    '  namespace: default',
    'spec:',
    `  hostname: ${JSON.stringify(r.host)}`,
    `  prefix: ${r.prefix}`,
    `  service: ${upstream}`,
  ];
  if (r.rewrite !== null) lines.push(`  rewrite: ${JSON.stringify(r.rewrite)}`);
  if (r.regexRewrite) {
    lines.push('  regex_rewrite:', `    pattern: ${JSON.stringify(r.regexRewrite.pattern)}`, `    substitution: ${JSON.stringify(r.regexRewrite.substitution)}`);
  }
  if (r.method) lines.push(`  method: ${r.method}`);
  if (r.headers) lines.push('  headers:', yamlMap(r.headers, '    '));
  if (r.timeoutMs) lines.push(`  timeout_ms: ${r.timeoutMs}`);
  const addReq = Object.entries(r.addRequestHeaders);
  if (addReq.length) {
    lines.push('  add_request_headers:');
    for (const [k, v] of addReq) lines.push(`    ${k}:`, `      value: ${JSON.stringify(v)}`);
  }
  if (r.removeRequestHeaders.length) lines.push(`  remove_request_headers: [${r.removeRequestHeaders.join(', ')}]`);
  const addRes = Object.entries(r.addResponseHeaders);
  if (addRes.length) {
    lines.push('  add_response_headers:');
    for (const [k, v] of addRes) lines.push(`    ${k}:`, `      value: ${JSON.stringify(v)}`);
  }
  if (r.removeResponseHeaders.length) lines.push(`  remove_response_headers: [${r.removeResponseHeaders.join(', ')}]`);
  return lines.join('\n');
}

/** One Mapping document as a file body (the reload benchmark writes these into a watched folder). */
export function singleMappingFile(r, upstream) {
  return `---\n${mappingYaml(r, upstream)}\n`;
}

/**
 * Write Portico's configuration folder: listener.yaml, hosts.yaml and one file per team of Mappings.
 * `tls` ({ secretName, certPem, keyPem, port }) adds an HTTPS Listener and a TLS Secret for every Host.
 */
export function writePorticoConfig(dir, model, { port, upstream, tls } = {}) {
  mkdirSync(dir, { recursive: true });
  const listeners = [
    [
      'apiVersion: getambassador.io/v3alpha1',
      'kind: Listener',
      'metadata:',
      '  name: bench-http',
      '  namespace: default',
      'spec:',
      `  port: ${port}`,
      '  protocol: HTTP',
      '  securityModel: XFP',
      '  hostBinding:',
      '    namespace:',
      '      from: ALL',
    ].join('\n'),
  ];
  if (tls) {
    listeners.push([
      'apiVersion: getambassador.io/v3alpha1',
      'kind: Listener',
      'metadata:',
      '  name: bench-https',
      '  namespace: default',
      'spec:',
      `  port: ${tls.port}`,
      '  protocol: HTTPS',
      '  securityModel: XFP',
      '  hostBinding:',
      '    namespace:',
      '      from: ALL',
    ].join('\n'));
  }
  writeFileSync(join(dir, 'listeners.yaml'), listeners.map((d) => `---\n${d}\n`).join(''));
  const hostDocs = model.hostNames.map((h, i) => {
    const lines = [
      'apiVersion: getambassador.io/v3alpha1',
      'kind: Host',
      'metadata:',
      `  name: host-${pad(i, 2)}`,
      '  namespace: default',
      'spec:',
      `  hostname: ${JSON.stringify(h)}`,
    ];
    if (tls) lines.push('  tlsSecret:', `    name: ${tls.secretName}`);
    lines.push('  requestPolicy:', '    insecure:', '      action: Route');
    return lines.join('\n');
  });
  if (tls) {
    hostDocs.push([
      'apiVersion: v1',
      'kind: Secret',
      'type: kubernetes.io/tls',
      'metadata:',
      `  name: ${tls.secretName}`,
      '  namespace: default',
      'data:',
      `  tls.crt: ${Buffer.from(tls.certPem).toString('base64')}`,
      `  tls.key: ${Buffer.from(tls.keyPem).toString('base64')}`,
    ].join('\n'));
  }
  writeFileSync(join(dir, 'hosts.yaml'), hostDocs.map((d) => `---\n${d}\n`).join(''));
  const byTeam = new Map();
  for (const r of model.routes) {
    if (!byTeam.has(r.team)) byTeam.set(r.team, []);
    byTeam.get(r.team).push(mappingYaml(r, upstream));
  }
  for (const [team, docs] of byTeam) writeFileSync(join(dir, `${team}.yaml`), docs.map((d) => `---\n${d}\n`).join(''));
}

function nginxLocation(r) {
  const lines = [];
  // Header matches and method matches become nginx conditions only where nginx can express them
  // cheaply; the benchmarked route has neither, so the measured request path is like-for-like.
  if (r.regexRewrite) {
    lines.push(`    location ~ ^${r.prefix}(.*)$ {`, '      proxy_pass http://bench_upstream/v2/$1$is_args$args;');
  } else {
    lines.push(`    location ${r.prefix} {`, '      proxy_pass http://bench_upstream/;');
  }
  lines.push('      proxy_http_version 1.1;', '      proxy_set_header Connection "";', '      proxy_set_header Host $host;');
  for (const [k, v] of Object.entries(r.addRequestHeaders)) lines.push(`      proxy_set_header ${k} "${v}";`);
  for (const k of r.removeRequestHeaders) lines.push(`      proxy_set_header ${k} "";`);
  for (const [k, v] of Object.entries(r.addResponseHeaders)) lines.push(`      add_header ${k} "${v}";`);
  for (const k of r.removeResponseHeaders) lines.push(`      proxy_hide_header ${k};`);
  if (r.timeoutMs) lines.push(`      proxy_read_timeout ${Math.ceil(r.timeoutMs / 1000)}s;`);
  lines.push('    }');
  return lines.join('\n');
}

/** nginx `server` blocks holding the same routes (one server per Host, one location per Mapping). */
export function nginxServers(model, { listen }) {
  const byHost = new Map(model.hostNames.map((h) => [h, []]));
  for (const r of model.routes) byHost.get(r.host).push(nginxLocation(r));
  return model.hostNames.map((h) => [
    '  server {',
    `    listen ${listen};`,
    `    server_name ${h};`,
    ...byHost.get(h),
    '  }',
  ].join('\n')).join('\n');
}

function cli(argv) {
  const opts = { mappings: 100, hosts: 10, upstream: '127.0.0.1:8081', port: 8080, style: 'realistic', out: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--mappings') opts.mappings = Number(argv[++i]);
    else if (a === '--hosts') opts.hosts = Number(argv[++i]);
    else if (a === '--upstream') opts.upstream = argv[++i];
    else if (a === '--port') opts.port = Number(argv[++i]);
    else if (a === '--plain') opts.style = 'plain';
    else opts.out = a;
  }
  if (!opts.out || !(opts.mappings > 0) || !(opts.hosts > 0)) {
    console.error('usage: node bench/gen-config.js [--mappings N] [--hosts H] [--upstream HOST:PORT] [--port P] [--plain] OUTDIR');
    return 2;
  }
  const model = routeModel(opts);
  writePorticoConfig(opts.out, model, { port: opts.port, upstream: opts.upstream });
  console.log(`wrote ${opts.mappings} Mappings over ${opts.hosts} Hosts to ${opts.out}`);
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = cli(process.argv.slice(2));
