// How every command ends when it cannot do its job: a usage error prints the command's usage (exit 2),
// a known failure prints `portico COMMAND: PORTICO_ERR_*: one line` (exit 1); only program faults show a stack.

import { readFileSync } from 'node:fs';
import { systemReason } from '../api/system-error.js';

export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** A bad command line. The message is one line; it is printed with the command's usage, exit 2. */
export class UsageError extends Error {
  readonly code = 'PORTICO_ERR_USAGE';
}

/** `--help` or `-h` among the arguments: the command prints its usage and exits 0. */
export class HelpRequested extends Error {
  readonly code = 'PORTICO_HELP';
  constructor(readonly usage: string) {
    super(usage);
  }
}

/** A failure with a stable code (documented in docs/reference/errors.md) and one line of why. */
export class CommandError extends Error {
  constructor(
    readonly code: `PORTICO_ERR_${string}`,
    message: string,
    readonly exitCode: number = EXIT_FAILED,
  ) {
    super(message);
  }
}

/** A file or folder the system refused: its path and the system's reason, never a stack. */
export const ERR_IO = 'PORTICO_ERR_IO';

let versionText: string | undefined;

/** `portico 0.1.0`: the version of the package this file was built from. */
export function versionLine(): string {
  if (versionText === undefined) {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { name?: string; version?: string };
    versionText = `${pkg.name ?? 'portico'} ${pkg.version ?? 'unknown'}`;
  }
  return versionText;
}

function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.trim();
}

/** Errors from the file system and sockets (ENOENT, EACCES, ...) carry a syscall and a path: enough for one line. */
function systemError(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException;
  if (!e || typeof e !== 'object' || typeof e.code !== 'string' || !/^E[A-Z0-9]+$/.test(e.code) || typeof e.syscall !== 'string') return undefined;
  return `cannot ${e.syscall}${e.path ? ` ${e.path}` : ''}: ${systemReason(e)}`;
}

/**
 * Prints why `portico COMMAND` stopped and returns its exit code. Anything that is not a usage error,
 * a coded failure or a system error is a program fault: rethrown, so the entry point shows its stack.
 */
export function reportFailure(command: string, err: unknown, usage: string): number {
  const who = command ? `portico ${command}` : 'portico';
  if (err instanceof HelpRequested) {
    process.stdout.write(`${err.usage}\n`);
    return 0;
  }
  if (err instanceof UsageError) {
    process.stderr.write(`${who}: ${firstLine(err.message)}\n\n${usage}\n`);
    return EXIT_USAGE;
  }
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && code.startsWith('PORTICO_ERR_')) {
    process.stderr.write(`${who}: ${code}: ${firstLine((err as Error).message)}\n`);
    const exit = (err as { exitCode?: unknown }).exitCode;
    return typeof exit === 'number' ? exit : EXIT_FAILED;
  }
  const sys = systemError(err);
  if (sys) {
    process.stderr.write(`${who}: ${ERR_IO}: ${sys}\n`);
    return EXIT_FAILED;
  }
  throw err;
}

/** Runs the body of `portico COMMAND`: whatever stops it is reported by reportFailure, in the one format. */
export async function withUsage(command: string, usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    return reportFailure(command, err, usage);
  }
}
