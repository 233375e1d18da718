// Directory → candidate configuration: load every file under DIR, compile, and decide whether
// the candidate may be applied (no error-severity problem anywhere) — the same functions validate uses.

import type { IR } from '../ir/types.js';
import type { SecretStore } from '../ir/secrets.js';
import type { Problem } from '../api/problems.js';
import { loadPaths } from '../load/index.js';
import { compile } from '../compile/index.js';

export type Candidate =
  | { readonly ok: true; readonly ir: IR; readonly secrets: SecretStore; readonly hash: string; readonly warnings: readonly Problem[] }
  | { readonly ok: false; readonly problems: readonly Problem[] };

/** Loads and compiles one directory; injectable so the serving machinery can be tested on its own. */
export type CompileDirectory = (dir: string) => Promise<Candidate>;

export function directoryCompiler(options: { source?: string; ambassadorId?: string } = {}): CompileDirectory {
  return async (dir) => {
    const loaded = await loadPaths([dir], { source: options.source ?? 'dir', ...(options.ambassadorId ? { ambassadorId: options.ambassadorId } : {}) });
    const compiled = compile(loaded.resources, options.ambassadorId ? { ambassadorId: options.ambassadorId } : {}, loaded.problems);
    // compile() folds the load problems into its report; keep each problem once either way.
    const seen = new Set<string>();
    const problems = [...loaded.problems, ...compiled.report.problems].filter((p) => {
      const key = `${p.code}|${p.origin.source ?? ''}|${p.origin.path}|${p.origin.line}|${p.origin.col}|${p.message}`;
      return seen.has(key) ? false : (seen.add(key), true);
    });
    if (problems.some((p) => p.severity === 'error') || compiled.report.errors > 0) return { ok: false, problems };
    return { ok: true, ir: compiled.ir, secrets: compiled.secrets, hash: compiled.hash, warnings: problems };
  };
}
