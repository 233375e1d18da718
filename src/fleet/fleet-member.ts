// This replica as a member of its fleet: forwards the webhooks it verifies, fetches when another
// replica forwards one, sends a heartbeat with what it serves, and falls back to polling (and says
// so) while the bus is down. A fleet event only ever asks for a fetch or a rollback: git stays the
// only source of configuration.
//
// What can happen: the bus connects (polling goes back to each source's interval, and every source
// is fetched at once for what was missed) · the bus goes down (every source is polled every
// fallbackPollMs) · a verified webhook (fetch here, and ask every replica to) · another replica's
// fetch (fetch here) · another replica's rollback (roll back the same revision here) · a heartbeat tick.

import type { BusState, FleetBus } from './fleet-bus.js';
import { eventId } from './fleet-bus.js';
import type { CanaryReport, FleetEvent, ReplicaReport, SourceVerdict } from './fleet-messages.js';
import { fleetView, servingKey, type FleetView } from './fleet-view.js';
import type { FleetMetrics } from './fleet-metrics.js';

export interface ServingReport {
  readonly ready: boolean;
  readonly generation: number;
  readonly irHash: string | null;
  readonly revisions: Readonly<Record<string, string>>;
  readonly verdicts: Readonly<Record<string, SourceVerdict>>;
  readonly canary?: CanaryReport;
}

export interface FleetLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface FleetMemberOptions {
  readonly identity: string;
  readonly bus: FleetBus;
  readonly version: string;
  readonly heartbeatMs: number;
  /** A replica that disagrees with the majority for longer than this is flagged. */
  readonly disagreementBoundMs: number;
  /** Every source's poll interval while the bus is down. */
  readonly fallbackPollMs: number;
  readonly serving: () => ServingReport;
  readonly adminUrl: () => string | undefined;
  readonly trigger: (source?: string) => void;
  /** Caps every source's poll interval (undefined: each its own). */
  readonly setPollCap: (ms: number | undefined) => void;
  readonly onRollback?: (e: Extract<FleetEvent, { kind: 'rollback' }>) => void;
  readonly log: FleetLog;
  readonly metrics?: FleetMetrics;
}

export interface FleetStatus {
  readonly transport: FleetBus['transport'];
  readonly state: 'Connected' | 'Down' | 'Alone';
  readonly since: string;
  readonly bus: string;
  readonly message: string;
  /** Every source is polled at least this often while the bus is down. */
  readonly fallbackPollSeconds?: number;
}

export class FleetMember {
  private readonly startedAt = new Date().toISOString();
  private servingSince = new Date().toISOString();
  private lastKey: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Immediate | undefined;
  private stopped = false;
  private polling = false;
  private lastReport: ReplicaReport | undefined;

  constructor(private readonly opts: FleetMemberOptions) {}

  start(): void {
    const bus = this.opts.bus;
    bus.start(
      (e) => this.onEvent(e),
      (s) => this.onBusState(s),
    );
    this.opts.log.info({ identity: this.opts.identity, bus: bus.describe() }, `fleet: this replica is '${this.opts.identity}' on ${bus.describe()}`);
    this.applyPolling(bus.state());
    this.timer = setInterval(() => void this.tick(), this.opts.heartbeatMs);
    this.timer.unref();
    this.changed();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearImmediate(this.soon);
    await this.opts.bus.close();
  }

  /** A webhook verified here: every other replica fetches too. */
  webhookVerified(source: string | undefined): void {
    this.send({ kind: 'fetch', id: eventId(), from: this.opts.identity, at: Date.now(), ...(source !== undefined ? { source } : {}) });
  }

  /** A canary rolled back here: the fleet rolls the same revision back. */
  rolledBack(source: string, revision: string, detail: string): void {
    this.send({ kind: 'rollback', id: eventId(), from: this.opts.identity, at: Date.now(), source, revision, detail });
  }

  /** What this replica serves changed: heartbeat now rather than at the next tick. */
  changed(): void {
    if (this.soon || this.stopped) return;
    this.soon = setImmediate(() => {
      this.soon = undefined;
      void this.tick();
    });
  }

  private send(e: FleetEvent): void {
    this.opts.bus.publish(e);
    this.opts.metrics?.events.inc({ kind: e.kind, direction: 'sent' });
  }

