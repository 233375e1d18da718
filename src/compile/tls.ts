// TLS material: Kubernetes TLS Secrets and entries of the secrets directory are decoded and checked
// (certificate parses, key parses and matches) here, before anything is served; TLSContexts and Host
// TLS settings become IRTLSContexts. A reference names a Secret; the secrets directory answers it
// first (secret-files.ts), so material can be kept out of git and rotated without a commit.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { Resource } from '../api/resource.js';
import type { IRTLSContext, IRSourceRef } from '../ir/types.js';
import type { SecretEntry } from '../ir/secrets.js';
import { sha256 } from '../ir/canonical.js';
import type { CompileContext } from './context.js';
import type { SecretFiles } from './options.js';
import { ENTRY_FILES, entryFiles, entryNames, fileContent, pathInside } from './secret-files.js';

type Obj = Record<string, unknown>;

export interface SecretTable {
  /** id "namespace/name" → material of the valid Secret resources */
  readonly entries: Map<string, SecretEntry>;
  readonly files?: SecretFiles;
  /** Entry names of the secrets directory. */
  readonly directory: ReadonlySet<string>;
  /** Ids ("namespace/name") of every Secret resource loaded, usable or not. */
  readonly declared: ReadonlySet<string>;
  /** Store id → material, for every reference resolved so far: compile's SecretStore is taken from it. */
  readonly resolved: Map<string, SecretEntry>;
  /** Directory entries and files already checked: store id → material, or why it cannot be used. */
  readonly checked: Map<string, SecretEntry | { readonly invalid: string; readonly field: 'cert' | 'key' | 'ca' }>;
}

function decodeField(spec: Obj, key: string): string | undefined {
  const sd = spec['stringData'] as Obj | undefined;
  if (sd && typeof sd[key] === 'string') return sd[key] as string;
  const d = spec['data'] as Obj | undefined;
  if (d && typeof d[key] === 'string') return Buffer.from(d[key] as string, 'base64').toString('utf8');
  return undefined;
}

/** Checks PEM material: the certificate parses, the key parses and matches it, the CA parses. */
function checkMaterial(certPem: string | undefined, keyPem: string | undefined, caPem: string | undefined): SecretEntry | { invalid: string; field: 'cert' | 'key' | 'ca' } {
  const e: { certPem?: string; keyPem?: string; caPem?: string } = {};
  let cert: X509Certificate | undefined;
  if (certPem !== undefined) {
    try {
      cert = new X509Certificate(certPem);
      e.certPem = certPem;
    } catch {
      return { invalid: 'is not a PEM certificate', field: 'cert' };
    }
  }
  if (keyPem !== undefined) {
    try {
      const key = createPrivateKey(keyPem);
      if (cert && !cert.checkPrivateKey(key)) return { invalid: 'does not match the certificate', field: 'key' };
      e.keyPem = keyPem;
    } catch (err) {
      return { invalid: /passphrase/i.test(String((err as Error).message)) ? 'is encrypted (a passphrase is required)' : 'is not a PEM private key', field: 'key' };
    }
  }
  if (caPem !== undefined) {
    try {
      new X509Certificate(caPem);
      e.caPem = caPem;
    } catch {
      return { invalid: 'is not a PEM certificate', field: 'ca' };
    }
  }
  return e;
}

const FIELD_FILE = { cert: ENTRY_FILES.cert, key: ENTRY_FILES.key, ca: ENTRY_FILES.ca } as const;

