// Load + compile for explain and test, keeping the loaded resources: explain needs the Mappings'
// own fields to say which settings they set. Same loader and compiler as `serve`.

import { loadPaths } from '../load/index.js';
import { compile, type CompileResult } from '../compile/index.js';
import type { Resource } from '../api/resource.js';
import { resolve } from 'node:path';

export interface LoadedConfig extends CompileResult {
  readonly resources: readonly Resource[];
}

/** `routeTestFiles`: route test files that may sit among the configuration; the loader's note that it skipped them is dropped. */
export async function loadConfig(paths: readonly string[], ambassadorId = 'default', routeTestFiles: readonly string[] = []): Promise<LoadedConfig> {
  const loaded = await loadPaths(paths, { ambassadorId });
  const skip = new Set(routeTestFiles.map((f) => resolve(f)));
  const problems = loaded.problems.filter((p) => !(p.code === 'NonEmissaryKind' && skip.has(resolve(p.origin.path))));
  const result = compile(loaded.resources, { ambassadorId }, problems);
  return { ...result, resources: loaded.resources };
}
