// `portico ARGS` as a user runs it: a real process of bin/portico.js, run to its end.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PORTICO_BIN = fileURLToPath(new URL('../../../bin/portico.js', import.meta.url));

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `portico ARGS` (asynchronously, so a suite's processes overlap); stdout may go to a file descriptor instead. */
export function runPortico(args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdout?: number } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PORTICO_BIN, ...args], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', opts.stdout ?? 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
