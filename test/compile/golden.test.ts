// Golden files: each test/testdata/compile/NAME.in.yaml compiles to NAME.out.yaml holding the
// report (problems and conditions) and the IR. PORTICO_UPDATE_GOLDEN=1 rewrites them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadFiles } from '../../src/load/index.js';
import { compile } from '../../src/compile/index.js';
import { canonicalJSON } from '../../src/ir/canonical.js';

const dir = fileURLToPath(new URL('../../../test/testdata/compile/', import.meta.url));
const update = process.env['PORTICO_UPDATE_GOLDEN'] === '1';

for (const file of readdirSync(dir).filter((f) => f.endsWith('.in.yaml')).sort()) {
  const text = readFileSync(join(dir, file), 'utf8');
  const title = /^# (.*)$/m.exec(text)?.[1] ?? file;
  test(`${file}: ${title}`, () => {
    const loaded = loadFiles([{ path: file, content: text }]);
    const r = compile(loaded.resources, {}, loaded.problems);
    const out = stringify(
      JSON.parse(canonicalJSON({ report: { errors: r.report.errors, warnings: r.report.warnings, problems: r.report.problems, conditions: r.report.conditions }, ir: r.ir, hash: r.hash })),
      { aliasDuplicateObjects: false, lineWidth: 0 },
    );
    const golden = join(dir, file.replace(/\.in\.yaml$/, '.out.yaml'));
    if (update || !existsSync(golden)) {
      writeFileSync(golden, out);
      if (!update) assert.fail(`golden file ${golden} was missing and has been written; review and commit it`);
      return;
    }
    assert.equal(out, readFileSync(golden, 'utf8'), `${golden} differs (PORTICO_UPDATE_GOLDEN=1 rewrites it)`);
  });
}
