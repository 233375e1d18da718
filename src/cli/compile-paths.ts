// Shared by validate, render, routes, explain and test: load files or folders, then compile —
// the very same functions `serve` uses, so offline answers match what the gateway serves.

import { loadPaths } from '../load/index.js';
import { compile, type CompileResult } from '../compile/index.js';

export interface CompiledPaths extends CompileResult {
  readonly resourceCount: number;
}

export async function compilePaths(paths: string[], ambassadorId = 'default'): Promise<CompiledPaths> {
  const loaded = await loadPaths(paths, { ambassadorId });
  const result = compile(loaded.resources, { ambassadorId }, loaded.problems);
  // Not spread: a spread would read (and so compute) the hash, which most commands never print.
  return {
    ir: result.ir,
    report: result.report,
    secrets: result.secrets,
    get hash(): string {
      return result.hash;
    },
    resourceCount: loaded.resources.length,
  };
}
