// Plugs the git controller into `portico serve` as a config provider: it applies through the serving
// state, and adds /api/v1/status, /api/v1/history and the /hooks/ receivers to the admin server.

import type { Registry } from 'prom-client';
import type { AdminServer } from '../admin/admin-server.js';
import type { ConfigProvider, ProviderContext } from '../serve/serving-state.js';
import { GitController, type ControllerOptions } from './git-controller.js';
import type { DeclaredSource } from './source-kind.js';
import { SourceMetrics } from './source-metrics.js';
import { historyHandler, statusHandler } from './status-api.js';
import { WebhookReceiver } from './webhooks.js';

export interface GitProviderOptions {
  readonly roots: readonly DeclaredSource[];
  readonly stateDir: string;
  readonly webhookSecrets: readonly string[];
  readonly defaultIntervalMs?: number;
  readonly fetchTimeoutMs?: number;
  readonly ambassadorId?: string;
}

export class GitProvider implements ConfigProvider {
  readonly name = 'git';
  private controller: GitController | undefined;
  private readonly metrics: SourceMetrics;

  constructor(
    private readonly opts: GitProviderOptions,
    private readonly admin: AdminServer,
    registry?: Registry,
  ) {
    this.metrics = new SourceMetrics(registry);
  }

  async start(ctx: ProviderContext): Promise<void> {
    const copts: ControllerOptions = {
      roots: this.opts.roots,
      stateDir: this.opts.stateDir,
      sink: ctx.state,
      log: ctx.log,
      metrics: this.metrics,
      ...(this.opts.defaultIntervalMs !== undefined ? { defaultIntervalMs: this.opts.defaultIntervalMs } : {}),
      ...(this.opts.fetchTimeoutMs !== undefined ? { fetchTimeoutMs: this.opts.fetchTimeoutMs } : {}),
      ...(this.opts.ambassadorId ? { ambassadorId: this.opts.ambassadorId } : {}),
    };
    const controller = new GitController(copts);
    this.controller = controller;
    // Registered before the first fetch, so that status explains a slow or failing start.
    this.admin.register('/api/v1/status', statusHandler(controller));
    this.admin.register('/api/v1/history', historyHandler(this.opts.stateDir));
    if (this.opts.webhookSecrets.length > 0) {
      const receiver = new WebhookReceiver({
        secrets: this.opts.webhookSecrets,
        trigger: (source) => controller.trigger(source),
        onEvent: (e) => {
          if (e.status >= 400) ctx.log.warn({ provider: e.provider, status: e.status, reason: e.reason }, 'webhook refused');
        },
      });
      this.admin.register('/hooks/', receiver.handle, { methods: ['POST'] });
    }
    await controller.start();
    ctx.log.info({ sources: controller.appliedRevisions() }, 'git sources in sync');
  }

  trigger(): void {
    this.controller?.trigger();
  }

  async stop(): Promise<void> {
    await this.controller?.stop();
  }
}
