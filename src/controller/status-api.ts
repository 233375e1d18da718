// Admin API views of the controller: /api/v1/status (per source: desired and applied revision,
// last attempt, fetch state) and /api/v1/history (the audit log). Read-only; no secrets in either.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Controller } from './controller.js';
import type { AuditHistory } from './history.js';
import { summariseUpstreams, type ClusterHealth } from '../dataplane/upstream-health.js';

function sendJSON(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body, null, 2) + '\n');
}

/**
 * allReady: every source serves its newest revision, the secrets directory's newest state is used,
 * and no upstream is failing (an endpoint ejected, held out by a health check, or whose last request
 * failed). /readyz stays about the gateway itself: a failing upstream must not take it out of a
 * load balancer, since its other routes still work.
 */
export function statusHandler(controller: Controller, upstreams?: () => Promise<ClusterHealth[]>, extra?: () => Record<string, unknown>): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (_req, res) => {
    const clusters = upstreams ? await upstreams() : [];
    const sources = controller.status();
    const ready = sources.every((s) => s.state === 'Ready');
    const secrets = controller.secretsStatus();
    const up = summariseUpstreams(clusters);
    sendJSON(res, 200, {
      sources,
      allReady: ready && secrets?.state !== 'Refused' && up.failing.length === 0,
      served: controller.appliedRevisions(),
      ...(secrets ? { secrets } : {}),
      upstreams: up,
      // The fleet bus (or polling alone) and the canary: docs/fleet.md.
      ...(extra ? extra() : {}),
    });
  };
}

export function historyHandler(history: AuditHistory): (req: IncomingMessage, res: ServerResponse, url?: URL) => void {
  return (req, res, url) => {
    const u = url ?? new URL(req.url ?? '/', 'http://x');
    const source = u.searchParams.get('source') ?? undefined;
    const limitText = u.searchParams.get('limit');
    const limit = limitText && /^[0-9]{1,6}$/.test(limitText) ? Number(limitText) : 200;
    sendJSON(res, 200, { entries: history.read({ ...(source ? { source } : {}), limit }) });
  };
}
