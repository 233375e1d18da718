// `portico render PATH...`: print the master configuration (IR) exactly as the data plane gets it,
// canonical (sorted keys) so equal configurations print byte-identical. Secrets are never in the IR.

import { stringify } from 'yaml';
import { canonicalJSON } from '../ir/canonical.js';
import { compilePaths } from './compile-paths.js';
import { formatProblemText } from './validate.js';
import { oneOf, parse, UsageError, withUsage } from './args.js';

const USAGE = 'usage: portico render PATH... [--format json|yaml] [--ambassador-id ID]';

export async function run(argv: string[]): Promise<number> {
  return withUsage(async () => {
    const { values, positionals } = parse(argv, { format: { type: 'string' }, 'ambassador-id': { type: 'string' } }, USAGE);
    const format = oneOf(values.format, ['json', 'yaml'] as const, 'json', '--format');
    if (positionals.length === 0) throw new UsageError(USAGE);
    const result = await compilePaths(positionals, values['ambassador-id'] ?? 'default');
    for (const p of result.report.problems) process.stderr.write(formatProblemText(p) + '\n');
    const doc = JSON.parse(canonicalJSON({ hash: result.hash, ir: result.ir })) as unknown;
    process.stdout.write(format === 'yaml' ? stringify(doc, { aliasDuplicateObjects: false }) : JSON.stringify(doc, null, 2) + '\n');
    return result.report.errors > 0 ? 1 : 0;
  });
}
