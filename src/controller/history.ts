// The audit history: one JSON line per attempt to change what a source serves, appended with fsync
// so it survives crashes and restarts; rotated to one older file to stay bounded in size.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SignatureCheck } from '../sources/commit-signatures.js';

export const HISTORY_FILE = 'history.jsonl';
export const HISTORY_DEFAULT_MAX_BYTES = 4 * 1024 * 1024;

export type AttemptResult = 'Applied' | 'Rejected' | 'FetchFailed' | 'ApplyFailed' | 'Restored' | 'Removed';

export interface HistoryProblem {
  readonly code: string;
  readonly severity: string;
  readonly message: string;
  /** source@revision:path:line:col */
  readonly origin: string;
}

export interface HistoryEntry {
  readonly source: string;
  readonly revision?: string;
  /** The revision the source was serving before this attempt. */
  readonly previousRevision?: string;
  readonly author?: string;
  readonly committer?: string;
  /** Committer date of the revision. */
  readonly date?: string;
  readonly message?: string;
  readonly signature?: Pick<SignatureCheck, 'ok' | 'status' | 'mode' | 'signer' | 'reason' | 'detail'>;
  readonly result: AttemptResult;
  /** Why an attempt changed nothing: InvalidConfiguration, SignatureMissing, HistoryRewritten, Timeout, ... */
  readonly reason?: string;
  readonly problems?: readonly HistoryProblem[];
  /** Non-fast-forward update of the branch (rewritten history). */
  readonly historyRewritten?: boolean;
  readonly routes?: { added: readonly string[]; removed: readonly string[]; changed: readonly string[]; counts: { added: number; removed: number; changed: number } };
  readonly fetchedAt?: string;
  readonly liveAt?: string;
  /** Generation of the gateway configuration that made it live. */
  readonly generation?: number;
}

export class AuditHistory {
  readonly file: string;
  readonly previousFile: string;

  constructor(
    readonly stateDir: string,
    private readonly maxBytes = HISTORY_DEFAULT_MAX_BYTES,
  ) {
    this.file = join(stateDir, HISTORY_FILE);
    this.previousFile = join(stateDir, `${HISTORY_FILE}.1`);
  }

  append(entry: HistoryEntry): void {
    mkdirSync(this.stateDir, { recursive: true });
    const line = JSON.stringify({ at: new Date().toISOString(), ...entry }) + '\n';
    let size = 0;
    try {
      size = statSync(this.file).size;
    } catch {}
    // Rotation keeps one older file: the history is bounded to about twice maxBytes.
    if (size > 0 && size + line.length > this.maxBytes) renameSync(this.file, this.previousFile);
    const fd = openSync(this.file, 'a', 0o600);
    try {
      writeSync(fd, line);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Entries oldest first; a torn last line (crash mid-append) is skipped. */
  read(opts: { source?: string; limit?: number } = {}): (HistoryEntry & { at: string })[] {
    return readHistory(this.stateDir, opts);
  }
}

export function readHistory(stateDir: string, opts: { source?: string; limit?: number } = {}): (HistoryEntry & { at: string })[] {
  const out: (HistoryEntry & { at: string })[] = [];
  for (const f of [join(stateDir, `${HISTORY_FILE}.1`), join(stateDir, HISTORY_FILE)]) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const e = JSON.parse(line) as HistoryEntry & { at: string };
        if (!opts.source || e.source === opts.source) out.push(e);
      } catch {}
    }
  }
  return opts.limit !== undefined && out.length > opts.limit ? out.slice(out.length - opts.limit) : out;
}
