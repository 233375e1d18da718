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
  else if (r.regex !== undefined) p = r.regex.replaceAll(path);
  if (p.charCodeAt(0) !== 0x2f) p = '/' + p;
  // A configured path_redirect that carries its own query replaces the request's query.
  const q = ir.pathRedirect !== undefined && ir.pathRedirect.includes('?') ? '' : query;
  const scheme = ir.httpsRedirect || secure ? 'https' : 'http';
  return `${scheme}://${hostPart(authority, ir.hostRedirect)}${p}${q}`;
}

/**
 * https redirect for an insecure request, as Envoy's https_redirect builds it: the same host, and
 * the port the client named kept unless it is the default one of the scheme the request came by
 * (":80" over http). `host` is normalised (it passed vhost selection); the port is read from the
 * authority the client sent, which normalisation validated. A Host's redirect port replaces it.
 */
export function httpsRedirectLocation(host: string, authority: string, requestProto: string, redirectPort: number | undefined, path: string, query: string): string {
  const h = withoutPort(host);
  let port = portOf(authority);
  if ((requestProto === 'http' && port === '80') || (requestProto === 'https' && port === '443')) port = '';
  if (redirectPort !== undefined) port = redirectPort === 443 ? '' : String(redirectPort);
  return `https://${h}${port === '' ? '' : `:${port}`}${path}${query}`;
}

function withoutPort(host: string): string {
  if (host.charCodeAt(0) === 0x5b) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** The digits after the authority's last ':' outside an IPv6 literal; '' when there are none. */
function portOf(authority: string): string {
  const close = authority.charCodeAt(0) === 0x5b ? authority.indexOf(']') : -1;
  const colon = authority.lastIndexOf(':');
  if (colon === -1 || colon < close) return '';
  const port = authority.slice(colon + 1);
  return /^[0-9]{1,5}$/.test(port) ? port : '';
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