export function compileSecrets(secrets: readonly Resource[], ctx: CompileContext, files?: SecretFiles): SecretTable {
  const entries = new Map<string, SecretEntry>();
  const directory = entryNames(files);
  const declared = new Set(secrets.map((s) => `${s.namespace}/${s.name}`));
  for (const s of secrets) {
    if (!ctx.isValid(s)) continue;
    const spec = s.spec as Obj;
    const certPem = decodeField(spec, 'tls.crt');
    const keyPem = decodeField(spec, 'tls.key');
    const caPem = decodeField(spec, 'ca.crt') ?? decodeField(spec, 'ca.pem');
    if (keyPem !== undefined) {
      const where = typeof (spec['stringData'] as Obj | undefined)?.['tls.key'] === 'string' ? 'stringData.tls.key' : 'data.tls.key';
      const inGit = s.origin.revision !== undefined;
      ctx.report(
        s,
        'PrivateKeyInGit',
        `Secret ${s.namespace}/${s.name} holds a private key ${inGit ? 'in git' : 'in a configuration file'}; keep keys out of configuration: put tls.crt and tls.key in the secrets directory as ${s.name}/tls.crt and ${s.name}/tls.key (serve --secrets DIR) and delete this Secret`,
        where,
      );
    }
    if (directory.has(s.name)) {
      ctx.report(s, 'SecretShadowed', `the secrets directory has an entry '${s.name}', which answers every reference to '${s.name}' in every namespace; this Secret is not used (delete it, or rename one of them)`, 'metadata.name');
    }
    const checked = checkMaterial(certPem, keyPem, caPem);
    if ('invalid' in checked) {
      const key = FIELD_FILE[checked.field];
      ctx.report(s, 'SecretInvalid', `Secret ${s.namespace}/${s.name}: ${key} ${checked.invalid === 'does not match the certificate' ? 'does not match the certificate in tls.crt' : checked.invalid}`, `data.${key}`);
      continue;
    }
    entries.set(`${s.namespace}/${s.name}`, checked);
  }
  return { entries, ...(files ? { files } : {}), directory, declared, resolved: new Map(), checked: new Map() };
}

/**
 * A reference ("namespace/name") resolved to a store id and its material: the secrets directory's
 * entry `name` first, then the Secret resource. Undefined when neither exists; `invalid` when the
 * directory's entry cannot be used (it is reported on the resource that names it).
 */
export function resolveSecret(table: SecretTable, ref: string): { id: string; entry: SecretEntry } | { id: string; invalid: string } | undefined {
  const name = ref.slice(ref.indexOf('/') + 1);
  if (table.directory.has(name)) {
    const id = `secrets:${name}`;
    let c = table.checked.get(id);
    if (c === undefined) {
      const f = entryFiles(table.files, name) ?? {};
      c = checkMaterial(f.certPem, f.keyPem, f.caPem);
      table.checked.set(id, c);
    }
    if ('invalid' in c) return { id, invalid: `${name}/${FIELD_FILE[c.field]} in the secrets directory ${c.invalid === 'does not match the certificate' ? `does not match the certificate in ${name}/tls.crt` : c.invalid}` };
    table.resolved.set(id, c);
    return { id, entry: c };
  }
  const e = table.entries.get(ref);
  if (!e) return undefined;
  table.resolved.set(ref, e);
  return { id: ref, entry: e };
}

/**
 * Whether nothing at all answers a reference: no Secret resource of that id (usable or not) and no
 * entry of the secrets directory. A Secret that exists but cannot be used is another matter.
 */
export function secretAbsent(table: SecretTable, ref: string): boolean {
  return !table.declared.has(ref) && !table.directory.has(ref.slice(ref.indexOf('/') + 1));
}

/** The store id a reference resolves to (for comparing references), without checking the material. */
export function storeIdOf(table: SecretTable, ref: string): string {
  const name = ref.slice(ref.indexOf('/') + 1);
  return table.directory.has(name) ? `secrets:${name}` : ref;
}

/** Resolve a secret reference as Emissary does: "name" in the referrer's namespace, or "name.namespace". */
export function secretId(ref: string, namespace: string, namespacing = true): string {
  if (namespacing && ref.includes('.')) {
    const i = ref.lastIndexOf('.');
    return `${ref.slice(i + 1)}/${ref.slice(0, i)}`;
  }
  return `${namespace}/${ref}`;
}

function sourceRef(r: Resource): IRSourceRef {
  return { kind: r.kind, name: r.name, namespace: r.namespace, origin: r.origin };
}

