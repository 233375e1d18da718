// A small client for the Kubernetes API: where the API server is and how to authenticate (a kubeconfig
// file or the pod's service account), JSON requests, and watch streams read one event per line.
//
// Why not @kubernetes/client-node: Portico needs five calls (list, watch, status patch, and Lease get,
// create, update), while that library brings a generated client for every API, an OIDC client, tar,
// SOCKS proxies and its own Node type definitions; its informer stops at the first error and leaves
// reconnecting to the caller anyway (see informer.ts for what is done here instead).

import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { createRequire } from 'node:module';
import { systemReason } from '../api/system-error.js';
import { KubeApiError, KubeConfigError } from './kube-errors.js';

export { KubeApiError, KubeConfigError } from './kube-errors.js';

interface Credentials {
  readonly token?: string;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** When these credentials must be asked for again (exec plugins, service account tokens). */
  readonly expiresAt?: number;
}

export interface KubeConnection {
  readonly server: URL;
  readonly ca?: string | Buffer;
  readonly insecureSkipTLSVerify?: boolean;
  readonly tlsServerName?: string;
  /** Where the configuration came from, for messages: a kubeconfig path and context, or "in-cluster". */
  readonly describe: string;
  /** The namespace of the context (or of the pod): the default for the status Lease. */
  readonly namespace?: string;
  credentials(): Promise<Credentials>;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The pod's service account, when running in a cluster (KUBERNETES_SERVICE_HOST is set). */
export function inClusterConnection(env: NodeJS.ProcessEnv = process.env, dir = SA_DIR): KubeConnection | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) return undefined;
  const read = (f: string): string => {
    try {
      return readFileSync(join(dir, f), 'utf8');
    } catch (err) {
      throw new KubeConfigError(`in-cluster configuration: cannot read ${join(dir, f)}: ${systemReason(err)}`);
    }
  };
  const ca = read('ca.crt');
  let namespace: string | undefined;
  try {
    namespace = readFileSync(join(dir, 'namespace'), 'utf8').trim();
  } catch {
    namespace = undefined;
  }
  return {
    server: new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`),
    ca,
    describe: 'in-cluster service account',
    ...(namespace ? { namespace } : {}),
    // Projected service account tokens rotate: read again every minute.
    credentials: async () => ({ token: read('token').trim(), expiresAt: Date.now() + 60_000 }),
  };
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function named(list: unknown, name: string, what: string, file: string): Obj {
  const entry = Array.isArray(list) ? list.find((e) => isObj(e) && e.name === name) : undefined;
  if (!isObj(entry) || !isObj(entry[what])) throw new KubeConfigError(`kubeconfig ${file}: no ${what} named '${name}'`);
  return entry[what] as Obj;
}

/** The kubeconfig file to use: --kubeconfig, else the first file of $KUBECONFIG, else ~/.kube/config. */
export function defaultKubeconfigPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = env.KUBECONFIG?.split(':').find((p) => p !== '');
  if (fromEnv) return fromEnv;
  const home = join(homedir(), '.kube', 'config');
  return existsSync(home) ? home : undefined;
}

/** Reads a kubeconfig file: its current context (or `context`), cluster and user. */
export function kubeconfigConnection(file: string, context?: string): KubeConnection {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new KubeConfigError(`cannot read kubeconfig ${file}: ${systemReason(err)}`);
  }
  let doc: unknown;
  try {
    // Loaded here, not at import: every command imports this module, few read a kubeconfig.
    const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
    doc = parse(text);
  } catch (err) {
    throw new KubeConfigError(`kubeconfig ${file} is not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!isObj(doc)) throw new KubeConfigError(`kubeconfig ${file} is empty or not a mapping`);
  const ctxName = context ?? (typeof doc['current-context'] === 'string' ? doc['current-context'] : undefined);
  if (!ctxName) throw new KubeConfigError(`kubeconfig ${file} has no current-context (give --kube-context)`);
  const ctx = named(doc.contexts, ctxName, 'context', file);
  const cluster = named(doc.clusters, String(ctx.cluster), 'cluster', file);
  const user = typeof ctx.user === 'string' && ctx.user !== '' ? named(doc.users, ctx.user, 'user', file) : {};
  const base = dirname(file);
  const path = (p: unknown): string => (isAbsolute(String(p)) ? String(p) : join(base, String(p)));
  const readPem = (dataKey: string, fileKey: string, from: Obj): string | undefined => {
    if (typeof from[dataKey] === 'string') return Buffer.from(from[dataKey] as string, 'base64').toString('utf8');
    if (typeof from[fileKey] === 'string') {
      try {
        return readFileSync(path(from[fileKey]), 'utf8');
      } catch (err) {
        throw new KubeConfigError(`kubeconfig ${file}: cannot read ${fileKey} ${String(from[fileKey])}: ${systemReason(err)}`);
      }
    }
    return undefined;
  };
  if (typeof cluster.server !== 'string') throw new KubeConfigError(`kubeconfig ${file}: cluster '${String(ctx.cluster)}' has no server`);
  let server: URL;
  try {
    server = new URL(cluster.server);
  } catch {
    throw new KubeConfigError(`kubeconfig ${file}: server '${cluster.server}' is not a URL`);
  }
  if (server.protocol !== 'https:' && server.protocol !== 'http:') throw new KubeConfigError(`kubeconfig ${file}: server '${cluster.server}' is not http(s)`);
  const ca = readPem('certificate-authority-data', 'certificate-authority', cluster);
  const cert = readPem('client-certificate-data', 'client-certificate', user);
  const key = readPem('client-key-data', 'client-key', user);
  const token = typeof user.token === 'string' ? user.token : undefined;
  const tokenFile = typeof user.tokenFile === 'string' ? path(user.tokenFile) : undefined;
  const exec = isObj(user.exec) ? user.exec : undefined;
  if (user['auth-provider'] !== undefined) throw new KubeConfigError(`kubeconfig ${file}: user '${String(ctx.user)}' uses an auth-provider, which is not supported (use an exec credential plugin)`);
  let cached: Credentials | undefined;
  const credentials = async (): Promise<Credentials> => {
    if (exec) {
      if (cached && (cached.expiresAt === undefined || cached.expiresAt > Date.now() + 10_000)) return cached;
      cached = await runExecPlugin(exec, file, base);
      return cached;
    }
    if (tokenFile) {
      try {
        return { token: readFileSync(tokenFile, 'utf8').trim(), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
      } catch (err) {
        throw new KubeConfigError(`kubeconfig ${file}: cannot read tokenFile ${tokenFile}: ${systemReason(err)}`);
      }
    }
    return { ...(token ? { token } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  };
  return {
    server,
    ...(ca ? { ca } : {}),
    ...(cluster['insecure-skip-tls-verify'] === true ? { insecureSkipTLSVerify: true } : {}),
    ...(typeof cluster['tls-server-name'] === 'string' ? { tlsServerName: cluster['tls-server-name'] } : {}),
    describe: `kubeconfig ${file}, context ${ctxName}`,
    ...(typeof ctx.namespace === 'string' ? { namespace: ctx.namespace } : {}),
    credentials,
  };
}

/** Runs a client.authentication.k8s.io exec plugin and reads its ExecCredential. */
function runExecPlugin(exec: Obj, file: string, cwd: string): Promise<Credentials> {
  const command = String(exec.command ?? '');
  const args = Array.isArray(exec.args) ? exec.args.map(String) : [];
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const e of Array.isArray(exec.env) ? exec.env : []) if (isObj(e) && typeof e.name === 'string') env[e.name] = String(e.value ?? '');
  const apiVersion = typeof exec.apiVersion === 'string' ? exec.apiVersion : 'client.authentication.k8s.io/v1';
  env.KUBERNETES_EXEC_INFO = JSON.stringify({ apiVersion, kind: 'ExecCredential', spec: { interactive: false } });
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, cwd, timeout: 30_000, maxBuffer: 1024 * 1024 }, (err, stdout) => {
      if (err) return reject(new KubeConfigError(`kubeconfig ${file}: exec plugin '${command}' failed: ${err.message.split('\n')[0]}`));
      let status: Obj;
      try {
        const cred = JSON.parse(stdout) as Obj;
        status = isObj(cred.status) ? cred.status : {};
      } catch {
        return reject(new KubeConfigError(`kubeconfig ${file}: exec plugin '${command}' did not print an ExecCredential`));
      }
      const expiry = typeof status.expirationTimestamp === 'string' ? Date.parse(status.expirationTimestamp) : NaN;
      resolve({
        ...(typeof status.token === 'string' ? { token: status.token } : {}),
        ...(typeof status.clientCertificateData === 'string' ? { cert: status.clientCertificateData } : {}),
        ...(typeof status.clientKeyData === 'string' ? { key: status.clientKeyData } : {}),
        ...(Number.isFinite(expiry) ? { expiresAt: expiry } : {}),
      });
    });
  });
}

