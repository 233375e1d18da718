// Prometheus metrics of the git controller: commit→live latency, fetch and apply failures, the revision
// each source serves, how stale each source's last successful fetch is, and how canaries end.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class SourceMetrics {
  readonly commitToLive: Histogram<'source'>;
  readonly fetches: Counter<'source'>;
  readonly fetchFailures: Counter<'source' | 'reason'>;
  readonly applyFailures: Counter<'source' | 'reason'>;
  readonly revisionInfo: Gauge<'source' | 'revision'>;
  readonly lastFetch: Gauge<'source'>;
  readonly staleSince: Gauge<'source'>;

  constructor(readonly registry: Registry = new Registry()) {
    const registers = [registry];
    this.commitToLive = new Histogram({
      name: 'portico_source_commit_to_live_seconds',
      help: 'Time from when Portico first saw a revision to its configuration serving traffic',
      labelNames: ['source'],
      buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600],
      registers,
    });
    this.fetches = new Counter({ name: 'portico_source_fetches_total', help: 'Fetches started, by source (bursts of webhooks coalesce into few)', labelNames: ['source'], registers });
    this.fetchFailures = new Counter({ name: 'portico_source_fetch_failures_total', help: 'Failed fetches by source and reason', labelNames: ['source', 'reason'], registers });
    this.applyFailures = new Counter({
      name: 'portico_source_apply_failures_total',
      help: 'Revisions refused (invalid, unsigned, rewritten history) or not applied, by source and reason',
      labelNames: ['source', 'reason'],
      registers,
    });
    this.revisionInfo = new Gauge({ name: 'portico_source_revision_info', help: 'The revision each source serves (value 1)', labelNames: ['source', 'revision'], registers });
    this.lastFetch = new Gauge({ name: 'portico_source_last_successful_fetch_timestamp_seconds', help: 'Unix time of the last successful fetch', labelNames: ['source'], registers });
    this.staleSince = new Gauge({
      name: 'portico_source_stale_since_timestamp_seconds',
      help: 'Unix time since which fetches of the source have failed (0 when fresh)',
      labelNames: ['source'],
      registers,
    });
  }

  private readonly shown = new Map<string, string>();
  private release: ReleaseMetrics | undefined;

  /** The canary metrics in the same registry, registered when a canary gate first needs them. */
  releaseMetrics(): ReleaseMetrics {
    return (this.release ??= new ReleaseMetrics(this.registry));
  }

  setRevision(source: string, revision: string | undefined): void {
    const old = this.shown.get(source);
    if (old !== undefined) this.revisionInfo.remove({ source, revision: old });
    this.shown.delete(source);
    if (revision) {
      this.revisionInfo.set({ source, revision }, 1);
      this.shown.set(source, revision);
    }
  }
}

/** Prometheus metrics of canaries: the share the running one serves, and how canaries ended. */
export class ReleaseMetrics {
  readonly share: Gauge;
  readonly verdicts: Counter<'outcome'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.share = new Gauge({ name: 'portico_canary_share_percent', help: 'Percent of requests the running canary serves (0: no canary)', registers });
    this.verdicts = new Counter({ name: 'portico_canary_verdicts_total', help: 'Canaries ended, by outcome: promoted, rolled_back, superseded', labelNames: ['outcome'], registers });
  }
}
