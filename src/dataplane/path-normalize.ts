// Strict request-target parsing and path normalisation, done once per request before routing.
// Routing, the forwarded path and the access log all use the string this returns (HARDENING §1.2, §2.7).

import type { IRGlobal } from '../ir/types.js';

export interface PathPolicy {
  readonly normalizePath: boolean;
  readonly mergeSlashes: boolean;
  readonly escapedSlashesAction: IRGlobal['escapedSlashesAction'];
}

export type TargetResult =
  /** path: normalised path; query: '' or '?...' as received; authority: from an absolute-form target. */
  | { readonly kind: 'ok'; readonly path: string; readonly query: string; readonly authority: string | undefined }
  /** Escaped slashes were unescaped and the policy asks the client to come back on the canonical path. */
  | { readonly kind: 'redirect'; readonly path: string; readonly query: string; readonly authority: string | undefined }
  | { readonly kind: 'reject'; readonly reason: string };

const HEX = '0123456789ABCDEF';
const CH_SLASH = 0x2f;
const CH_DOT = 0x2e;
const CH_PERCENT = 0x25;
const CH_BACKSLASH = 0x5c;
const CH_HASH = 0x23;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
}

/** Host[:port] as it may appear in an absolute-form target: no userinfo, no odd characters. */
const AUTHORITY_RE = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$/i;

const reject = (reason: string): TargetResult => ({ kind: 'reject', reason });

/**
 * Parse an HTTP/1.1 request-target (origin-form or absolute-form) and normalise its path.
 * Never uses WHATWG URL parsing: `//evil/x` must stay a path, not become an authority.
 */
export function parseRequestTarget(target: string, policy: PathPolicy): TargetResult {
  let rest = target;
  let authority: string | undefined;
  if (target.charCodeAt(0) !== CH_SLASH) {
    // absolute-form: the authority in the target wins over Host (RFC 9112 §3.2.2).
    const lower = target.slice(0, 8).toLowerCase();
    const skip = lower.startsWith('http://') ? 7 : lower.startsWith('https://') ? 8 : 0;
    if (skip === 0) return reject('request-target is neither origin-form nor absolute-form');
    let end = skip;
    while (end < target.length) {
      const c = target.charCodeAt(end);
      if (c === CH_SLASH || c === 0x3f || c === CH_HASH) break;
      end++;
    }
    authority = target.slice(skip, end);
    if (!AUTHORITY_RE.test(authority)) return reject('invalid authority in absolute-form request-target');
    rest = end < target.length ? target.slice(end) : '/';
    if (rest.charCodeAt(0) !== CH_SLASH) rest = '/' + rest;
  }
  if (rest.indexOf('#') !== -1) return reject('fragment in request-target');
  const q = rest.indexOf('?');
  const rawPath = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? '' : rest.slice(q);
  for (let i = 0; i < query.length; i++) {
    const c = query.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return reject('invalid character in query');
  }
  const n = normalizePath(rawPath, policy);
  if (typeof n === 'string') return { kind: 'ok', path: n, query, authority };
  if (n.redirect) return { kind: 'redirect', path: n.path, query, authority };
  return reject(n.reason);
}

type SlowResult = { redirect: true; path: string } | { redirect: false; reason: string };

/** Normalise an origin-form path (starting with '/'); returns the path or why it was refused. */
export function normalizePath(path: string, policy: PathPolicy): string | SlowResult {
  if (path.charCodeAt(0) !== CH_SLASH) return { redirect: false, reason: 'path does not start with /' };
  // Fast path: nothing to decode, no dot segment, no doubled slash → the path is already canonical.
  let prev = 0;
  let simple = true;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === CH_PERCENT || c === CH_BACKSLASH || c < 0x21 || c > 0x7e || (c === CH_DOT && prev === CH_SLASH) || (c === CH_SLASH && prev === CH_SLASH)) {
      simple = false;
      break;
    }
    prev = c;
  }
  if (simple) return path;
  return normalizeSlow(path, policy);
}

function normalizeSlow(path: string, policy: PathPolicy): string | SlowResult {
  let out = '';
  let unescapedSlash = false;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === CH_BACKSLASH) return { redirect: false, reason: 'backslash in path' };
    if (c < 0x21 || c > 0x7e) return { redirect: false, reason: 'invalid character in path' };
    if (c !== CH_PERCENT) {
      out += path[i];
      continue;
    }
    const h = hexValue(path.charCodeAt(i + 1));
    const l = hexValue(path.charCodeAt(i + 2));
    if (h < 0 || l < 0) return { redirect: false, reason: 'invalid percent-encoding in path' };
    const b = h * 16 + l;
    i += 2;
    if (b === 0) return { redirect: false, reason: 'encoded NUL in path' };
    if (b === CH_SLASH || b === CH_BACKSLASH) {
      // Escaped slashes are decided before any other normalisation (Envoy's order).
      switch (policy.escapedSlashesAction) {
        case 'REJECT_REQUEST':
          return { redirect: false, reason: 'escaped slash in path' };
        case 'UNESCAPE_AND_REDIRECT':
        case 'UNESCAPE_AND_FORWARD':
          out += '/';
          unescapedSlash = true;
          continue;
        default:
          out += b === CH_SLASH ? '%2F' : '%5C';
          continue;
      }
    }
    if (policy.normalizePath && isUnreserved(b)) out += String.fromCharCode(b);
    else out += '%' + HEX[h] + HEX[l];
  }
  if (policy.mergeSlashes) out = out.replace(/\/{2,}/g, '/');
  if (policy.normalizePath) {
    const r = removeDotSegments(out);
    if (r === null) return { redirect: false, reason: 'dot segment with parameters in path' };
    out = r;
  }
  if (unescapedSlash && policy.escapedSlashesAction === 'UNESCAPE_AND_REDIRECT') return { redirect: true, path: out };
  return out;
}

/**
 * RFC 3986 §5.2.4 on a path that starts with '/'. A dot segment carrying parameters ("..;x")
 * is refused (null): some upstreams (Tomcat, Spring) strip them and would climb out of the prefix.
 */
export function removeDotSegments(path: string): string | null {
  const segs = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i] as string;
    const last = i === segs.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      if (last) out.push('');
      continue;
    }
    const semi = s.indexOf(';');
    if (semi !== -1) {
      const head = s.slice(0, semi);
      if (head === '.' || head === '..') return null;
    }
    out.push(s);
  }
  return '/' + out.join('/');
}
