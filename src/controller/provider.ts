// Plugs the controller into `portico serve` as its one configuration provider: folders, git and
// Kubernetes sources alike apply through the serving state; adds /api/v1/status, /api/v1/history and
// /hooks/, and writes resource statuses back to the cluster (when this replica holds the Lease).

import type { Registry } from 'prom-client';
import type { AdminServer } from '../admin/admin-server.js';
import type { ConfigProvider, ProviderContext } from '../serve/serving-state.js';
import { Controller, type CompileInputs } from './controller.js';
import type { DeclaredSource } from './source-kind.js';
import { SecretsDirectory } from './secrets-directory.js';
import { SourceMetrics } from './source-metrics.js';
import type { SnapshotLimits } from '../sources/git-source.js';
import { historyHandler, statusHandler } from './status-api.js';
import { WebhookReceiver } from './webhooks.js';
import { registerDiagnostics } from '../admin/diag-server.js';
import { versionLine } from '../cli/command-errors.js';
import { KubernetesCluster } from '../kubernetes/cluster.js';
import { defaultKubeconfigPath, inClusterConnection, KubeClient, kubeconfigConnection, type KubeConnection } from '../kubernetes/kube-client.js';
import { LeaseElector } from '../kubernetes/lease.js';
import { StatusWriter } from '../kubernetes/status-writer.js';
import { FleetMember, reportTtlMs } from '../fleet/fleet-member.js';
import { FleetMetrics } from '../fleet/fleet-metrics.js';
import { RedisFleetBus } from '../fleet/redis-fleet-bus.js';
import { FLEET_HOOK_PATH, PeerFleetBus } from '../fleet/peer-fleet-bus.js';
import { fleetDocument, fleetHandler } from '../fleet/fleet-api.js';

function defaultConnection(context: string | undefined): KubeConnection | undefined {
  const file = defaultKubeconfigPath();
  return file ? kubeconfigConnection(file, context) : undefined;
}
import { Notifier, type NotifierOptions } from './notifications.js';

export interface SourcesOptions {
  /** Sources named on the command line (git repositories and folders), in the order given. */
  readonly roots: readonly DeclaredSource[];
  /** State folder; without one (folders only, no --state) the history lives in memory. */
  readonly stateDir?: string;
  readonly webhookSecrets: readonly string[];
  readonly defaultIntervalMs?: number;
  readonly fetchTimeoutMs?: number;
  /** Download and cache caps of git sources. */
  readonly limits?: Partial<SnapshotLimits>;
  readonly ambassadorId?: string;
  /** The namespace Portico runs in (serve: --ambassador-namespace, else $AMBASSADOR_NAMESPACE). */
  readonly ambassadorNamespace?: string;
  readonly pins?: Readonly<Record<string, string>>;
  readonly localTeams?: Readonly<Record<string, string>>;
  /** How often folders are checked for missed file events (ms). */
  readonly folderPollMs?: number;
  readonly compileInputs?: () => CompileInputs;
  /** The secrets directory (--secrets DIR): read before the first pass, watched, a change recompiles. */
  readonly secretsDir?: string;
  /** How Kubernetes sources reach their cluster and how resource statuses are written. */
  readonly kubernetes?: KubernetesServeOptions;
  /** How this replica reaches the rest of its fleet (docs/fleet.md). */
  readonly fleet?: FleetServeOptions;
  /** Commit statuses and webhook messages about each decision (--commit-status, --notify-webhook). */
  readonly notify?: Pick<NotifierOptions, 'commitStatus' | 'webhooks'>;
}

export interface FleetServeOptions {
  /** Redis for fleet events and heartbeats; without it, the peers the central repository declares. */
  readonly redisUrl?: string;
  /** Replicas with the same name on one Redis are one fleet. */
  readonly name: string;
  /** This replica's name in the fleet. */
  readonly identity: string;
  readonly heartbeatMs: number;
  readonly disagreementBoundMs: number;
  /** Every source's poll interval while the fleet bus is down. */
  readonly fallbackPollMs: number;
}

export interface KubernetesServeOptions {
  /** A kubeconfig file; without it, the pod's service account, else $KUBECONFIG or ~/.kube/config. */
  readonly kubeconfig?: string;
  readonly context?: string;
  /** This replica's name in the status-writer Lease. */
  readonly identity: string;
  /** The Lease electing the status writer (namespace defaults to the cluster's), or off: write without one. */
  readonly lease: { readonly namespace?: string; readonly name: string } | 'off';
  readonly writeStatus: boolean;
  /** Informer resync interval (tests). */
  readonly resyncMs?: number;
  /** Lease timings (tests). */
  readonly leaseDurationMs?: number;
  readonly leaseRenewMs?: number;
}

export class SourcesProvider implements ConfigProvider {
  readonly name = 'sources';
  private controller: Controller | undefined;
  private secrets: SecretsDirectory | undefined;
  private cluster: KubernetesCluster | undefined;
  private statusWriter: StatusWriter | undefined;
  private lease: LeaseElector | undefined;
  private fleet: FleetMember | undefined;
  private readonly metrics: SourceMetrics;
  private notifier: Notifier | undefined;
  /** stop() came, perhaps while start() waits: start makes nothing more. */
  private stopping = false;

