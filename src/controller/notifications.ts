// Teams hear about their commits: each decision the controller records (applied, refused, not
// applied) becomes a commit status on the source's forge and a message to JSON webhooks (Slack's shape).
//
// Nothing here runs inside a reconcile pass: notify() only queues. Deliveries go out in the
// background, a few at a time, with bounded retries and backoff; the queue is bounded and drops its
// oldest entry when full. A forge or webhook that is down never delays a pass or touches serving.
// Deliveries with one key (one commit's status, one webhook) go out in order; a newer status for a
// commit replaces one still waiting. Tokens and webhook URLs are read when sent (rotation works),
// and never logged.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Counter, type Registry } from 'prom-client';
import { statusRequest, repositoryPath, type CommitState, type ForgeKind } from './forge-status.js';

/** One decision the controller recorded, as the notifier needs it (no secrets, no file contents). */
export interface DecisionEvent {
  /** applied: live; refused: not served (invalid, unsigned, ...); apply-failed: valid but the gateway could not apply it. */
  readonly type: 'applied' | 'refused' | 'apply-failed';
  readonly source: string;
  readonly sourceKind: 'git' | 'directory';
  /** The repository URL (credentials removed), or the folder. */
  readonly url: string;
  readonly revision: string;
  readonly previousRevision?: string;
  /** What the source still serves after a refusal (undefined: nothing yet). */
  readonly serving?: string;
  /** Applied after the source's previous revision was refused. */
  readonly recovered?: boolean;
  readonly author?: string;
  /** The commit message's first line. */
  readonly subject?: string;
  readonly reason?: string;
  readonly message?: string;
  readonly remedy?: string;
  /** The first error, with the file and line it is at. */
  readonly problem?: { readonly code: string; readonly message: string; readonly file: string; readonly origin: string };
  readonly routes?: { readonly added: number; readonly removed: number; readonly changed: number };
  readonly generation?: number;
  readonly at: string;
}

/** Where a credential is read from when a delivery is sent: a file, or an entry of the secrets directory. */
export type CredentialRef =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'secret'; readonly dir: string; readonly name: string; readonly key: string }
  | { readonly kind: 'literal'; readonly value: string };

export interface CommitStatusOptions {
  readonly forge: ForgeKind;
  /** The forge's API root: https://api.github.com, https://gitlab.example.com/api/v4, https://gitea.example.com/api/v1. */
  readonly api: string;
  readonly token: CredentialRef;
  /** One context per fleet: replicas of a fleet write the same status; another fleet keeps its own. */
  readonly context: string;
  /** Repository path by source name, where the source's URL does not name it on the forge. */
  readonly repositories?: Readonly<Record<string, string>>;
  readonly targetUrl?: string;
}

export interface NotifierLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface NotifierOptions {
  readonly commitStatus?: CommitStatusOptions;
  /** Generic JSON webhooks (a Slack incoming webhook takes the payload as it is). */
  readonly webhooks?: readonly CredentialRef[];
  readonly log?: NotifierLog;
  readonly registry?: Registry;
  /** Attempts per delivery (default 6) and the backoff: base doubled per retry, capped (defaults 1 s, 60 s). */
  readonly attempts?: number;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** Per request (default 10 s). */
  readonly timeoutMs?: number;
  /** Deliveries waiting at most (default 1000): past it the oldest is dropped. */
  readonly maxQueue?: number;
  readonly concurrency?: number;
  readonly random?: () => number;
}

type Channel = 'commit_status' | 'webhook';

interface Delivery {
  readonly channel: Channel;
  /** Deliveries with one key go out in order, one at a time. */
  readonly key: string;
  /** A newer delivery with the same key replaces this one while it waits (commit statuses). */
  readonly supersedable: boolean;
  /** What the log says about it (never a credential). */
  readonly what: string;
  readonly request: () => Promise<{ url: string; init: RequestInit }>;
  attempt: number;
  notBefore: number;
}

const ACCEPTED_SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

export class Notifier {
  private readonly pending: Delivery[] = [];
  private readonly inFlight = new Set<string>();
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = 0;
  private closed = false;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly counter: Counter<'channel' | 'result'> | undefined;

  constructor(private readonly opts: NotifierOptions) {
    this.counter = opts.registry
      ? new Counter({ name: 'portico_notifications_total', help: 'Commit statuses and webhook messages, by channel and result (delivered, retried, failed, dropped)', labelNames: ['channel', 'result'], registers: [opts.registry] })
      : undefined;
  }

