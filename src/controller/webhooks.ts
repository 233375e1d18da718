// Webhook receivers under /hooks/ (GitHub, GitLab, Gitea, generic HMAC). A verified delivery only asks
// the controller to fetch: the payload is never read for content, SHAs or configuration.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export type WebhookProvider = 'github' | 'gitlab' | 'gitea' | 'generic';
export const WEBHOOK_PROVIDERS: readonly WebhookProvider[] = ['github', 'gitlab', 'gitea', 'generic'];

export interface WebhookOptions {
  /** One or two secrets (two while rotating); every delivery must match one of them. */
  readonly secrets: readonly string[];
  /** Body size cap in bytes (default 1 MiB); larger → 413 before any HMAC is computed. */
  readonly maxBodyBytes?: number;
  /** How long delivery ids are remembered for replay detection (default 1 h). */
  readonly replayTtlMs?: number;
  /**
   * How long an identical body (same provider, source and bytes) is answered as a duplicate
   * (default 60 s): a captured delivery replayed with a fresh delivery id triggers nothing new.
   */
  readonly identicalBodyWindowMs?: number;
  /** Generic provider: accepted clock skew of X-Portico-Timestamp (default 5 min). */
  readonly maxSkewMs?: number;
  /** Called for each accepted delivery: a source name from the URL (/hooks/github/NAME) or undefined. */
  readonly trigger: (source: string | undefined) => void;
  /** Whether a source of this name is configured: a hook URL naming another answers 404, not a silent 202. */
  readonly knows?: (source: string) => boolean;
  readonly onEvent?: (e: { provider: string; status: number; reason: string }) => void;
}

export class WebhookConfigError extends Error {
  readonly code = 'PORTICO_ERR_WEBHOOK_CONFIG';
}

const MAX_REMEMBERED_DELIVERIES = 10_000;

/** Constant-time equality of two strings of any length (compares their digests). */
function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}

