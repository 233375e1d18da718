// Section 3: configuration scale. 100 / 1,000 / 10,000 Mappings over 50 Hosts: validate + compile
// time and peak RSS in a fresh process (Portico's own load and compile), runtime build ("apply") time,
// and the `portico validate DIR` command end to end under /usr/bin/time.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runToCompletion } from '../lib/process-group.js';
import { summarize } from '../lib/summary-stats.js';
import { BENCH_DIR } from '../lib/variants.js';
import { portico } from '../lib/portico-build.js';
import { routeModel, writePorticoConfig } from '../gen-config.js';
import { fmt } from './http1.js';

export const ISSUE_TARGET = { mappings: 10_000, validateCompileMs: 500, peakRssMiB: 150 };

export async function runConfigScale(ctx) {
  const { workdir, plan, layout, log } = ctx;
  for (const f of ['dist/src/load/index.js', 'dist/src/compile/index.js']) {
    if (!existsSync(join(portico.home, f))) return { skipped: `${f} is not in this build yet` };
  }
  const sizes = {};
  for (const n of plan.configSizes) {
    const dir = join(workdir, `config-scale-${n}`);
    writePorticoConfig(dir, routeModel({ mappings: n, hosts: 50, style: 'realistic' }), { port: 8080, upstream: '127.0.0.1:8081' });
    const probes = [];
    const wholeMachine = [];
    const cli = [];
    const cliAllCores = [];
    for (let i = 0; i < plan.configRepeats; i++) {
      const p = await probe(dir, layout.server, n, log);
      if (p === null) continue;
      probes.push(p);
      // validate is a command users and CI run on the whole machine; V8 compiles and collects on
      // its other cores. Pinned to one core (above) is the figure comparable with the data plane's.
      if (layout.allCores !== undefined) {
        const w = await probe(dir, layout.allCores, n, log);
        if (w !== null) wholeMachine.push(w);
      }
      if (!plan.configCli) continue;
      const c = await timeValidate(dir, layout.server);
      if (c) cli.push(c);
      // The issue's target is the whole process on the whole machine, as a user or CI runs it.
      if (layout.allCores !== undefined) {
        const w = await timeValidate(dir, layout.allCores);
        if (w) cliAllCores.push(w);
      }
    }
    if (probes.length === 0) {
      sizes[n] = { failed: 'probe produced no result' };
      continue;
    }
    const p0 = probes[0];
    sizes[n] = {
      mappings: n,
      hosts: 50,
      resources: p0.resources,
      routes: p0.routes,
      errors: p0.errors,
      firstError: p0.firstError,
      loadMs: summarize(probes.map((p) => p.loadMs)),
      compileMs: summarize(probes.map((p) => p.compileMs)),
      validateCompileMs: summarize(probes.map((p) => p.validateCompileMs)),
      buildRuntimeMs: summarize(probes.map((p) => p.buildRuntimeMs)),
      hashMs: summarize(probes.map((p) => p.hashMs)),
      warmValidateCompileMs: summarize(probes.map((p) => p.warmValidateCompileMs)),
      peakRssMiB: summarize(probes.map((p) => p.peakRssMiB)),
      peakRssWithRuntimeMiB: summarize(probes.map((p) => p.peakRssWithRuntimeMiB)),
      wholeMachine: wholeMachine.length ? {
        loadMs: summarize(wholeMachine.map((p) => p.loadMs)),
        compileMs: summarize(wholeMachine.map((p) => p.compileMs)),
        validateCompileMs: summarize(wholeMachine.map((p) => p.validateCompileMs)),
        peakRssMiB: summarize(wholeMachine.map((p) => p.peakRssMiB)),
      } : null,
      cli: cli.length ? {
        command: 'portico validate DIR',
        wallMs: summarize(cli.map((c) => c.wallMs)),
        maxRssMiB: summarize(cli.map((c) => c.maxRssMiB)),
        exitCode: cli[0].exitCode,
      } : null,
      cliAllCores: cliAllCores.length ? {
        wallMs: summarize(cliAllCores.map((c) => c.wallMs)),
        maxRssMiB: summarize(cliAllCores.map((c) => c.maxRssMiB)),
      } : null,
    };
    const s = sizes[n];
    log(`  ${String(n).padStart(6)} Mappings: load ${fmt(s.loadMs.median, 0)} ms + compile ${fmt(s.compileMs.median, 0)} ms = ${fmt(s.validateCompileMs.median, 0)} ms (again, warm: ${fmt(s.warmValidateCompileMs?.median, 0)} ms); hash ${fmt(s.hashMs?.median, 0)} ms; runtime build ${fmt(s.buildRuntimeMs?.median, 0)} ms; peak RSS ${fmt(s.peakRssMiB.median, 0)} MiB (${fmt(s.peakRssWithRuntimeMiB?.median, 0)} with the runtime); routes ${s.routes}; errors ${s.errors}` +
      (s.cli ? `; \`validate\` ${fmt(s.cli.wallMs.median, 0)} ms wall, ${fmt(s.cli.maxRssMiB.median, 0)} MiB, exit ${s.cli.exitCode}` : '') +
      (s.cliAllCores ? ` (all cores: ${fmt(s.cliAllCores.wallMs.median, 0)} ms)` : '') +
      (s.wholeMachine ? `; on all cores: ${fmt(s.wholeMachine.validateCompileMs.median, 0)} ms, peak RSS ${fmt(s.wholeMachine.peakRssMiB.median, 0)} MiB` : ''));
    if (s.errors) log(`    first error: ${s.firstError}`);
  }
  const big = sizes[ISSUE_TARGET.mappings];
  const target = big?.validateCompileMs ? {
    ...ISSUE_TARGET,
    measuredValidateCompileMs: big.validateCompileMs.median,
    measuredPeakRssMiB: big.peakRssMiB.median,
    ...(big.wholeMachine ? { wholeMachineValidateCompileMs: big.wholeMachine.validateCompileMs.median, wholeMachinePeakRssMiB: big.wholeMachine.peakRssMiB.median } : {}),
    met: big.validateCompileMs.median < ISSUE_TARGET.validateCompileMs && big.peakRssMiB.median < ISSUE_TARGET.peakRssMiB,
  } : null;
  return { sizes, target };
}

/** `portico validate DIR` under /usr/bin/time on the given CPUs: wall time and max RSS of the whole process. */
async function timeValidate(dir, cpus) {
  const t = await runToCompletion('/usr/bin/time', ['-v', process.execPath, join(portico.home, 'bin/portico.js'), 'validate', dir], { cpus, timeoutMs: 120_000, cwd: portico.home });
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(t.stderr);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(t.stderr);
  if (!wall || !rss) return null;
  return {
    wallMs: (Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3])) * 1000,
    maxRssMiB: Number(rss[1]) / 1024,
    exitCode: t.status,
  };
}

/** One fresh-process probe of a folder on the given CPUs; null (and a log line) when it fails. */
async function probe(dir, cpus, n, log) {
  const r = await runToCompletion(process.execPath, [join(BENCH_DIR, 'config-scale-probe.js'), dir, portico.home], { cpus, timeoutMs: 120_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('PROBEJSON '));
  if (!line) {
    log(`  ${n} Mappings: probe failed (${r.status}): ${(r.stderr || r.stdout).slice(-600)}`);
    return null;
  }
  return JSON.parse(line.slice('PROBEJSON '.length));
}
