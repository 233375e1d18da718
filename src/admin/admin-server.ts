// The read-only admin server (default 127.0.0.1:8877): health, readiness, metrics, the served
// configuration and routes, Emissary's probe paths, and handlers other parts register (status, hooks).

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { METRICS_CONTENT_TYPE } from './metrics.js';
import type { TrafficTallies } from './request-tallies.js';
import { redactedJSON } from './config-view.js';
import { isPublicAdminPath, type AdminTLS, type BearerToken } from './admin-access.js';
import type { ClusterHealth } from '../dataplane/upstream-health.js';

/** What the admin server reads; supplied by the serving process. */
export interface AdminView {
  ready(): boolean;
  /** Generation, hash, IR, sources' last attempts, workers. */
  config(): unknown;
  routes(): unknown;
  metrics(): Promise<string>;
  /** The served generation (the diagnostics page). */
  served?(): { generation: number; hash: string; appliedAt: string } | undefined;
  /** Every upstream cluster's health, across workers. */
  upstreams?(): Promise<ClusterHealth[]>;
  /** Requests by route (this process's and each worker's), for the diagnostics page's request rates. */
  traffic?(): Promise<TrafficTallies[]>;
}

export type AdminHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

interface Registered {
  readonly prefix: string;
  readonly handler: AdminHandler;
  readonly methods: readonly string[];
}

export class AdminAddressError extends Error {
  readonly code = 'PORTICO_ERR_ADMIN_ADDRESS';
}

/** A component tried to register a handler that could change state outside /hooks/. */
export class AdminRouteError extends Error {
  readonly code = 'PORTICO_ERR_ADMIN_MUTATING_ROUTE';
}

/** Parse HOST:PORT (IPv6 in brackets); port 0 asks for any free port. */
export function parseAdminAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new AdminAddressError(`--admin must be HOST:PORT (e.g. 127.0.0.1:8877), got '${text}'`);
  return { host: (m[1] ?? m[2])!, port };
}

