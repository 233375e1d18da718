// `portico test` — placeholder until the command lands; replaced by its implementation.

export async function run(_argv: string[]): Promise<number> {
  console.error('portico test: not available yet');
  return 2;
}
