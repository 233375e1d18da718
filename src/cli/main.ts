// The `portico` command line: one module per command under src/cli/, each exporting its USAGE and
// `run(argv): Promise<number>` (the exit code). Modules load lazily so `validate` stays fast.

import { closestName } from '../load/closest-name.js';
import { unknownOption, wantsHelp, wantsVersion } from './args.js';
import { EXIT_USAGE, versionLine } from './command-errors.js';
import { keepYoungGenerationSmall } from './node-flags.js';
import { StopSignals } from '../serve/stop-signals.js';

/** What main hands a command besides its arguments. */
export interface CommandContext {
  /** serve's stop signals, caught before its module loaded. */
  readonly signals?: StopSignals;
}

interface CommandModule {
  readonly USAGE: string;
  run(argv: string[], context?: CommandContext): Promise<number>;
}

const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  validate: { summary: 'load + compile; print problems (exit 0 ok/warnings, 1 errors)', load: () => import('./validate.js') },
  render: { summary: 'print the master configuration (IR) as JSON or YAML', load: () => import('./render.js') },
  routes: { summary: 'print the route table in evaluation order', load: () => import('./routes.js') },
  serve: { summary: 'run the gateway from --config DIR and/or --source NAME=URL#BRANCH:PATH', load: () => import('./serve.js') },
  plan: { summary: 'effective routing change between two states', load: () => import('./plan.js') },
  explain: { summary: "which route serves a request and why: explain PATH 'GET https://host/path'", load: () => import('./explain.js') },
  test: { summary: 'run route tests as code against a configuration or a live gateway', load: () => import('./test.js') },
  history: { summary: 'print the audit history of configuration attempts', load: () => import('./history.js') },
  status: { summary: "what a running replica serves; --fleet: every replica, and whether they agree", load: () => import('./status.js') },
  crds: { summary: 'print the CustomResourceDefinitions for a Kubernetes cluster', load: () => import('./crds.js') },
  manifests: { summary: 'print a Deployment, Service, RBAC, PodDisruptionBudget and autoscaler', load: () => import('./manifests.js') },
  demo: { summary: 'start a self-contained demo: local git repositories, echo backends, a gateway', load: () => import('./demo.js') },
};

export function usage(): string {
  const lines = ['usage: portico COMMAND [options]', '       portico help COMMAND | portico COMMAND --help', '       portico --version', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(9)} ${c.summary}`);
  lines.push('', 'exit codes: 0 done, 1 failed (problems, or PORTICO_ERR_* and one line), 2 usage error; plan also 3 (changes)');
  return lines.join('\n');
}

function unknownCommand(cmd: string): string {
  const guess = closestName(cmd, [...Object.keys(COMMANDS), 'help'], { prefixes: true });
  return `unknown command '${cmd}'${guess ? ` (did you mean '${guess}'?)` : ''}`;
}

/** Commands that read a configuration once and exit (see keepYoungGenerationSmall). */
const ONE_SHOT = new Set(['validate', 'render', 'routes', 'plan', 'explain', 'test']);

function usageError(message: string): number {
  process.stderr.write(`portico: ${message}\n\n${usage()}\n`);
  return EXIT_USAGE;
}

async function load(cmd: string): Promise<CommandModule> {
  return COMMANDS[cmd]!.load();
}

/** `portico help [COMMAND]`. It keeps every command's contract (--help, then --version); its usage is the global one. */
async function help(argv: string[]): Promise<number> {
  const topic = argv[0];
  if (topic === undefined || topic === 'help' || wantsHelp(argv)) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  if (wantsVersion(argv)) {
    process.stdout.write(`${versionLine()}\n`);
    return 0;
  }
  if (topic.startsWith('-')) return usageError(unknownOption(topic, []));
  if (!Object.hasOwn(COMMANDS, topic)) return usageError(unknownCommand(topic));
  process.stdout.write(`${(await load(topic)).USAGE}\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) return usageError('missing COMMAND');
  if (cmd === '--help' || cmd === '-h') {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  if (cmd === '--version') {
    process.stdout.write(`${versionLine()}\n`);
    return 0;
  }
  if (cmd === 'help') return help(rest);
  if (cmd.startsWith('-')) return usageError(unknownOption(cmd, []));
  if (!Object.hasOwn(COMMANDS, cmd)) return usageError(unknownCommand(cmd));
  // serve's modules take most of a second to load on a busy host; a stop (a pod's SIGTERM) that comes
  // meanwhile must find serve's handlers, not the default action (stop-signals.ts).
  const signals = cmd === 'serve' && !wantsHelp(rest) && !wantsVersion(rest) ? new StopSignals() : undefined;
  const mod = await load(cmd);
  if (wantsHelp(rest)) {
    process.stdout.write(`${mod.USAGE}\n`);
    return 0;
  }
  if (wantsVersion(rest)) {
    process.stdout.write(`${versionLine()}\n`);
    return 0;
  }
  if (ONE_SHOT.has(cmd)) await keepYoungGenerationSmall();
  return mod.run(rest, signals ? { signals } : {});
}
