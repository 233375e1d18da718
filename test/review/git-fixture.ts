// Real git repositories for review tests: each commit is a fixture folder copied over the work tree,
// committed with fixed names and dates so commit ids (and golden outputs) are the same on every run.

import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const GIT_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Portico Tests',
  GIT_AUTHOR_EMAIL: 'tests@portico.invalid',
  GIT_COMMITTER_NAME: 'Portico Tests',
  GIT_COMMITTER_EMAIL: 'tests@portico.invalid',
};

export function git(cwd: string, args: string[], env: NodeJS.ProcessEnv = GIT_ENV): string {
  return execFileSync('git', args, { cwd, env, encoding: 'utf8', timeout: 30_000 });
}

/** Creates `dir` as a repository on branch main with one commit per fixture folder; returns the commit ids. */
export function makeRepo(dir: string, commits: readonly { from: string; message: string }[]): string[] {
  mkdirSync(dir, { recursive: true });
  git(dir, ['init', '-q', '-b', 'main']);
  const ids: string[] = [];
  commits.forEach((c, i) => {
    for (const e of readdirSync(dir)) if (e !== '.git') rmSync(join(dir, e), { recursive: true, force: true });
    cpSync(c.from, dir, { recursive: true });
    git(dir, ['add', '-A']);
    const date = `2026-01-0${i + 1}T12:00:00Z`;
    git(dir, ['commit', '-q', '-m', c.message], { ...GIT_ENV, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date });
    ids.push(git(dir, ['rev-parse', 'HEAD']).trim());
  });
  return ids;
}
