// The CLI's bundle (npm run build): `portico validate` from it says exactly what tsc's output says,
// and bin/portico.js runs it only while it is newer than tsc's last build, never stale code.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin/portico.js');
const bundled = existsSync(join(root, 'dist/bundle/cli/main.js'));
const scratch = mkdtempSync(join(tmpdir(), 'portico-bundle-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** `portico ARGS` through bin/portico.js, or through tsc's own dist/src/cli/main.js. */
function run(via: 'bin' | 'tsc', args: string[]): { status: number | null; stdout: string; stderr: string } {
  const tscMain = pathToFileURL(join(root, 'dist/src/cli/main.js')).href;
  const argv = via === 'bin'
    ? [bin, ...args]
    : ['--input-type=module', '-e', `const { main } = await import(${JSON.stringify(tscMain)}); process.exitCode = await main(process.argv.slice(1));`, '--', ...args];
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', cwd: root, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('validate from the bundle prints and exits as from tsc\'s output: the test corpus, every format, --strict', { skip: !bundled && 'no bundle (npm run build makes it)' }, () => {
  for (const args of [['--format', 'json'], ['--format', 'github'], ['--strict'], []]) {
    const a = run('bin', ['validate', ...args, 'test/testdata/emissary']);
    const b = run('tsc', ['validate', ...args, 'test/testdata/emissary']);
    assert.equal(a.status, 1, a.stderr);
    assert.deepEqual(a, b, args.join(' '));
  }
  const json = JSON.parse(run('bin', ['validate', '--format', 'json', 'test/testdata/emissary']).stdout) as { problems: unknown[] };
  assert.ok(json.problems.length > 100);
  // Usage errors and the version come from the bundled entry too.
  for (const args of [['validate'], ['valdate', 'x'], ['--version'], ['validate', '--help']]) assert.deepEqual(run('bin', args), run('tsc', args), args.join(' '));
});

test('bin/portico.js runs the bundle while it is newer than tsc\'s last build, tsc\'s output otherwise', () => {
  // A copy of bin/ beside two stand-in builds that each say which one ran.
  mkdirSync(join(scratch, 'bin'));
  copyFileSync(bin, join(scratch, 'bin/portico.js'));
  writeFileSync(join(scratch, 'package.json'), '{ "type": "module" }\n');
  for (const [dir, said] of [['dist/bundle/cli', 'bundle'], ['dist/src/cli', 'tsc']] as const) {
    mkdirSync(join(scratch, dir), { recursive: true });
    writeFileSync(join(scratch, dir, 'main.js'), `export async function main() { process.stdout.write('${said}\\n'); return 0; }\n`);
  }
  const info = join(scratch, 'dist/.tsbuildinfo');
  writeFileSync(info, '{}');
  const which = (): string => spawnSync(process.execPath, [join(scratch, 'bin/portico.js'), 'validate'], { encoding: 'utf8' }).stdout.trim();
  const at = (path: string, seconds: number): void => utimesSync(path, seconds, seconds);

  at(info, 1_000);
  at(join(scratch, 'dist/bundle/cli/main.js'), 2_000);
  assert.equal(which(), 'bundle');
  // tsc ran after the bundle was made (a `tsc -w` or `npx tsc`): the bundle is stale.
  at(info, 3_000);
  assert.equal(which(), 'tsc');
  rmSync(join(scratch, 'dist/bundle'), { recursive: true });
  assert.equal(which(), 'tsc');
});
