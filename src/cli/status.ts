// `portico status [--fleet]`: what a running replica serves (its /api/v1/status), or with --fleet every
// replica of its fleet — what each serves, whether it agrees with the others, its last heartbeat —
// read from a replica's /api/v1/fleet or straight from Redis.

import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { FleetDocument } from '../fleet/fleet-api.js';
import { fleetView, type ReplicaRow } from '../fleet/fleet-view.js';
import { readFleetReports, redactedRedisUrl } from '../fleet/redis-fleet-bus.js';
import { parseDuration } from '../controller/source-kind.js';
import { oneOf, parse, UsageError, withUsage } from './args.js';
import { CommandError } from './command-errors.js';

export const USAGE = `usage: portico status [--admin URL] [--fleet] [--redis URL] [--format text|json] [options]

  --admin URL            a replica's admin address (default http://127.0.0.1:8877)
  --token-file FILE      the bearer token that admin address asks for (--admin-token-file of serve)
  --fleet                every replica of the fleet: what each serves, whether it agrees with the
                         others, its last heartbeat; a replica disagreeing for longer than the bound
                         is flagged
  --redis URL            with --fleet: read the replicas' heartbeats from Redis (or REDIS_URL) instead
                         of asking a replica
  --fleet-name NAME      with --redis: the fleet's name (default "default")
  --disagreement-bound DUR
                         with --redis: flag a replica that disagrees for longer (default 30s)
  --format text|json     (default text)

exit 0: every source is Ready (with --fleet: no replica is flagged); 1: not so, or the address cannot
be read (PORTICO_ERR_ADMIN_UNREACHABLE, PORTICO_ERR_REDIS_UNREACHABLE).`;

const OPTIONS = {
  admin: { type: 'string' },
  'token-file': { type: 'string' },
  fleet: { type: 'boolean' },
  redis: { type: 'string' },
  'fleet-name': { type: 'string' },
  'disagreement-bound': { type: 'string' },
  format: { type: 'string' },
} as const;

interface SourceRow {
  readonly name: string;
  readonly state: string;
  readonly message: string;
  readonly appliedRevision?: string;
  readonly remedy?: string;
}

interface StatusDoc {
  readonly sources: readonly SourceRow[];
  readonly allReady?: boolean;
  readonly fleet?: { readonly state: string; readonly message: string };
  readonly release?: { readonly running: null | { revisions: Record<string, string>; share: number; step: number; steps: number[]; policy: string }; readonly last: null | { outcome?: string; message?: string } };
}

function short(rev: string | undefined): string {
  if (rev === undefined) return '-';
  return rev.startsWith('sha256:') ? rev.slice(0, 19) : rev.slice(0, 12);
}

