// `portico history [--state DIR] [--source NAME] [--limit N] [--format text|json]`: prints the audit
// history the git controller appended in its state folder, oldest first.

import { statSync } from 'node:fs';
import { readHistory, type HistoryEntry } from '../controller/history.js';
import { oneOf, parse, UsageError, withUsage } from './args.js';
import { CommandError } from './command-errors.js';

export const DEFAULT_STATE_DIR = '.portico';

export const USAGE = `usage: portico history [--state DIR] [--source NAME] [--limit N] [--format text|json]

  --state DIR        the state folder serve writes (default .portico)
  --source NAME      only this source's attempts
  --limit N          only the last N attempts
  --format text|json (default text)`;

export async function run(argv: string[]): Promise<number> {
  return withUsage('history', USAGE, async () => {
    const { values, positionals } = parse(argv, { state: { type: 'string' }, source: { type: 'string' }, limit: { type: 'string' }, format: { type: 'string' } }, USAGE);
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (give the state folder with --state DIR)`);
    const stateDir = values.state ?? DEFAULT_STATE_DIR;
    if (stateDir === '') throw new UsageError('--state needs a folder');
    const format = oneOf(values.format, ['text', 'json'] as const, 'text', '--format');
    let limit: number | undefined;
    if (values.limit !== undefined) {
      if (!/^[0-9]+$/.test(values.limit) || Number(values.limit) < 1) throw new UsageError(`--limit needs a whole number >= 1, got '${values.limit}'`);
      limit = Number(values.limit);
    }
    if (!statSync(stateDir, { throwIfNoEntry: false })?.isDirectory()) throw new CommandError('PORTICO_ERR_STATE_DIR', `state folder '${stateDir}' does not exist or is not a folder (give the one serve uses with --state DIR)`);
    const source = values.source;
    const entries = readHistory(stateDir, { ...(source ? { source } : {}), ...(limit ? { limit } : {}) });
    if (format === 'json') {
      process.stdout.write(JSON.stringify(entries, null, 2) + '\n');
      return 0;
    }
    if (entries.length === 0) {
      // A mistyped --source must not read as an empty history: name the sources that have one.
      const others = source ? [...new Set(readHistory(stateDir).map((e) => e.source))].sort() : [];
      console.log(others.length > 0 ? `no attempts recorded for source '${source}' (attempts are recorded for ${others.join(', ')})` : 'no attempts recorded yet');
      return 0;
    }
    for (const e of entries) process.stdout.write(formatEntry(e) + '\n');
    return 0;
  });
}

export function formatEntry(e: HistoryEntry & { at: string }): string {
  const rev = e.revision ? e.revision.slice(0, 12) : '-';
  const lines = [`${e.at}  ${e.source.padEnd(12)} ${rev.padEnd(12)} ${e.result}${e.reason ? ` (${e.reason})` : ''}`];
  if (e.message) lines.push(`    ${e.message.split('\n')[0]}${e.author ? `  — ${e.author}` : ''}`);
  if (e.signature) lines.push(`    signature: ${e.signature.status}${e.signature.signer ? ` by ${e.signature.signer}` : ''} (${e.signature.mode})`);
  if (e.historyRewritten) lines.push('    history rewritten (not a descendant of the previous revision)');
  if (e.routes) {
    const c = e.routes.counts;
    lines.push(`    routes: +${c.added} -${c.removed} ~${c.changed}`);
    for (const r of e.routes.added) lines.push(`      + ${r}`);
    for (const r of e.routes.removed) lines.push(`      - ${r}`);
    for (const r of e.routes.changed) lines.push(`      ~ ${r}`);
  }
  if (e.detail && (e.problems ?? []).length === 0) lines.push(`    ${e.detail}`);
  for (const p of (e.problems ?? []).slice(0, 10)) lines.push(`    ${p.severity} ${p.code}: ${p.origin}: ${p.message}`);
  if (e.remedy) lines.push(`    way out: ${e.remedy}`);
  if (e.liveAt) lines.push(`    ${e.fetchedAt ? `fetched ${e.fetchedAt}, ` : ''}live ${e.liveAt}${e.generation !== undefined ? ` (generation ${e.generation})` : ''}`);
  return lines.join('\n');
}
