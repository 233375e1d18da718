// Argument parsing for every command, on node:util parseArgs: unknown options are usage errors (exit 2)
// that name the closest known option; every command answers --help and --version.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closestName } from '../load/closest-name.js';
import { HelpRequested, UsageError } from './command-errors.js';

export { HelpRequested, UsageError, withUsage } from './command-errors.js';

/** Options every command takes besides its own (main.ts answers them before the command runs). */
export const COMMON_OPTIONS = ['help', 'version'] as const;

/** Arguments up to a `--` terminator: where --help and --version are looked for. */
function optionArgs(argv: readonly string[]): readonly string[] {
  const end = argv.indexOf('--');
  return end < 0 ? argv : argv.slice(0, end);
}

export function wantsHelp(argv: readonly string[]): boolean {
  return optionArgs(argv).some((a) => a === '--help' || a === '-h');
}

export function wantsVersion(argv: readonly string[]): boolean {
  return optionArgs(argv).some((a) => a === '--version');
}

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, usage: string) {
  if (wantsHelp(argv)) throw new HelpRequested(usage);
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(describeParseError(err as Error & { code?: string }, options));
  }
}

function describeParseError(err: Error & { code?: string }, options: NonNullable<ParseArgsConfig['options']>): string {
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const m = /'(-{1,2}[^' ]+)'/.exec(err.message);
    return unknownOption(m?.[1] ?? '', Object.keys(options));
  }
  // Node's own wording ("Option '--format <value>' argument missing"), shortened to the point.
  const missing = /^Option '(-[^' ]*(?:, -[^' ]*)?)[^']*' argument missing/.exec(err.message);
  if (missing) return `${missing[1]!.split(', ').pop()} needs a value`;
  const ambiguous = /^Option '(-[^' ]*(?:, -[^' ]*)?)[^']*' argument is ambiguous/.exec(err.message);
  if (ambiguous) return `${ambiguous[1]!.split(', ').pop()} needs a value (a value starting with '-' is given as ${ambiguous[1]!.split(', ').pop()}=VALUE)`;
  const flag = /^Option '(-[^' ]*)' does not take an argument/.exec(err.message);
  if (flag) return `${flag[1]} takes no value`;
  return err.message.split('\n')[0] ?? err.message;
}

/** "unknown option '--fromat' (did you mean '--format'?)": the one wording every command uses. */
export function unknownOption(given: string, known: readonly string[]): string {
  const guess = unknownOptionGuess(given, [...known, ...COMMON_OPTIONS]);
  return `unknown option '${given}'${guess ? ` (did you mean '--${guess}'?)` : ''}`;
}

/** The known option closest to a mistyped one, if any is close. */
export function unknownOptionGuess(given: string, known: readonly string[]): string | undefined {
  const bare = given.replace(/^-+/, '').split('=')[0] ?? '';
  return bare ? closestName(bare, known, { prefixes: true }) : undefined;
}

export function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], fallback: T, what: string): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  const guess = closestName(value, allowed);
  throw new UsageError(`${what} must be one of ${allowed.join(', ')} (got '${value}'${guess ? `; did you mean '${guess}'?` : ''})`);
}
