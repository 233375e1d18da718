// Regex routes in the route index, run by hand (not part of `npm run bench`): route lookups at 10,000
// routes with 1,000 regex routes against the same table with those routes as prefixes, and RE2 costs.
// Usage: npm run build && node bench/regex-routes.js [--seconds S]   (prints the ratios; one core)
import { pathToFileURL, fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

const repo = dirname(dirname(fileURLToPath(import.meta.url)));
const mod = (p) => pathToFileURL(join(repo, 'dist/src', p)).href;
const secondsArg = process.argv.indexOf('--seconds');
const SECONDS = secondsArg === -1 ? 1 : Number(process.argv[secondsArg + 1]);

const tImport = performance.now();
const { FullMatch, RegexSubstitution } = await import(mod('ir/re2-regex.js'));
const importMs = performance.now() - tImport;
const { loadFiles } = await import(mod('load/index.js'));
const { compile } = await import(mod('compile/index.js'));
const { buildRuntimeIndex, matchRoute } = await import(mod('dataplane/route-index.js'));

const ROUTES = 10_000;
const REGEX_ROUTES = 1_000;

/** 10,000 Mappings; every tenth is the regex variant's route (`kind` decides how it is written). */
function table(kind) {
  const docs = [];
  for (let i = 0; i < ROUTES; i++) {
    let match;
    if (i % 10 !== 0) match = `prefix: /svc-${i}/`;
    else if (kind === 'prefix') match = `prefix: /rx-${i}/items/`;
    else if (kind === 'regex') match = `prefix: "/rx-${i}/items/[0-9]+"\n  prefix_regex: true`;
    else match = `prefix: "(?i)/rx-${i}/items/[0-9]+"\n  prefix_regex: true`; // no literal prefix: tried for every path
    docs.push(`---\napiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: { name: m-${i}, namespace: default }\nspec:\n  hostname: "*"\n  ${match}\n  service: svc-${i % 50}\n`);
  }
  // files of 1,000 Mappings each, under the loader's size cap
  const files = [];
  for (let f = 0; f < docs.length; f += 1000) files.push({ path: `routes-${f / 1000}.yaml`, content: docs.slice(f, f + 1000).join('') });
  const loaded = loadFiles(files);
  const t0 = performance.now();
  const r = compile(loaded.resources, {}, loaded.problems);
  const compileMs = performance.now() - t0;
  const errors = r.report.problems.filter((p) => p.severity === 'error');
  if (errors.length > 0) throw new Error(`${kind}: ${errors[0].message}`);
  const t1 = performance.now();
  const index = buildRuntimeIndex(r.ir, () => undefined);
  const buildMs = performance.now() - t1;
  return { index, listener: r.ir.listeners.find((l) => l.l7).name, compileMs, buildMs };
}

function requests(paths) {
  return paths.map((path) => ({ host: 'example.com', path, query: '', method: 'GET', header: () => undefined }));
}
// Requests for the non-regex routes (what must not pay for regex routes), and for the regex routes.
const plainReqs = requests(Array.from({ length: 2000 }, (_, k) => {
  const i = (k * 37) % ROUTES;
  return `/svc-${i % 10 === 0 ? i + 1 : i}/items/17`;
}));
const regexReqs = requests(Array.from({ length: 2000 }, (_, k) => `/rx-${((k * 37) % REGEX_ROUTES) * 10}/items/${k}`));

/** Lookups per second of CPU time (this process's user + system time: other work on the machine preempting it does not count). */
function lookupsPerSecond(t, reqs, seconds) {
  let n = 0;
  let found = 0;
  const end = performance.now() + seconds * 1000;
  const cpu0 = process.cpuUsage();
  while (performance.now() < end) {
    for (let i = 0; i < reqs.length; i++) if (matchRoute(t.index, t.listener, reqs[i]).route !== undefined) found++;
    n += reqs.length;
  }
  const cpu = process.cpuUsage(cpu0);
  if (found !== n) throw new Error(`only ${found} of ${n} lookups found a route`);
  return n / ((cpu.user + cpu.system) / 1e6);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const tables = { prefix: table('prefix'), regex: table('regex'), unindexed: table('unindexed') };
const rounds = 9;
const rates = { plain: { prefix: [], regex: [], unindexed: [] }, rx: { prefix: [], regex: [] } };
for (let round = 0; round < rounds; round++) {
  for (const k of ['prefix', 'regex', 'unindexed']) rates.plain[k].push(lookupsPerSecond(tables[k], plainReqs, SECONDS / 4));
  for (const k of ['prefix', 'regex']) rates.rx[k].push(lookupsPerSecond(tables[k], regexReqs, SECONDS / 4));
}
const m = (xs) => median(xs);
const fmt = (x) => `${(x / 1000).toFixed(0)}k/s`;
console.log(`route lookups, ${ROUTES} routes of which ${REGEX_ROUTES} regex (per second of CPU time, median of ${rounds} interleaved rounds):`);
console.log(`  requests for non-regex routes: prefix-only table ${fmt(m(rates.plain.prefix))}, with regex routes ${fmt(m(rates.plain.regex))} → ratio ${(m(rates.plain.regex) / m(rates.plain.prefix)).toFixed(2)}x`);
console.log(`  same, the regex routes written (?i)/... (no literal prefix: one RE2 set pass): ${fmt(m(rates.plain.unindexed))} → ratio ${(m(rates.plain.unindexed) / m(rates.plain.prefix)).toFixed(2)}x`);
console.log(`  requests for the regex routes themselves: as prefixes ${fmt(m(rates.rx.prefix))}, as regexes ${fmt(m(rates.rx.regex))} → ratio ${(m(rates.rx.regex) / m(rates.rx.prefix)).toFixed(2)}x`);
for (const k of ['prefix', 'regex', 'unindexed']) console.log(`  ${k} table: compile ${tables[k].compileMs.toFixed(0)} ms, route index build ${tables[k].buildMs.toFixed(0)} ms`);

// RE2 costs: per match (typical route regexes, catastrophic ones on 1,000 and 10,000 characters) and per compile.
function perCall(f, input) {
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < 20; i++) f(input);
    n += 20;
    elapsed = performance.now() - start;
  } while (elapsed < 100);
  return (elapsed * 1000) / n;
}
console.log(`RE2 engine (re2js): module import ${importMs.toFixed(1)} ms`);
const cases = [
  ['/api/v[0-9]+/users/[0-9]+', '/api/v2/users/12345'],
  ['/orders/(?P<id>[0-9]+)', '/orders/42'],
  ['/static/.*\\.(css|js|png)', '/static/app/main.css'],
  ['/api/v[0-9]+/users/[0-9]+', '/api/v2/users/' + '1'.repeat(980)],
  ['/(a|a)*b', '/' + 'a'.repeat(999)],
  ['/(a|a)*b', '/' + 'a'.repeat(9999)],
  ['(a+)+$', 'a'.repeat(999) + '!'],
  ['(a+)+$', 'a'.repeat(9999) + '!'],
  ['(a|aa)*c', 'a'.repeat(1000)],
  ['(.*a){20}', 'a'.repeat(1000)],
];
for (const [pattern, input] of cases) {
  const f = new FullMatch(pattern);
  console.log(`  match ${pattern.padEnd(26)} ${String(input.length).padStart(5)} chars: ${perCall((s) => f.test(s), input).toFixed(2)} us`);
}
const rw = new RegexSubstitution('^/svc-1/(.*)$', '/v2/\\1');
console.log(`  regex_rewrite ^/svc-1/(.*)$ → /v2/\\1 on /svc-1/items/17: ${perCall((s) => rw.replaceAll(s), '/svc-1/items/17').toFixed(2)} us`);
for (const round of ['cold', 'warm']) {
  const t = performance.now();
  for (let i = 0; i < 1000; i++) new FullMatch(`/compile-${round}-${i}/items/[0-9]+/(?P<name>[a-z-]+)`);
  console.log(`  compile 1,000 distinct route regexes (${round}): ${(performance.now() - t).toFixed(0)} ms`);
}
