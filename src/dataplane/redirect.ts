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
  else if (r.regex !== undefined) p = r.regex.replaceAll(path);
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
