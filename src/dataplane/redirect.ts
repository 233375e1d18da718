// Location headers for Mapping redirects (host/path/prefix/regex) and for insecure requests sent
// to https. Built only from the normalised path and a host that passed vhost selection.

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