function adminURL(text: string | undefined): URL {
  const raw = text ?? 'http://127.0.0.1:8877';
  let u: URL;
  try {
    u = new URL(/^[a-z]+:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    throw new UsageError(`--admin needs a URL like http://127.0.0.1:8877, got '${raw}'`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--admin needs an http:// or https:// URL, got '${raw}'`);
  return u;
}

function getJSON<T>(base: URL, path: string, token: string | undefined): Promise<T> {
  const url = new URL(path, base);
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.get(url, { headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new CommandError('PORTICO_ERR_ADMIN_UNREACHABLE', `${url.href} answered ${res.statusCode}${res.statusCode === 401 ? ' (give its token with --token-file FILE)' : res.statusCode === 404 ? ' (not a Portico admin address, or an older version without it)' : ''}`));
        try {
          resolve(JSON.parse(text) as T);
        } catch {
          reject(new CommandError('PORTICO_ERR_ADMIN_UNREACHABLE', `${url.href} did not answer JSON`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 5 s')));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new CommandError('PORTICO_ERR_ADMIN_UNREACHABLE', `cannot read ${url.href}: ${err.code ?? err.message}`)));
  });
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function agreement(r: ReplicaRow): string {
  if (r.stale) return 'stale';
  if (r.agrees) return 'yes';
  return `no, for ${r.disagreeingSeconds ?? 0} s${r.flagged ? ' (flagged)' : ''}`;
}

export function formatFleet(doc: FleetDocument): string {
  const lines: string[] = [];
  const head = doc.bus ? `${doc.bus.bus}: ${doc.bus.state}` : 'fleet';
  lines.push(`${head} · ${doc.live} live, ${doc.stale} stale · ${doc.agreed ? 'every live replica agrees' : doc.consensus ? `${doc.disagreeing} disagree with the majority` : 'no majority'}${doc.flagged > 0 ? ` · ${doc.flagged} flagged (disagreeing for more than ${doc.disagreementBoundSeconds} s)` : ''}`);
  const rows: string[][] = [['REPLICA', 'HEARTBEAT', 'GEN', 'SERVES', 'CANARY', 'AGREES']];
  for (const r of doc.replicas) {
    const serves = Object.keys(r.revisions)
      .sort()
      .map((s) => `${s}@${short(r.revisions[s])}`)
      .join(' ');
    const canary = r.canary ? `${Object.entries(r.canary.revisions).map(([s, v]) => `${s}@${short(v)}`).join(' ')} ${r.canary.share}%` : '-';
    rows.push([`${r.replica}${r.replica === doc.self ? ' *' : ''}`, `${r.heartbeatAgeSeconds} s ago`, String(r.generation), serves || '-', canary, agreement(r)]);
  }
  lines.push(table(rows));
  for (const r of doc.replicas) for (const d of r.differences ?? []) lines.push(`  ${r.replica}: ${d}`);
  if (doc.bus && doc.bus.state !== 'Connected') lines.push(doc.bus.message);
  for (const p of doc.peers ?? []) if (p.lastError) lines.push(`  peer ${p.url}: ${p.lastError}`);
  return lines.join('\n');
}

function formatStatus(doc: StatusDoc): string {
  const rows: string[][] = [['SOURCE', 'STATE', 'SERVING', 'MESSAGE']];
  for (const s of doc.sources) rows.push([s.name, s.state, short(s.appliedRevision), s.message]);
  const lines = [table(rows)];
  for (const s of doc.sources) if (s.remedy) lines.push(`${s.name}: remedy: ${s.remedy}`);
  const running = doc.release?.running;
  if (running) lines.push(`canary: ${Object.entries(running.revisions).map(([n, r]) => `${n}@${short(r)}`).join(', ')} on ${running.share} % of requests (step ${running.step} of ${running.steps.length - 1}, ReleasePolicy ${running.policy})`);
  else if (doc.release?.last?.message) lines.push(`last canary: ${doc.release.last.message}`);
  if (doc.fleet) lines.push(`fleet: ${doc.fleet.state}: ${doc.fleet.message}`);
  return lines.join('\n');
}

export async function run(argv: string[]): Promise<number> {
  return withUsage('status', USAGE, async () => {
    const { values: v, positionals } = parse(argv, OPTIONS, USAGE);
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (give the replica with --admin URL)`);
    const format = oneOf(v.format, ['text', 'json'] as const, 'text', '--format');
    const redis = v.redis ?? (v.fleet ? process.env.REDIS_URL?.trim() || undefined : undefined);
    if (v.redis !== undefined && !v.fleet) throw new UsageError('--redis reads the fleet: give --fleet too');
    if (redis !== undefined && !/^rediss?:\/\/[^\s/]+(\/[0-9]{1,2})?$/.test(redis)) throw new UsageError(`--redis needs redis://HOST:PORT, got '${redis}'`);
    const boundMs = v['disagreement-bound'] !== undefined ? parseDuration(/^[0-9]+$/.test(v['disagreement-bound']) ? `${v['disagreement-bound']}s` : v['disagreement-bound']) : 30_000;
    if (!(boundMs >= 0)) throw new UsageError(`--disagreement-bound needs a duration like 30s, got '${v['disagreement-bound']}'`);
    const fleetName = v['fleet-name'] ?? 'default';
    let token: string | undefined;
    if (v['token-file'] !== undefined) token = readFileSync(v['token-file'], 'utf8').trim();

    if (v.fleet) {
      let doc: FleetDocument;
      if (redis !== undefined && v.admin === undefined) {
        let reports;
        try {
          reports = await readFleetReports(redis, fleetName, 10 * 60_000);
        } catch (err) {
          throw new CommandError('PORTICO_ERR_REDIS_UNREACHABLE', `cannot read the fleet '${fleetName}' from ${redactedRedisUrl(redis)}: ${(err as Error).message}`);
        }
        const view = fleetView(reports, { now: Date.now(), staleAfterMs: 10_000, disagreementBoundMs: boundMs, forgetAfterMs: 10 * 60_000 });
        doc = { ...view, bus: { transport: 'redis', state: 'Connected', since: view.at, bus: `Redis at ${redactedRedisUrl(redis)} (fleet '${fleetName}')`, message: '' } };
      } else doc = await getJSON<FleetDocument>(adminURL(v.admin), '/api/v1/fleet', token);
      process.stdout.write(`${format === 'json' ? JSON.stringify(doc, null, 2) : formatFleet(doc)}\n`);
      return doc.flagged > 0 || doc.live === 0 ? 1 : 0;
    }
    const doc = await getJSON<StatusDoc>(adminURL(v.admin), '/api/v1/status', token);
    process.stdout.write(`${format === 'json' ? JSON.stringify(doc, null, 2) : formatStatus(doc)}\n`);
    return doc.sources.every((s) => s.state === 'Ready') ? 0 : 1;
  });
}
