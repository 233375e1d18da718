// What the admin API prints about the served configuration: the route table flattened from the IR,
// and a last guard that no PEM material (SecretStore bytes) ever leaves in a response.

import type { IR } from '../ir/types.js';
import { formatOrigin } from '../api/origin.js';
import { REDACTED } from '../ir/secrets.js';

export interface RouteRow {
  readonly listener: string;
  readonly port: number;
  readonly host: string;
  readonly id: string;
  readonly match: string;
  readonly method?: string;
  readonly backends: readonly { cluster: string; weight: number }[];
  readonly redirect?: string;
  readonly shadow?: string;
  readonly mappings: readonly string[];
}

function describeMatch(m: IR['listeners'][number]['virtualHosts'][number]['routes'][number]['match']): string {
  const parts: string[] = [];
  if (m.prefix !== undefined) parts.push(`prefix ${m.prefix}`);
  if (m.path !== undefined) parts.push(`path ${m.path}`);
  if (m.regex !== undefined) parts.push(`regex ${m.regex}`);
  for (const h of m.headers) {
    parts.push(`header ${h.name}${h.exact !== undefined ? `=${h.exact}` : h.regex !== undefined ? `~${h.regex}` : h.invert ? ' absent' : ' present'}`);
  }
  for (const q of m.query) parts.push(`query ${q.name}${q.exact !== undefined ? `=${q.exact}` : q.regex !== undefined ? `~${q.regex}` : ' present'}`);
  return parts.join(', ');
}

/** The route table in evaluation order, per listener and virtual host. */
export function routeTable(ir: IR): RouteRow[] {
  const rows: RouteRow[] = [];
  for (const l of ir.listeners) {
    for (const vh of l.virtualHosts) {
      for (const r of vh.routes) {
        const row: { -readonly [K in keyof RouteRow]: RouteRow[K] } = {
          listener: l.name,
          port: l.port,
          host: vh.hostname,
          id: r.id,
          match: describeMatch(r.match),
          backends: r.backends.map((b) => ({ cluster: b.cluster, weight: b.weight })),
          mappings: r.mappings.map((m) => `${m.kind}/${m.namespace}/${m.name} (${formatOrigin(m.origin)})`),
        };
        if (r.match.method) row.method = r.match.method;
        if (r.redirect) row.redirect = `${r.redirect.responseCode}`;
        if (r.shadow) row.shadow = `${r.shadow.cluster} ${r.shadow.weight}%`;
        rows.push(row);
      }
    }
  }
  return rows;
}

const PEM = /-----BEGIN [A-Z0-9 ]+-----/;

/**
 * Copy a value for printing with every PEM-looking string replaced. The IR carries no secret bytes
 * by construction; this is the belt to that pair of braces.
 */
export function redactPEM<T>(value: T): T {
  return JSON.parse(JSON.stringify(value), (_k, v: unknown) => (typeof v === 'string' && PEM.test(v) ? REDACTED : v)) as T;
}

/**
 * A value as indented JSON text, with every PEM-looking string replaced as redactPEM does. JSON
 * escaping leaves a PEM header's letters, digits, spaces and dashes as they are, so text without one
 * needs no second pass: the admin API answers in one serialisation (the diagnostics page polls it).
 */
export function redactedJSON(value: unknown): string {
  const text = JSON.stringify(value ?? null, null, 2);
  if (!PEM.test(text)) return text;
  return JSON.stringify(redactPEM(value), null, 2);
}