export interface RequestOptions {
  readonly body?: unknown;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/** One watch event, as the API server streams it. */
export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: Obj;
}

const MAX_BODY_BYTES = 256 * 1024 * 1024;
const MAX_EVENT_BYTES = 16 * 1024 * 1024;

export class KubeClient {
  /** Requests (lists, status patches, the Lease): a bounded pool. */
  private readonly agent: http.Agent;
  /**
   * Watches: each holds its connection for as long as it streams, one per collection and source,
   * so they get their own unbounded pool; in the requests' pool they would leave no socket for the
   * Lease's renewals and the status patches once there were as many watches as sockets.
   */
  private readonly watchAgent: http.Agent;
  readonly userAgent: string;

  constructor(
    readonly connection: KubeConnection,
    opts: { userAgent?: string } = {},
  ) {
    const secure = connection.server.protocol === 'https:';
    this.agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 16 }) : new http.Agent({ keepAlive: true, maxSockets: 16 });
    this.watchAgent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.userAgent = opts.userAgent ?? 'portico';
  }

  private async open(method: string, path: string, opts: RequestOptions, accept = 'application/json', agent = this.agent): Promise<http.IncomingMessage> {
    const c = this.connection;
    const creds = await c.credentials();
    const url = new URL(path, c.server);
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: http.OutgoingHttpHeaders = { accept, 'user-agent': this.userAgent };
    if (creds.token) headers.authorization = `Bearer ${creds.token}`;
    if (body) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = body.length;
    }
    const secure = url.protocol === 'https:';
    const tls = secure
      ? {
          ...(c.ca ? { ca: c.ca } : {}),
          ...(creds.cert ? { cert: creds.cert } : {}),
          ...(creds.key ? { key: creds.key } : {}),
          ...(c.tlsServerName ? { servername: c.tlsServerName } : {}),
          rejectUnauthorized: c.insecureSkipTLSVerify !== true,
        }
      : {};
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(url, { method, headers, agent, ...tls, ...(opts.signal ? { signal: opts.signal } : {}) }, resolve);
      req.once('error', reject);
      if (opts.timeoutMs !== undefined) req.setTimeout(opts.timeoutMs, () => req.destroy(Object.assign(new Error(`no answer from ${c.server.origin} within ${opts.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.end(body);
    });
  }

  /** A JSON request; a non-2xx answer is a KubeApiError with the Status reason. */
  async request<T = Obj>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.open(method, path, { timeoutMs: 60_000, ...opts });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        res.destroy();
        throw new KubeApiError(0, 'TooLarge', `${method} ${path}: answer larger than ${MAX_BODY_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw apiError(status, text, `${method} ${path}`);
    return (text === '' ? {} : JSON.parse(text)) as T;
  }

  /**
   * Streams a watch: calls onEvent for each event until the server ends the stream (resolves) or the
   * connection fails (rejects). A non-2xx answer before the stream starts is a KubeApiError.
   */
  async watch(path: string, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    const res = await this.open('GET', path, { signal }, 'application/json', this.watchAgent);
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      let text = '';
      for await (const chunk of res as AsyncIterable<Buffer>) text += chunk.toString('utf8');
      throw apiError(status, text, `watch ${path}`);
    }
    let buffered = '';
    for await (const chunk of res as AsyncIterable<Buffer>) {
      buffered += chunk.toString('utf8');
      if (buffered.length > MAX_EVENT_BYTES) throw new KubeApiError(0, 'TooLarge', `watch ${path}: an event larger than ${MAX_EVENT_BYTES} bytes`);
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line !== '') onEvent(JSON.parse(line) as WatchEvent);
      }
    }
    if (buffered.trim() !== '') onEvent(JSON.parse(buffered) as WatchEvent);
  }

  close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
  }
}

function apiError(status: number, text: string, what: string): KubeApiError {
  let reason = String(status);
  let message = text.slice(0, 300);
  try {
    const s = JSON.parse(text) as Obj;
    if (typeof s.reason === 'string') reason = s.reason;
    if (typeof s.message === 'string') message = s.message;
  } catch {
    // Not a Status object: keep the text.
  }
  return new KubeApiError(status, reason, `${what}: ${status} ${reason}: ${message}`);
}
