// Commit signature verification for git sources: SSH allowed-signers or a dedicated GPG keyring
// with a fingerprint allow-list. Only a "G" verdict passes; "U" (valid but untrusted) is a failure.

import { mkdir, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../ir/canonical.js';
import { firstLine, runGit } from './git-command.js';
import type { GitSource } from './git-source.js';

export type VerifyMode = 'head' | 'strict';

export interface VerifyPolicy {
  readonly mode: VerifyMode;
  /** Contents of an SSH allowed-signers file (`principal namespaces="git" ssh-ed25519 AAAA…`). */
  readonly allowedSigners?: string;
  /** ASCII-armoured public keys to trust, together with the fingerprints allowed to sign. */
  readonly gpgKeys?: string;
  readonly gpgFingerprints?: readonly string[];
}

/** The most strict commits checked in one attempt; a longer unverified run is refused. */
export const MAX_VERIFIED_COMMITS = 1000;

export type SignatureReason = 'SignatureMissing' | 'SignatureUntrusted' | 'SignatureInvalid' | 'TooManyCommits' | 'VerificationError';

export interface SignatureCheck {
  readonly ok: boolean;
  /** git's %G? letter of the HEAD commit (or of the first failing commit), or "unchecked". */
  readonly status: string;
  readonly mode: VerifyMode;
  /** Number of commits checked. */
  readonly checked: number;
  /** Signer of HEAD when it verified: SSH principal / GPG fingerprint. */
  readonly signer?: string;
  readonly reason?: SignatureReason;
  /** The commit that failed. */
  readonly commit?: string;
  readonly detail: string;
}

/** Prepares verification material on disk (allowed-signers file, private GNUPGHOME) and returns git options. */
async function prepare(policy: VerifyPolicy, workDir: string): Promise<{ config: string[]; env: Record<string, string> }> {
  const key = sha256(`${policy.allowedSigners ?? ''}\0${policy.gpgKeys ?? ''}\0${(policy.gpgFingerprints ?? []).join(',')}`).slice(0, 16);
  const dir = join(workDir, key);
  const gnupg = join(dir, 'gnupg');
  await mkdir(gnupg, { recursive: true, mode: 0o700 });
  await chmod(gnupg, 0o700);
  const config: string[] = [];
  // An empty allowed-signers file still verifies nothing, which is what an absent SSH policy means.
  const signersFile = join(dir, 'allowed_signers');
  await writeFile(signersFile, policy.allowedSigners ? policy.allowedSigners.trimEnd() + '\n' : '');
  config.push('-c', `gpg.ssh.allowedSignersFile=${signersFile}`);
  if (policy.gpgKeys) {
    const imp = await runProgram('gpg', ['--batch', '--quiet', '--homedir', gnupg, '--import'], policy.gpgKeys);
    if (imp.code !== 0) throw new Error(`cannot import GPG keys: ${firstLine(imp.stderr)}`);
    // Ownertrust only for the allow-listed fingerprints, so that exactly those keys give "G".
    const trust = (policy.gpgFingerprints ?? []).map((f) => `${normaliseFingerprint(f)}:6:\n`).join('');
    const own = await runProgram('gpg', ['--batch', '--quiet', '--homedir', gnupg, '--import-ownertrust'], trust);
    if (own.code !== 0) throw new Error(`cannot set GPG trust: ${firstLine(own.stderr)}`);
  }
  return { config, env: { GNUPGHOME: gnupg } };
}

function normaliseFingerprint(f: string): string {
  return f.replace(/\s+/g, '').toUpperCase();
}

async function runProgram(cmd: string, args: string[], input: string): Promise<{ code: number; stderr: string }> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, stderr: e.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stderr: err });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/**
 * Verifies `commits` (newest first; the first is HEAD). In head mode only HEAD is checked: a signed
 * merge vouches for its parents. In strict mode every listed commit must verify.
 */