  /** Whether anything is configured. */
  get enabled(): boolean {
    return this.opts.commitStatus !== undefined || (this.opts.webhooks?.length ?? 0) > 0;
  }

  /** Queue what this decision tells; returns at once. */
  notify(e: DecisionEvent): void {
    if (this.closed) return;
    const cs = this.opts.commitStatus;
    if (cs !== undefined && e.sourceKind === 'git' && ACCEPTED_SHA.test(e.revision)) {
      const repository = cs.repositories?.[e.source] ?? repositoryPath(e.url, cs.forge);
      if (repository === undefined) {
        this.opts.log?.warn({ source: e.source, url: e.url }, `commit status: cannot tell the ${cs.forge} repository of source '${e.source}'; name it with --commit-status-repo`);
      } else {
        const { state, description } = commitStatus(e);
        const req = statusRequest(cs.forge, cs.api, repository, e.revision, { state, context: cs.context, description, ...(cs.targetUrl ? { targetUrl: cs.targetUrl } : {}) });
        this.enqueue({
          channel: 'commit_status',
          key: `status ${repository}@${e.revision}`,
          supersedable: true,
          what: `${cs.forge} status ${state} for ${repository}@${e.revision.slice(0, 12)}`,
          request: async () => {
            const token = await readCredential(cs.token);
            return { url: req.url, init: { method: 'POST', headers: { ...req.headers, [req.auth.header]: `${req.auth.prefix}${token}` }, body: req.body } };
          },
          attempt: 0,
          notBefore: 0,
        });
      }
    }
    const payload = JSON.stringify(webhookPayload(e));
    for (const [i, ref] of (this.opts.webhooks ?? []).entries()) {
      this.enqueue({
        channel: 'webhook',
        key: `webhook ${i}`,
        supersedable: false,
        what: `webhook #${i + 1} (${e.type} ${e.source})`,
        request: async () => ({ url: await readCredential(ref), init: { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'portico' }, body: payload } }),
        attempt: 0,
        notBefore: 0,
      });
    }
  }

  /** Resolves when nothing is waiting or being sent (tests). */
  idle(): Promise<void> {
    if (this.pending.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stop: deliveries under way finish (each within its timeout); those waiting are dropped and counted. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const dropped = this.pending.splice(0);
    for (const d of dropped) this.counter?.inc({ channel: d.channel, result: 'dropped' });
    if (dropped.length > 0) this.opts.log?.warn({ dropped: dropped.length }, 'notifications still waiting at shutdown were not sent');
    await this.idle();
  }

  private enqueue(d: Delivery): void {
    if (d.supersedable) {
      const i = this.pending.findIndex((p) => p.key === d.key);
      if (i >= 0) this.pending.splice(i, 1);
    }
    const max = this.opts.maxQueue ?? 1000;
    if (this.pending.length >= max) {
      const old = this.pending.shift()!;
      this.counter?.inc({ channel: old.channel, result: 'dropped' });
      this.opts.log?.warn({ what: old.what }, 'notification queue full: the oldest waiting notification is dropped');
    }
    this.pending.push(d);
    this.pump();
  }

  private pump(): void {
    if (this.closed) {
      if (this.running === 0) for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    const now = Date.now();
    const concurrency = this.opts.concurrency ?? 4;
    let earliest = Infinity;
    while (this.running < concurrency) {
      // The first waiting delivery of each key is the only one of that key that may go.
      const blocked = new Set(this.inFlight);
      let next = -1;
      for (let i = 0; i < this.pending.length; i++) {
        const d = this.pending[i]!;
        if (blocked.has(d.key)) continue;
        blocked.add(d.key);
        if (d.notBefore > now) {
          earliest = Math.min(earliest, d.notBefore);
          continue;
        }
        next = i;
        break;
      }
      if (next < 0) break;
      const d = this.pending.splice(next, 1)[0]!;
      this.running++;
      this.inFlight.add(d.key);
      void this.send(d).finally(() => {
        this.running--;
        this.inFlight.delete(d.key);
        this.pump();
      });
    }
    if (earliest !== Infinity && (this.timer === undefined || earliest < this.timerAt)) {
      if (this.timer) clearTimeout(this.timer);
      this.timerAt = earliest;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, Math.max(0, earliest - now));
      this.timer.unref();
    }
    if (this.pending.length === 0 && this.running === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private async send(d: Delivery): Promise<void> {
    d.attempt++;
    let retry: boolean;
    let why: string;
    try {
      const { url, init } = await d.request();
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000) });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) {
        this.counter?.inc({ channel: d.channel, result: 'delivered' });
        return;
      }
      // A limit or a fault on their side passes; anything else (bad token, unknown repository) will not.
      retry = res.status === 429 || res.status === 408 || res.status >= 500;
      why = `answered ${res.status}`;
    } catch (err) {
      retry = true;
      why = (err as NodeJS.ErrnoException).code ?? (err as Error).name ?? 'failed';
      if ((err as { cause?: { code?: string } }).cause?.code) why = (err as { cause: { code: string } }).cause.code;
    }
    const attempts = this.opts.attempts ?? 6;
    if (retry && d.attempt < attempts && !this.closed) {
      const base = this.opts.retryBaseMs ?? 1000;
      const delay = Math.min(this.opts.retryMaxMs ?? 60_000, base * 2 ** (d.attempt - 1)) * (0.8 + 0.4 * (this.opts.random ?? Math.random)());
      d.notBefore = Date.now() + delay;
      this.counter?.inc({ channel: d.channel, result: 'retried' });
      // Back at the front: it stays the first of its key, so what follows it waits for it.
      if (!(d.supersedable && this.pending.some((p) => p.key === d.key))) this.pending.unshift(d);
      return;
    }
    this.counter?.inc({ channel: d.channel, result: 'failed' });
    this.opts.log?.warn({ what: d.what, attempts: d.attempt, why }, `notification not delivered: ${d.what}: ${why}`);
  }
}

