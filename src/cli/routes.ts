// `portico routes PATH...`: the route table in evaluation order, with owner and origin.

import { routeTable, matchSummary, type RouteRow } from '../ir/route-table.js';
import { readOffline, requireResources, SOURCE_OPTIONS, SOURCE_USAGE, printNotes } from './offline-args.js';
import { formatProblemText } from './validate.js';
import { oneOf, parse, UsageError, withUsage } from './args.js';

export const USAGE = `usage: portico routes PATH... [--format text|json] [options]

${SOURCE_USAGE}`;

function actionText(r: RouteRow): string {
  if (r.action.type === 'redirect') {
    const x = r.action.redirect;
    return `redirect ${x.responseCode} → ${x.hostRedirect ?? '(same host)'}${x.pathRedirect ?? x.prefixRedirect ?? ''}`;
  }
  const ups = r.action.upstreams.map((u) => (r.action.type === 'route' && r.action.upstreams.length > 1 ? `${u.service} (${u.weight}%)` : u.service)).join(', ');
  return r.action.shadow ? `${ups} + shadow ${r.action.shadow.service} (${r.action.shadow.weight}%)` : ups;
}

export async function run(argv: string[]): Promise<number> {
  return withUsage('routes', USAGE, async () => {
    const { values, positionals } = parse(argv, { format: { type: 'string' }, ...SOURCE_OPTIONS }, USAGE);
    const format = oneOf(values.format, ['text', 'json'] as const, 'text', '--format');
    if (positionals.length === 0 && !(values.source && values.source.length > 0)) throw new UsageError('missing configuration PATH (or --source NAME=URL)');
    const state = await readOffline(positionals, values);
    requireResources(state, positionals);
    const result = state.result;
    printNotes(state);
    for (const p of result.report.problems) process.stderr.write(formatProblemText(p) + '\n');
    const rows = routeTable(result.ir);
    if (format === 'json') process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    else {
      let last = '';
      for (const r of rows) {
        const head = `${r.listener.name} :${r.listener.port}  ${r.virtualHost.hostname}`;
        if (head !== last) {
          process.stdout.write(`\n${head}\n`);
          last = head;
        }
        const schemes = [r.schemes.https ? 'https' : '', r.schemes.http ? `http:${r.schemes.http}` : ''].filter(Boolean).join(' ');
        process.stdout.write(`  ${String(r.order).padStart(3)}  ${matchSummary(r.match).padEnd(40)} → ${actionText(r)}  [${schemes}]  ${r.mapping.namespace}/${r.mapping.name} ${r.origin.file}:${r.origin.line}\n`);
      }
      if (rows.length === 0) process.stdout.write('no routes\n');
    }
    return result.report.errors > 0 ? 1 : 0;
  });
}
