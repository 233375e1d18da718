// Prometheus metrics of the fleet as this replica sees it: replicas live and stale, how many disagree
// and how many longer than the bound, whether the bus works, and the events sent and received.

import { Counter, Gauge, Registry } from 'prom-client';
import type { FleetView } from './fleet-view.js';

export class FleetMetrics {
  readonly replicas: Gauge<'state'>;
  readonly disagreeing: Gauge;
  readonly flagged: Gauge;
  readonly flaggedTotal: Counter<'replica'>;
  readonly busConnected: Gauge<'transport'>;
  readonly events: Counter<'kind' | 'direction'>;
  private readonly flaggedNow = new Set<string>();

  constructor(registry: Registry = new Registry()) {
    const registers = [registry];
    this.replicas = new Gauge({ name: 'portico_fleet_replicas', help: 'Replicas of the fleet by heartbeat: live, or stale (no heartbeat within three intervals)', labelNames: ['state'], registers });
    this.disagreeing = new Gauge({ name: 'portico_fleet_replicas_disagreeing', help: 'Live replicas that serve other revisions than the majority', registers });
    this.flagged = new Gauge({ name: 'portico_fleet_replicas_flagged', help: 'Live replicas that disagree with the majority for longer than the bound', registers });
    this.flaggedTotal = new Counter({ name: 'portico_fleet_flagged_total', help: 'Times a replica became flagged (disagreeing for longer than the bound)', labelNames: ['replica'], registers });
    this.busConnected = new Gauge({ name: 'portico_fleet_bus_connected', help: 'Whether the fleet bus (Redis or peers) carries events now (1) or this replica polls alone (0)', labelNames: ['transport'], registers });
    this.events = new Counter({ name: 'portico_fleet_events_total', help: 'Fleet events (fetch, heartbeat, rollback) sent and received', labelNames: ['kind', 'direction'], registers });
  }

  observe(view: FleetView): void {
    this.replicas.set({ state: 'live' }, view.live);
    this.replicas.set({ state: 'stale' }, view.stale);
    this.disagreeing.set(view.disagreeing);
    this.flagged.set(view.flagged);
    const now = new Set(view.replicas.filter((r) => r.flagged).map((r) => r.replica));
    for (const r of now) if (!this.flaggedNow.has(r)) this.flaggedTotal.inc({ replica: r });
    this.flaggedNow.clear();
    for (const r of now) this.flaggedNow.add(r);
  }
}
