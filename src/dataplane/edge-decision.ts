// The request path's decisions before anything is forwarded: is the request secure, what does an
// insecure one get, is a CORS preflight answered here. The runtime and `explain` both call these.

import type { IRGlobal, IRListener, IRRoute, IRVirtualHost } from '../ir/types.js';
import { originAllowed, type CompiledCors } from './cors.js';
import { httpsRedirectLocation } from './redirect.js';
import { routesInsecureAlways } from '../ir/route-table.js';

export interface RequestSecurity {
  /** Proxy hops trusted in front of the gateway: max(xff_num_trusted_hops, the Listener's l7Depth). */
  readonly trusted: number;
  /** The wire protocol of the connection. */
  readonly scheme: 'http' | 'https';
  /** X-Forwarded-Proto as the upstream sees it: the trusted proxy's, else the wire protocol. */
  readonly xfp: string;
  /** Per the Listener's securityModel: XFP decides by xfp, SECURE and INSECURE by themselves. */
  readonly secure: boolean;
}

/**
 * `connTLS` is whether this connection used TLS: an HTTPS Listener takes cleartext too (Emissary's
 * `protocol: HTTPS` is "either HTTPS or HTTP"), so the socket decides, never the Listener.
 */
export function requestSecurity(listener: IRListener | undefined, g: IRGlobal, connTLS: boolean, clientXfp: string | undefined): RequestSecurity {
  const trusted = Math.max(g.xffNumTrustedHops, listener?.l7Depth ?? 0);
  const scheme = connTLS ? 'https' : 'http';
  const xfp = trusted === 0 || clientXfp === undefined ? scheme : clientXfp.trim().toLowerCase();
  const model = listener?.securityModel ?? 'XFP';
  const secure = model === 'SECURE' ? true : model === 'INSECURE' ? false : xfp === 'https';
  return { trusted, scheme, xfp, secure };
}

export type InsecureOutcome =
  | { readonly kind: 'route' }
  /** 301 to https, as Envoy's https_redirect builds it. */
  | { readonly kind: 'redirect'; readonly location: string }
  /** Emissary builds no insecure route for a Reject host, so the request finds no route (404). */
  | { readonly kind: 'reject' };

const ROUTE: InsecureOutcome = { kind: 'route' };
const REJECT: InsecureOutcome = { kind: 'reject' };

/**
 * What the Host's requestPolicy.insecure.action does with this request, which matched `route`;
 * `host` passed vhost selection.
 */
export function insecureOutcome(vh: IRVirtualHost, route: IRRoute, sec: RequestSecurity, host: string, authority: string, path: string, query: string): InsecureOutcome {
  if (sec.secure || vh.insecureAction === 'Route' || routesInsecureAlways(route)) return ROUTE;
  if (vh.insecureAction === 'Reject') return REJECT;
  return { kind: 'redirect', location: httpsRedirectLocation(host, authority, sec.xfp, vh.redirectPort, path, query) };
}

/**
 * Envoy's CORS filter answers a preflight (OPTIONS with Origin and Access-Control-Request-Method)
 * itself only when the origin is allowed; any other OPTIONS request goes on to the upstream.
 */
export function answersPreflight(cors: CompiledCors | undefined, method: string, origin: string | undefined, requestMethod: string | undefined): cors is CompiledCors {
  return cors !== undefined && method === 'OPTIONS' && origin !== undefined && requestMethod !== undefined && originAllowed(cors, origin);
}