  private onEvent(e: FleetEvent): void {
    if (e.from === this.opts.identity || this.stopped) return;
    this.opts.metrics?.events.inc({ kind: e.kind, direction: 'received' });
    switch (e.kind) {
      case 'fetch':
        this.opts.log.info({ from: e.from, source: e.source ?? '*' }, `fleet: replica '${e.from}' verified a webhook; fetching`);
        this.opts.trigger(e.source);
        return;
      case 'rollback':
        this.opts.log.warn({ from: e.from, source: e.source, revision: e.revision }, `fleet: replica '${e.from}' rolled back ${e.source}@${e.revision.slice(0, 12)}: ${e.detail}`);
        this.opts.onRollback?.(e);
        return;
      case 'heartbeat':
        return;
    }
  }

  private onBusState(s: BusState): void {
    if (this.stopped) return;
    const bus = this.opts.bus;
    if (s.connected) {
      this.opts.log.info({ bus: bus.describe() }, `fleet: connected to ${bus.describe()}; webhooks reach every replica`);
      // Events sent while this replica was away are lost: fetch everything once to catch up.
      if (this.polling) this.opts.trigger();
    } else if (bus.transport !== 'none') {
      this.opts.log.warn({ bus: bus.describe(), detail: s.detail }, `fleet: ${bus.describe()} is unreachable (${s.detail ?? 'down'}); polling every source every ${this.opts.fallbackPollMs / 1000}s until it is back`);
    }
    this.applyPolling(s);
    this.changed();
  }

  private applyPolling(s: BusState): void {
    const polling = !s.connected && this.opts.bus.transport !== 'none';
    if (polling === this.polling) return;
    this.polling = polling;
    this.opts.setPollCap(polling ? this.opts.fallbackPollMs : undefined);
  }

  /** This replica's report now. */
  report(): ReplicaReport {
    const s = this.opts.serving();
    const key = servingKey(s);
    if (this.lastKey !== undefined && key !== this.lastKey) this.servingSince = new Date().toISOString();
    this.lastKey = key;
    const admin = this.opts.adminUrl();
    const bus = this.opts.bus;
    this.lastReport = {
      replica: this.opts.identity,
      ...(admin !== undefined ? { admin } : {}),
      version: this.opts.version,
      startedAt: this.startedAt,
      at: new Date().toISOString(),
      heartbeatMs: this.opts.heartbeatMs,
      ready: s.ready,
      generation: s.generation,
      irHash: s.irHash,
      revisions: s.revisions,
      verdicts: s.verdicts,
      servingSince: this.servingSince,
      ...(s.canary ? { canary: s.canary } : {}),
      bus: { transport: bus.transport, connected: bus.state().connected },
    };
    return this.lastReport;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const report = this.report();
    this.opts.bus.heartbeat({ kind: 'heartbeat', id: eventId(), from: this.opts.identity, at: Date.now(), report });
    this.opts.metrics?.busConnected.set({ transport: this.opts.bus.transport }, this.opts.bus.state().connected ? 1 : 0);
    if (this.opts.metrics) this.opts.metrics.observe(await this.view());
  }

  /** Every replica the bus knows of, this one with its report of now. */
  async view(now = Date.now()): Promise<FleetView> {
    const others = (await this.opts.bus.members()).filter((r) => r.replica !== this.opts.identity);
    const mine = this.lastReport ?? this.report();
    return fleetView([...others, mine], {
      now,
      staleAfterMs: 3 * this.opts.heartbeatMs + 1000,
      disagreementBoundMs: this.opts.disagreementBoundMs,
      forgetAfterMs: reportTtlMs(this.opts.heartbeatMs),
    });
  }

  status(): FleetStatus {
    const bus = this.opts.bus;
    const s = bus.state();
    const since = new Date(s.since).toISOString();
    if (bus.transport === 'none') {
      return { transport: 'none', state: 'Alone', since, bus: bus.describe(), message: 'no fleet bus (no --redis, no peers declared): webhooks reach this replica only; every source is polled on its own interval' };
    }
    if (s.connected) return { transport: bus.transport, state: 'Connected', since, bus: bus.describe(), message: `connected to ${bus.describe()} since ${since}: a webhook verified by any replica reaches every replica` };
    return {
      transport: bus.transport,
      state: 'Down',
      since,
      bus: bus.describe(),
      message: `${bus.describe()} unreachable since ${since} (${s.detail ?? 'down'}): falling back to polling every source every ${this.opts.fallbackPollMs / 1000}s`,
      fallbackPollSeconds: this.opts.fallbackPollMs / 1000,
    };
  }
}

/** How long a heartbeat is kept (Redis key TTL, and how long a gone replica stays in the view). */
export function reportTtlMs(heartbeatMs: number): number {
  return Math.max(60_000, 30 * heartbeatMs);
}
