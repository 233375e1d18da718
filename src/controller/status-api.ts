// Admin API views of the controller: /api/v1/status (per source: desired and applied revision,
// last attempt, fetch state) and /api/v1/history (the audit log). Read-only; no secrets in either.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Controller } from './controller.js';
import type { AuditHistory } from './history.js';

function sendJSON(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body, null, 2) + '\n');
}

export function statusHandler(controller: Controller): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    const sources = controller.status();
    const ready = sources.every((s) => s.state === 'Ready');
    const secrets = controller.secretsStatus();
    sendJSON(res, 200, { sources, allReady: ready && secrets?.state !== 'Refused', served: controller.appliedRevisions(), ...(secrets ? { secrets } : {}) });
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