const VERSIONS = new Set(['v1.0', 'v1.1', 'v1.2', 'v1.3']);
function tlsVersion(v: unknown): IRTLSContext['minVersion'] | undefined {
  if (typeof v !== 'string' || !VERSIONS.has(v)) return undefined;
  return `TLSv${v.slice(1)}` as IRTLSContext['minVersion'];
}

/** Where a context's settings live in its resource, for problems: the secret field and the settings' prefix. */
export interface TLSFields {
  /** The field that names the certificate's Secret ("spec.secret", "spec.tlsSecret.name"). */
  readonly secret: string;
  /** Prefix of the TLS settings ("spec." in a TLSContext, "spec.tls." in a Host). */
  readonly settings: string;
}

/**
 * Material named by path fields (cert_chain_file + private_key_file, or cacert_chain_file), read
 * from the secrets directory only. Reports on `r` and returns undefined when it cannot be used.
 */
function materialFromFiles(r: Resource, settings: Obj, which: 'pair' | 'ca', table: SecretTable, ctx: CompileContext, fields: TLSFields): { id: string; entry: SecretEntry } | undefined {
  const names = which === 'pair' ? (['cert_chain_file', 'private_key_file'] as const) : (['cacert_chain_file'] as const);
  const rels: string[] = [];
  const contents: string[] = [];
  for (const name of names) {
    const field = `${fields.settings}${name}`;
    const p = pathInside(table.files, String(settings[name]));
    if (!p.ok) {
      ctx.report(r, 'SecretFileOutside', `${name}: ${p.message}`, field);
      return undefined;
    }
    const c = fileContent(table.files!, p.value);
    if (!c.ok) {
      ctx.report(r, c.outside ? 'SecretFileOutside' : 'SecretNotFound', `${name}: ${c.message}`, field);
      return undefined;
    }
    rels.push(p.value);
    contents.push(c.value);
  }
  const id = `file:${rels.join('+')}`;
  let checked = table.checked.get(id);
  if (checked === undefined) {
    checked = which === 'pair' ? checkMaterial(contents[0], contents[1], undefined) : checkMaterial(undefined, undefined, contents[0]);
    table.checked.set(id, checked);
  }
  if ('invalid' in checked) {
    const name = checked.field === 'cert' ? 'cert_chain_file' : checked.field === 'key' ? 'private_key_file' : 'cacert_chain_file';
    const rel = checked.field === 'key' ? rels[1] : rels[0];
    ctx.report(r, 'SecretInvalid', `${name}: ${rel} in the secrets directory ${checked.invalid === 'does not match the certificate' ? `does not match the certificate in ${rels[0]}` : checked.invalid}`, `${fields.settings}${name}`);
    return undefined;
  }
  table.resolved.set(id, checked);
  return { id, entry: checked };
}

