// Header rules that carry credentials: values taken from the secrets directory (`valueFrom:
// secretKeyRef`), and literal values of credential-bearing headers (authorization, cookie, ...). Both
// move to the SecretStore; the IR keeps "[redacted]" and a digest, so no view of the IR shows them.

import type { Claim } from './options.js';
import type { SecretFiles } from './options.js';
import type { IRHeaderValue } from '../ir/types.js';
import { REDACTED, holdsPrivateKey, type SecretEntry } from '../ir/secrets.js';
import { sha256 } from '../ir/canonical.js';
import { fileContent, isEntrySegment } from './secret-files.js';

/** Headers whose values are credentials wherever they appear; the Module's portico_credential_headers adds more. */
export const CREDENTIAL_HEADERS: readonly string[] = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'];

/** A header value read from a file: at most this many bytes (Node's whole header block is 16 KiB by default). */
export const MAX_SECRET_HEADER_VALUE = 8192;

type Obj = Record<string, unknown>;

/** Reports a problem of the resource whose rules are being built; field relative to the rules' base. */
export type ReportProblem = (code: 'SecretNotFound' | 'SecretInvalid' | 'ClaimViolation' | 'SchemaViolation', message: string, field: string) => void;

export class HeaderCredentials {
  readonly names = new Set<string>(CREDENTIAL_HEADERS);
  /** Store id → the value, for every credential of this compile run. */
  readonly store = new Map<string, SecretEntry>();

  constructor(
    private readonly files: SecretFiles | undefined,
    private readonly claims: Readonly<Record<string, Claim>> | undefined,
  ) {}

  /** Adds the names the Module lists (portico_credential_headers). */
  addNames(names: unknown): void {
    if (!Array.isArray(names)) return;
    for (const n of names) if (typeof n === 'string' && n.trim() !== '') this.names.add(n.trim().toLowerCase());
  }

  /** A source with a claim is a team source: it may not read the secrets directory into its own headers. */
  isTeam(source: string | undefined): boolean {
    return source !== undefined && this.claims !== undefined && Object.prototype.hasOwnProperty.call(this.claims, source);
  }

  /** The rules need this class: a credential-bearing name, or a value taken from the secrets directory. */
  concerns(v: unknown): boolean {
    if (!v || typeof v !== 'object') return false;
    const o = v as Obj;
    for (const name in o) {
      const val = o[name];
      if (this.names.has(name.toLowerCase())) return true;
      // valueFrom, or an object without exactly one of value and valueFrom (refused below).
      if (val !== null && typeof val === 'object' && ((val as Obj)['value'] === undefined || (val as Obj)['valueFrom'] !== undefined)) return true;
    }
    return false;
  }