function hmacHex(secret: string, body: Buffer | string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** Compares a hex HMAC from a header with the expected one, in constant time and only at equal length. */
function hexMatches(given: string, expected: string): boolean {
  if (!/^[0-9a-f]+$/i.test(given) || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(given.toLowerCase(), 'hex'), Buffer.from(expected, 'hex'));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export class WebhookReceiver {
  private readonly deliveries = new Map<string, number>();
  private readonly maxBody: number;

  constructor(private readonly opts: WebhookOptions) {
    if (opts.secrets.length === 0 || opts.secrets.length > 2 || opts.secrets.some((s) => s.length < 8)) {
      throw new WebhookConfigError('webhooks need one or two secrets of at least 8 characters');
    }
    this.maxBody = opts.maxBodyBytes ?? 1024 * 1024;
  }

  /** Admin handler for the /hooks prefix. */
  handle = async (req: IncomingMessage, res: ServerResponse, url?: URL): Promise<void> => {
    const path = (url ?? new URL(req.url ?? '/', 'http://x')).pathname;
    const m = /^\/hooks\/(github|gitlab|gitea|generic)(?:\/([a-z0-9-]{1,63}))?\/?$/.exec(path);
    if (!m) return this.answer(res, 404, 'unknown hook', 'unknown-path');
    const provider = m[1] as WebhookProvider;
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return this.answer(res, 405, 'POST only', 'method', provider);
    }
    const declared = Number(header(req, 'content-length') ?? '0');
    if (declared > this.maxBody) {
      req.resume();
      return this.answer(res, 413, 'payload too large', 'too-large', provider, true);
    }
    const body = await readBoundedBody(req, this.maxBody);
    if (body === undefined) return this.answer(res, 413, 'payload too large', 'too-large', provider, true);
    const verdict = this.verify(provider, req, body);
    if (verdict !== 'ok') return this.answer(res, 401, 'signature check failed', verdict, provider);
    // A typo in the forge's hook URL would otherwise fetch nothing, and say nothing, for every push.
    if (m[2] !== undefined && this.opts.knows && !this.opts.knows(m[2])) return this.answer(res, 404, `no source named '${m[2]}'`, 'unknown-source', provider);
    const id = this.deliveryId(provider, req);
    if (id !== undefined && this.seen(`${provider}:${id}`, this.opts.replayTtlMs ?? 3_600_000)) return this.answer(res, 202, 'duplicate delivery ignored', 'replay', provider);
    // The same push delivered again (a retry, or a captured delivery with a fresh id) asks for nothing new.
    const bodyKey = `body:${provider}:${m[2] ?? '*'}:${createHash('sha256').update(body).digest('hex')}`;
    if (this.seen(bodyKey, this.opts.identicalBodyWindowMs ?? 60_000)) return this.answer(res, 202, 'identical delivery ignored', 'identical', provider);
    this.opts.trigger(m[2]);
    return this.answer(res, 202, 'fetch scheduled', 'accepted', provider);
  };

  private answer(res: ServerResponse, status: number, text: string, reason: string, provider = 'unknown', close = false): void {
    this.opts.onEvent?.({ provider, status, reason });
    if (close) res.setHeader('connection', 'close');
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status, message: text }) + '\n');
  }

  private verify(provider: WebhookProvider, req: IncomingMessage, body: Buffer): 'ok' | string {
    const secrets = this.opts.secrets;
    switch (provider) {
      case 'github': {
        const sig = header(req, 'x-hub-signature-256');
        if (!sig || !sig.startsWith('sha256=')) return 'missing-signature';
        const given = sig.slice(7);
        return secrets.some((s) => hexMatches(given, hmacHex(s, body))) ? 'ok' : 'bad-signature';
      }
      case 'gitea': {
        const sig = header(req, 'x-gitea-signature');
        if (!sig) return 'missing-signature';
        return secrets.some((s) => hexMatches(sig, hmacHex(s, body))) ? 'ok' : 'bad-signature';
      }
      case 'gitlab': {
        // GitLab sends the shared token itself, not an HMAC.
        const token = header(req, 'x-gitlab-token');
        if (!token) return 'missing-signature';
        return secrets.some((s) => safeEqual(token, s)) ? 'ok' : 'bad-signature';
      }
      case 'generic': {
        // HMAC over "<timestamp>.<body>", so that a captured delivery cannot be replayed later.
        const sig = header(req, 'x-portico-signature');
        const ts = header(req, 'x-portico-timestamp');
        if (!sig || !sig.startsWith('sha256=') || !ts || !/^[0-9]{1,12}$/.test(ts)) return 'missing-signature';
        if (Math.abs(Date.now() - Number(ts) * 1000) > (this.opts.maxSkewMs ?? 300_000)) return 'stale-timestamp';
        const given = sig.slice(7);
        const signed = Buffer.concat([Buffer.from(`${ts}.`), body]);
        return secrets.some((s) => hexMatches(given, hmacHex(s, signed))) ? 'ok' : 'bad-signature';
      }
    }
  }

  private deliveryId(provider: WebhookProvider, req: IncomingMessage): string | undefined {
    const name = { github: 'x-github-delivery', gitlab: 'x-gitlab-event-uuid', gitea: 'x-gitea-delivery', generic: 'x-portico-delivery' }[provider];
    const id = header(req, name) ?? (provider === 'gitlab' ? header(req, 'idempotency-key') : undefined);
    return id && id.length <= 200 ? id : undefined;
  }

  /** Remembers a key until `ttl` passes; true if it was already seen within it. */
  private seen(key: string, ttl: number): boolean {
    const now = Date.now();
    const entry = this.deliveries.get(key);
    if (entry !== undefined && now < entry) return true;
    this.deliveries.delete(key);
    this.deliveries.set(key, now + ttl);
    // Oldest first in insertion order: expire, then bound the size.
    for (const [k, until] of this.deliveries) {
      if (now < until && this.deliveries.size <= MAX_REMEMBERED_DELIVERIES) break;
      this.deliveries.delete(k);
    }
    return false;
  }
}

/** Signs a body as GitHub does (for tests and for documentation examples). */
export function githubSignature(secret: string, body: string | Buffer): string {
  return `sha256=${hmacHex(secret, body)}`;
}

/** Signs a body for the generic receiver. */
export function genericSignature(secret: string, timestamp: number, body: string | Buffer): string {
  return `sha256=${hmacHex(secret, Buffer.concat([Buffer.from(`${timestamp}.`), Buffer.from(body)]))}`;
}

export function giteaSignature(secret: string, body: string | Buffer): string {
  return hmacHex(secret, body);
}

/** A request body of at most `maxBytes` (undefined past that, or when the request fails): kept whole only while it is small. */
export function readBoundedBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let n = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      n += c.length;
      if (n > maxBytes) {
        over = true;
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on('error', () => resolve(undefined));
  });
}
