// Loading YAML at scale, two ways: `portico validate` of 10,000 Mappings over 50 files, cold, with the
// load stage's own reader and with the yaml package in its place; and a re-load after a one-file change.
// Usage: node bench/yaml-load.js [--runs N] [--out NAME]   (after `npm run build`; writes bench/results/NAME.{json,md})
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { routeModel, writePorticoConfig } from './gen-config.js';

const home = dirname(dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const runs = Number(opt('--runs', 5));
const out = opt('--out', `${new Date().toISOString().slice(0, 10)}-yaml-load`);

/** 10,000 Mappings over 48 team files, plus listeners.yaml and hosts.yaml: 50 files. */
function writeTree(dir) {
  const model = routeModel({ mappings: 10_000, hosts: 50 });
  model.routes.forEach((r, i) => { r.team = `team-${String(i % 48).padStart(2, '0')}`; });
  writePorticoConfig(dir, model, { port: 8080, upstream: '127.0.0.1:8081' });
  return readdirSync(dir).length;
}

/** A copy of this build whose load stage reads YAML with the yaml package (the oracle the tests use). */
function yamlPackageBuild() {
  const dir = mkdtempSync(join(tmpdir(), 'portico-yaml-package-'));
  for (const d of ['dist', 'bin', 'package.json']) cpSync(join(home, d), join(dir, d), { recursive: true });
  symlinkSync(join(home, 'node_modules'), join(dir, 'node_modules'));
  const decode = join(dir, 'dist/src/load/decode.js');
  const src = readFileSync(decode, 'utf8');
  const call = /const issues = readDocuments\(text, decodeDocument, \{ mapPos: opts\.mapPos, caches: ctx\.readerCaches \}\);/;
  if (!call.test(src)) throw new Error('decode.js no longer reads YAML where this benchmark expects; update the patch');
  const patched = `import { parseWithYamlPackage } from '../../test/load/yaml-oracle.js';\n${src.replace(call, 'const read = parseWithYamlPackage(text, opts.mapPos); for (const d of read.documents) decodeDocument(d); const issues = read.issues;')}`;
  writeFileSync(decode, patched);
  return dir;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** `portico validate DIR` under /usr/bin/time: wall and CPU seconds, peak RSS. */
function validate(portico, dir) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', process.execPath, join(portico, 'bin/portico.js'), 'validate', dir], { encoding: 'utf8' });
  const last = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  if (r.status !== 0) throw new Error(`validate failed: ${r.stdout}${r.stderr}`);
  return { wallMs: last[0] * 1000, cpuMs: (last[1] + last[2]) * 1000, rssMiB: last[3] / 1024, summary: r.stdout.trim().split('\n').pop() };
}

/** In a fresh process: a cold load with a ParseCache, one file changed, then the load again (with and without the cache). */
function reload(dir) {
  const script = `
    const { loadPaths, loadFiles, ParseCache } = await import(${JSON.stringify(pathToFileURL(join(home, 'dist/src/load/index.js')).href)});
    const { readdirSync, readFileSync, writeFileSync } = await import('node:fs');
    const { performance } = await import('node:perf_hooks');
    const dir = ${JSON.stringify(dir)};
    const cache = new ParseCache();
    let t = performance.now();
    await loadPaths([dir], { source: 'dir', revision: 'h1' }, cache);
    const coldMs = performance.now() - t;
    const file = dir + '/team-17.yaml';
    const before = readFileSync(file, 'utf8');
    writeFileSync(file, before.replace('prefix: /svc-', 'prefix: /changed-svc-'));
    t = performance.now();
    const cached = await loadPaths([dir], { source: 'dir', revision: 'h2' }, cache);
    const cachedMs = performance.now() - t;
    const reused = cache.lastLoad;
    t = performance.now();
    await loadPaths([dir], { source: 'dir', revision: 'h2' });
    const warmMs = performance.now() - t;
    // In memory, as a git source hands its files over (contents read once, blob ids unknown).
    const files = readdirSync(dir).map((n) => ({ path: n, content: readFileSync(dir + '/' + n) }));
    const mem = new ParseCache();
    loadFiles(files, { source: 'git', revision: 'c1' }, mem);
    const changed = files.map((f) => (f.path === 'team-17.yaml' ? { ...f, content: Buffer.from(before.replace('prefix: /svc-', 'prefix: /again-svc-')) } : f));
    t = performance.now();
    loadFiles(changed, { source: 'git', revision: 'c2' }, mem);
    const memMs = performance.now() - t;
    writeFileSync(file, before);
    console.log(JSON.stringify({ coldMs, cachedMs, warmMs, memMs, reused, resources: cached.resources.length }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const tree = mkdtempSync(join(tmpdir(), 'portico-yaml-load-'));
const files = writeTree(tree);
const other = yamlPackageBuild();
const result = { files, runs, reader: [], yamlPackage: [], reload: [] };
try {
  for (let i = 0; i < runs; i++) {
    // Interleaved, so a busy moment of the machine costs both alike.
    result.reader.push(validate(home, tree));
    result.yamlPackage.push(validate(other, tree));
    result.reload.push(reload(tree));
  }
} finally {
  rmSync(tree, { recursive: true, force: true });
  rmSync(other, { recursive: true, force: true });
}
const sum = (list, k) => median(list.map((x) => x[k]));
result.summary = {
  reader: { wallMs: sum(result.reader, 'wallMs'), cpuMs: sum(result.reader, 'cpuMs'), rssMiB: sum(result.reader, 'rssMiB') },
  yamlPackage: { wallMs: sum(result.yamlPackage, 'wallMs'), cpuMs: sum(result.yamlPackage, 'cpuMs'), rssMiB: sum(result.yamlPackage, 'rssMiB') },
  reload: { coldMs: sum(result.reload, 'coldMs'), cachedMs: sum(result.reload, 'cachedMs'), warmMs: sum(result.reload, 'warmMs'), memMs: sum(result.reload, 'memMs') },
};
const load = (() => { try { return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '); } catch { return 'n/a'; } })();
const s = result.summary;
const md = `# YAML load, ${out}

10,000 Mappings over ${files} files (bench/gen-config.js, 48 team files), ${runs} runs interleaved, medians.
Machine load average at the end: ${load} (2 cores).

| \`portico validate DIR\`, cold | wall ms | CPU ms (user+sys) | peak RSS MiB |
|---|---|---|---|
| the load stage's reader | ${s.reader.wallMs.toFixed(0)} | ${s.reader.cpuMs.toFixed(0)} | ${s.reader.rssMiB.toFixed(0)} |
| the yaml package instead | ${s.yamlPackage.wallMs.toFixed(0)} | ${s.yamlPackage.cpuMs.toFixed(0)} | ${s.yamlPackage.rssMiB.toFixed(0)} |

Re-load after one file (of ${files}) changed, in a fresh process after one cold load: with a ParseCache
${s.reload.cachedMs.toFixed(0)} ms from disk (every file read and hashed, one decoded), ${s.reload.memMs.toFixed(0)} ms in memory (loadFiles, as a git
source hands files over); without the cache ${s.reload.warmMs.toFixed(0)} ms (warm); the cold load ${s.reload.coldMs.toFixed(0)} ms.
`;
writeFileSync(join(home, 'bench/results', `${out}.json`), `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(join(home, 'bench/results', `${out}.md`), md);
console.log(md);
