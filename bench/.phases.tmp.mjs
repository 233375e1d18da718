import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
const { loadFiles, ParseCache } = await import('../dist/src/load/index.js');
const { compile } = await import('../dist/src/compile/index.js');
const { CompileMemo } = await import('../dist/src/compile/compile-memo.js');
const memo = process.env.NOMEMO ? undefined : new CompileMemo();
const check = !!process.env.CHECK;
const { diffIR } = await import('../dist/src/ir/diff.js');
const oldDiff = check ? (await import('../dist/src/ir/diff-old.js')).diffIR : undefined;
const { createHash } = await import('node:crypto');
const { buildRuntime } = await import('../dist/src/dataplane/runtime.js');
const dir = process.argv[2];
const files = readdirSync(dir).sort().map((f) => ({ path: f, content: readFileSync(join(dir, f), 'utf8') }));
const cache = new ParseCache();
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const phase = (rec, name, fn) => { const c = cpu(); const t = performance.now(); const v = fn(); rec[name] = [Math.round(performance.now() - t), Math.round(cpu() - c)]; return v; };
let prev;
const mins = {};
let rt;
const { Session } = await import('node:inspector/promises');
const session = new Session(); session.connect();
const rounds = Number(process.env.ROUNDS ?? 8);
for (let i = 0; i < rounds; i++) {
  if (i === 1 && process.env.PROF) { await session.post('Profiler.enable'); await session.post('Profiler.setSamplingInterval', { interval: 100 }); await session.post('Profiler.start'); }
  const fs2 = files.map((f) => f.path === 'team-07.yaml' ? { ...f, content: f.content.replace(/timeout_ms: 5000/, `timeout_ms: ${5001 + i}`) } : f);
  const rec = {};
  const loaded = phase(rec, 'load', () => loadFiles(fs2, { source: 'dir' }, cache));
  const out = phase(rec, 'compile', () => compile(loaded.resources, memo ? { memo } : {}, loaded.problems));
  if (check) { const ref = compile(loaded.resources, {}, loaded.problems); if (JSON.stringify(ref) !== JSON.stringify({ ir: out.ir, report: out.report, secrets: out.secrets, hash: out.hash }) && JSON.stringify(ref.ir) !== JSON.stringify(out.ir)) console.log('MISMATCH'); else console.log('same'); }
  rec.memo = memo?.lastCompile;
  phase(rec, 'hash', () => out.hash);
  if (prev) { const d = phase(rec, 'diff', () => diffIR(prev.ir, out.ir)); if (check) { const o = oldDiff(prev.ir, out.ir); console.log('diff same', JSON.stringify(o) === JSON.stringify(d), JSON.stringify(d.routes).slice(0, 200)); console.log('hash same', createHash('sha256').update(JSON.stringify(out.ir)).digest('hex') === out.hash); } }
  const old = rt;
  rt = phase(rec, 'runtime', () => buildRuntime(out.ir, out.secrets, { generation: i, hash: out.hash }));
  if (old) await old.drain(0);
  prev = out;
  if (!process.env.QUIET) console.log(i, JSON.stringify(rec));
  if (i >= 2) for (const [k, v] of Object.entries(rec)) if (Array.isArray(v)) mins[k] = Math.min(mins[k] ?? Infinity, v[1]);
}
console.log('min cpu ms', JSON.stringify(mins));
if (process.env.PROF) { const { profile } = await session.post('Profiler.stop'); (await import('node:fs')).writeFileSync(process.env.PROF, JSON.stringify(profile)); }
await rt.drain(0);
