// Who may read the admin address when it is not on loopback: a bearer token (a file, or an entry of
// the secrets directory, re-read when it changes) or a client certificate (mTLS).
//
// On loopback nothing is asked, as before: whoever runs processes on the host can read the state
// folder too. Elsewhere serve refuses to start without one of the two, so that the address never
// serves the configuration, its history and its explain form to whoever can reach it.

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { systemReason } from '../api/system-error.js';

export class AdminCredentialsError extends Error {
  readonly code = 'PORTICO_ERR_ADMIN_CREDENTIALS';
}

/** 127.0.0.0/8, ::1 and localhost: the addresses only this host can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (h.toLowerCase() === 'localhost') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./i.test(h);
  return false;
}

/** Certificate, key and the CA that signs the clients allowed in (DIR/NAME/tls.crt, tls.key, ca.crt). */
export interface AdminTLS {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

export interface AdminAccessOptions {
  /** A file holding the token (`--admin-token-file`, or `--admin-token-secret` inside --secrets). */
  readonly tokenFile?: string;
  readonly tls?: AdminTLS;
}

/** DIR/NAME/tls.crt, tls.key and ca.crt of the secrets directory, read now. */
export function readAdminTLS(secretsDir: string, name: string): AdminTLS {
  const read = (file: string): string => {
    const path = join(secretsDir, name, file);
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new AdminCredentialsError(`--admin-tls-secret ${name}: cannot read ${path}: ${systemReason(err)}`);
    }
  };
  return { cert: read('tls.crt'), key: read('tls.key'), ca: read('ca.crt') };
}

/** A token file is read again when its size or time changes, checked at most this often. */
const RECHECK_MS = 1000;
const MIN_TOKEN_LENGTH = 16;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Bearer-token check with the token kept as its digest, compared in constant time. */
export class BearerToken {
  private tokenDigest: Buffer;
  private stamp: string;
  private checkedAt = 0;

  constructor(private readonly file: string) {
    const t = this.read();
    this.tokenDigest = digest(t.token);
    this.stamp = t.stamp;
  }

  private read(): { token: string; stamp: string } {
    let text: string;
    let stamp: string;
    try {
      const st = statSync(this.file);
      stamp = `${st.size}:${st.mtimeMs}`;
      text = readFileSync(this.file, 'utf8').trim();
    } catch (err) {
      throw new AdminCredentialsError(`cannot read the admin token file ${this.file}: ${systemReason(err)}`);
    }
    if (text.length < MIN_TOKEN_LENGTH || /\s/.test(text)) throw new AdminCredentialsError(`the admin token in ${this.file} must be one word of at least ${MIN_TOKEN_LENGTH} characters`);
    return { token: text, stamp };
  }

  /** A rotated token is used from the next request on; a broken rewrite keeps the previous one. */
  private refresh(now: number): void {
    if (now - this.checkedAt < RECHECK_MS) return;
    this.checkedAt = now;
    try {
      const st = statSync(this.file);
      if (`${st.size}:${st.mtimeMs}` === this.stamp) return;
      const t = this.read();
      this.tokenDigest = digest(t.token);
      this.stamp = t.stamp;
    } catch {}
  }

  accepts(authorization: string | undefined, now = Date.now()): boolean {
    this.refresh(now);
    const m = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) return false;
    return timingSafeEqual(digest(m[1]!), this.tokenDigest);
  }
}

/** Paths anyone who reaches the address may read: probes, and the page's static shell (no data). */
export function isPublicAdminPath(pathname: string, search: URLSearchParams): boolean {
  if (pathname === '/healthz' || pathname === '/readyz' || pathname === '/ambassador/v0/check_alive' || pathname === '/ambassador/v0/check_ready') return true;
  // The address itself only redirects to the page.
  if (pathname === '/' || pathname.startsWith('/diag/assets/')) return true;
  if ((pathname === '/diag' || pathname.startsWith('/diag/')) && search.get('json') !== 'true') return true;
  if ((pathname === '/ambassador/v0/diag' || pathname === '/ambassador/v0/diag/') && search.get('json') !== 'true') return true;
  return false;
}