async function readCredential(ref: CredentialRef): Promise<string> {
  switch (ref.kind) {
    case 'literal':
      return ref.value;
    case 'file':
      return (await readFile(ref.path, 'utf8')).trim();
    case 'secret':
      return (await readFile(join(ref.dir, ref.name, ref.key), 'utf8')).trim();
  }
}

function short(rev: string | undefined): string {
  return rev === undefined ? 'nothing' : rev.startsWith('sha256:') ? rev.slice(0, 19) : rev.slice(0, 12);
}

function routeCounts(r: DecisionEvent['routes']): string {
  return r ? `+${r.added} −${r.removed} ~${r.changed} routes` : 'no route change';
}

/** The commit status a decision gives: success when live, failure with the reason and where. */
export function commitStatus(e: DecisionEvent): { state: CommitState; description: string } {
  if (e.type === 'applied') return { state: 'success', description: `Live${e.generation !== undefined ? ` (generation ${e.generation})` : ''}: ${routeCounts(e.routes)}` };
  if (e.type === 'apply-failed') return { state: 'error', description: `Valid, but not applied (${e.reason ?? 'apply failed'}): ${e.message ?? ''}`.trim() };
  const where = e.problem ? `${e.problem.file}: ${e.problem.message}` : (e.message ?? '');
  return { state: 'failure', description: `Refused (${e.reason ?? 'refused'}): ${where}` };
}

/** A Slack-compatible message (`text`), with the decision itself under `portico` for other receivers. */
export function webhookPayload(e: DecisionEvent): { text: string; portico: DecisionEvent } {
  // The name alone in the text; the address stays in the structured part.
  const who = e.author ? ` by ${e.author.replace(/\s*<[^>]*>\s*$/, '')}` : '';
  const subject = e.subject ? ` "${e.subject}"` : '';
  let text: string;
  if (e.type === 'applied') {
    text = e.recovered
      ? `:white_check_mark: ${e.source} recovered: ${short(e.revision)}${subject}${who} is live (${routeCounts(e.routes)})`
      : `:rocket: ${e.source} ${short(e.revision)}${subject}${who} is live (${routeCounts(e.routes)})`;
  } else if (e.type === 'refused') {
    const where = e.problem ? ` at ${e.problem.file}: ${e.problem.message}` : e.message ? `: ${e.message}` : '';
    text = `:x: ${e.source} refused ${short(e.revision)}${subject}${who} (${e.reason ?? 'refused'})${where}. Still serving ${short(e.serving)}.${e.remedy ? ` ${e.remedy}` : ''}`;
  } else {
    text = `:warning: ${e.source} ${short(e.revision)}${subject} is valid but was not applied (${e.reason ?? 'apply failed'}): ${e.message ?? ''}`;
  }
  return { text, portico: e };
}
