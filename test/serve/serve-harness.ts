// Real-process fixtures for `portico serve`: an echo upstream, a config directory written as YAML,
// and the CLI spawned from bin/portico.js with its JSON log lines collected.

import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rename, rm, writeFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from './http-client.js';
import { freePort } from '../support/free-port.js';
import { listenerYaml, cleartextGatewayYaml, mappingYaml } from '../support/policy-yaml.js';
import { pollUntil, settlesWithin, whenTrue } from '../support/wait-until.js';

const BIN = resolve('bin/portico.js');

export interface Echo {
  readonly port: number;
  /** Requests to a path with /wait-for-release in it that wait for release(); 'held' is emitted as each arrives. */
  readonly held: EventEmitter & { readonly count: number };
  /** Answer every held request. */
  release(): void;
  close(): Promise<void>;
}

/** Answers with the path it received; a /wait-for-release path waits until the test calls release(). */
export async function startEcho(): Promise<Echo> {
  const waiting: (() => void)[] = [];
  const held = Object.defineProperty(new EventEmitter(), 'count', { get: () => waiting.length }) as EventEmitter & { readonly count: number };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const reply = () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: url.pathname }));
    if (url.pathname.includes('/wait-for-release')) {
      waiting.push(reply);
      held.emit('held');
    } else reply();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    held,
    release: () => {
      for (const reply of waiting.splice(0)) reply();
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export class ConfigDir {
  private constructor(readonly path: string) {}

  static async create(): Promise<ConfigDir> {
    return new ConfigDir(await mkdtemp(join(tmpdir(), 'portico-serve-')));
  }

  listener(port: number, name = 'http'): Promise<void> {
    return this.write('listener.yaml', cleartextGatewayYaml(port, name));
  }

  /** An HTTPS Listener, a Host for `hostname` terminating with a kubernetes.io/tls Secret. */
  async https(port: number, hostname: string, certPem: string, keyPem: string): Promise<void> {
    const b64 = (t: string) => Buffer.from(t).toString('base64');
    await this.write('listener.yaml', listenerYaml(port, 'https', 'HTTPS'));
    await this.write(
      'host.yaml',
      `apiVersion: getambassador.io/v3alpha1
kind: Host
metadata:
  name: site
spec:
  hostname: ${hostname}
  tlsSecret:
    name: site-cert
---
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata:
  name: site-cert
data:
  tls.crt: ${b64(certPem)}
  tls.key: ${b64(keyPem)}
`,
    );
  }

  mapping(name: string, prefix: string, upstreamPort: number): Promise<void> {
    return this.write(`mapping-${name}.yaml`, mappingYaml(name, prefix, upstreamPort));
  }

  /**
   * Written beside the folder, then renamed into it: the watching process never reads a file that
   * is half written (an empty listener.yaml would be a valid configuration without the listener).
   */
  async write(file: string, text: string): Promise<void> {
    const staged = `${this.path}.staged-${++ConfigDir.staged}`;
    await writeFile(staged, text);
    await rename(staged, join(this.path, file));
  }

  private static staged = 0;

  remove(file: string): Promise<void> {
    return unlink(join(this.path, file));
  }

  dispose(): Promise<void> {
    return rm(this.path, { recursive: true, force: true });
  }
}

export interface LogLine {
  readonly msg?: string;
  readonly [k: string]: unknown;
}

export class ServeProcess {
  readonly logs: LogLine[] = [];
  readonly stderr: string[] = [];
  /**
   * 'line' (text) for each line the process writes to stderr, 'log' (LogLine) for each JSON one, and
   * 'exit' once it ended and its output is read.
   */
  readonly events = new EventEmitter();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  admin = '';
  private readonly child: ChildProcess;
  private gone = false;

  constructor(args: readonly string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(process.execPath, [BIN, 'serve', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let buf = '';
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.stderr.push(line);
        this.events.emit('line', line);
        try {
          const parsed = JSON.parse(line) as LogLine;
          this.logs.push(parsed);
          if (parsed.msg === 'admin listening') this.admin = String(parsed.address);
          this.events.emit('log', parsed);
        } catch {}
      }
    });
    // Exited once the process has and its output is read: the last log lines come after 'exit'. A
    // worker that outlives its primary could hold the pipe open, so that wait is bounded.
    const outputRead = new Promise<void>((r) => this.child.stderr!.once('close', () => r()));
    this.exited = new Promise((r) => this.child.once('exit', (code, signal) => {
      void settlesWithin(outputRead, 5000).then(() => {
        this.gone = true;
        this.events.emit('exit');
        r({ code, signal });
      });
    }));
  }

  get pid(): number {
    return this.child.pid!;
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** The first log line (already written or still to come) that `match` takes. */
  waitLog(what: string, match: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine> {
    return this.firstOf(what, this.logs, 'log', match, timeoutMs, () => `last lines: ${this.stderr.slice(-3).join(' | ')}`);
  }

  /** The first stderr line (already written or still to come) that `match` takes, JSON or not. */
  waitLine(what: string, match: (line: string) => boolean, timeoutMs?: number): Promise<string> {
    return this.firstOf(what, this.stderr, 'line', match, timeoutMs);
  }

  /** The first entry of `lines` (growing as the process writes; `event` says so) that `match` takes. */
  private firstOf<T>(what: string, lines: readonly T[], event: 'log' | 'line', match: (x: T) => boolean, timeoutMs?: number, describe?: () => string): Promise<T> {
    let seen = 0;
    return whenTrue(what, () => {
      for (; seen < lines.length; seen++) if (match(lines[seen] as T)) return lines[seen];
      if (this.gone) throw new Error(`the process exited while waiting for ${what}: ${this.stderr.slice(-3).join(' | ')}`);
      return undefined;
    }, [[this.events, event, 'exit']], { timeoutMs, ...(describe ? { describe } : {}) });
  }

  /**
   * For admin API state: `check` again whenever the process writes a line (a change worth a look),
   * and between lines at a short interval; bounded.
   */
  poll<T>(what: string, check: () => Promise<T | false | undefined | null>, timeoutMs?: number): Promise<T> {
    return pollUntil(what, check, { wake: [this.events, 'line', 'exit'], timeoutMs });
  }

  /** Wait for the admin address and the first applied configuration. */
  async ready(): Promise<void> {
    await this.waitLog('the admin address', (l) => l.msg === 'admin listening');
    await this.poll('readiness', async () => (await request(`${this.admin}/readyz`)).status === 200);
  }

  async config(): Promise<Record<string, any>> {
    return JSON.parse((await request(`${this.admin}/api/v1/config`)).body) as Record<string, any>;
  }

  async waitGeneration(min: number): Promise<Record<string, any>> {
    return this.poll(`generation ${min}`, async () => {
      const c = await this.config();
      return c.generation >= min ? c : undefined;
    });
  }

  /** Kill it if a test left it running. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

export interface StableServe {
  readonly dir: ConfigDir;
  readonly proc: ServeProcess;
  readonly port: number;
}

/**
 * `portico serve DIR` on a fresh folder holding one Listener and the `stable` Mapping to `up` (plus
 * `files`), admin on a free port, access log off unless `args` say otherwise; resolves when ready.
 * What it starts is pushed onto `cleanups`.
 */
export async function serveStable(
  up: Echo, cleanups: (() => Promise<void>)[],
  o: { readonly args?: readonly string[]; readonly env?: NodeJS.ProcessEnv; readonly files?: Readonly<Record<string, string>> } = {},
): Promise<StableServe> {
  const dir = await ConfigDir.create();
  cleanups.push(() => dir.dispose());
  const port = await freePort();
  await dir.listener(port);
  await dir.mapping('stable', '/stable/', up.port);
  for (const [name, text] of Object.entries(o.files ?? {})) await dir.write(name, text);
  const args = ['--config', dir.path, '--admin', '127.0.0.1:0', ...(o.args ?? [])];
  if (!args.includes('--access-log')) args.push('--access-log', 'off');
  const proc = new ServeProcess(args, o.env);
  cleanups.push(() => proc.stop());
  await proc.ready();
  return { dir, proc, port };
}