/** Build an IRTLSContext from TLSContext-shaped settings (a TLSContext spec, or a Host's inline `tls`). */
export function tlsContextFrom(
  name: string,
  r: Resource,
  settings: Obj,
  certSecret: string | undefined,
  hosts: readonly string[],
  table: SecretTable,
  ctx: CompileContext,
  fields: TLSFields,
): IRTLSContext | undefined {
  const out: { -readonly [K in keyof IRTLSContext]: IRTLSContext[K] } = {
    name,
    hosts: [...hosts].sort(),
    certRequired: settings['cert_required'] === true,
    cipherSuites: Array.isArray(settings['cipher_suites']) ? (settings['cipher_suites'] as string[]).slice() : [],
    alpnProtocols: typeof settings['alpn_protocols'] === 'string' ? (settings['alpn_protocols'] as string).split(',').map((s) => s.trim()).filter(Boolean) : [],
    source: sourceRef(r),
  };
  const minV = tlsVersion(settings['min_tls_version']);
  const maxV = tlsVersion(settings['max_tls_version']);
  if (minV) out.minVersion = minV;
  if (maxV) out.maxVersion = maxV;
  if (typeof settings['sni'] === 'string') out.sni = settings['sni'] as string;
  const certFiles = settings['cert_chain_file'] !== undefined || settings['private_key_file'] !== undefined;
  if (certFiles) {
    if (certSecret) {
      ctx.report(r, 'SchemaViolation', `give the certificate either as a Secret (${fields.secret}) or as cert_chain_file and private_key_file, not both`, `${fields.settings}cert_chain_file`);
      return undefined;
    }
    const missing = settings['cert_chain_file'] === undefined ? 'cert_chain_file' : settings['private_key_file'] === undefined ? 'private_key_file' : undefined;
    if (missing) {
      ctx.report(r, 'SchemaViolation', `cert_chain_file and private_key_file go together: ${missing} is missing`, `${fields.settings}${missing === 'cert_chain_file' ? 'private_key_file' : 'cert_chain_file'}`);
      return undefined;
    }
    const m = materialFromFiles(r, settings, 'pair', table, ctx, fields);
    if (!m) return undefined;
    out.certificate = { secret: m.id, sha256: sha256(m.entry.certPem!) };
  } else if (certSecret) {
    const found = resolveSecret(table, certSecret);
    if (found && 'invalid' in found) {
      ctx.report(r, 'SecretInvalid', `TLS secret '${certSecret}': ${found.invalid}`, fields.secret);
      return undefined;
    }
    if (!found || !found.entry.certPem) {
      ctx.report(r, 'SecretNotFound', `TLS secret '${certSecret}' was not found (or holds no tls.crt)${notFoundHint(table, certSecret)}`, fields.secret);
      return undefined;
    }
    out.certificate = { secret: found.id, sha256: sha256(found.entry.certPem) };
  }
  const ca = settings['ca_secret'];
  if (settings['cacert_chain_file'] !== undefined) {
    if (typeof ca === 'string') {
      ctx.report(r, 'SchemaViolation', 'give the CA either as ca_secret or as cacert_chain_file, not both', `${fields.settings}cacert_chain_file`);
      return undefined;
    }
    const m = materialFromFiles(r, settings, 'ca', table, ctx, fields);
    if (!m) return undefined;
    out.ca = { secret: m.id, sha256: sha256(m.entry.caPem!) };
  } else if (typeof ca === 'string') {
    const id = secretId(ca, r.namespace, secretNamespacing(r, settings, ctx));
    const found = resolveSecret(table, id);
    if (found && 'invalid' in found) {
      ctx.report(r, 'SecretInvalid', `CA secret '${id}': ${found.invalid}`, `${fields.settings}ca_secret`);
      return undefined;
    }
    const pem = found?.entry.caPem ?? found?.entry.certPem;
    if (!found || !pem) {
      ctx.report(r, 'SecretNotFound', `CA secret '${id}' was not found${notFoundHint(table, id)}`, `${fields.settings}ca_secret`);
      return undefined;
    }
    out.ca = { secret: found.id, sha256: sha256(pem) };
  }
  if (out.certRequired && !out.ca) {
    ctx.report(r, 'SecretNotFound', 'cert_required is set but no ca_secret names the CA that client certificates must chain to', `${fields.settings}cert_required`);
    return undefined;
  }
  return out;
}

/**
 * Whether a dotted secret name is name.namespace: the TLSContext's own secret_namespacing, else the
 * Module's defaults.tls_secret_namespacing, else yes. A Host's inline tls always namespaces, as in Emissary.
 */
function secretNamespacing(r: Resource, settings: Obj, ctx: CompileContext): boolean {
  const own = settings['secret_namespacing'];
  if (typeof own === 'boolean') return own;
  return r.kind === 'TLSContext' ? (ctx.tlsSecretNamespacing ?? true) : true;
}

