// The `portico` command line: one module per command under src/cli/, each exporting
// `run(argv): Promise<number>` (the exit code). Modules load lazily so `validate` stays fast.

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }> = {
  validate: { summary: 'load + compile; print problems (exit 0 ok/warnings, 1 errors, 2 usage)', load: () => import('./validate.js') },
  render: { summary: 'print the master configuration (IR) as JSON or YAML', load: () => import('./render.js') },
  routes: { summary: 'print the route table in evaluation order', load: () => import('./routes.js') },
  serve: { summary: 'run the gateway from --config DIR and/or --source NAME=URL#BRANCH:PATH', load: () => import('./serve.js') },
  plan: { summary: 'effective routing change between two states', load: () => import('./plan.js') },
  explain: { summary: "which route serves a request and why: explain PATH 'GET https://host/path'", load: () => import('./explain.js') },
  test: { summary: 'run route tests as code against a configuration or a live gateway', load: () => import('./test.js') },
  history: { summary: 'print the audit history of configuration attempts', load: () => import('./history.js') },
  demo: { summary: 'start a self-contained demo: local git repositories, echo backends, a gateway', load: () => import('./demo.js') },
};

export function usage(): string {
  const lines = ['usage: portico <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(9)} ${c.summary}`);
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(usage());
    return cmd ? 0 : 2;
  }
  const entry = COMMANDS[cmd];
  if (!entry) {
    console.error(`portico: unknown command '${cmd}'\n\n${usage()}`);
    return 2;
  }
  let mod: { run(argv: string[]): Promise<number> };
  try {
    mod = await entry.load();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      console.error(`portico: command '${cmd}' is not available in this build`);
      return 2;
    }
    throw err;
  }
  return mod.run(rest);
}
