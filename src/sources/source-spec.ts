// What a git source is (name, URL, branch, path) and the `NAME=URL#BRANCH:PATH` form the command
// line uses. Validation here keeps option injection and odd transports away from the git CLI.

import { isAbsolute, resolve } from 'node:path';
import { domainToASCII } from 'node:url';

export interface GitSourceSpec {
  /** Source name: names origins, claims, state and history entries. */
  readonly name: string;
  /** file://, git://, http(s)://, ssh:// or scp-like URL, or a local path (made absolute). */
  readonly url: string;
  /** Branch to follow; "HEAD" follows the remote's default branch. */
  readonly branch: string;
  /** Folder inside the repository holding the configuration ("" = the whole tree). */
  readonly path: string;
}

export class SourceSpecError extends Error {
  readonly code = 'PORTICO_ERR_SOURCE_SPEC';
  constructor(message: string) {
    super(message);
    this.name = 'SourceSpecError';
  }
}

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const BRANCH_RE = /^[A-Za-z0-9._/-]+$/;
/** A host name as DNS has it (after IDNA): labels of letters, digits, '-' and '_', none empty, not led by '-'. */
const HOST_RE = /^(?!-)[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/;
const IP6_HOST_RE = /^\[[0-9A-Fa-f:.]+\]$/;

/** The host of `scheme://[user@]host[:port]/…`, when it is one git could connect to. */
function urlHost(u: string, schemeLength: number): string | undefined {
  const authority = u.slice(schemeLength).split(/[/?#]/, 1)[0] ?? '';
  const m = /^(\[[^\]]*\]|[^:]*)(?::\d*)?$/.exec(authority.slice(authority.lastIndexOf('@') + 1));
  const host = m?.[1] ?? '';
  if (IP6_HOST_RE.test(host)) return host;
  return HOST_RE.test(domainToASCII(host)) ? host : undefined;
}

export function validateSourceName(name: string): string | undefined {
  return NAME_RE.test(name) ? undefined : `source name '${name}' must be lower-case letters, digits and '-' (at most 63)`;
}

export function validateBranch(branch: string): string | undefined {
  if (branch === 'HEAD') return undefined;
  if (!BRANCH_RE.test(branch) || branch.startsWith('-') || branch.startsWith('/') || branch.includes('..') || branch.endsWith('/') || branch.endsWith('.lock')) {
    return `branch '${branch}' is not a valid branch name`;
  }
  return undefined;
}

/** Normalises a folder inside the repository: no leading or trailing '/', no '..' or '.' segments. */
export function normaliseRepoPath(p: string): string | { error: string } {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.some((s) => s === '..')) return { error: `path '${p}' must stay inside the repository (no '..')` };
  if (parts.some((s) => s.startsWith('-'))) return { error: `path '${p}' has a segment starting with '-'` };
  return parts.join('/');
}

/** Normalises a URL or local path; refuses transports that run commands and option-like values. */
export function normaliseUrl(url: string, baseDir = process.cwd()): string | { error: string } {
  const u = url.trim();
  if (u === '') return { error: 'source URL is empty' };
  if (u.startsWith('-')) return { error: `source URL '${u}' must not start with '-'` };
  if (/[\0\n\r]/.test(u)) return { error: 'source URL contains control characters' };
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(u);
  if (scheme) {
    const s = scheme[1]!.toLowerCase();
    if (!['file', 'git', 'http', 'https', 'ssh'].includes(s)) return { error: `source URL scheme '${s}' is not supported (file, git, http, https, ssh)` };
    // Else an example's 'https://…' or a stray space is only found at the first fetch, in a running pod.
    if (s !== 'file' && urlHost(u, scheme[0].length) === undefined) return { error: `source URL '${u}' has no valid host name` };
    return u;
  }
  if (/^[a-z][a-z0-9+.-]*::/i.test(u)) return { error: `source URL '${u}' uses a remote helper transport, which is not allowed` };
  // scp-like "user@host:path" (a ':' before any '/').
  if (/^[^/:]+:/.test(u) && !isAbsolute(u)) return u;
  return resolve(baseDir, u);
}

/**
 * Parses `NAME=URL[#BRANCH][:PATH]`. The ':PATH' part is only recognised after '#BRANCH', since
 * URLs contain ':' themselves.
 */
export function parseSourceArg(arg: string, baseDir = process.cwd()): GitSourceSpec {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new SourceSpecError(`--source '${arg}': expected NAME=URL#BRANCH:PATH`);
  const name = arg.slice(0, eq);
  const nameErr = validateSourceName(name);
  if (nameErr) throw new SourceSpecError(`--source '${arg}': ${nameErr}`);
  let rest = arg.slice(eq + 1);
  let branch = 'HEAD';
  let path = '';
  const hash = rest.lastIndexOf('#');
  if (hash >= 0) {
    const ref = rest.slice(hash + 1);
    rest = rest.slice(0, hash);
    const colon = ref.indexOf(':');
    branch = colon >= 0 ? ref.slice(0, colon) : ref;
    path = colon >= 0 ? ref.slice(colon + 1) : '';
    if (branch === '') branch = 'HEAD';
  }
  return makeSourceSpec({ name, url: rest, branch, path }, baseDir, `--source '${arg}'`);
}

/** Validates and normalises a spec; `context` prefixes error messages. */
export function makeSourceSpec(s: { name: string; url: string; branch?: string; path?: string }, baseDir = process.cwd(), context = `source '${s.name}'`): GitSourceSpec {
  const nameErr = validateSourceName(s.name);
  if (nameErr) throw new SourceSpecError(`${context}: ${nameErr}`);
  const url = normaliseUrl(s.url, baseDir);
  if (typeof url !== 'string') throw new SourceSpecError(`${context}: ${url.error}`);
  const branch = s.branch ?? 'HEAD';
  const branchErr = validateBranch(branch);
  if (branchErr) throw new SourceSpecError(`${context}: ${branchErr}`);
  const path = normaliseRepoPath(s.path ?? '');
  if (typeof path !== 'string') throw new SourceSpecError(`${context}: ${path.error}`);
  return { name: s.name, url, branch, path };
}
