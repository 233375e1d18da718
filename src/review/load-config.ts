// Load + compile for explain and test, keeping the loaded resources: explain needs the Mappings'
// own fields to say which settings they set. Same loader and compiler as `serve`.

import { loadPaths } from '../load/index.js';
import { compile, type CompileResult } from '../compile/index.js';
import type { Resource } from '../api/resource.js';

export interface LoadedConfig extends CompileResult {
  readonly resources: readonly Resource[];
}

export async function loadConfig(paths: readonly string[], ambassadorId = 'default'): Promise<LoadedConfig> {
  const loaded = await loadPaths(paths, { ambassadorId });
  const result = compile(loaded.resources, { ambassadorId }, loaded.problems);
  return { ...result, resources: loaded.resources };
}