  /**
   * Header values of one add_*_headers map, sorted by name as the plain path sorts them; credentials
   * are moved to the store. `field` is the map's field path, for problems; undefined on an error.
   */
  values(v: Obj, team: boolean, field: string, report: ReportProblem): IRHeaderValue[] | undefined {
    const out: IRHeaderValue[] = [];
    let ok = true;
    for (const rawName of Object.keys(v)) {
      const name = rawName.toLowerCase();
      const val = v[rawName];
      const at = `${field}.${rawName}`;
      let value: string;
      let append = true;
      let from: { name: string; key: string } | undefined;
      if (val !== null && typeof val === 'object') {
        const o = val as Obj;
        if (o['append'] !== undefined) append = Boolean(o['append']);
        if (o['valueFrom'] === undefined && o['value'] === undefined) {
          report('SchemaViolation', `header ${rawName}: give value (a string) or valueFrom (secretKeyRef: {name, key})`, at);
          ok = false;
          continue;
        }
        if (o['valueFrom'] !== undefined) {
          if (o['value'] !== undefined) {
            report('SchemaViolation', `header ${rawName}: give value or valueFrom, not both`, `${at}.valueFrom`);
            ok = false;
            continue;
          }
          const ref = ((o['valueFrom'] as Obj)['secretKeyRef'] ?? {}) as Obj;
          from = { name: String(ref['name'] ?? ''), key: String(ref['key'] ?? '') };
          value = '';
        } else value = String(o['value'] ?? '');
      } else value = String(val ?? '');

      if (from) {
        const got = this.fromDirectory(rawName, from, team, `${at}.valueFrom.secretKeyRef`, report);
        if (got === undefined) {
          ok = false;
          continue;
        }
        value = got;
      } else if (!this.names.has(name)) {
        out.push({ name, value, append });
        continue;
      }
      const digest = sha256(value).slice(0, 16);
      const id = this.register(from ? `secrets:${from.name}/${from.key}` : `inline:${digest}`, value);
      out.push({ name, value: REDACTED, append, secret: { id, digest } });
    }
    if (!ok) return undefined;
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private fromDirectory(header: string, ref: { name: string; key: string }, team: boolean, field: string, report: ReportProblem): string | undefined {
    if (team) {
      report('ClaimViolation', `header ${header}: a team source may not take header values from the secrets directory (it would send them to an upstream of its choosing); ask for the header to be set in the central repository`, field);
      return undefined;
    }
    if (!isEntrySegment(ref.name) || !isEntrySegment(ref.key)) {
      report('SchemaViolation', `header ${header}: secretKeyRef name and key must be plain names ([-._a-zA-Z0-9], not '.' or '..')`, field);
      return undefined;
    }
    if (!this.files) {
      report('SecretNotFound', `header ${header}: secretKeyRef ${ref.name}/${ref.key} needs the secrets directory (serve --secrets DIR), and none is configured`, field);
      return undefined;
    }
    const c = fileContent(this.files, `${ref.name}/${ref.key}`);
    if (!c.ok) {
      report('SecretNotFound', `header ${header}: ${c.message}`, field);
      return undefined;
    }
    // One line break at the end is how files are usually written; the value never holds another.
    const value = c.value.endsWith('\r\n') ? c.value.slice(0, -2) : c.value.endsWith('\n') ? c.value.slice(0, -1) : c.value;
    const where = `${ref.name}/${ref.key} in the secrets directory`;
    if (holdsPrivateKey(value)) {
      report('SecretInvalid', `header ${header}: ${where} holds a private key, which is never sent as a header value`, field);
      return undefined;
    }
    // The message never quotes the value: it is a credential.
    if (value === '' || value.length > MAX_SECRET_HEADER_VALUE || /[^\t\x20-\x7e]/.test(value) || value !== value.trim()) {
      report('SecretInvalid', `header ${header}: ${where} is not a usable header value (it must be 1 to ${MAX_SECRET_HEADER_VALUE} characters on one line, printable ASCII without surrounding spaces)`, field);
      return undefined;
    }
    return value;
  }

  /** The id for a value; equal ids with different values (a digest collision) get a suffix. */
  private register(base: string, value: string): string {
    let id = base;
    for (let n = 2; this.store.has(id) && this.store.get(id)!.value !== value; n++) id = `${base}#${n}`;
    this.store.set(id, { value });
    return id;
  }
}

/**
 * A literal credential in a resource's header rules (a Mapping's add_*_headers, the Module's and its
 * defaults.httpmapping's, an AuthService's add_auth_headers), given the credential-bearing names: the file holding it is kept out of
 * the last-known-good state as key files are.
 */
export function holdsLiteralCredential(kind: string, spec: unknown, names: ReadonlySet<string>): boolean {
  if (!spec || typeof spec !== 'object') return false;
  const maps: unknown[] = [];
  if (kind === 'Mapping') maps.push((spec as Obj)['add_request_headers'], (spec as Obj)['add_response_headers']);
  else if (kind === 'Module') {
    const cfg = ((spec as Obj)['config'] ?? {}) as Obj;
    const defaults = ((cfg['defaults'] as Obj | undefined)?.['httpmapping'] ?? {}) as Obj;
    maps.push(cfg['add_request_headers'], cfg['add_response_headers'], defaults['add_request_headers'], defaults['add_response_headers']);
  } else if (kind === 'AuthService') maps.push((spec as Obj)['add_auth_headers']);
  for (const m of maps) {
    if (!m || typeof m !== 'object') continue;
    for (const [name, val] of Object.entries(m as Obj)) {
      if (!names.has(name.toLowerCase())) continue;
      if (typeof val === 'string' || (val !== null && typeof val === 'object' && (val as Obj)['value'] !== undefined)) return true;
    }
  }
  return false;
}

/** The credential-bearing names of a set of resources: the defaults and every Module's portico_credential_headers. */
export function credentialNames(modules: readonly { readonly spec: unknown }[]): Set<string> {
  const out = new Set(CREDENTIAL_HEADERS);
  for (const m of modules) {
    const names = (((m.spec ?? {}) as Obj)['config'] as Obj | undefined)?.['portico_credential_headers'];
    if (Array.isArray(names)) for (const n of names) if (typeof n === 'string') out.add(n.trim().toLowerCase());
  }
  return out;
}
