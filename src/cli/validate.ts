// `portico validate PATH...`: load + compile through the same reconcile as serve, and print every
// problem with its origin. Exit 0 when clean or warnings only, 1 with errors (with --strict, warnings
// too), 2 on usage errors.

import { strictProblems, type Problem } from '../api/problems.js';
import { formatOrigin } from '../api/origin.js';
import { oneOf, parse, UsageError, withUsage } from './args.js';
import { printNotes, readOffline, requireResources, SOURCE_OPTIONS, SOURCE_USAGE } from './offline-args.js';

export const USAGE = `usage: portico validate PATH... [--format text|json|github] [--strict] [options]

  --strict                 warnings are errors too (for CI)
${SOURCE_USAGE}
  exit 0 when clean or warnings only, 1 with errors (or nothing to validate), 2 on usage errors`;

export function formatProblemText(p: Problem): string {
  const res = p.resource ? ` (${p.resource.kind} ${p.resource.namespace}/${p.resource.name}${p.field ? `, ${p.field}` : ''})` : p.field ? ` (${p.field})` : '';
  return `${formatOrigin(p.origin)}: ${p.severity}: ${p.message} [${p.code}]${res}`;
}

/** GitHub Actions workflow command; values escaped as the runner expects. */
export function formatProblemGitHub(p: Problem): string {
  const esc = (s: string): string => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const escProp = (s: string): string => esc(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
  const level = p.severity === 'error' ? 'error' : 'warning';
  const res = p.resource ? ` (${p.resource.kind} ${p.resource.namespace}/${p.resource.name}${p.field ? `, ${p.field}` : ''})` : '';
  return `::${level} file=${escProp(p.origin.path)},line=${p.origin.line},col=${p.origin.col},title=${escProp(p.code)}::${esc(p.message + res)}`;
}

export async function run(argv: string[]): Promise<number> {
  return withUsage('validate', USAGE, async () => {
    const { values, positionals } = parse(argv, { format: { type: 'string' }, strict: { type: 'boolean' }, ...SOURCE_OPTIONS }, USAGE);
    const format = oneOf(values.format, ['text', 'json', 'github'] as const, 'text', '--format');
    if (positionals.length === 0 && !(values.source && values.source.length > 0)) throw new UsageError('missing configuration PATH (or --source NAME=URL)');
    const state = await readOffline(positionals, values);
    // Validating the wrong folder must not pass a CI check.
    requireResources(state, positionals);
    const report = values.strict ? withProblems(state.result.report, strictProblems(state.result.report.problems)) : state.result.report;
    const resourceCount = state.resources.length + state.declarationCount;
    if (format === 'json') {
      process.stdout.write(
        JSON.stringify({ valid: report.errors === 0 && resourceCount > 0, errors: report.errors, warnings: report.warnings, resources: resourceCount, hash: state.result.hash, problems: report.problems, conditions: report.conditions, notes: state.notes }, null, 2) + '\n',
      );
    } else if (format === 'github') {
      for (const p of report.problems) process.stdout.write(formatProblemGitHub(p) + '\n');
    } else {
      for (const p of report.problems) process.stdout.write(formatProblemText(p) + '\n');
      printNotes(state);
      const routes = state.result.ir.listeners.reduce((s, l) => s + l.virtualHosts.reduce((t, v) => t + v.routes.length, 0), 0);
      process.stdout.write(`${resourceCount} resources, ${routes} routes, ${report.errors} errors, ${report.warnings} warnings\n`);
    }
    return report.errors > 0 ? 1 : 0;
  });
}

/** The report with its problems replaced, and its counts recounted. */
function withProblems<R extends { problems: readonly Problem[]; errors: number; warnings: number }>(report: R, problems: Problem[]): R {
  const errors = problems.filter((p) => p.severity === 'error').length;
  return { ...report, problems, errors, warnings: problems.length - errors };
}
