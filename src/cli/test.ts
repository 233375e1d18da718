// `portico test PATH... --tests FILE... [--target URL]`: route tests as code, offline against the
// compiled configuration or live against a gateway. Exit 0 all pass, 1 a failure or invalid test, 2 usage.

import { Explainer } from '../review/explain-engine.js';
import { combine, expandTestPaths, readRouteTests, runLive, runOffline, type RouteTestResult } from '../review/route-tests.js';
import { formatJUnit, formatTap, formatText } from '../review/route-test-format.js';
import { formatProblemText } from './validate.js';
import { oneOf, parse, UsageError, withUsage } from './args.js';
import { CommandError } from './command-errors.js';
import { mustExist, printNotes, readOffline, requireResources, SOURCE_OPTIONS, SOURCE_USAGE } from './offline-args.js';

export const USAGE = `usage: portico test PATH... --tests FILE_OR_DIR [--tests ...] [--target URL] [--timeout MS] [--format tap|junit|text] [options]

${SOURCE_USAGE}
  --tests DIR takes every *.test.yaml / *.test.yml file under DIR
  offline (default): requests are answered by the compiled configuration at PATH
  --target URL: requests are sent to a running gateway (status, redirect; path and headers via an echo upstream);
                route and upstream are still checked against PATH
  exit 0 when every test passes, 1 when one fails or a test file is invalid, 2 on usage errors`;

export async function run(argv: string[]): Promise<number> {
  return withUsage('test', USAGE, async () => {
    const { values, positionals } = parse(
      argv,
      {
        tests: { type: 'string', multiple: true },
        target: { type: 'string' },
        timeout: { type: 'string' },
        format: { type: 'string' },
        ...SOURCE_OPTIONS,
      },
      USAGE,
    );
    const format = oneOf(values.format, ['tap', 'junit', 'text'] as const, 'text', '--format');
    if (positionals.length === 0 && !(values.source && values.source.length > 0)) throw new UsageError('missing configuration PATH (or --source NAME=URL)');
    if (!values.tests || values.tests.length === 0) throw new UsageError('missing --tests FILE_OR_DIR');
    let target: URL | undefined;
    if (values.target !== undefined) {
      try {
        target = new URL(values.target);
      } catch {
        throw new UsageError(`--target '${values.target}' is not a URL (e.g. http://127.0.0.1:8080)`);
      }
      if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new UsageError(`--target must be an http:// or https:// URL (got '${values.target}')`);
    }
    const timeoutMs = values.timeout !== undefined ? Number(values.timeout) : 10_000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 600_000) throw new UsageError('--timeout must be milliseconds between 1 and 600000');
    for (const p of values.tests) {
      if (p === '') throw new UsageError('--tests needs a file or folder');
      await mustExist(p, `--tests ${p}`);
    }
    const testFiles = await expandTestPaths(values.tests);
    if (testFiles.length === 0) {
      throw new CommandError('PORTICO_ERR_NO_TESTS', `no route test files found in ${values.tests.join(', ')} (files ending .test.yaml or .test.yml)`);
    }
    const state = await readOffline(positionals, values, { exclude: testFiles });
    requireResources(state, positionals);
    for (const p of state.result.report.problems) if (p.severity === 'error') process.stderr.write(formatProblemText(p) + '\n');
    printNotes(state);
    const { tests, problems } = await readRouteTests(testFiles);
    if (tests.length === 0 && problems.length === 0) {
      throw new CommandError('PORTICO_ERR_NO_TESTS', `the test files ${testFiles.join(', ')} hold no tests`);
    }
    const explainer = new Explainer(state.result.ir, state.resources, state.result.secrets);
    const results: RouteTestResult[] = [];
    for (const t of tests) {
      const offline = runOffline(explainer, t);
      results.push(target ? combine(await runLive({ url: target, timeoutMs }, t), offline) : offline);
    }
    const text = format === 'tap' ? formatTap(results, problems) : format === 'junit' ? formatJUnit(results, problems) : formatText(results, problems);
    process.stdout.write(text);
    return problems.length > 0 || results.some((r) => !r.ok) ? 1 : 0;
  });
}
