// CORS at the edge: preflights from an allowed origin are answered here (others go upstream, as in
// Envoy); actual responses get allow headers only for a matching origin, and always `Vary: Origin`.

import type { IRCors } from '../ir/types.js';
import { compileFullMatch } from './route-index.js';
import type { FullMatch } from '../ir/re2-regex.js';

export interface CompiledCors {
  readonly anyOrigin: boolean;
  readonly origins: ReadonlySet<string>;
  readonly originRegexes: readonly FullMatch[];
  /** Upper-case; empty = no method restriction announced. */
  readonly methods: ReadonlySet<string>;
  readonly methodsValue: string;
  /** Lower-case; empty = no header restriction announced. */
  readonly headers: ReadonlySet<string>;
  readonly headersValue: string;
  readonly exposedValue: string;
  readonly credentials: boolean;
  readonly maxAge: string | undefined;
}

export function compileCors(c: IRCors): CompiledCors {
  return {
    anyOrigin: c.origins.includes('*'),
    origins: new Set(c.origins.filter((o) => o !== '*')),
    // full match: an unanchored pattern must not accept "https://example.com.evil.net"
    originRegexes: c.originRegexes.map((r) => compileFullMatch(r)),
    methods: new Set(c.methods.map((m) => m.toUpperCase())),
    methodsValue: c.methods.map((m) => m.toUpperCase()).join(','),
    headers: new Set(c.headers.map((h) => h.toLowerCase())),
    headersValue: c.headers.join(','),
    exposedValue: c.exposedHeaders.join(','),
    credentials: c.credentials,
    maxAge: c.maxAge,
  };
}

export function originAllowed(c: CompiledCors, origin: string): boolean {
  if (c.origins.has(origin)) return true;
  for (const r of c.originRegexes) if (r.test(origin)) return true;
  // "*" never matches with credentials: the browser would refuse it anyway, and echoing would leak
  return c.anyOrigin && !c.credentials;
}

function allowOriginValue(c: CompiledCors, origin: string): string {
  return c.anyOrigin && !c.origins.has(origin) && c.originRegexes.length === 0 && !c.credentials ? '*' : origin;
}

/** Headers of the edge's answer to a preflight; only `Vary` when origin, method or headers are not allowed. */
export function preflightHeaders(c: CompiledCors, origin: string, method: string | undefined, requested: string | undefined): string[] {
  const out = ['vary', 'Origin'];
  if (!originAllowed(c, origin)) return out;
  if (method !== undefined && c.methods.size > 0 && !c.methods.has(method.trim().toUpperCase())) return out;
  if (requested !== undefined && requested.trim() !== '') {
    for (const h of requested.split(',')) {
      const n = h.trim().toLowerCase();
      if (n !== '' && c.headers.size > 0 && !c.headers.has(n)) return out;
    }
  }
  out.push('access-control-allow-origin', allowOriginValue(c, origin));
  if (c.methodsValue !== '') out.push('access-control-allow-methods', c.methodsValue);
  if (c.headersValue !== '') out.push('access-control-allow-headers', c.headersValue);
  if (c.credentials) out.push('access-control-allow-credentials', 'true');
  if (c.maxAge !== undefined) out.push('access-control-max-age', c.maxAge);
  return out;
}

/** Add CORS headers to an actual (non-preflight) response; upstream's own allow headers are replaced. */
export function addResponseCors(c: CompiledCors, origin: string | undefined, out: string[]): void {
  for (let i = out.length - 2; i >= 0; i -= 2) {
    if ((out[i] as string).toLowerCase().startsWith('access-control-allow-')) out.splice(i, 2);
  }
  out.push('vary', 'Origin');
  if (origin === undefined || !originAllowed(c, origin)) return;
  out.push('access-control-allow-origin', allowOriginValue(c, origin));
  if (c.credentials) out.push('access-control-allow-credentials', 'true');
  if (c.exposedValue !== '') out.push('access-control-expose-headers', c.exposedValue);
}
