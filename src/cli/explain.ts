// `portico explain PATH... 'GET https://host/path' [-H 'name: value']`: which listener, Host, route and
// upstream serve a request, offline, with the data plane's own matching. Exit 0 served, 1 not served, 2 usage.

import { existsSync } from 'node:fs';
import { formatExplainText } from '../review/explain-format.js';
import { releaseNote } from '../release/release-gate.js';
import { Explainer } from '../review/explain-engine.js';
import { parseHeaderArg, parseRequestLine, RequestSpecError } from '../review/request-spec.js';
import { formatProblemText } from './validate.js';
import { oneOf, parse, UsageError, withUsage } from './args.js';
import { printNotes, readOffline, requireResources, SOURCE_OPTIONS, SOURCE_USAGE } from './offline-args.js';

export const USAGE = `usage: portico explain PATH... 'METHOD URL' [-H 'name: value']... [--listener NAME | --port N] [--format text|json] [options]

${SOURCE_USAGE}
  e.g. portico explain config/ 'GET https://api.example.com/orders/42' -H 'x-user: alice'
  exit 0 when a route serves the request (forward or redirect), 1 when nothing does, 2 on usage errors`;

/** 'METHOD http(s)://…' or a bare http(s) URL. */
const isRequest = (p: string): boolean => /^([A-Za-z]+\s+)?https?:\/\//i.test(p.trim());

/**
 * Which positional is the request: 'METHOD URL' or a URL. One that only looks like a request ('GET
 * /cart', 'ftp://…') is taken too, so its mistake is named, unless it is a path that exists.
 */
function requestIndex(positionals: readonly string[]): number {
  const http = positionals.findIndex(isRequest);
  if (http !== -1) return http;
  return positionals.findIndex((p) => /^[A-Za-z]+\s+\S|^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(p.trim()) && !existsSync(p));
}

export async function run(argv: string[]): Promise<number> {
  return withUsage('explain', USAGE, async () => {
    const { values, positionals } = parse(
      argv,
      {
        header: { type: 'string', short: 'H', multiple: true },
        listener: { type: 'string' },
        port: { type: 'string' },
        format: { type: 'string' },
        ...SOURCE_OPTIONS,
      },
      USAGE,
    );
    const format = oneOf(values.format, ['text', 'json'] as const, 'text', '--format');
    const at = requestIndex(positionals);
    if (at === -1) throw new UsageError(`missing the request, e.g. 'GET https://api.example.com/orders/42'`);
    const second = positionals.findIndex((p, i) => i > at && isRequest(p));
    if (second !== -1) throw new UsageError(`one request at a time: '${positionals[at]}' and '${positionals[second]}' are both requests`);
    const paths = positionals.filter((_, i) => i !== at);
    // `explain DIR GET http://…` unquoted: the method would otherwise be read as a configuration path.
    const before = positionals[at - 1];
    if (before !== undefined && /^[A-Z]+$/.test(before) && !/^[A-Za-z]+\s/.test(positionals[at]!.trim()) && !existsSync(before)) {
      throw new UsageError(`give the request as one argument, quoted: '${before} ${positionals[at]}'`);
    }
    if (paths.length === 0 && !(values.source && values.source.length > 0)) throw new UsageError('missing configuration PATH (or --source NAME=URL)');
    if (values.listener !== undefined && values.port !== undefined) throw new UsageError('give --listener or --port, not both');
    let port: number | undefined;
    if (values.port !== undefined) {
      if (!/^\d{1,5}$/.test(values.port) || Number(values.port) < 1 || Number(values.port) > 65535) throw new UsageError(`--port must be a port number from 1 to 65535 (got '${values.port}')`);
      port = Number(values.port);
    }
    let spec;
    try {
      spec = parseRequestLine(positionals[at] as string, (values.header ?? []).map(parseHeaderArg));
    } catch (err) {
      if (err instanceof RequestSpecError) throw new UsageError(err.message);
      throw err;
    }
    const state = await readOffline(paths, values);
    requireResources(state, paths);
    const report = state.result.report;
    for (const p of report.problems) if (p.severity === 'error') process.stderr.write(formatProblemText(p) + '\n');
    if (report.errors > 0) process.stderr.write(`note: the configuration has ${report.errors} error(s): serve would refuse it and keep its last good one; explained here with the resources in error left out\n`);
    printNotes(state);
    const explained = new Explainer(state.result.ir, state.resources, state.result.secrets).explain(spec, { ...(values.listener !== undefined ? { listener: values.listener } : {}), ...(port !== undefined ? { port } : {}) });
    // Which revision a request would get while a new one is in a canary (docs/fleet.md).
    const release = releaseNote(state.result.ir.fleet, (explained.route?.mappings ?? []).flatMap((m) => (m.source ? [m.source] : [])));
    const result = release ? { ...explained, notes: [...explained.notes, release] } : explained;
    process.stdout.write(format === 'json' ? JSON.stringify(result, null, 2) + '\n' : formatExplainText(result));
    return ['forward', 'redirect', 'https_redirect', 'cors_preflight'].includes(result.outcome) ? 0 : 1;
  });
}
