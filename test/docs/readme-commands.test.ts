// The README's command lines run as written on the example repositories: each `npx portico …` line of
// its Commands block that reads examples/ is run (serve and demo, which do not end, aside).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const repo = new URL('../../../', import.meta.url).pathname;
const readme = readFileSync(join(repo, 'README.md'), 'utf8');
const block = /## Commands[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';

/** Splits a shell line into words: single and double quotes, no expansion; a `#` outside quotes ends it. */
function words(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let any = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      any = true;
    } else if (ch === '#' && cur === '' && !any) break;
    else if (/\s/.test(ch)) {
      if (cur !== '' || any) out.push(cur);
      cur = '';
      any = false;
    } else cur += ch;
  }
  if (cur !== '' || any) out.push(cur);
  return out;
}

const lines = block
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l.startsWith('npx portico ') && l.includes('examples/'));

test('the README has command lines on the examples', () => {
  assert.ok(lines.length >= 8, `found ${lines.length} lines`);
});

for (const line of lines) {
  const args = words(line).slice(2);
  if (args[0] === 'serve' || args[0] === 'demo') continue;
  test(`README: ${line.replace(/\s+#.*$/, '')}`, () => {
    const r = spawnSync(process.execPath, [join(repo, 'bin/portico.js'), ...args], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
    // plan exits 3 when the example changed since `main` (on a branch); anything else is a failure.
    const ok = args[0] === 'plan' ? r.status === 0 || r.status === 3 : r.status === 0;
    assert.ok(ok, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /PORTICO_ERR_|internal error/);
  });
}
