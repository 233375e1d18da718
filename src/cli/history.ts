// `portico history [--state DIR] [--source NAME] [--limit N] [--format text|json]`: prints the audit
// history the git controller appended in its state folder, oldest first.

import { existsSync } from 'node:fs';
import { readHistory, type HistoryEntry } from '../controller/history.js';

export const DEFAULT_STATE_DIR = '.portico';

const USAGE = 'usage: portico history [--state DIR] [--source NAME] [--limit N] [--format text|json]';

export async function run(argv: string[]): Promise<number> {
  let stateDir = DEFAULT_STATE_DIR;
  let source: string | undefined;
  let limit: number | undefined;
  let format = 'text';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string | undefined => {
      const eq = a.indexOf('=');
      if (eq >= 0) return a.slice(eq + 1);
      return argv[++i];
    };
    const flag = a.split('=')[0];
    if (flag === '--state') stateDir = value() ?? '';
    else if (flag === '--source') source = value();
    else if (flag === '--limit') limit = Number(value());
    else if (flag === '--format') format = value() ?? '';
    else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      return 0;
    } else {
      console.error(`portico history: unknown argument '${a}'\n${USAGE}`);
      return 2;
    }
  }
  if (!stateDir || (format !== 'text' && format !== 'json') || (limit !== undefined && !(limit > 0))) {
    console.error(USAGE);
    return 2;
  }
  if (!existsSync(stateDir)) {
    console.error(`portico history: state folder '${stateDir}' does not exist (use --state DIR)`);
    return 1;
  }
  const entries = readHistory(stateDir, { ...(source ? { source } : {}), ...(limit ? { limit } : {}) });
  if (format === 'json') {
    process.stdout.write(JSON.stringify(entries, null, 2) + '\n');
    return 0;
  }
  if (entries.length === 0) {
    console.log('no attempts recorded yet');
    return 0;
  }
  for (const e of entries) process.stdout.write(formatEntry(e) + '\n');
  return 0;
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
  for (const p of (e.problems ?? []).slice(0, 10)) lines.push(`    ${p.severity} ${p.code}: ${p.origin}: ${p.message}`);
  if (e.liveAt) lines.push(`    fetched ${e.fetchedAt ?? '?'}, live ${e.liveAt}${e.generation !== undefined ? ` (generation ${e.generation})` : ''}`);
  return lines.join('\n');
}
