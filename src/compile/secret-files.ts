// The secrets directory as compile sees it (read beforehand, so no I/O here): an entry by Secret
// name (NAME/tls.crt, NAME/tls.key, NAME/ca.crt), a file named by a path field, a header value by key.
//
// Names: the directory has no namespaces. Its entry NAME answers a reference to NAME from every
// namespace, and it is used instead of a Secret resource of the same name (tls.ts warns about that).
// Paths: a path field is resolved inside the directory only; anything that leaves it is an error.

import { posix } from 'node:path';
import type { SecretFiles } from './options.js';

/** The files of one entry, as a mounted kubernetes.io/tls Secret holds them. */
export const ENTRY_FILES = { cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt' } as const;

/** A Secret name or data key usable as one path segment (Kubernetes allows [-._a-zA-Z0-9]; never "." or ".."). */
export function isEntrySegment(s: string): boolean {
  return /^[-._a-zA-Z0-9]{1,253}$/.test(s) && s !== '.' && s !== '..';
}

/** Names of the directory's entries (its top-level folders that hold at least one file). */
export function entryNames(files: SecretFiles | undefined): Set<string> {
  const out = new Set<string>();
  if (!files) return out;
  for (const p of Object.keys(files.files)) {
    const slash = p.indexOf('/');
    if (slash > 0) out.add(p.slice(0, slash));
  }
  return out;
}

/** The entry NAME's files (each may be missing); undefined when the directory has no entry NAME. */
export function entryFiles(files: SecretFiles | undefined, name: string): { certPem?: string; keyPem?: string; caPem?: string } | undefined {
  if (!files || !isEntrySegment(name)) return undefined;
  const f = files.files;
  const cert = f[`${name}/${ENTRY_FILES.cert}`];
  const key = f[`${name}/${ENTRY_FILES.key}`];
  const ca = f[`${name}/${ENTRY_FILES.ca}`];
  if (cert === undefined && key === undefined && ca === undefined) return undefined;
  return { ...(cert !== undefined ? { certPem: cert } : {}), ...(key !== undefined ? { keyPem: key } : {}), ...(ca !== undefined ? { caPem: ca } : {}) };
}

export type Resolved<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly outside: boolean; readonly message: string };

/**
 * A path field (cert_chain_file, private_key_file, cacert_chain_file) as a path inside the
 * directory. Relative paths are relative to it; absolute ones must lie under the directory as
 * given or under its real path. Lexical only: links were resolved (and confined) by the reader.
 */
export function pathInside(files: SecretFiles | undefined, path: string): Resolved<string> {
  if (!files) return { ok: false, outside: true, message: `'${path}' cannot be read: Portico reads key material from files only inside the secrets directory, and none is configured (serve --secrets DIR)` };
  const where = files.roots[0] ?? 'the secrets directory';
  if (path === '' || path.includes('\0')) return { ok: false, outside: true, message: `'${path}' is not a file path` };
  const normal = posix.normalize(path);
  let rel: string | undefined;
  if (normal.startsWith('/')) {
    for (const root of files.roots) {
      if (normal.startsWith(`${root}/`)) {
        rel = normal.slice(root.length + 1);
        break;
      }
    }
  } else if (normal !== '..' && !normal.startsWith('../')) {
    rel = normal;
  }
  if (rel === undefined || rel === '' || rel === '.' || rel.endsWith('/')) {
    return { ok: false, outside: true, message: `'${path}' is outside the secrets directory (${where}); Portico reads key material from no other place` };
  }
  return { ok: true, value: rel };
}

/** The content of a file inside the directory, or why it is not there. */
export function fileContent(files: SecretFiles, rel: string): Resolved<string> {
  const content = files.files[rel];
  if (content !== undefined) return { ok: true, value: content };
  const why = files.skipped[rel];
  const where = files.roots[0] ?? 'the secrets directory';
  if (why !== undefined) return { ok: false, outside: why.outside === true, message: `${rel} in the secrets directory (${where}) is not used: ${why.reason}` };
  return { ok: false, outside: false, message: `${rel} is not in the secrets directory (${where})` };
}
