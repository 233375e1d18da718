// The fleet in one place, from the replicas' heartbeats: what each serves, whether it agrees with the
// others, since when it does not, and which replicas disagree for longer than the bound (flagged).
//
// Pure: the reports and the time come in, the view goes out. Agreement is on what is served — the
// revision of every source and the revisions in a canary — not on the IR hash, which differs between
// replicas that legitimately differ (their --ambassador-id, their secrets directory). Replicas agree
// when a strict majority of the live ones serve the same thing; without a majority none agrees.

import type { ReplicaReport } from './fleet-messages.js';

export interface FleetViewOptions {
  readonly now: number;
  /** A replica whose last heartbeat is older than this (or three of its own intervals and a second) is stale: shown, not counted. */
  readonly staleAfterMs: number;
  /** A replica that disagrees for longer than this is flagged. */
  readonly disagreementBoundMs: number;
  /** Reports older than this are left out altogether (a replica long gone). */
  readonly forgetAfterMs?: number;
}

export interface ReplicaRow extends ReplicaReport {
  readonly heartbeatAgeSeconds: number;
  readonly stale: boolean;
  /** Serves what the majority serves (stale replicas: undefined, not judged). */
  readonly agrees?: boolean;
  readonly disagreeingSince?: string;
  readonly disagreeingSeconds?: number;
  /** Disagrees for longer than the bound. */
  readonly flagged: boolean;
  /** What it serves that the majority does not: "shop: abc123 (majority def456)". */
  readonly differences?: readonly string[];
}

export interface FleetView {
  readonly at: string;
  readonly replicas: readonly ReplicaRow[];
  /** What the majority serves, when there is one. */
  readonly consensus: { readonly revisions: Readonly<Record<string, string>>; readonly canary?: Readonly<Record<string, string>>; readonly replicas: number } | null;
  /** Every live replica serves the same thing. */
  readonly agreed: boolean;
  readonly live: number;
  readonly stale: number;
  readonly disagreeing: number;
  readonly flagged: number;
  readonly disagreementBoundSeconds: number;
}

/** The identity of what a replica serves, as agreement compares it. */
export function servingKey(r: Pick<ReplicaReport, 'revisions' | 'canary'>): string {
  const sorted = (m: Readonly<Record<string, string>>): [string, string][] => Object.entries(m).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return JSON.stringify([sorted(r.revisions), r.canary ? sorted(r.canary.revisions) : null]);
}

function short(rev: string | undefined): string {
  if (rev === undefined) return 'nothing';
  return rev.startsWith('sha256:') ? rev.slice(0, 19) : rev.slice(0, 12);
}

function differences(r: ReplicaReport, consensus: NonNullable<FleetView['consensus']>): string[] {
  const out: string[] = [];
  const names = [...new Set([...Object.keys(r.revisions), ...Object.keys(consensus.revisions)])].sort();
  for (const n of names) {
    if (r.revisions[n] !== consensus.revisions[n]) out.push(`${n}: ${short(r.revisions[n])} (majority ${short(consensus.revisions[n])})`);
  }
  const mine = r.canary ? servingKey({ revisions: {}, canary: r.canary }) : '';
  const theirs = consensus.canary ? servingKey({ revisions: {}, canary: { revisions: consensus.canary, share: 0, step: 0, steps: 0 } }) : '';
  if (mine !== theirs) {
    const list = (m: Readonly<Record<string, string>> | undefined): string => (m ? Object.entries(m).map(([s, v]) => `${s}@${short(v)}`).join(', ') : 'none');
    out.push(`canary: ${list(r.canary?.revisions)} (majority ${list(consensus.canary)})`);
  }
  return out;
}

export function fleetView(reports: readonly ReplicaReport[], opts: FleetViewOptions): FleetView {
  const now = opts.now;
  // The newest report of each replica; reports from far in the past are forgotten.
  const newest = new Map<string, ReplicaReport>();
  for (const r of reports) {
    const at = Date.parse(r.at);
    if (opts.forgetAfterMs !== undefined && now - at > opts.forgetAfterMs) continue;
    const seen = newest.get(r.replica);
    if (!seen || Date.parse(seen.at) < at) newest.set(r.replica, r);
  }
  const all = [...newest.values()].sort((a, b) => (a.replica < b.replica ? -1 : a.replica > b.replica ? 1 : 0));
  const isStale = (r: ReplicaReport): boolean => now - Date.parse(r.at) > (r.heartbeatMs !== undefined ? 3 * r.heartbeatMs + 1000 : opts.staleAfterMs);
  const live = all.filter((r) => !isStale(r));

  const groups = new Map<string, ReplicaReport[]>();
  for (const r of live) {
    const k = servingKey(r);
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  let majority: ReplicaReport[] | undefined;
  for (const g of groups.values()) if (g.length * 2 > live.length) majority = g;
  const consensus: FleetView['consensus'] = majority
    ? { revisions: majority[0]!.revisions, ...(majority[0]!.canary ? { canary: majority[0]!.canary.revisions } : {}), replicas: majority.length }
    : null;
  const majorityKey = majority ? servingKey(majority[0]!) : undefined;
  // The fleet split when the majority moved to what it serves now (its earliest member), or, with no
  // majority, when the last replica moved.
  const splitAt = majority
    ? Math.min(...majority.map((r) => Date.parse(r.servingSince)))
    : live.length > 0
      ? Math.max(...live.map((r) => Date.parse(r.servingSince)))
      : now;

  const rows: ReplicaRow[] = all.map((r) => {
    const heartbeatAgeSeconds = Math.max(0, Math.round((now - Date.parse(r.at)) / 100) / 10);
    if (isStale(r)) return { ...r, heartbeatAgeSeconds, stale: true, flagged: false };
    const agrees = majorityKey !== undefined && servingKey(r) === majorityKey;
    if (agrees) return { ...r, heartbeatAgeSeconds, stale: false, agrees: true, flagged: false };
    const since = Math.max(Date.parse(r.servingSince), splitAt);
    const ms = Math.max(0, now - since);
    return {
      ...r,
      heartbeatAgeSeconds,
      stale: false,
      agrees: false,
      disagreeingSince: new Date(since).toISOString(),
      disagreeingSeconds: Math.round(ms / 100) / 10,
      flagged: ms > opts.disagreementBoundMs,
      ...(consensus ? { differences: differences(r, consensus) } : {}),
    };
  });
  const disagreeing = rows.filter((r) => r.agrees === false).length;
  return {
    at: new Date(now).toISOString(),
    replicas: rows,
    consensus,
    agreed: live.length > 0 && disagreeing === 0,
    live: live.length,
    stale: all.length - live.length,
    disagreeing,
    flagged: rows.filter((r) => r.flagged).length,
    disagreementBoundSeconds: opts.disagreementBoundMs / 1000,
  };
}
