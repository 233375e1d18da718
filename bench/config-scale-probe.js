// Child process of the configuration-scale benchmark: loads and compiles one generated folder with
// Portico's own modules (dist/), builds the runtime from the IR, and prints timings and peak RSS as JSON.
// Usage: node bench/config-scale-probe.js CONFIG_DIR [PORTICO_HOME]  (PORTICO_HOME holds dist/; default: this checkout)
import { pathToFileURL } from 'node:url';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const repo = process.argv[3] ?? dirname(dirname(fileURLToPath(import.meta.url)));
const dir = process.argv[2];
const mod = (p) => pathToFileURL(join(repo, 'dist/src', p)).href;

const out = { rssBeforeMiB: process.memoryUsage().rss / 2 ** 20 };
const { loadPaths } = await import(mod('load/index.js'));
const { compile } = await import(mod('compile/index.js'));
const t0 = performance.now();
const loaded = await loadPaths([dir]);
const t1 = performance.now();
const compiled = compile(loaded.resources, {}, loaded.problems);
const t2 = performance.now();
out.loadMs = t1 - t0;
out.compileMs = t2 - t1;
out.validateCompileMs = t2 - t0;
out.resources = loaded.resources.length;
// compile() folds the load problems into its report.
const problems = compiled.report?.problems ?? loaded.problems;
out.errors = problems.filter((p) => p.severity === 'error').length;
out.firstError = problems.find((p) => p.severity === 'error')?.message ?? null;
out.routes = countRoutes(compiled.ir);
// What `validate` holds at its peak: loaded resources, IR and report.
out.peakRssMiB = process.resourceUsage().maxRSS / 1024;
// The IR's content hash (serve needs it; validate does not, and compile computes it on first read).
const th = performance.now();
const hash = compiled.hash;
out.hashMs = performance.now() - th;
if (existsSync(join(repo, 'dist/src/dataplane/runtime.js'))) {
  const { buildRuntime } = await import(mod('dataplane/runtime.js'));
  const t3 = performance.now();
  const rt = buildRuntime(compiled.ir, compiled.secrets, { generation: 1, hash });
  out.buildRuntimeMs = performance.now() - t3;
  await rt.drain(0);
}
out.peakRssWithRuntimeMiB = process.resourceUsage().maxRSS / 1024;
// The same work again in this process, as a serving process re-applying a changed folder does it:
// the code is now optimised, so this is load + compile without the cold start.
const t4 = performance.now();
const again = await loadPaths([dir]);
const t5 = performance.now();
compile(again.resources, {}, again.problems);
out.warmLoadMs = t5 - t4;
out.warmValidateCompileMs = performance.now() - t4;
console.log(`PROBEJSON ${JSON.stringify(out)}`);

function countRoutes(ir) {
  let n = 0;
  for (const l of ir?.listeners ?? []) for (const vh of l.virtualHosts ?? l.vhosts ?? []) n += (vh.routes ?? []).length;
  return n;
}
