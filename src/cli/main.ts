// The `portico` command line: dispatches to one module per command.

export async function main(argv: string[]): Promise<number> {
  const [cmd] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h') {
    console.log('usage: portico <validate|render|routes|serve|plan|explain|test|history|demo> ...');
    return cmd ? 0 : 2;
  }
  console.error(`portico: unknown command '${cmd}'`);
  return 2;
}