export async function verifyCommits(source: GitSource, commits: readonly string[], policy: VerifyPolicy, workDir: string): Promise<SignatureCheck> {
  const head = commits[0];
  if (!head) return { ok: true, status: 'unchecked', mode: policy.mode, checked: 0, detail: 'no new commits' };
  if (commits.length > MAX_VERIFIED_COMMITS) {
    return { ok: false, status: 'unchecked', mode: policy.mode, checked: 0, reason: 'TooManyCommits', commit: head, detail: `more than ${MAX_VERIFIED_COMMITS} unverified commits; refusing` };
  }
  let prep;
  try {
    prep = await prepare(policy, workDir);
  } catch (err) {
    return { ok: false, status: 'E', mode: policy.mode, checked: 0, reason: 'VerificationError', commit: head, detail: (err as Error).message };
  }
  const allowed = new Set((policy.gpgFingerprints ?? []).map(normaliseFingerprint));
  const toCheck = policy.mode === 'strict' ? commits : [head];
  // One `git log --no-walk` verifies every listed commit; %GF/%GP give the signing and primary key.
  const log = await runGit(['-C', source.repoDir, ...prep.config, 'log', '--no-walk=unsorted', '--format=%H%x00%G?%x00%GF%x00%GP%x00%GS', ...toCheck], {
    env: prep.env,
    timeoutMs: 120_000,
  });
  if (log.code !== 0) {
    return { ok: false, status: 'E', mode: policy.mode, checked: 0, reason: 'VerificationError', commit: head, detail: `git log failed: ${firstLine(log.stderr)}` };
  }
  const verdicts = new Map<string, { status: string; fpr: string; primary: string; signer: string }>();
  for (const line of log.stdout.toString('utf8').split('\n')) {
    if (line === '') continue;
    const [h = '', status = '', fpr = '', primary = '', signer = ''] = line.split('\0');
    verdicts.set(h, { status, fpr: normaliseFingerprint(fpr), primary: normaliseFingerprint(primary), signer });
  }
  let checked = 0;
  for (const c of toCheck) {
    const v = verdicts.get(c);
    checked++;
    const status = v?.status ?? 'E';
    const fail = (reason: SignatureReason, detail: string): SignatureCheck => ({ ok: false, status, mode: policy.mode, checked, reason, commit: c, detail });
    if (status === 'N') return fail('SignatureMissing', `commit ${c.slice(0, 12)} is not signed`);
    if (status === 'B') return fail('SignatureInvalid', `commit ${c.slice(0, 12)} has a bad signature`);
    if (status !== 'G') return fail('SignatureUntrusted', `commit ${c.slice(0, 12)} is signed by an untrusted key (status ${status}${v?.fpr ? ', key ' + v.fpr : ''})`);
    // GPG: the keyring is private, but the fingerprint allow-list is what decides.
    const isGpg = v !== undefined && v.fpr !== '' && !v.fpr.startsWith('SHA256:');
    if (isGpg && !allowed.has(v.fpr) && !allowed.has(v.primary)) return fail('SignatureUntrusted', `commit ${c.slice(0, 12)} is signed by key ${v.fpr}, which is not on the allow-list`);
  }
  // Belt and braces for HEAD: git's own verdict, by exit code.
  const vc = await runGit(['-C', source.repoDir, ...prep.config, 'verify-commit', head], { env: prep.env, timeoutMs: 30_000 });
  if (vc.code !== 0) {
    return { ok: false, status: verdicts.get(head)?.status ?? 'E', mode: policy.mode, checked, reason: 'SignatureUntrusted', commit: head, detail: `git verify-commit refused ${head.slice(0, 12)}: ${firstLine(vc.stderr)}` };
  }
  const hv = verdicts.get(head);
  return { ok: true, status: 'G', mode: policy.mode, checked, signer: hv?.signer || hv?.fpr || '', detail: `${checked} commit(s) verified` };
}
