// Section 6: GitOps merge → live latency. The measurement itself lives in bench/gitops-latency.js
// (owned with the GitOps work); this section runs it when present and records what it prints.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runToCompletion } from '../lib/process-group.js';
import { BENCH_DIR, REPO_DIR } from '../lib/variants.js';

/**
 * Contract for bench/gitops-latency.js: run as `node bench/gitops-latency.js [--quick]` from the
 * repository root; stop everything it starts by itself; print its result as the last stdout line,
 * a JSON object such as {"commits":20,"webhook":{"p50Ms":..,"p95Ms":..},"polling":{"p50Ms":..,"p95Ms":..}}.
 */
export async function runGitops(ctx) {
  const script = join(BENCH_DIR, 'gitops-latency.js');
  if (!existsSync(script)) return { skipped: 'slot: bench/gitops-latency.js is not in the tree yet (GitOps merge → live latency, issue 5)' };
  const args = [script, ...(ctx.quick ? ['--quick'] : [])];
  // Bounded by its own cap and by what is left of the run's time limit.
  const timeoutMs = Math.max(10_000, Math.min(ctx.quick ? 120_000 : 600_000, ctx.deadline - Date.now()));
  const r = await runToCompletion(process.execPath, args, { cwd: REPO_DIR, timeoutMs });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let parsed = null;
  try { parsed = JSON.parse(last); } catch {}
  if (r.status !== 0 || !parsed) {
    const why = r.timedOut ? 'timed out' : `exit ${r.status}`;
    ctx.log(`  gitops-latency.js failed (${why}): ${(r.stderr || r.stdout).slice(-600)}`);
    return { failed: `bench/gitops-latency.js ${why}; last output: ${(r.stderr || r.stdout).trim().split('\n').pop()?.slice(0, 300) ?? ''}` };
  }
  ctx.log(`  ${last}`);
  return { result: parsed };
}
