// The protections Portico does not enforce yet, in one table: kinds and fields that would guard
// traffic (authentication, rate limits, IP filters, client-certificate checks) are refused.
//
// Loading one of them with a warning would serve the routes it guards without the guard: fail
// open. So each is an error (NotEnforced): the resource is refused and, in git mode, the revision,
// which keeps the last-known-good one serving. When Portico enforces one, its row goes away.
// Settings Emissary 3 itself ignores (TLSContext `redirect_cleartext_from`, Module
// `x_forwarded_proto_redirect`) protect nothing there either, and are not listed.

import type { Kind } from '../api/resource.js';
import { isObject } from './spec-normalise.js';
import { valueAt, type SpecIssue } from './spec-validation.js';

type Obj = Record<string, unknown>;

export interface UnenforcedKind {
  /** What the kind would enforce, for the message. */
  readonly guards: string;
  /** True when this object guards nothing (only opt-outs): then it is a NotImplemented warning. */
  readonly guardsNothing?: (spec: Obj) => boolean;
}

/** Emissary and Edge Stack kinds that guard routes. */
export const UNENFORCED_KINDS: Readonly<Record<string, UnenforcedKind>> = Object.freeze({
  WebApplicationFirewall: { guards: 'web application firewall rules: requests would not be inspected' },
  WebApplicationFirewallPolicy: { guards: 'web application firewall policies: requests would not be inspected' },
});

export interface UnenforcedField {
  readonly kind: Kind;
  /** Dotted path from spec. */
  readonly field: string;
  readonly guards: string;
  /** Whether this value guards anything (false for an explicit off). */
  readonly applies: (value: unknown) => boolean;
}

const present = (v: unknown): boolean => v !== undefined && v !== null;

/** Fields of loaded kinds that guard routes. */
export const UNENFORCED_FIELDS: readonly UnenforcedField[] = Object.freeze([
  {
    kind: 'Module',
    field: 'config.lua_scripts',
    guards: 'Lua scripts, which can reject requests: Portico cannot run them, and what they guard would be open',
    applies: (v) => typeof v === 'string' && v.trim() !== '',
  },
  { kind: 'TLSContext', field: 'crl_secret', guards: 'certificate revocation lists: revoked client certificates would be accepted', applies: present },
  { kind: 'Host', field: 'tls.crl_secret', guards: 'certificate revocation lists: revoked client certificates would be accepted', applies: present },
] satisfies UnenforcedField[]);

const fieldsByKind = new Map<string, UnenforcedField[]>();
for (const f of UNENFORCED_FIELDS) fieldsByKind.set(f.kind, [...(fieldsByKind.get(f.kind) ?? []), f]);

/** Adds to `out` a NotEnforced error for each guarding field the spec sets. */
export function unenforcedFieldIssues(kind: Kind, spec: Obj, out: SpecIssue[]): void {
  const rows = fieldsByKind.get(kind);
  if (rows === undefined) return;
  for (const row of rows) {
    if (!row.applies(valueAt(spec, row.field))) continue;
    const field = `spec.${row.field}`;
    out.push({ code: 'NotEnforced', message: `${row.field} is refused: Portico does not enforce ${row.guards}`, field, positionKeys: [field] });
  }
}

/**
 * The deprecated `tls` Module becomes a TLSContext in Emissary; its `client` half requires or
 * checks client certificates, which Portico would not do. The message when it does, else undefined.
 */
export function unenforcedTLSModule(spec: Obj): string | undefined {
  const config = isObject(spec.config) ? spec.config : spec;
  const client = config.client;
  if (!isObject(client) || client.enabled === false) return undefined;
  return 'its "client" section checks client certificates, which the tls Module does not do in Portico: clients would not be checked (use a TLSContext with ca_secret and cert_required)';
}
