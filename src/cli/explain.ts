// `portico explain` — placeholder until the command lands; replaced by its implementation.

export async function run(_argv: string[]): Promise<number> {
  console.error('portico explain: not available yet');
  return 2;
}
