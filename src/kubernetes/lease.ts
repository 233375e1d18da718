// Elects one writer among replicas with a coordination.k8s.io/v1 Lease, so that only one of them
// writes resource statuses (replicas that disagree for a moment would otherwise overwrite each other).
//
// What can happen:
// - no Lease: create it holding it (409 AlreadyExists: someone else was first; read it again);
// - held by us: renew every renewMs; a renewal that fails for longer than the lease (minus a margin)
//   gives leadership up before anyone else can take it;
// - held by another: it is taken only when its record has not changed for a whole lease duration, as
//   measured on this machine's clock (never by comparing the other replica's timestamps with ours);
// - every write carries the resourceVersion read: of two replicas taking an expired lease at once, the
//   API server lets exactly one through (409 Conflict for the other).

import { KubeApiError, type KubeClient } from './kube-client.js';
import { SYSTEM_CLOCK, type InformerClock } from './informer.js';

export interface LeaseOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  /** How long a holder's claim lasts without renewal (default 15 s). */
  readonly leaseDurationMs?: number;
  /** How often the holder renews, and others look (default 5 s; 2 s while not holding). */
  readonly renewMs?: number;
  readonly retryMs?: number;
  readonly clock?: InformerClock;
  readonly onChange?: (leader: boolean) => void;
  readonly log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

type Obj = Record<string, unknown>;

function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaseElector {
  private leaderValue = false;
  private timer: unknown;
  private stopped = false;
  /** The other holder's record as last seen, and when (on our clock) it last changed. */
  private observed: { key: string; at: number } | undefined;
  private lastRenew = 0;
  private readonly clock: InformerClock;
  private readonly durationMs: number;
  private running: Promise<void> | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaseOptions,
  ) {
    this.clock = opts.clock ?? SYSTEM_CLOCK;
    this.durationMs = opts.leaseDurationMs ?? 15_000;
  }

  get leader(): boolean {
    return this.leaderValue;
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.opts.namespace)}/leases`;
  }

  start(): void {
    this.schedule(0);
  }

  /** Gives the lease up (so another replica takes over at once, not after a lease duration). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    await this.running;
    if (this.leaderValue) {
      try {
        const lease = await this.client.request<Obj>('GET', `${this.path}/${encodeURIComponent(this.opts.name)}`);
        const spec = (lease.spec ?? {}) as Obj;
        if (spec.holderIdentity === this.opts.identity) {
          await this.client.request('PUT', `${this.path}/${encodeURIComponent(this.opts.name)}`, { body: { ...lease, spec: { ...spec, holderIdentity: '', leaseDurationSeconds: 1 } }, timeoutMs: 2000 });
        }
      } catch {
        // It expires by itself.
      }
      this.set(false);
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      this.running = this.tick().finally(() => (this.running = undefined));
    }, ms);
  }

  private set(leader: boolean): void {
    if (leader === this.leaderValue) return;
    this.leaderValue = leader;
    this.opts.log?.info({ lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity, leader }, leader ? 'holding the status-writer lease' : 'not the status writer');
    this.opts.onChange?.(leader);
  }

  private async tick(): Promise<void> {
    const renew = this.opts.renewMs ?? 5000;
    const retry = this.opts.retryMs ?? 2000;
    try {
      const held = await this.tryAcquireOrRenew();
      if (held) this.lastRenew = this.clock.now();
      this.set(held);
    } catch (err) {
      this.opts.log?.warn({ lease: `${this.opts.namespace}/${this.opts.name}`, err: (err as Error).message }, 'status-writer lease: cannot reach the API server');
      // Give up before the lease could have expired for the others.
      if (this.leaderValue && this.clock.now() - this.lastRenew > this.durationMs - renew) this.set(false);
    }
    this.schedule(this.leaderValue ? renew : retry);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.clock.now();
    const seconds = Math.max(1, Math.round(this.durationMs / 1000));
    let lease: Obj;
    try {
      lease = await this.client.request<Obj>('GET', `${this.path}/${encodeURIComponent(this.opts.name)}`, { timeoutMs: 5000 });
    } catch (err) {
      if (!(err instanceof KubeApiError) || err.status !== 404) throw err;
      try {
        await this.client.request('POST', this.path, {
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.opts.name, namespace: this.opts.namespace },
            spec: { holderIdentity: this.opts.identity, leaseDurationSeconds: seconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
          },
          timeoutMs: 5000,
        });
        return true;
      } catch (e) {
        if (e instanceof KubeApiError && e.status === 409) return false;
        throw e;
      }
    }
    const spec = (lease.spec ?? {}) as Obj;
    const holder = typeof spec.holderIdentity === 'string' ? spec.holderIdentity : '';
    const key = JSON.stringify([holder, spec.renewTime ?? null, spec.leaseDurationSeconds ?? null]);
    if (holder !== this.opts.identity && holder !== '') {
      if (this.observed?.key !== key) this.observed = { key, at: now };
      const theirs = typeof spec.leaseDurationSeconds === 'number' ? spec.leaseDurationSeconds * 1000 : this.durationMs;
      if (now - this.observed.at < theirs) return false;
    }
    const transitions = typeof spec.leaseTransitions === 'number' ? spec.leaseTransitions : 0;
    const taking = holder !== this.opts.identity;
    const body = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.opts.identity,
        leaseDurationSeconds: seconds,
        renewTime: microTime(now),
        ...(taking ? { acquireTime: microTime(now), leaseTransitions: transitions + 1 } : {}),
      },
    };
    try {
      await this.client.request('PUT', `${this.path}/${encodeURIComponent(this.opts.name)}`, { body, timeoutMs: 5000 });
      this.observed = undefined;
      return true;
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 409) return false;
      throw e;
    }
  }
}
