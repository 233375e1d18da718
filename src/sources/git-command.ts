// Runs the git CLI for the git source: argument arrays (never a shell), no prompts, a hard timeout
// that kills the whole process group (remote helpers included), and a cap on captured output.

import { spawn } from 'node:child_process';

export const GIT_DEFAULT_TIMEOUT_MS = 60_000;
export const GIT_DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024;

export interface GitRunOptions {
  /** Directory to run in (`git -C` is used for repositories; this is the process cwd). */
  readonly cwd?: string;
  readonly timeoutMs?: number;
  /** Bytes of stdout kept before the process is killed as over the cap. */
  readonly maxOutputBytes?: number;
  readonly input?: string | Buffer;
  /** Extra environment on top of the hardened base environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Aborting kills the git process group (a controller that stops does not leave fetches behind). */
  readonly signal?: AbortSignal;
  /**
   * Called every `everyMs` while git runs; a returned message kills the process group with
   * PORTICO_ERR_GIT_SIZE_CAP (a download that outgrows its cap is stopped, not waited for).
   */
  readonly watch?: { readonly everyMs: number; check(): string | undefined };
}

export interface GitRunResult {
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** A program fault or an environmental failure around git, with a stable code. */
export class GitCommandError extends Error {
  constructor(
    readonly code: 'PORTICO_ERR_GIT_TIMEOUT' | 'PORTICO_ERR_GIT_OUTPUT_CAP' | 'PORTICO_ERR_GIT_SIZE_CAP' | 'PORTICO_ERR_GIT_SPAWN' | 'PORTICO_ERR_GIT_FAILED' | 'PORTICO_ERR_GIT_ABORTED',
    message: string,
    readonly stderr = '',
  ) {
    super(message);
    this.name = 'GitCommandError';
  }
}

/**
 * Configuration given to every git invocation. ext:: transports run arbitrary commands, so they
 * are refused; submodules are never recursed into; no credential helper or terminal prompt can
 * block a fetch; an unknown SSH host key is never accepted.
 */
const HARDENING_CONFIG = [
  '-c', 'protocol.ext.allow=never',
  '-c', 'fetch.recurseSubmodules=false',
  '-c', 'submodule.recurse=false',
  '-c', 'credential.helper=',
  '-c', 'core.askPass=',
  '-c', 'core.hooksPath=/dev/null',
  '-c', 'core.fsmonitor=false',
  '-c', 'http.lowSpeedLimit=1000',
  '-c', 'http.lowSpeedTime=20',
];

function baseEnv(extra: Readonly<Record<string, string>> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // Only what git and ssh need from the parent; nothing that would redirect git elsewhere.
  for (const k of ['PATH', 'HOME', 'LANG', 'TMPDIR', 'SSH_AUTH_SOCK', 'http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY']) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  env.GIT_TERMINAL_PROMPT = '0';
  env.GIT_ASKPASS = 'true';
  env.SSH_ASKPASS = 'true';
  env.GIT_SSH_COMMAND = 'ssh -o BatchMode=yes -o StrictHostKeyChecking=yes';
  env.GIT_CONFIG_NOSYSTEM = '1';
  env.LC_ALL = 'C';
  return { ...env, ...extra };
}

/** Process groups of running git commands; killed if this process exits first (they run detached). */
const activeGroups = new Set<number>();
let exitHookInstalled = false;

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {}
}

export function runGit(args: readonly string[], opts: GitRunOptions = {}): Promise<GitRunResult> {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const pid of activeGroups) killGroup(pid);
    });
  }
  const timeoutMs = opts.timeoutMs ?? GIT_DEFAULT_TIMEOUT_MS;
  const maxOut = opts.maxOutputBytes ?? GIT_DEFAULT_MAX_OUTPUT;
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn('git', [...HARDENING_CONFIG, ...args], {
        cwd: opts.cwd,
        env: baseEnv(opts.env),
        stdio: ['pipe', 'pipe', 'pipe'],
        // Own process group, so a timeout also ends git-remote-* and ssh helpers.
        detached: true,
      });
    } catch (err) {
      reject(new GitCommandError('PORTICO_ERR_GIT_SPAWN', `cannot run git: ${(err as Error).message}`));
      return;
    }
    const pid = child.pid;
    if (pid) activeGroups.add(pid);
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let failure: GitCommandError | undefined;
    const kill = (f: GitCommandError): void => {
      if (failure) return;
      failure = f;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(
      () => kill(new GitCommandError('PORTICO_ERR_GIT_TIMEOUT', `git ${args[0] ?? ''} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onAbort = (): void => kill(new GitCommandError('PORTICO_ERR_GIT_ABORTED', `git ${args[0] ?? ''} aborted`));
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    const watcher = opts.watch
      ? setInterval(() => {
          const over = opts.watch!.check();
          if (over !== undefined) kill(new GitCommandError('PORTICO_ERR_GIT_SIZE_CAP', over));
        }, opts.watch.everyMs)
      : undefined;
    const done = (): void => {
      if (watcher) clearInterval(watcher);
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (pid) activeGroups.delete(pid);
    };
    child.stdout.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes > maxOut) {
        kill(new GitCommandError('PORTICO_ERR_GIT_OUTPUT_CAP', `git ${args[0] ?? ''} output exceeds ${maxOut} bytes`));
        return;
      }
      out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      if (err.length < 64 * 1024) err += b.toString('utf8');
    });
    child.on('error', (e) => {
      done();
      reject(new GitCommandError('PORTICO_ERR_GIT_SPAWN', `cannot run git: ${e.message}`));
    });
    child.on('close', (code) => {
      done();
      if (failure) reject(new GitCommandError(failure.code, failure.message, err));
      else resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.on('error', () => {
      // git may exit before reading all input (e.g. on a bad object); the exit code tells.
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs git and returns stdout as text; a non-zero exit becomes PORTICO_ERR_GIT_FAILED. */
export async function gitText(args: readonly string[], opts: GitRunOptions = {}): Promise<string> {
  const r = await runGit(args, opts);
  if (r.code !== 0) {
    throw new GitCommandError('PORTICO_ERR_GIT_FAILED', `git ${args[0] ?? ''} failed: ${firstLine(r.stderr)}`, r.stderr);
  }
  return r.stdout.toString('utf8');
}

export function firstLine(s: string): string {
  const lines = s.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  // git prints "fatal: ..." last; prefer it when present.
  const fatal = lines.find((l) => l.startsWith('fatal:'));
  return (fatal ?? lines[0] ?? 'no message').slice(0, 500);
}