function sendJSON(res: ServerResponse, status: number, body: unknown): void {
  const text = redactedJSON(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

export interface AdminServerOptions {
  /** Further names the admin API answers for (`--admin-host`), besides loopback names, IP literals and the bound name. */
  readonly hosts?: readonly string[];
  /** Every request but probes and the page's static files needs `Authorization: Bearer TOKEN`. */
  readonly token?: BearerToken;
  /** Serve HTTPS and let in only clients with a certificate signed by `ca` (mTLS). */
  readonly tls?: AdminTLS;
}

/** A host name as `--admin-host` takes it: DNS labels, or an IP address (no port). */
export function isAdminHostName(name: string): boolean {
  const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  if (net.isIP(bare) !== 0) return true;
  return name.length <= 253 && /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i.test(name);
}

/**
 * DNS rebinding: a page an operator opens can point its own name at 127.0.0.1 and then read this
 * API from the browser, with its own name in Host. So the API answers only for names that cannot be
 * rebound: loopback names, IP literals (an IP's page is its own origin), the name it was bound to,
 * and names the operator gave. Anyone who can reach the port directly can send any Host: this is
 * no access control, which is why the address stays on loopback or a private network.
 */
const MISDIRECTED = { error: 'misdirected request: this admin API answers only for loopback names, IP addresses and --admin-host names' };

export class AdminServer {
  private readonly server: http.Server;
  private readonly registered: Registered[] = [];
  private homePath: string | undefined;
  private readonly names = new Set(['localhost']);
  private readonly token: BearerToken | undefined;
  readonly scheme: 'http' | 'https';
  private bound: { host: string; port: number } | undefined;

  constructor(readonly view: AdminView, options: AdminServerOptions = {}) {
    for (const h of options.hosts ?? []) this.names.add(bareName(h));
    this.token = options.token;
    const settings = { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1000, maxHeaderSize: 16384 };
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      void this.handle(req, res).catch(() => {
        if (!res.headersSent) sendJSON(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    };
    // With mTLS the handshake itself refuses a client without a certificate from the CA.
    this.scheme = options.tls ? 'https' : 'http';
    this.server = options.tls
      ? https.createServer({ ...settings, cert: options.tls.cert, key: options.tls.key, ca: options.tls.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, onRequest)
      : http.createServer(settings, onRequest);
    this.server.keepAliveTimeout = 5000;
  }

  /**
   * Serve a path prefix from another component (the git controller's /api/v1/status, /hooks/...).
   * GET/HEAD by default; POST is only allowed under /hooks/.
   */
  register(prefix: string, handler: AdminHandler, options: { methods?: readonly string[] } = {}): void {
    const methods = options.methods ?? ['GET', 'HEAD'];
    if (methods.some((m) => m !== 'GET' && m !== 'HEAD') && !prefix.startsWith('/hooks/')) {
      throw new AdminRouteError(`only /hooks/ may accept ${methods.join(',')} (asked for ${prefix})`);
    }
    this.registered.push({ prefix, handler, methods });
    // Longest prefix first so /api/v1/status/x goes to the most specific handler.
    this.registered.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** Where the address itself (`/`) sends a browser: the diagnostics page, once it is registered. */
  setHome(path: string): void {
    this.homePath = path;
  }

  /** The bound address as a URL (http://127.0.0.1:8877), once listening. */
  url(): string | undefined {
    const b = this.bound;
    if (!b) return undefined;
    return `${this.scheme}://${net.isIPv6(b.host) ? `[${b.host}]` : b.host}:${b.port}`;
  }

  /** Upstream health as the serving processes see it (empty when the view has none). */
  upstreams(): Promise<ClusterHealth[]> {
    return this.view.upstreams?.() ?? Promise.resolve([]);
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    this.names.add(bareName(host));
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject);
        const a = this.server.address() as AddressInfo;
        this.bound = { host: a.address, port: a.port };
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const method = req.method ?? 'GET';
    const reg = this.registered.find((r) => url.pathname === r.prefix || url.pathname.startsWith(r.prefix.endsWith('/') ? r.prefix : r.prefix + '/'));
    // Webhook receivers are exempt: git hosts call them by the replica's public name, whatever it is,
    // and each delivery proves itself with the shared secret; they only ever trigger a fetch.
    const hook = reg?.prefix.startsWith('/hooks/') === true;
    if (!hook && !this.hostAllowed(req.headers.host)) return sendJSON(res, 421, MISDIRECTED);
    if (!hook && this.token && !isPublicAdminPath(url.pathname, url.searchParams) && !this.token.accepts(req.headers.authorization)) {
      res.setHeader('www-authenticate', 'Bearer realm="portico-admin"');
      return sendJSON(res, 401, { error: 'this admin address needs Authorization: Bearer TOKEN' });
    }
    if (reg) {
      if (!reg.methods.includes(method)) return this.notAllowed(res, reg.methods);
      return reg.handler(req, res, url);
    }
    if (method !== 'GET' && method !== 'HEAD') return this.notAllowed(res, ['GET', 'HEAD']);
    switch (url.pathname) {
      case '/':
        if (this.homePath === undefined) return sendJSON(res, 404, { error: 'not found', path: url.pathname });
        res.writeHead(302, { location: this.homePath });
        return void res.end();
      case '/healthz':
      case '/ambassador/v0/check_alive':
        return sendText(res, 200, 'ok\n');
      case '/readyz':
      case '/ambassador/v0/check_ready':
        return this.view.ready() ? sendText(res, 200, 'ready\n') : sendText(res, 503, 'not ready\n');
      case '/metrics':
        return sendText(res, 200, await this.view.metrics(), METRICS_CONTENT_TYPE);
      case '/api/v1/config':
        return sendJSON(res, 200, this.view.config());
      case '/api/v1/routes':
        return sendJSON(res, 200, this.view.routes());
      default:
        return sendJSON(res, 404, { error: 'not found', path: url.pathname });
    }
  }

  /** No Host at all is no browser's request; otherwise the name (port aside) must be one that cannot be rebound. */
  private hostAllowed(host: string | undefined): boolean {
    if (host === undefined) return true;
    let name: string;
    let port = '';
    if (host.startsWith('[')) {
      const close = host.indexOf(']');
      if (close < 0) return false;
      name = host.slice(1, close);
      port = host.slice(close + 1);
      if (net.isIPv6(name) && (port === '' || /^:\d{1,5}$/.test(port))) return true;
      return false;
    }
    const colon = host.lastIndexOf(':');
    name = colon < 0 ? host : host.slice(0, colon);
    if (colon >= 0 && !/^\d{1,5}$/.test(host.slice(colon + 1))) return false;
    name = bareName(name);
    return net.isIPv4(name) || this.names.has(name);
  }

  private notAllowed(res: ServerResponse, methods: readonly string[]): void {
    res.setHeader('allow', methods.join(', '));
    sendJSON(res, 405, { error: 'method not allowed; the admin API is read-only' });
  }
}

/** Lower case, no brackets, no trailing dot: how names are compared. */
function bareName(name: string): string {
  let n = name.toLowerCase();
  if (n.startsWith('[') && n.endsWith(']')) n = n.slice(1, -1);
  if (n.endsWith('.')) n = n.slice(0, -1);
  return n;
}
