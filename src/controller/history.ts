// The audit history: one JSON line per attempt to change what a source serves, appended with fsync
// so it survives crashes and restarts; rotated to one older file to stay bounded in size.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SignatureCheck } from '../sources/commit-signatures.js';
import type { StepRecord } from '../release/canary-machine.js';

export const HISTORY_FILE = 'history.jsonl';
export const HISTORY_DEFAULT_MAX_BYTES = 4 * 1024 * 1024;

export type AttemptResult = 'Applied' | 'Rejected' | 'FetchFailed' | 'ApplyFailed' | 'Restored' | 'Removed' | 'CanaryStarted' | 'RolledBack' | 'Superseded';

/** A canary as the history keeps it: the policy, each step's figures, and what decided the outcome. */
export interface CanaryRecord {
  /** ReleasePolicy namespace/name. */
  readonly policy: string;
  /** Percent of requests per step, then 100. */
  readonly steps: readonly number[];
  readonly windowSeconds: number;
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly outcome?: 'promoted' | 'rolled-back' | 'superseded';
  /** passed, error-rate, latency, insufficient-traffic, fleet (another replica rolled it back), superseded. */
  readonly reason?: string;
  /** The revisions the canary carried, by source. */
  readonly revisions: Readonly<Record<string, string>>;
  /** Each step: the current and the new revision's requests, errors, error rate and p95 latency. */
  readonly figures?: readonly StepRecord[];
  /** The replica whose canary decided it, when it was another one. */
  readonly decidedBy?: string;
}

export interface HistoryProblem {
  readonly code: string;
  readonly severity: string;
  readonly message: string;
  /** source@revision:path:line:col */
  readonly origin: string;
  /** The resource it belongs to, `Kind/namespace/name`, when it belongs to one. */
  readonly resource?: string;
  readonly field?: string;
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
  /** One line on why (the first problem with its origin, or what a check found). */
  readonly detail?: string;
  /** The git action that clears a refusal. */
  readonly remedy?: string;
  readonly problems?: readonly HistoryProblem[];
  /** Non-fast-forward update of the branch (rewritten history). */
  readonly historyRewritten?: boolean;
  readonly routes?: {
    added: readonly string[];
    removed: readonly string[];
    changed: readonly string[];
    counts: { added: number; removed: number; changed: number };
    /** The changed routes field by field (values as short JSON text), as `plan` shows them. */
    fields?: readonly { key: string; changes: readonly { path: string; before?: string; after?: string }[]; more?: number }[];
  };
  readonly fetchedAt?: string;
  readonly liveAt?: string;
  /** Generation of the gateway configuration that made it live. */
  readonly generation?: number;
  /** The canary that released or refused this revision. */
  readonly canary?: CanaryRecord;
}

/** Entries kept by a history without a state folder (serve --config without --state). */
const IN_MEMORY_ENTRIES = 1000;

export class AuditHistory {
  readonly file: string | undefined;
  readonly previousFile: string | undefined;
  private readonly memory: (HistoryEntry & { at: string })[] = [];

  /** Without a state folder the history lives in memory, bounded, for the admin API. */
  constructor(
    readonly stateDir: string | undefined,
    private readonly maxBytes = HISTORY_DEFAULT_MAX_BYTES,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.file = stateDir !== undefined ? join(stateDir, HISTORY_FILE) : undefined;
    this.previousFile = stateDir !== undefined ? join(stateDir, `${HISTORY_FILE}.1`) : undefined;
  }

  append(entry: HistoryEntry): void {
    const record = { at: this.now().toISOString(), ...entry };
    if (this.stateDir === undefined || this.file === undefined || this.previousFile === undefined) {
      this.memory.push(record);
      if (this.memory.length > IN_MEMORY_ENTRIES) this.memory.splice(0, this.memory.length - IN_MEMORY_ENTRIES);
      return;
    }
    mkdirSync(this.stateDir, { recursive: true });
    const line = JSON.stringify(record) + '\n';
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
    if (this.stateDir === undefined) {
      const out = this.memory.filter((e) => !opts.source || e.source === opts.source);
      return opts.limit !== undefined && out.length > opts.limit ? out.slice(out.length - opts.limit) : out;
    }
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