/** A directory entry whose name has a dot reads, in Emissary's "name.namespace" syntax, as another name. */
function notFoundHint(table: SecretTable, ref: string): string {
  const slash = ref.indexOf('/');
  const dotted = `${ref.slice(slash + 1)}.${ref.slice(0, slash)}`;
  if (table.directory.has(dotted)) return ` (the secrets directory has an entry '${dotted}': with secret_namespacing, '${dotted}' means Secret '${ref.slice(slash + 1)}' in namespace '${ref.slice(0, slash)}'; set secret_namespacing: false to use the entry)`;
  for (const id of table.declared) {
    if (id.endsWith(`/${dotted}`)) return ` (a Secret '${id}' exists: with secret_namespacing, '${dotted}' means Secret '${ref.slice(slash + 1)}' in namespace '${ref.slice(0, slash)}'; set secret_namespacing: false to use it)`;
  }
  return '';
}

export function compileTLSContexts(contexts: readonly Resource[], table: SecretTable, ctx: CompileContext, served?: ReadonlyMap<string, string>): Map<string, IRTLSContext> {
  const out = new Map<string, IRTLSContext>();
  for (const r of contexts) {
    if (!ctx.isValid(r)) continue;
    const spec = r.spec as Obj;
    let secret = typeof spec['secret'] === 'string' ? secretId(spec['secret'] as string, r.namespace, secretNamespacing(r, spec, ctx)) : undefined;
    const hosts = Array.isArray(spec['hosts']) ? (spec['hosts'] as string[]).map((h) => h.toLowerCase()) : [];
    // A Secret that does not exist yet: the context without a certificate, as a Host's (reportMissingSecret).
    // Not when the name as written exists, read another way by secret_namespacing ("a.b": Secret a in
    // namespace b), as a Secret or an entry of the secrets directory: a mistake to report (notFoundHint).
    const nearMiss = secret !== undefined && notFoundHint(table, secret) !== '';
    if (secret !== undefined && !nearMiss && secretAbsent(table, secret) && spec['cert_chain_file'] === undefined && spec['private_key_file'] === undefined) {
      if (!reportMissingSecret(ctx, r, `TLSContext ${r.name}`, hosts.length > 0 ? hosts.join(', ') : 'its hosts', secret, 'spec.secret', served)) continue;
      secret = undefined;
    }
    const c = tlsContextFrom(r.name, r, spec, secret, hosts, table, ctx, { secret: 'spec.secret', settings: 'spec.' });
    if (c) out.set(r.name, c);
  }
  return out;
}

/**
 * A Host or TLSContext whose Secret names nothing at all is served without a certificate (a warning,
 * so the rest of its source's revision is served), as Emissary marks such a Host inactive and serves
 * the rest. Kept with a context that has no certificate, it still fails closed: handshakes for its
 * names fail, a request for them over another name's TLS session gets 421, and its cleartext requests
 * follow its Host's insecure action (the ACME challenge a certificate issuer sends before the Secret
 * exists included). One served now with a certificate from that very Secret never loses it so: that
 * is an error (false is returned), and the change that removed the Secret is refused.
 * `served`: CompileOptions.servedCertificates, by "Kind namespace/name".
 */
export function reportMissingSecret(ctx: CompileContext, r: Resource, subject: string, names: string, id: string, field: string, served: ReadonlyMap<string, string> | undefined): boolean {
  const name = id.slice(id.indexOf('/') + 1);
  const now = served?.get(`${r.kind} ${r.namespace}/${r.name}`);
  if (now === id || now === `secrets:${name}`) {
    ctx.report(
      r,
      'SecretNotFound',
      `TLS secret '${id}' was not found, and ${subject} serves its certificate now: a change that removes it is refused, so that the certificate stays served; restore the Secret (or, to stop terminating TLS with it, remove the reference in the same change)`,
      field,
    );
    return false;
  }
  ctx.report(
    r,
    'TLSSecretMissing',
    `TLS secret '${id}' does not exist (no Secret '${id}', no entry '${name}' in the secrets directory): ${subject} is served without a certificate until it does — TLS handshakes for ${names} fail; cleartext requests follow requestPolicy.insecure`,
    field,
  );
  return true;
}
