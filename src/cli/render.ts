// `portico render PATH...`: print the master configuration (IR) exactly as the data plane gets it,
// canonical (sorted keys) so equal configurations print byte-identical. Secrets are never in the IR.

import { stringify } from 'yaml';
import { canonicalJSON } from '../ir/canonical.js';
import { readOffline, requireResources, SOURCE_OPTIONS, SOURCE_USAGE, printNotes } from './offline-args.js';
import { formatProblemText } from './validate.js';
import { oneOf, parse, UsageError, withUsage } from './args.js';

export const USAGE = `usage: portico render PATH... [--format json|yaml] [options]

${SOURCE_USAGE}`;

export async function run(argv: string[]): Promise<number> {
  return withUsage('render', USAGE, async () => {
    const { values, positionals } = parse(argv, { format: { type: 'string' }, ...SOURCE_OPTIONS }, USAGE);
    const format = oneOf(values.format, ['json', 'yaml'] as const, 'json', '--format');
    if (positionals.length === 0 && !(values.source && values.source.length > 0)) throw new UsageError('missing configuration PATH (or --source NAME=URL)');
    const state = await readOffline(positionals, values);
    requireResources(state, positionals);
    const result = state.result;
    printNotes(state);
    for (const p of result.report.problems) process.stderr.write(formatProblemText(p) + '\n');
    const doc = JSON.parse(canonicalJSON({ hash: result.hash, ir: result.ir })) as unknown;
    process.stdout.write(format === 'yaml' ? stringify(doc, { aliasDuplicateObjects: false }) : JSON.stringify(doc, null, 2) + '\n');
    return result.report.errors > 0 ? 1 : 0;
  });
}