  constructor(
    private readonly opts: SourcesOptions,
    private readonly admin: AdminServer,
    private readonly registry?: Registry,
  ) {
    this.metrics = new SourceMetrics(registry);
  }

  async start(ctx: ProviderContext): Promise<void> {
    let compileInputs = this.opts.compileInputs;
    if (this.opts.secretsDir !== undefined) {
      const dir = new SecretsDirectory(this.opts.secretsDir, { log: ctx.log, ...(this.opts.folderPollMs !== undefined ? { pollMs: this.opts.folderPollMs } : {}) });
      await dir.load();
      if (this.stopping) {
        dir.close();
        return;
      }
      this.secrets = dir;
      compileInputs = () => dir.inputs();
    }
    const kube = this.opts.kubernetes;
    const log = ctx.log;
    // The cluster is reached only when a Kubernetes source is declared (a git-only gateway needs no configuration for it).
    const cluster = (): KubernetesCluster | undefined => {
      if (this.cluster === undefined && kube) {
        const conn = kube.kubeconfig !== undefined ? kubeconfigConnection(kube.kubeconfig, kube.context) : (inClusterConnection() ?? defaultConnection(kube.context));
        if (!conn) return undefined;
        const client = new KubeClient(conn, { userAgent: `${versionLine().replace(' ', '/')} (${kube.identity})` });
        this.cluster = new KubernetesCluster(client, { ...(kube.resyncMs !== undefined ? { resyncMs: kube.resyncMs } : {}) });
        log.info({ cluster: conn.server.origin, via: conn.describe }, 'Kubernetes sources read this cluster');
        if (kube.writeStatus) {
          const namespace = kube.lease === 'off' ? undefined : (kube.lease.namespace ?? conn.namespace ?? 'default');
          const lease =
            kube.lease === 'off'
              ? undefined
              : new LeaseElector(client, {
                  namespace: namespace!,
                  name: kube.lease.name,
                  identity: kube.identity,
                  ...(kube.leaseDurationMs !== undefined ? { leaseDurationMs: kube.leaseDurationMs } : {}),
                  ...(kube.leaseRenewMs !== undefined ? { renewMs: kube.leaseRenewMs, retryMs: kube.leaseRenewMs } : {}),
                  log,
                  onChange: (leader) => {
                    if (leader) this.statusWriter?.flush();
                  },
                });
          this.lease = lease;
          // The Service in front of the gateway, in its own namespace (Emissary's AMBASSADOR_NAMESPACE): its
          // load balancer is every served Ingress's status.
          const services = this.cluster.gatewayServices(this.opts.ambassadorNamespace ?? conn.namespace ?? 'default');
          const loadBalancer = (): Record<string, unknown> | undefined => {
            const names = [...services.store.keys()].sort();
            const svc = names.length > 0 ? services.store.get(names[0]!) : undefined;
            return svc === undefined ? undefined : (((svc.status ?? {}) as Record<string, unknown>).loadBalancer ?? {}) as Record<string, unknown>;
          };
          this.statusWriter = new StatusWriter({ cluster: this.cluster, ...(lease ? { lease } : {}), log, loadBalancer });
          services.onChange(() => this.statusWriter?.flush());
          lease?.start();
        }
      }
      return this.cluster;
    };
    const fleetOpts = this.opts.fleet;
    let peers: PeerFleetBus | undefined;
    const bus = fleetOpts
      ? fleetOpts.redisUrl !== undefined
        ? new RedisFleetBus(fleetOpts.redisUrl, { fleet: fleetOpts.name, reportTtlMs: reportTtlMs(fleetOpts.heartbeatMs) })
        : (peers = new PeerFleetBus({ secrets: this.opts.webhookSecrets, self: () => [this.admin.url() ?? ''], reachableWithinMs: 3 * fleetOpts.heartbeatMs + 1000 }))
      : undefined;
    const notify = this.opts.notify;
    if (notify !== undefined && (notify.commitStatus !== undefined || (notify.webhooks?.length ?? 0) > 0)) {
      this.notifier = new Notifier({ ...notify, log: ctx.log, ...(this.registry ? { registry: this.registry } : {}) });
    }
    const notifier = this.notifier;
    const controller = new Controller({
      kubernetes: cluster,
      onPass: (view) => {
        this.statusWriter?.publish(view);
        peers?.setPeers(view.compiled.ir.fleet?.peers ?? []);
        this.fleet?.changed();
      },
      onCanaryRollback: (source, revision, detail) => this.fleet?.rolledBack(source, revision, detail),
      onCanaryChange: () => this.fleet?.changed(),
      roots: this.opts.roots,
      ...(this.opts.stateDir !== undefined ? { stateDir: this.opts.stateDir } : {}),
      sink: ctx.state,
      log: ctx.log,
      metrics: this.metrics,
      ...(this.opts.defaultIntervalMs !== undefined ? { defaultIntervalMs: this.opts.defaultIntervalMs } : {}),
      ...(this.opts.fetchTimeoutMs !== undefined ? { fetchTimeoutMs: this.opts.fetchTimeoutMs } : {}),
      ...(this.opts.limits ? { limits: this.opts.limits } : {}),
      ...(this.opts.ambassadorId ? { ambassadorId: this.opts.ambassadorId } : {}),
      ...(this.opts.ambassadorNamespace ? { ambassadorNamespace: this.opts.ambassadorNamespace } : {}),
      ...(this.opts.pins ? { pins: this.opts.pins } : {}),
      ...(this.opts.localTeams ? { localTeams: this.opts.localTeams } : {}),
      ...(this.opts.folderPollMs !== undefined ? { folderPollMs: this.opts.folderPollMs } : {}),
      ...(compileInputs ? { compileInputs } : {}),
      ...(notifier ? { onDecision: (e) => notifier.notify(e) } : {}),
    });
    this.controller = controller;
    // A rotation is a recompile of what is served: nothing is fetched, new handshakes get the new material.
    this.secrets?.watch(() => controller.recompile());
    if (fleetOpts && bus) {
      const state = ctx.state;
      this.fleet = new FleetMember({
        identity: fleetOpts.identity,
        bus,
        version: versionLine(),
        heartbeatMs: fleetOpts.heartbeatMs,
        disagreementBoundMs: fleetOpts.disagreementBoundMs,
        fallbackPollMs: fleetOpts.fallbackPollMs,
        serving: () => ({
          ready: state.ready,
          generation: state.served?.generation ?? 0,
          irHash: state.served?.hash ?? null,
          revisions: controller.appliedRevisions(),
          verdicts: Object.fromEntries(controller.status().map((s) => [s.name, { state: s.state, ...(s.desiredRevision ? { desired: s.desiredRevision } : {}), ...(s.state === 'Refused' && s.lastAttempt?.reason ? { reason: s.lastAttempt.reason } : {}) }])),
          ...(controller.release?.report() ? { canary: controller.release.report()! } : {}),
        }),
        adminUrl: () => this.admin.url(),
        trigger: (source) => controller.trigger(source),
        setPollCap: (ms) => controller.setPollCap(ms),
        onRollback: (e) => void controller.release?.fleetRollback(e.source, e.revision, e.detail, e.from),
        log: ctx.log,
        ...(this.registry ? { metrics: new FleetMetrics(this.registry) } : {}),
      });
      const member = this.fleet;
      this.admin.register('/api/v1/fleet', fleetHandler(member, fleetOpts.identity, peers ? () => peers!.peerStatus() : undefined));
      if (peers) this.admin.register(FLEET_HOOK_PATH, peers.handle, { methods: ['POST'] });
    }
    const fleet = this.fleet;
    // Registered before the first fetch, so that status explains a slow or failing start.
    this.admin.register(
      '/api/v1/status',
      statusHandler(controller, () => this.admin.upstreams(), () => ({ ...(fleet ? { fleet: fleet.status() } : {}), ...(controller.release ? { release: controller.release.view() } : {}) })),
    );
    this.admin.register('/api/v1/history', historyHandler(controller.history));
    registerDiagnostics(this.admin, controller, this.fleet && fleetOpts ? { fleet: () => fleetDocument(this.fleet!, fleetOpts.identity, peers ? () => peers!.peerStatus() : undefined), fleetStatus: () => this.fleet?.status() } : undefined);
    if (this.opts.webhookSecrets.length > 0) {
      const receiver = new WebhookReceiver({
        secrets: this.opts.webhookSecrets,
        trigger: (source) => {
          controller.trigger(source);
          // One webhook reaches every replica: the others are asked to fetch too.
          this.fleet?.webhookVerified(source);
        },
        knows: (source) => controller.knows(source),
        onEvent: (e) => {
          if (e.status >= 400) ctx.log.warn({ provider: e.provider, status: e.status, reason: e.reason }, 'webhook refused');
        },
      });
      this.admin.register('/hooks/', receiver.handle, { methods: ['POST'] });
    }
    await controller.start();
    // Stopped while it started: the first pass was cut short, nothing is in sync.
    if (this.stopping) return;
    ctx.log.info({ sources: controller.appliedRevisions() }, 'sources in sync');
    // After the first pass: an event from the fleet must not start a pass beside start's.
    this.fleet?.start();
  }

  trigger(): void {
    this.secrets?.refresh();
    this.controller?.trigger();
  }

  /** Re-compiles what is served (TLS material changed), without fetching. */
  recompile(): void {
    this.controller?.recompile();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.fleet?.stop();
    this.secrets?.close();
    await this.controller?.stop();
    await this.statusWriter?.idle();
    await this.lease?.stop();
    this.cluster?.close();
    await this.notifier?.close();
  }
}
