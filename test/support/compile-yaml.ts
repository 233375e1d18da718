// Compile Emissary YAML written inline in a test into an IR, the way `portico serve` does
// (load + compile), failing loudly when the YAML has errors.

import { loadFiles } from '../../src/load/index.js';
import { compile, type CompileResult } from '../../src/compile/index.js';

export function compileYaml(yaml: string): CompileResult {
  const loaded = loadFiles([{ path: 'test.yaml', content: yaml }]);
  const result = compile(loaded.resources, {}, loaded.problems);
  const errors = result.report.problems.filter((p) => p.severity === 'error');
  if (errors.length > 0) throw new Error(`test YAML does not compile: ${JSON.stringify(errors)}`);
  return result;
}
