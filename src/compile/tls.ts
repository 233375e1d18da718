// TLS material: Kubernetes TLS Secrets are decoded and checked (certificate parses, key parses and
// matches) here, before anything is served; TLSContexts and Host TLS settings become IRTLSContexts.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { Resource } from '../api/resource.js';
import type { IRTLSContext, IRSourceRef } from '../ir/types.js';
import type { SecretEntry } from '../ir/secrets.js';
import { sha256 } from '../ir/canonical.js';
import type { CompileContext } from './context.js';

type Obj = Record<string, unknown>;

export interface SecretTable {
  /** id "namespace/name" → material */
  readonly entries: Map<string, SecretEntry>;
}

function decodeField(spec: Obj, key: string): string | undefined {
  const sd = spec['stringData'] as Obj | undefined;
  if (sd && typeof sd[key] === 'string') return sd[key] as string;
  const d = spec['data'] as Obj | undefined;
  if (d && typeof d[key] === 'string') return Buffer.from(d[key] as string, 'base64').toString('utf8');
  return undefined;
}

export function compileSecrets(secrets: readonly Resource[], ctx: CompileContext): SecretTable {
  const entries = new Map<string, SecretEntry>();
  for (const s of secrets) {
    if (!ctx.isValid(s)) continue;
    const spec = s.spec as Obj;
    const certPem = decodeField(spec, 'tls.crt');
    const keyPem = decodeField(spec, 'tls.key');
    const caPem = decodeField(spec, 'ca.crt') ?? decodeField(spec, 'ca.pem');
    const e: { certPem?: string; keyPem?: string; caPem?: string } = {};
    if (certPem !== undefined) {
      try {
        new X509Certificate(certPem);
        e.certPem = certPem;
      } catch {
        ctx.report(s, 'SecretInvalid', `Secret ${s.namespace}/${s.name}: tls.crt is not a PEM certificate`, 'data.tls.crt');
        continue;
      }
    }
    if (keyPem !== undefined) {
      try {
        const key = createPrivateKey(keyPem);
        if (certPem !== undefined && !new X509Certificate(certPem).checkPrivateKey(key)) {
          ctx.report(s, 'SecretInvalid', `Secret ${s.namespace}/${s.name}: tls.key does not match the certificate in tls.crt`, 'data.tls.key');
          continue;
        }
        e.keyPem = keyPem;
      } catch (err) {
        const msg = /passphrase/i.test(String((err as Error).message)) ? 'is encrypted (a passphrase is required)' : 'is not a PEM private key';
        ctx.report(s, 'SecretInvalid', `Secret ${s.namespace}/${s.name}: tls.key ${msg}`, 'data.tls.key');
        continue;
      }
    }
    if (caPem !== undefined) {
      try {
        new X509Certificate(caPem);
        e.caPem = caPem;
      } catch {
        ctx.report(s, 'SecretInvalid', `Secret ${s.namespace}/${s.name}: ca.crt is not a PEM certificate`, 'data.ca.crt');
        continue;
      }
    }
    entries.set(`${s.namespace}/${s.name}`, e);
  }
  return { entries };
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

/** Build an IRTLSContext from TLSContext-shaped settings (a TLSContext spec, or a Host's inline `tls`). */
export function tlsContextFrom(
  name: string,
  r: Resource,
  settings: Obj,
  certSecret: string | undefined,
  hosts: readonly string[],
  table: SecretTable,
  ctx: CompileContext,
  fieldBase: string,
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
  if (certSecret) {
    const e = table.entries.get(certSecret);
    if (!e || !e.certPem) {
      ctx.report(r, 'SecretNotFound', `TLS secret '${certSecret}' was not found (or holds no tls.crt)`, `${fieldBase}secret`);
      return undefined;
    }
    out.certificate = { secret: certSecret, sha256: sha256(e.certPem) };
  }
  const ca = settings['ca_secret'];
  if (typeof ca === 'string') {
    const id = secretId(ca, r.namespace, secretNamespacing(r, settings, ctx));
    const e = table.entries.get(id);
    const pem = e?.caPem ?? e?.certPem;
    if (!pem) {
      ctx.report(r, 'SecretNotFound', `CA secret '${id}' was not found`, `${fieldBase}ca_secret`);
      return undefined;
    }
    out.ca = { secret: id, sha256: sha256(pem) };
  }
  if (out.certRequired && !out.ca) {
    ctx.report(r, 'SecretNotFound', 'cert_required is set but no ca_secret names the CA that client certificates must chain to', `${fieldBase}cert_required`);
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

export function compileTLSContexts(contexts: readonly Resource[], table: SecretTable, ctx: CompileContext): Map<string, IRTLSContext> {
  const out = new Map<string, IRTLSContext>();
  for (const r of contexts) {
    if (!ctx.isValid(r)) continue;
    const spec = r.spec as Obj;
    const secret = typeof spec['secret'] === 'string' ? secretId(spec['secret'] as string, r.namespace, secretNamespacing(r, spec, ctx)) : undefined;
    const hosts = Array.isArray(spec['hosts']) ? (spec['hosts'] as string[]).map((h) => h.toLowerCase()) : [];
    const c = tlsContextFrom(r.name, r, spec, secret, hosts, table, ctx, 'spec.');
    if (c) out.set(r.name, c);
  }
  return out;
}
