// Location headers for Mapping redirects (host/path/prefix/regex), insecure requests sent to https and
// the escaped-slash redirect. Built only from the normalised path and a host that passed validation.

/*
 * No Location leaves the request's origin unless a Mapping's host_redirect says so. The absolute ones
 * name scheme and host, so whatever their path holds (even "//other.example/x") stays on this host.
 * The relative one (escaped-slash redirect) goes through sameOriginPath.
 */

import type { CompiledRedirect } from './route-action.js';
import type { IRRoute } from '../ir/types.js';

/** Host part of a Location: the configured host redirect, or the request's validated authority. */
function hostPart(authority: string, hostRedirect: string | undefined): string {
  return hostRedirect ?? authority;
}

export function routeRedirectLocation(r: CompiledRedirect, route: IRRoute, secure: boolean, authority: string, path: string, query: string): string {
  const ir = r.ir;
  let p = path;
  if (ir.pathRedirect !== undefined) p = ir.pathRedirect;
  else if (ir.prefixRedirect !== undefined && route.match.prefix !== undefined) p = ir.prefixRedirect + path.slice(route.match.prefix.length);
  else if (r.regex !== undefined) {
    r.regex.re.lastIndex = 0;
    p = path.replace(r.regex.re, r.regex.substitution);
  }
  if (p.charCodeAt(0) !== 0x2f) p = '/' + p;
  // A configured path_redirect that carries its own query replaces the request's query.
  const q = ir.pathRedirect !== undefined && ir.pathRedirect.includes('?') ? '' : query;
  const scheme = ir.httpsRedirect || secure ? 'https' : 'http';
  return `${scheme}://${hostPart(authority, ir.hostRedirect)}${p}${q}`;
}

/** https redirect for an insecure request: same host (port replaced by the Host's redirect port). */
export function httpsRedirectLocation(host: string, redirectPort: number | undefined, path: string, query: string): string {
  let h = host;
  // host here is normalised; drop any port it kept, then add the configured one
  if (h.charCodeAt(0) !== 0x5b) {
    const colon = h.lastIndexOf(':');
    if (colon !== -1) h = h.slice(0, colon);
  } else {
    const close = h.indexOf(']');
    h = h.slice(0, close + 1);
  }
  const port = redirectPort !== undefined && redirectPort !== 443 ? `:${redirectPort}` : '';
  return `https://${h}${port}${path}${query}`;
}

/**
 * A path as a relative Location that can only mean this origin. With merge_slashes off a canonical
 * path may start with "//" ("/%2f%2fevil.example/x", "/public/..%2f%2fevil.example/x"), which a client
 * reads as a network-path reference to another host; browsers read "/\" the same way. Such a path
 * gets a "/." segment in front: clients resolve it away (RFC 3986 §5.2.4, the WHATWG URL parser) to
 * the same path on this origin, and the request that follows parses to the same canonical path.
 */
export function sameOriginPath(path: string): string {
  const second = path.charCodeAt(1);
  if (second === 0x2f || second === 0x5c) return `/.${path}`;
  return path;
}

/** The escaped-slash redirect (UNESCAPE_AND_REDIRECT): the canonical path and the query as received. */
export function canonicalPathLocation(path: string, query: string): string {
  return sameOriginPath(path) + query;
}
