// Argument parsing for every command, on node:util parseArgs: unknown options are usage errors (exit 2)
// that name the closest known option; every command answers --help.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closestName } from '../load/closest-name.js';

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

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, usage: string) {
  if (argv.some((a) => a === '--help' || a === '-h')) throw new HelpRequested(usage);
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${describeParseError(err as Error & { code?: string }, options)}\n\n${usage}`);
  }
}

function describeParseError(err: Error & { code?: string }, options: NonNullable<ParseArgsConfig['options']>): string {
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const m = /'(-{1,2}[^' ]+)'/.exec(err.message);
    const given = m?.[1] ?? '';
    const guess = unknownOptionGuess(given, Object.keys(options));
    return `unknown option '${given}'${guess ? ` (did you mean '--${guess}'?)` : ''}`;
  }
  return err.message;
}

/** The known option closest to a mistyped one, if any is close. */
export function unknownOptionGuess(given: string, known: readonly string[]): string | undefined {
  const bare = given.replace(/^-+/, '').split('=')[0] ?? '';
  return bare ? closestName(bare, known) : undefined;
}

export function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], fallback: T, what: string): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  const guess = closestName(value, allowed);
  throw new UsageError(`${what} must be one of ${allowed.join(', ')} (got '${value}'${guess ? `; did you mean '${guess}'?` : ''})`);
}

/** Runs a command body: a usage error prints its message (with the usage) and exits 2; --help prints the usage and exits 0. */
export async function withUsage(fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof HelpRequested) {
      console.log(err.usage);
      return 0;
    }
    if (err instanceof UsageError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
}
