// Which Portico the benchmark runs. By default a snapshot of the committed HEAD, built once per
// commit in a temporary folder, so that edits and rebuilds in the shared working tree during a run
// cannot change what is measured; `--portico worktree` builds and snapshots the working tree instead.
import { existsSync, mkdirSync, rmSync, renameSync, symlinkSync, readdirSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runToCompletion } from './process-group.js';

export const REPO_DIR = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/** Where bin/portico.js and dist/ of the Portico under test live (set by preparePortico). */
export const portico = { home: REPO_DIR, commit: null, source: 'working tree (not snapshotted)' };

async function git(args) {
  const r = await runToCompletion('git', ['-C', REPO_DIR, ...args], { timeoutMs: 60_000 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

async function tsc(dir) {
  const started = Date.now();
  const r = await runToCompletion('npx', ['tsc', '-p', '.'], { cwd: dir, timeoutMs: 300_000 });
  // tsc emits even when some file has a type error; the benchmark uses whatever was emitted.
  const typeErrors = (r.stdout.match(/error TS\d+/g) ?? []).length;
  // The CLI's bundle, as `npm run build` makes it, where the commit has one.
  if (existsSync(join(dir, 'scripts/bundle-cli.js'))) {
    const b = await runToCompletion(process.execPath, ['scripts/bundle-cli.js'], { cwd: dir, timeoutMs: 300_000 });
    if (b.status !== 0) throw new Error(`bundling the CLI failed: ${(b.stderr || b.stdout).trim()}`);
  }
  return { seconds: (Date.now() - started) / 1000, typeErrors };
}

/** Build (or reuse) the Portico to benchmark; returns a description for the results. */
export async function preparePortico({ mode, workdir, log }) {
  if (mode === 'worktree') {
    log('building Portico from the working tree (npx tsc -p . and the CLI bundle)');
    const build = await tsc(REPO_DIR);
    // Copy what was built (times kept: bin/portico.js compares the bundle's with tsc's): later rebuilds of the shared tree must not change the servers mid-run.
    const snap = join(workdir, 'portico-worktree');
    mkdirSync(snap, { recursive: true });
    for (const p of ['dist', 'bin', 'package.json']) if (existsSync(join(REPO_DIR, p))) cpSync(join(REPO_DIR, p), join(snap, p), { recursive: true, preserveTimestamps: true });
    symlinkSync(join(REPO_DIR, 'node_modules'), join(snap, 'node_modules'));
    portico.home = snap;
    portico.commit = `${await git(['rev-parse', '--short', 'HEAD'])}+working-tree`;
    portico.source = 'working tree at the start of the run (uncommitted changes included), copied aside';
    return { ...build, commit: portico.commit, source: portico.source };
  }
  const sha = await git(['rev-parse', 'HEAD']);
  const base = join(tmpdir(), 'portico-bench-builds');
  const dir = join(base, sha);
  let build = { reused: true };
  if (!existsSync(join(dir, 'dist/src/cli/main.js'))) {
    log(`building Portico at ${sha.slice(0, 7)} (committed HEAD, in ${base})`);
    mkdirSync(base, { recursive: true });
    // One snapshot is kept: older commits' builds are removed.
    for (const old of readdirSync(base)) rmSync(join(base, old), { recursive: true, force: true });
    const partial = `${dir}.partial`;
    mkdirSync(partial, { recursive: true });
    const x = await runToCompletion('sh', ['-c', `git -C '${REPO_DIR}' archive HEAD | tar -x -C '${partial}'`], { timeoutMs: 120_000 });
    if (x.status !== 0) throw new Error(`git archive failed: ${x.stderr.trim()}`);
    symlinkSync(join(REPO_DIR, 'node_modules'), join(partial, 'node_modules'));
    build = await tsc(partial);
    if (build.typeErrors > 0) log(`  tsc reported ${build.typeErrors} type error(s); using the emitted JavaScript`);
    renameSync(partial, dir);
  } else {
    log(`using the Portico build of ${sha.slice(0, 7)} (committed HEAD) from ${base}`);
  }
  portico.home = dir;
  portico.commit = sha.slice(0, 12);
  portico.source = 'committed HEAD (git archive), built apart from the working tree';
  return { ...build, commit: portico.commit, source: portico.source };
}
