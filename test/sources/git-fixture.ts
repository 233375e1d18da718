// Git fixture for source and controller tests: real repositories in temp folders, commits with a
// fixed identity, a bare remote served by `git daemon` on 127.0.0.1, and a blackhole TCP server.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, symlinkSync, unlinkSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort } from '../support/free-port.js';
import { pollUntil, WAIT_BOUND_MS } from '../support/wait-until.js';

export const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Team Member',
  GIT_AUTHOR_EMAIL: 'member@example.com',
  GIT_COMMITTER_NAME: 'Team Member',
  GIT_COMMITTER_EMAIL: 'member@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

export function git(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): string {
  return execFileSync('git', args, { cwd, env: { ...GIT_ENV, ...env }, encoding: 'utf8', ...(input !== undefined ? { input } : { stdio: ['ignore', 'pipe', 'pipe'] }) }).trim();
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `portico-${prefix}-`));
}

/** A working repository with a bare "remote" next to it; commits are pushed to the remote. */
export class TestRepo {
  readonly work: string;
  readonly bare: string;

  constructor(
    readonly root: string,
    readonly name: string,
    readonly branch = 'main',
  ) {
    this.work = join(root, `${name}-work`);
    this.bare = join(root, `${name}.git`);
    mkdirSync(this.work, { recursive: true });
    git(root, ['init', '-q', '--bare', '-b', branch, this.bare]);
    git(this.work, ['init', '-q', '-b', branch]);
    git(this.work, ['remote', 'add', 'origin', this.bare]);
  }

  write(path: string, content: string): this {
    const p = join(this.work, path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
    return this;
  }

  remove(path: string): this {
    unlinkSync(join(this.work, path));
    return this;
  }

  symlink(path: string, target: string): this {
    const p = join(this.work, path);
    mkdirSync(dirname(p), { recursive: true });
    symlinkSync(target, p);
    return this;
  }

  /** Commits everything and pushes; returns the new commit id. `signArgs` e.g. ['-S', '-c', ...]. */
  commit(message: string, opts: { config?: string[]; sign?: boolean; env?: NodeJS.ProcessEnv; push?: boolean } = {}): string {
    git(this.work, ['add', '-A']);
    const cfg = opts.config ?? [];
    git(this.work, [...cfg, 'commit', '-q', '--allow-empty', ...(opts.sign ? ['-S'] : ['--no-gpg-sign']), '-m', message], opts.env);
    if (opts.push !== false) this.push();
    return this.head();
  }

  push(force = false): void {
    git(this.work, ['push', '-q', ...(force ? ['--force'] : []), 'origin', `HEAD:refs/heads/${this.branch}`]);
  }

  head(): string {
    return git(this.work, ['rev-parse', 'HEAD']);
  }
}


function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** `git daemon` serving every repository under `baseDir` read-only on 127.0.0.1. */
export class GitDaemon {
  private proc: ChildProcess | undefined;
  port = 0;

  constructor(readonly baseDir: string) {}

  url(repoPath: string): string {
    return `git://127.0.0.1:${this.port}/${repoPath}`;
  }

  async start(): Promise<void> {
    // git daemon cannot listen on port 0: pick a free port, then retry on a collision. Readiness is
    // the daemon's own "Ready to rumble", not a successful connect: a connect could reach another
    // process that took the port first, and a fetch from it would hang.
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = this.port || (await freePort());
      const proc = spawn('git', ['daemon', '--verbose', '--reuseaddr', '--export-all', `--base-path=${this.baseDir}`, '--listen=127.0.0.1', `--port=${port}`, this.baseDir], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: GIT_ENV,
      });
      const listening = await new Promise<boolean>((resolve) => {
        let seen = '';
        // a bound, generous for a busy machine: a daemon that never says it is ready is retried
        const timer = setTimeout(() => resolve(false), WAIT_BOUND_MS);
        proc.stderr!.on('data', (b: Buffer) => {
          if (seen.length < 4096) seen += b.toString();
          if (seen.includes('Ready to rumble')) {
            clearTimeout(timer);
            resolve(true);
          }
        });
        proc.once('exit', () => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      if (listening) {
        this.proc = proc;
        this.port = port;
        return;
      }
      proc.kill('SIGKILL');
      this.port = 0;
    }
    throw new Error('git daemon did not start');
  }

  /** Stops the daemon; `start()` again reuses the same port. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
    // The daemon's children (one per fetch) may hold the listening socket a little longer: polled,
    // since nothing tells when the port is free.
    await pollUntil(`port ${this.port} to refuse connections after git daemon stopped`, async () => !(await canConnect(this.port)), { everyMs: 20 });
  }
}

/** A TCP server that accepts connections and never answers. */
export async function startBlackhole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Makes an ed25519 key pair with ssh-keygen; returns paths and the allowed-signers line. */
export function makeSshKey(dir: string, principal: string): { key: string; pub: string; allowedSigners: string; config: string[] } {
  const key = join(dir, `${principal.replace(/[^a-z0-9]/gi, '_')}_ed25519`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', principal, '-f', key], { stdio: 'ignore' });
  const pub = readFileSync(`${key}.pub`, 'utf8').trim();
  const [type, body] = pub.split(' ');
  return {
    key,
    pub,
    allowedSigners: `${principal} namespaces="git" ${type} ${body}`,
    config: ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${key}`],
  };
}

/** Command lines of the running processes, from /proc (no dependency on procps). */
export function runningCommandLines(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(pid)) continue;
    try {
      out.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '));
    } catch {}
  }
  return out;
}

/** Whether any running process mentions `text` on its command line. */
export function processMentions(text: string): boolean {
  return runningCommandLines().some((c) => c.includes(text));
}

/**
 * Smart-HTTP git server on 127.0.0.1: each request runs `git http-backend` as a CGI program.
 * With `requireAuth`, every request without the given basic credentials gets 401.
 */
export async function startGitHttp(projectRoot: string, opts: { requireAuth?: string } = {}): Promise<{ url(repo: string): string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (opts.requireAuth && req.headers.authorization !== `Basic ${Buffer.from(opts.requireAuth).toString('base64')}`) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' });
      res.end();
      return;
    }
    const u = new URL(req.url ?? '/', 'http://x');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        ...GIT_ENV,
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: decodeURIComponent(u.pathname),
        QUERY_STRING: u.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_ADDR: '127.0.0.1',
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (b: Buffer) => {
      if (headersDone) {
        res.write(b);
        return;
      }
      head = Buffer.concat([head, b]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const i = line.indexOf(':');
        const name = line.slice(0, i).trim();
        const value = line.slice(i + 1).trim();
        if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
        else res.setHeader(name, value);
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
    });
    cgi.on('close', () => res.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: (repo) => `http://127.0.0.1:${port}/${repo}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
