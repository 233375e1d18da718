// `portico serve` as a real process for end-to-end tests: start it with given arguments, wait for
// readiness (failing with its own output if it exits), read its admin API, send it a signed webhook,
// stop it with SIGTERM or kill it.

import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { githubSignature } from '../../src/controller/webhooks.js';
import { pollUntil, WaitTimeout } from './wait-until.js';

export const PORTICO_BIN = join(process.cwd(), 'bin', 'portico.js');

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
  readonly headers: http.IncomingHttpHeaders;
}

export function httpRequest(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string; host?: string; timeoutMs?: number } = {}): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    const req = http.request({ host: opts.host ?? '127.0.0.1', port, path, method: opts.method ?? 'GET', agent: false, headers: opts.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      res.on('error', () => resolve({ status: 0, body: '', headers: {} }));
    });
    req.setTimeout(opts.timeoutMs ?? 5000, () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '', headers: {} }));
    req.end(opts.body);
  });
}

/** How long a wait on a replica lasts before it fails: replicas start, fetch and converge on a busy machine. */
export const REPLICA_WAIT = { timeoutMs: 30_000 } as const;

export class ServeReplica {
  proc: ChildProcess | undefined;
  output = '';
  private deliveries = 0;

  constructor(
    readonly name: string,
    readonly adminPort: number,
    private readonly args: () => string[],
  ) {}

  start(env: NodeJS.ProcessEnv = process.env): void {
    this.output = '';
    const p = spawn(process.execPath, [PORTICO_BIN, 'serve', ...this.args()], { stdio: ['ignore', 'ignore', 'pipe'], env });
    this.proc = p;
    p.stderr!.on('data', (b: Buffer) => {
      this.output += b.toString();
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    });
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Waits for /readyz; fails at once, with the replica's own output, if it exits first. */
  async ready(): Promise<void> {
    const state = await pollUntil(
      `${this.name} ready`,
      async () => (!this.running ? 'exited' : (await httpRequest(this.adminPort, '/readyz')).status === 200 ? 'ready' : undefined),
      { ...REPLICA_WAIT, ...(this.proc ? { wake: [this.proc, 'exit'] as const } : {}) },
    ).catch((err: Error) => {
      if (err instanceof WaitTimeout) throw new Error(`${err.message}; its output:\n${this.output.slice(-4000)}`);
      throw err;
    });
    if (state === 'exited') throw new Error(`${this.name} exited (${this.proc?.exitCode ?? this.proc?.signalCode}) before it was ready:\n${this.output.slice(-4000)}`);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const p = this.proc;
    if (!p || !this.running) return p?.exitCode ?? null;
    const code = new Promise<number | null>((resolve) => p.once('exit', (c) => resolve(c)));
    p.kill(signal);
    return code;
  }

  async json<T>(path: string): Promise<T | undefined> {
    const r = await httpRequest(this.adminPort, path);
    if (r.status !== 200) return undefined;
    return JSON.parse(r.body) as T;
  }

  /** A GitHub push webhook signed with `secret`; each delivery has its own id and body. */
  async webhook(secret: string, source?: string): Promise<number> {
    const n = ++this.deliveries;
    const body = JSON.stringify({ ref: 'refs/heads/main', delivery: `${this.name}-${n}-${Date.now()}` });
    const r = await httpRequest(this.adminPort, `/hooks/github${source ? `/${source}` : ''}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': githubSignature(secret, body), 'x-github-delivery': `${this.name}-${n}-${Date.now()}` },
      body,
    });
    return r.status;
  }
}

export interface SourceStatusRow {
  readonly name: string;
  readonly state: string;
  readonly message: string;
  readonly appliedRevision?: string;
  readonly desiredRevision?: string;
  readonly remedy?: string;
  readonly canary?: { revision: string; share: number; step: number; steps: number };
}

export interface StatusDocument {
  readonly sources: SourceStatusRow[];
  readonly fleet?: { transport: string; state: string; message: string; fallbackPollSeconds?: number };
  readonly release?: { running: unknown; last: unknown };
}

export async function appliedRevision(r: ServeReplica, source: string): Promise<string | undefined> {
  return (await r.json<StatusDocument>('/api/v1/status'))?.sources.find((s) => s.name === source)?.appliedRevision;
}
