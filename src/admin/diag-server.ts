// Serves the diagnostics page on the admin address: the page's static shell and files, its JSON at
// /api/v1/diag/* (and at each page's URL with ?json=true), and Emissary's /ambassador/v0/diag/.
// Every handler is GET/HEAD: nothing here changes configuration.

import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Controller } from '../controller/controller.js';
import { versionLine } from '../cli/command-errors.js';
import type { AdminServer } from './admin-server.js';
import { redactedJSON } from './config-view.js';
import { emissaryDiag, explainRequest, fleetPage, historyPage, objectPage, overview, routesPage, upstreamsPage, type DiagContext } from './diag-model.js';
import { TrafficRates } from './traffic-rates.js';

export const DIAG_PAGES = ['overview', 'routes', 'upstreams', 'fleet', 'history', 'explain', 'object'] as const;
type Page = (typeof DIAG_PAGES)[number];

/** The page's files, read once from the source tree beside the compiled code (no build step, no CDN). */
const ASSETS: Record<string, string> = { 'diag.js': 'text/javascript; charset=utf-8', 'diag.css': 'text/css; charset=utf-8' };
const assetCache = new Map<string, string>();

function asset(name: string): string {
  let text = assetCache.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(`../../../src/admin/diag-ui/${name}`, import.meta.url), 'utf8');
    assetCache.set(name, text);
  }
  return text;
}

/** Only this origin's own files run; the page can neither be framed nor post elsewhere. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function sendJSON(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...SECURITY_HEADERS });
  res.end(redactedJSON(body) + '\n');
}

function intParam(u: URL, name: string, fallback: number, max: number): number {
  const t = u.searchParams.get(name);
  return t !== null && /^[0-9]{1,7}$/.test(t) ? Math.min(Number(t), max) : fallback;
}

async function pageJSON(ctx: DiagContext, page: Page, u: URL): Promise<{ status: number; body: unknown }> {
  switch (page) {
    case 'overview':
      return { status: 200, body: await overview(ctx) };
    case 'routes':
      return { status: 200, body: await routesPage(ctx, { offset: intParam(u, 'offset', 0, 10_000_000), limit: intParam(u, 'limit', 100, 1000) || 100, q: u.searchParams.get('q') ?? '' }) };
    case 'upstreams':
      return { status: 200, body: await upstreamsPage(ctx) };
    case 'fleet':
      return fleetPage(ctx);
    case 'history': {
      const source = u.searchParams.get('source');
      return { status: 200, body: historyPage(ctx, { ...(source ? { source } : {}), limit: intParam(u, 'limit', 100, 1000) || 100 }) };
    }
    case 'explain': {
      const url = u.searchParams.get('url');
      if (url === null || url === '') return { status: 400, body: { error: 'give url (and method, header=name: value)' } };
      const headers: [string, string][] = [];
      for (const h of u.searchParams.getAll('header')) {
        const colon = h.indexOf(':');
        if (colon <= 0) return { status: 400, body: { error: `header '${h}': expected 'name: value'` } };
        headers.push([h.slice(0, colon).trim(), h.slice(colon + 1).trim()]);
      }
      return explainRequest(ctx, u.searchParams.get('method') ?? 'GET', url, headers);
    }
    case 'object': {
      const q = { source: u.searchParams.get('source') ?? undefined, resource: u.searchParams.get('resource') ?? undefined, origin: u.searchParams.get('origin') ?? undefined };
      if (q.resource === undefined && q.origin === undefined) return { status: 400, body: { error: 'give resource=Kind/namespace/name or origin=...' } };
      return objectPage(ctx, Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined)));
    }
  }
}

function shell(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Portico diagnostics</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/diag/assets/diag.css">
<script type="module" src="/diag/assets/diag.js"></script>
</head>
<body>
<header><span class="brand">Portico</span><nav>${DIAG_PAGES.filter((p) => p !== 'object')
    .map((p) => `<a href="/diag/${p}" data-page="${p}">${p[0]!.toUpperCase()}${p.slice(1)}</a>`)
    .join('')}</nav><span id="status" role="status"></span></header>
<main id="main"><p class="muted">Loading…</p></main>
<noscript>This page needs JavaScript; every page is also JSON: add ?json=true to its URL.</noscript>
</body>
</html>
`;
}

/** Adds the page, its files and its JSON to the admin server. */
export function registerDiagnostics(admin: AdminServer, controller: Controller, fleet?: Pick<DiagContext, 'fleet' | 'fleetStatus'>): void {
  const rates = new TrafficRates(() => admin.view.traffic?.() ?? Promise.resolve([]));
  const ctx: DiagContext = { controller, view: admin.view, rates, version: versionLine(), ...fleet };

  admin.register('/api/v1/diag', async (_req: IncomingMessage, res: ServerResponse, u: URL) => {
    const page = u.pathname.slice('/api/v1/diag/'.length) as Page;
    if (!(DIAG_PAGES as readonly string[]).includes(page)) return sendJSON(res, 404, { error: 'not found', pages: DIAG_PAGES.map((p) => `/api/v1/diag/${p}`) });
    const r = await pageJSON(ctx, page, u);
    sendJSON(res, r.status, r.body);
  });

  admin.register('/diag', async (_req: IncomingMessage, res: ServerResponse, u: URL) => {
    if (u.pathname.startsWith('/diag/assets/')) {
      const name = u.pathname.slice('/diag/assets/'.length);
      const type = ASSETS[name];
      if (type === undefined) return sendJSON(res, 404, { error: 'not found' });
      res.writeHead(200, { 'content-type': type, ...SECURITY_HEADERS });
      return void res.end(asset(name));
    }
    if (u.pathname === '/diag' || u.pathname === '/diag/') {
      res.writeHead(302, { location: '/diag/overview', ...SECURITY_HEADERS });
      return void res.end();
    }
    const page = u.pathname.slice('/diag/'.length) as Page;
    if (!(DIAG_PAGES as readonly string[]).includes(page)) return sendJSON(res, 404, { error: 'not found', pages: DIAG_PAGES.map((p) => `/diag/${p}`) });
    if (u.searchParams.get('json') === 'true') {
      const r = await pageJSON(ctx, page, u);
      return sendJSON(res, r.status, r.body);
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS });
    res.end(shell());
  });

  // The admin address opened in a browser shows the page.
  admin.setHome('/diag/overview');

  // Emissary's diag address: the page for people, its JSON form for scripts written against Emissary.
  admin.register('/ambassador/v0/diag', async (_req: IncomingMessage, res: ServerResponse, u: URL) => {
    if (u.searchParams.get('json') === 'true') return sendJSON(res, 200, await emissaryDiag(ctx, u.searchParams.get('filter')));
    res.writeHead(302, { location: '/diag/overview', ...SECURITY_HEADERS });
    res.end();
  });
}
