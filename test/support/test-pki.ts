// A throwaway PKI for TLS tests, made with the openssl CLI in a temp folder: one CA, server
// certificates for two names (plus localhost/127.0.0.1) and a client certificate. Nothing is committed.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecretStore } from '../../src/ir/secrets.js';

export interface PemPair {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface TestPKI {
  readonly caPem: string;
  /** Server certificate for a.example.test. */
  readonly a: PemPair;
  /** Server certificate for b.example.test. */
  readonly b: PemPair;
  /** Client certificate with CN=client-one. */
  readonly client: PemPair;
  /** A second certificate for a.example.test (rotation). */
  readonly a2: PemPair;
  /** Another certificate from the same CA, e.g. a client with URI SANs (`san` in openssl syntax). */
  issue(name: string, cn: string, san: string, clientAuth: boolean): PemPair;
  cleanup(): void;
}

/** The PKI as a secret store: the a and b server certificates and the CA, under default/. */
export function pkiSecrets(pki: TestPKI): SecretStore {
  return {
    'default/a': { certPem: pki.a.certPem, keyPem: pki.a.keyPem },
    'default/b': { certPem: pki.b.certPem, keyPem: pki.b.keyPem },
    'default/ca': { caPem: pki.caPem },
  };
}

function run(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
}

function issue(dir: string, name: string, cn: string, san: string, clientAuth: boolean): PemPair {
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${clientAuth ? 'clientAuth' : 'serverAuth'}\n`);
  run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`], dir);
  return { certPem: readFileSync(join(dir, `${name}.crt`), 'utf8'), keyPem: readFileSync(join(dir, `${name}.key`), 'utf8') };
}

export function makeTestPKI(): TestPKI {
  const dir = mkdtempSync(join(tmpdir(), 'portico-pki-'));
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=Portico Test CA'], dir);
  const caPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
  const a = issue(dir, 'a', 'a.example.test', 'DNS:a.example.test,DNS:localhost,IP:127.0.0.1', false);
  const b = issue(dir, 'b', 'b.example.test', 'DNS:b.example.test', false);
  const a2 = issue(dir, 'a2', 'a.example.test', 'DNS:a.example.test', false);
  const client = issue(dir, 'client', 'client-one', 'DNS:client-one', true);
  return { caPem, a, b, a2, client, issue: (name, cn, san, clientAuth) => issue(dir, name, cn, san, clientAuth), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
