// The command line of `portico serve`: every flag, checked once, turned into the serving options and
// the sources the controller runs (git repositories and folders are roots of the same reconcile).

import os from 'node:os';
import { isIP } from 'node:net';
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAdminAddress, AdminAddressError, isAdminHostName } from '../admin/admin-server.js';
import { isLoopbackHost, readAdminTLS, type AdminAccessOptions } from '../admin/admin-access.js';
import type { ServeOptions } from '../serve/serve-process.js';
import type { FleetServeOptions, KubernetesServeOptions, SourcesOptions } from '../controller/provider.js';
import { DEFAULT_INTERVAL_MS } from '../controller/controller.js';
import { kubernetesUrl, parseDuration, type DeclaredSource } from '../controller/source-kind.js';
import type { VerifyMode } from '../sources/commit-signatures.js';
import { makeSourceSpec, parseSourceArg, SourceSpecError, validateSourceName } from '../sources/source-spec.js';
import { FORGE_KINDS, type ForgeKind } from '../controller/forge-status.js';
import type { CommitStatusOptions, CredentialRef } from '../controller/notifications.js';
import { parse, UsageError } from './args.js';
import { ambassadorNamespaceArg, checkPinRef, namedSourceValue } from './offline-args.js';
import { CommandError } from './command-errors.js';
import { systemReason } from '../api/system-error.js';

/** A line of an SSH allowed-signers file: principals, optional options, then a key type and key. */
const SIGNER_LINE = /(^|\s)(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+)\s+[A-Za-z0-9+/=]+/;

export const SERVE_USAGE = `usage: portico serve (--config [NAME=]DIR | --source NAME=URL[#BRANCH][:PATH] | --kubernetes NAME=NAMESPACE)... [options]

sources (each one a named root of the same reconcile; see docs/gitops.md "How sources compose"):
  --config [NAME=]DIR    a folder of policy files (repeatable; NAME defaults to "dir"); watched, every
                         valid change is applied. Beside git sources it ranks below them: it can add
                         routes but never remove or override git's
  --source NAME=URL[#BRANCH][:PATH]
                         a git source (repeatable): file://, git://, http(s)://, ssh:// or a local path;
                         it may declare team sources with kind Source
  --local TEAM=DIR       read team source TEAM (declared by a Source) from a folder instead of its
                         repository, under the same claims
  --pin TEAM=REF         fetch team source TEAM at a ref or commit (e.g. refs/pull/12/head) instead of
                         its branch
  --kubernetes NAME=NAMESPACE
                         a namespace of a Kubernetes cluster as a root source (repeatable): its
                         Mappings, Hosts, ... and Sources (portico.dev/v1alpha1), which may declare
                         team namespaces (spec.kubernetes); see docs/kubernetes.md
  --kubeconfig FILE      the cluster Kubernetes sources read (default: the pod's service account in a
                         cluster, else $KUBECONFIG or ~/.kube/config); --kube-context NAME picks a context
  --identity ID          this replica's name in the status-writer Lease and in its fleet (default
                         $POD_NAME, else host-pid)
  --lease NS/NAME|off    the Lease that elects the one replica writing resource statuses (default
                         $POD_NAMESPACE/portico-status-writer); off: this process writes without one
  --no-status            never write resource statuses
  --secrets DIR          secrets directory laid out as mounted Kubernetes Secrets (DIR/NAME/tls.crt,
                         tls.key, ca.crt, or any key for header values): Hosts and TLSContexts in git
                         name entries as they name Secrets; cert_chain_file & co. resolve inside it
                         only. Watched: a change is used for new connections at once
  --state DIR            state folder: last-known-good set, history, git cache (default .portico with
                         git sources; folders only: kept in memory unless given)
  --poll-interval DUR    default poll interval of git sources, e.g. 30s (default 30s; jittered)
  --fetch-timeout DUR    abort a fetch after this long (default 60s)
  --fetch-max-size SIZE  stop a fetch that downloads more than SIZE (default 64MiB; e.g. 500KiB, 1GiB)
  --cache-max-size SIZE  refuse a fetch that grows one source's git cache past SIZE (default 512MiB)
  --verify NAME=MODE:FILE
                         require signed commits on git source NAME (MODE head|strict; FILE an SSH
                         allowed-signers file)
  --on-force-push P      refuse (default) or accept-with-strict, for git sources on the command line
  --webhook-secret S     enable /hooks/{github,gitlab,gitea,generic} with this secret (give twice
                         while rotating); also --webhook-secret-file FILE or PORTICO_WEBHOOK_SECRETS
  --ambassador-id ID     serve only resources whose ambassador_id includes ID (default "default")
  --ambassador-namespace NS
                         the namespace Portico runs in (default $AMBASSADOR_NAMESPACE, else "default"):
                         resources that name no namespace are in it, and a Mapping in another namespace
                         has its bare service name qualified with its own (quote → quote.shop)

fleet (replicas that move as one; see docs/fleet.md):
  --redis URL            redis://[:PASSWORD@]HOST:PORT[/DB] (or REDIS_URL): a webhook verified by any
                         replica makes every replica fetch, and each publishes what it serves; without
                         it, the peers the central repository lists (Module portico_fleet_peers)
  --fleet-name NAME      replicas with the same name on one Redis are one fleet (default "default")
  --fleet-heartbeat DUR  how often this replica tells the fleet what it serves (default 2s)
  --fleet-disagreement-bound DUR
                         a replica that serves other revisions than the majority for longer than
                         this is flagged (default 30s)
  --fleet-fallback-poll DUR
                         while the fleet bus is down, every source is polled this often (default 10s)
  (each replica is known to the fleet by its --identity)

telling teams (see docs/gitops.md "Teams hear about their commits"):
  --commit-status FORGE=API_URL
                         write a commit status for every revision of a git source: FORGE github, gitlab
                         or gitea; API_URL e.g. https://api.github.com, https://gitlab.example.com/api/v4
  --commit-status-token secret:NAME/KEY|file:PATH
                         the forge token: an entry of the --secrets directory, or a file (read when sent)
  --commit-status-context NAME
                         the status context, one per fleet of replicas (default "portico")
  --commit-status-repo SOURCE=PATH
                         the repository path on the forge when the source's URL does not give it
  --notify-webhook URL|secret:NAME/KEY|file:PATH
                         POST a JSON message (Slack-compatible) on every refusal, recovery and applied
                         change (repeatable); a URL that holds a token belongs in secret: or file:

serving:
  --bind ADDRESS         bind every Listener on this IP address instead of 0.0.0.0 (e.g. 127.0.0.2, ::1),
                         so several replicas can share a host; give each its own --admin too
  --admin HOST:PORT      read-only admin API address (default 127.0.0.1:8877; port 0 = any free port)
  --admin-host NAME      a further Host name the admin API answers for (repeatable); it always
                         answers for localhost, IP addresses and the --admin name, others get 421
  --admin-token-file FILE
                         the admin address asks for Authorization: Bearer TOKEN (FILE holds it;
                         re-read when it changes); needed, or mTLS, when --admin is not loopback
  --admin-token-secret NAME/KEY
                         the same with the token in the secrets directory (--secrets DIR: DIR/NAME/KEY)
  --admin-tls-secret NAME
                         serve the admin address over HTTPS and let in only clients whose certificate
                         the CA signs (DIR/NAME/tls.crt, tls.key, ca.crt of --secrets DIR)
  --workers N            worker processes that serve traffic (default: one per core); fetching, parsing
                         and compiling stay in the main process, off their event loops. 0 serves in
                         the main process itself (for development and tests)
  --drain-timeout MS     how long in-flight requests may take at shutdown or listener removal
                         (default: the configuration's drain timeout)
  --access-log PATH|-    JSON access log to a file or stdout (default -); 'off' disables it
  --generation-header    send x-portico-generation on responses (for tests; off by default)

Each bound listener is told on stderr ("listening on http://0.0.0.0:8080 (Listener default/http)"), beside
the JSON log; a start-up failure ends with "portico serve: PORTICO_ERR_*: why" and exit 1.`;

export const DEFAULT_STATE_DIR = '.portico';

const OPTIONS = {
  config: { type: 'string', multiple: true },
  source: { type: 'string', multiple: true },
  local: { type: 'string', multiple: true },
  pin: { type: 'string', multiple: true },
  state: { type: 'string' },
  secrets: { type: 'string' },
  'poll-interval': { type: 'string' },
  'fetch-timeout': { type: 'string' },
  'fetch-max-size': { type: 'string' },
  'cache-max-size': { type: 'string' },
  verify: { type: 'string', multiple: true },
  'on-force-push': { type: 'string' },
  'webhook-secret': { type: 'string', multiple: true },
  'webhook-secret-file': { type: 'string', multiple: true },
  'ambassador-id': { type: 'string' },
  'ambassador-namespace': { type: 'string' },
  'commit-status': { type: 'string' },
  'commit-status-token': { type: 'string' },
  'commit-status-context': { type: 'string' },
  'commit-status-repo': { type: 'string', multiple: true },
  'notify-webhook': { type: 'string', multiple: true },
  admin: { type: 'string' },
  bind: { type: 'string' },
  'admin-host': { type: 'string', multiple: true },
  'admin-token-file': { type: 'string' },
  'admin-token-secret': { type: 'string' },
  'admin-tls-secret': { type: 'string' },
  workers: { type: 'string' },
  'drain-timeout': { type: 'string' },
  'access-log': { type: 'string' },
  'generation-header': { type: 'boolean' },
  kubernetes: { type: 'string', multiple: true },
  kubeconfig: { type: 'string' },
  'kube-context': { type: 'string' },
  identity: { type: 'string' },
  lease: { type: 'string' },
  'no-status': { type: 'boolean' },
  redis: { type: 'string' },
  'fleet-name': { type: 'string' },
  'fleet-heartbeat': { type: 'string' },
  'fleet-disagreement-bound': { type: 'string' },
  'fleet-fallback-poll': { type: 'string' },
} as const;

const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** `--kubernetes NAME=NAMESPACE`: a namespace as a root source. */
export function parseKubernetesRoot(arg: string): { name: string; namespace: string } {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new UsageError(`--kubernetes '${arg}': expected NAME=NAMESPACE`);
  const name = arg.slice(0, eq);
  const namespace = arg.slice(eq + 1);
  const err = validateSourceName(name);
  if (err) throw new UsageError(`--kubernetes '${arg}': ${err}`);
  if (namespace.length > 63 || !NAMESPACE_RE.test(namespace)) throw new UsageError(`--kubernetes '${arg}': '${namespace}' is not a namespace name`);
  return { name, namespace };
}

function intArg(flag: string, value: string | undefined, min: number): number {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`${flag} needs an integer >= ${min}, got '${value ?? ''}'`);
  return Number(value);
}

function durationArg(flag: string, v: string): number {
  const ms = parseDuration(/^[0-9]+$/.test(v) ? `${v}s` : v);
  if (!(ms >= 1000)) throw new UsageError(`${flag} needs a duration of at least 1s (e.g. 30s), got '${v}'`);
  return ms;
}

/** Bytes, as a number or with a binary unit: 500KiB, 64MiB, 1GiB. */
export function sizeArg(flag: string, v: string): number {
  const m = /^([0-9]+)(B|KiB|MiB|GiB)?$/.exec(v);
  const n = m ? Number(m[1]) * { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[(m[2] ?? 'B') as 'B' | 'KiB' | 'MiB' | 'GiB'] : NaN;
  if (!(n >= 1024)) throw new UsageError(`${flag} needs a size of at least 1KiB (e.g. 64MiB), got '${v}'`);
  return n;
}

/**
 * The admin address's access control. Off loopback it is required: the page, the configuration and
 * the history would otherwise be open to whoever reaches the address.
 */
function adminAccessArgs(v: { 'admin-token-file'?: string; 'admin-token-secret'?: string; 'admin-tls-secret'?: string }, adminHost: string, secretsDir: string | undefined): AdminAccessOptions | undefined {
  const tokenFile = v['admin-token-file'];
  const tokenSecret = v['admin-token-secret'];
  const tlsSecret = v['admin-tls-secret'];
  if (tokenFile !== undefined && tokenSecret !== undefined) throw new UsageError('give --admin-token-file or --admin-token-secret, not both');
  if ((tokenSecret !== undefined || tlsSecret !== undefined) && secretsDir === undefined) throw new UsageError(`${tokenSecret !== undefined ? '--admin-token-secret' : '--admin-tls-secret'} names an entry of the secrets directory: give --secrets DIR`);
  let file = tokenFile;
  if (tokenSecret !== undefined) {
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)\/([A-Za-z0-9._-]+)$/.exec(tokenSecret);
    if (!m || m[2] === '..' || m[2] === '.') throw new UsageError(`--admin-token-secret needs NAME/KEY (DIR/NAME/KEY of --secrets), got '${tokenSecret}'`);
    file = join(secretsDir!, m[1]!, m[2]!);
  }
  if (tlsSecret !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(tlsSecret)) throw new UsageError(`--admin-tls-secret needs the NAME of a secrets directory entry, got '${tlsSecret}'`);
  const tls = tlsSecret !== undefined ? readAdminTLS(secretsDir!, tlsSecret) : undefined;
  if (file === undefined && tls === undefined) {
    if (!isLoopbackHost(adminHost)) {
      throw new UsageError(`--admin ${adminHost} is not a loopback address: protect it with --admin-token-file FILE, --admin-token-secret NAME/KEY or --admin-tls-secret NAME (see docs/reference/admin.md)`);
    }
    return undefined;
  }
  return { ...(file !== undefined ? { tokenFile: file } : {}), ...(tls ? { tls } : {}) };
}

/** The sources a replica starts from, as given on its command line. */
export interface RootSourceArgs {
  readonly source?: readonly string[] | undefined;
  readonly config?: readonly string[] | undefined;
  readonly kubernetes?: readonly string[] | undefined;
}

/**
 * --source NAME=URL[#BRANCH][:PATH], --config [NAME=]DIR and --kubernetes NAME=NAMESPACE as serve reads
 * them, each name once (a name keys a source's state and history). `manifests` checks its flags with
 * this too, so it never writes a Deployment whose pods would refuse to start.
 */
export function parseRootSources(v: RootSourceArgs, cwd: string, poll: Pick<DeclaredSource, 'intervalMs' | 'onForcePush'>): DeclaredSource[] {
  const { intervalMs, onForcePush } = poll;
  const roots: DeclaredSource[] = [];
  for (const s of v.source ?? []) {
    try {
      roots.push({ spec: parseSourceArg(s, cwd), kind: 'git', intervalMs, onForcePush });
    } catch (err) {
      if (err instanceof SourceSpecError) throw new UsageError(err.message);
      throw err;
    }
  }
  for (const c of v.config ?? []) {
    const eq = c.indexOf('=');
    const named = eq > 0 && validateSourceName(c.slice(0, eq)) === undefined;
    const name = named ? c.slice(0, eq) : 'dir';
    const dir = named ? c.slice(eq + 1) : c;
    if (dir === '') throw new UsageError('--config needs a directory');
    let spec;
    try {
      spec = makeSourceSpec({ name, url: resolve(cwd, dir), branch: 'HEAD', path: '' }, cwd, `--config '${c}'`);
    } catch (err) {
      if (err instanceof SourceSpecError) throw new UsageError(err.message);
      throw err;
    }
    roots.push({ spec: { ...spec, branch: '', path: '' }, kind: 'directory', intervalMs, onForcePush: 'refuse' });
  }
  for (const k of v.kubernetes ?? []) {
    const { name, namespace } = parseKubernetesRoot(k);
    const kubernetes = { namespace };
    roots.push({ spec: { name, url: kubernetesUrl(kubernetes), branch: '', path: '' }, kind: 'kubernetes', kubernetes, intervalMs, onForcePush: 'refuse' });
  }
  const names = roots.map((r) => r.spec.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new UsageError(`two sources are named '${dup}': give each its own NAME${v.config !== undefined ? ' (--config NAME=DIR)' : ''}`);
  return roots;
}

export interface ParsedServe {
  readonly serve: ServeOptions;
  readonly sources: SourcesOptions;
}

export function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ParsedServe {
  const { values: v, positionals } = parse(argv, OPTIONS, SERVE_USAGE);
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (give folders with --config DIR)`);
  let admin = { host: '127.0.0.1', port: 8877 };
  if (v.admin !== undefined) {
    try {
      admin = parseAdminAddress(v.admin);
    } catch (err) {
      if (err instanceof AdminAddressError) throw new UsageError(err.message);
      throw err;
    }
  }
  const bindAddress = v.bind;
  if (bindAddress !== undefined && isIP(bindAddress) === 0) throw new UsageError(`--bind needs an IP address (e.g. 127.0.0.2 or ::1), got '${bindAddress}'`);
  const adminHosts = v['admin-host'] ?? [];
  for (const h of adminHosts) if (!isAdminHostName(h)) throw new UsageError(`--admin-host needs a host name or IP address without a port, got '${h}'`);
  const workers = v.workers !== undefined ? intArg('--workers', v.workers, 0) : os.availableParallelism();
  const drainTimeoutMs = v['drain-timeout'] !== undefined ? intArg('--drain-timeout', v['drain-timeout'], 0) : undefined;
  const accessLogArg = v['access-log'];
  if (accessLogArg === '') throw new UsageError('--access-log needs a path, - or off');
  const accessLog = accessLogArg === 'off' ? undefined : (accessLogArg ?? '-');

  const intervalMs = v['poll-interval'] !== undefined ? durationArg('--poll-interval', v['poll-interval']) : DEFAULT_INTERVAL_MS;
  const fetchTimeoutMs = v['fetch-timeout'] !== undefined ? durationArg('--fetch-timeout', v['fetch-timeout']) : undefined;
  const limits = {
    ...(v['fetch-max-size'] !== undefined ? { maxFetchBytes: sizeArg('--fetch-max-size', v['fetch-max-size']) } : {}),
    ...(v['cache-max-size'] !== undefined ? { maxCacheBytes: sizeArg('--cache-max-size', v['cache-max-size']) } : {}),
  };
  const onForcePush = v['on-force-push'] ?? 'refuse';
  if (onForcePush !== 'refuse' && onForcePush !== 'accept-with-strict') throw new UsageError(`--on-force-push is refuse or accept-with-strict, got '${onForcePush}'`);
  const ambassadorId = v['ambassador-id'];
  if (ambassadorId !== undefined && !/^[A-Za-z0-9_.-]{1,63}$/.test(ambassadorId)) throw new UsageError(`--ambassador-id '${ambassadorId}' is not a valid id`);
  const ambassadorNamespace = ambassadorNamespaceArg(v['ambassador-namespace'], env);

  const roots = parseRootSources(v, cwd, { intervalMs, onForcePush });
  if (roots.length === 0) throw new UsageError(`give --config DIR, --source NAME=URL#BRANCH:PATH or --kubernetes NAME=NAMESPACE`);
  const names = roots.map((r) => r.spec.name);

  for (const arg of v.verify ?? []) {
    const m = /^([a-z0-9-]+)=(head|strict):(.+)$/.exec(arg);
    if (!m) throw new UsageError(`--verify '${arg}': expected NAME=head|strict:ALLOWED_SIGNERS_FILE`);
    const idx = roots.findIndex((r) => r.spec.name === m[1] && r.kind === 'git');
    if (idx < 0) throw new UsageError(`--verify '${arg}': no --source named '${m[1]}'`);
    let allowedSigners: string;
    try {
      allowedSigners = readFileSync(m[3]!, 'utf8');
    } catch (err) {
      throw new CommandError('PORTICO_ERR_VERIFY_FILE', `--verify ${m[1]}: cannot read the allowed-signers file ${m[3]}: ${systemReason(err)}`);
    }
    // An empty or garbled file would refuse every commit of the source: refuse to start instead.
    if (!allowedSigners.split('\n').some((l) => !l.trim().startsWith('#') && SIGNER_LINE.test(l))) {
      throw new CommandError('PORTICO_ERR_VERIFY_FILE', `--verify ${m[1]}: ${m[3]} holds no allowed signer (lines 'PRINCIPALS [OPTIONS] KEYTYPE KEY', as ssh-keygen reads them)`);
    }
    roots[idx] = { ...roots[idx]!, verify: { mode: m[2] as VerifyMode, allowedSigners } };
  }

  const localTeams: Record<string, string> = {};
  for (const arg of v.local ?? []) {
    const [name, dir] = namedSourceValue('--local', arg, 'DIR');
    if (names.includes(name)) throw new UsageError(`--local '${arg}': '${name}' is a source named on the command line, not a team source`);
    localTeams[name] = resolve(cwd, dir);
  }
  const pins: Record<string, string> = {};
  for (const arg of v.pin ?? []) {
    const [name, ref] = namedSourceValue('--pin', arg, 'REF');
    checkPinRef(arg, ref);
    if (localTeams[name] !== undefined) throw new UsageError(`--pin '${arg}': '${name}' is read from a folder (--local)`);
    pins[name] = ref;
  }

  const secrets = [...(v['webhook-secret'] ?? [])];
  for (const f of v['webhook-secret-file'] ?? []) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (err) {
      throw new CommandError('PORTICO_ERR_WEBHOOK_CONFIG', `--webhook-secret-file: cannot read ${f}: ${systemReason(err)}`);
    }
    secrets.push(...text.split('\n').map((l) => l.trim()).filter((l) => l !== ''));
  }
  if (env.PORTICO_WEBHOOK_SECRETS) secrets.push(...env.PORTICO_WEBHOOK_SECRETS.split(',').map((s) => s.trim()).filter((s) => s !== ''));
  if (secrets.length > 2) throw new UsageError('at most two webhook secrets (the current one and the next, while rotating)');
  if (secrets.some((s) => s.length < 8)) throw new UsageError('webhook secrets must be at least 8 characters');

  let secretsDir: string | undefined;
  if (v.secrets !== undefined) {
    if (v.secrets === '') throw new UsageError('--secrets needs a directory');
    secretsDir = resolve(cwd, v.secrets);
    let isDir = false;
    try {
      isDir = statSync(secretsDir).isDirectory();
    } catch (err) {
      throw new CommandError('PORTICO_ERR_SECRETS_DIR', `secrets directory ${secretsDir} cannot be read: ${systemReason(err)}`);
    }
    if (!isDir) throw new CommandError('PORTICO_ERR_SECRETS_DIR', `secrets directory ${secretsDir} cannot be read: not a directory`);
  }

  const adminAccess = adminAccessArgs(v, admin.host, secretsDir);
  let lease: KubernetesServeOptions['lease'] = { name: 'portico-status-writer', ...(env.POD_NAMESPACE ? { namespace: env.POD_NAMESPACE } : {}) };
  if (v.lease !== undefined) {
    if (v.lease === 'off') lease = 'off';
    else {
      const m = /^(?:([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/)?([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(v.lease);
      if (!m) throw new UsageError(`--lease needs NAMESPACE/NAME, NAME or off, got '${v.lease}'`);
      lease = { name: m[3]!, ...(m[1] ? { namespace: m[1] } : env.POD_NAMESPACE ? { namespace: env.POD_NAMESPACE } : {}) };
    }
  }
  const identity = v.identity ?? env.POD_NAME ?? `${os.hostname()}-${process.pid}`;
  if (identity === '' || identity.length > 253) throw new UsageError('--identity needs a name (at most 253 characters)');
  if (v.kubeconfig === '') throw new UsageError('--kubeconfig needs a file');
  const kubernetes: KubernetesServeOptions = {
    ...(v.kubeconfig !== undefined ? { kubeconfig: resolve(cwd, v.kubeconfig) } : {}),
    ...(v['kube-context'] !== undefined ? { context: v['kube-context'] } : {}),
    identity,
    lease,
    writeStatus: v['no-status'] !== true,
  };
  const notify = notifyOptions(v, secretsDir);

  const redisUrl = v.redis ?? (env.REDIS_URL?.trim() || undefined);
  if (redisUrl !== undefined && !/^rediss?:\/\/[^\s/]+(\/[0-9]{1,2})?$/.test(redisUrl)) throw new UsageError(`${v.redis !== undefined ? '--redis' : 'REDIS_URL'} needs redis://HOST:PORT (or rediss://, with :PASSWORD@ and /DB as needed)`);
  const fleetName = v['fleet-name'] ?? 'default';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(fleetName)) throw new UsageError(`--fleet-name needs letters, digits, '.', '_' or '-', got '${fleetName}'`);
  const fleet: FleetServeOptions = {
    ...(redisUrl !== undefined ? { redisUrl } : {}),
    name: fleetName,
    identity,
    heartbeatMs: v['fleet-heartbeat'] !== undefined ? durationArg('--fleet-heartbeat', v['fleet-heartbeat']) : 2000,
    disagreementBoundMs: v['fleet-disagreement-bound'] !== undefined ? durationArg('--fleet-disagreement-bound', v['fleet-disagreement-bound']) : 30_000,
    fallbackPollMs: v['fleet-fallback-poll'] !== undefined ? durationArg('--fleet-fallback-poll', v['fleet-fallback-poll']) : 10_000,
  };

  const hasGit = roots.some((r) => r.kind === 'git');
  const stateDir = v.state ?? (hasGit ? DEFAULT_STATE_DIR : undefined);
  return {
    serve: {
      admin,
      ...(adminHosts.length > 0 ? { adminHosts } : {}),
      workers,
      ...(drainTimeoutMs !== undefined ? { drainTimeoutMs } : {}),
      ...(accessLog !== undefined ? { accessLog } : {}),
      exposeGeneration: v['generation-header'] === true,
      ...(bindAddress !== undefined ? { bindAddress } : {}),
      ...(adminAccess ? { adminAccess } : {}),
    },
    sources: {
      roots,
      ...(stateDir !== undefined ? { stateDir } : {}),
      webhookSecrets: secrets,
      defaultIntervalMs: intervalMs,
      ...(fetchTimeoutMs !== undefined ? { fetchTimeoutMs } : {}),
      ...(Object.keys(limits).length > 0 ? { limits } : {}),
      ...(ambassadorId !== undefined ? { ambassadorId } : {}),
      ...(ambassadorNamespace !== undefined ? { ambassadorNamespace } : {}),
      ...(Object.keys(pins).length > 0 ? { pins } : {}),
      ...(Object.keys(localTeams).length > 0 ? { localTeams } : {}),
      ...(secretsDir !== undefined ? { secretsDir } : {}),
      kubernetes,
      fleet,
      ...(notify !== undefined ? { notify } : {}),
    },
  };
}

/**
 * A credential named on the command line: `secret:NAME/KEY` (the secrets directory) or `file:PATH`,
 * checked readable now; `literal` allows a plain value (webhook URLs without a token).
 */
function credentialArg(flag: string, arg: string, secretsDir: string | undefined, literal: boolean): CredentialRef {
  if (arg.startsWith('secret:')) {
    const m = /^secret:([A-Za-z0-9][A-Za-z0-9_.-]*)\/([A-Za-z0-9][A-Za-z0-9_.-]*)$/.exec(arg);
    if (!m) throw new UsageError(`${flag} '${arg}': expected secret:NAME/KEY`);
    if (secretsDir === undefined) throw new UsageError(`${flag} '${arg}': secret: names an entry of the secrets directory; give --secrets DIR`);
    const ref: CredentialRef = { kind: 'secret', dir: secretsDir, name: m[1]!, key: m[2]! };
    readCredentialNow(flag, resolve(secretsDir, ref.name, ref.key), `secret:${ref.name}/${ref.key}`);
    return ref;
  }
  if (arg.startsWith('file:')) {
    const path = resolve(arg.slice(5));
    readCredentialNow(flag, path, path);
    return { kind: 'file', path };
  }
  if (literal) return { kind: 'literal', value: arg };
  throw new UsageError(`${flag} takes secret:NAME/KEY or file:PATH (a token never goes on the command line)`);
}

function readCredentialNow(flag: string, path: string, shown: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CommandError('PORTICO_ERR_NOTIFY_CONFIG', `${flag}: cannot read ${shown}: ${systemReason(err)}`);
  }
  if (text.trim() === '') throw new CommandError('PORTICO_ERR_NOTIFY_CONFIG', `${flag}: ${shown} is empty`);
}

function notifyOptions(v: Record<string, unknown>, secretsDir: string | undefined): SourcesOptions['notify'] {
  const forgeArg = v['commit-status'] as string | undefined;
  const tokenArg = v['commit-status-token'] as string | undefined;
  const contextArg = v['commit-status-context'] as string | undefined;
  const repoArgs = (v['commit-status-repo'] as string[] | undefined) ?? [];
  let commitStatus: CommitStatusOptions | undefined;
  if (forgeArg === undefined) {
    if (tokenArg !== undefined || contextArg !== undefined || repoArgs.length > 0) throw new UsageError('--commit-status-token, --commit-status-context and --commit-status-repo go with --commit-status FORGE=API_URL');
  } else {
    const eq = forgeArg.indexOf('=');
    const forge = forgeArg.slice(0, eq) as ForgeKind;
    const api = forgeArg.slice(eq + 1);
    if (eq <= 0 || !FORGE_KINDS.includes(forge)) throw new UsageError(`--commit-status '${forgeArg}': expected FORGE=API_URL with FORGE one of ${FORGE_KINDS.join(', ')}`);
    let parsed: URL | undefined;
    try {
      parsed = new URL(api);
    } catch {}
    if (parsed === undefined || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || parsed.username !== '' || parsed.password !== '') {
      throw new UsageError(`--commit-status '${forgeArg}': API_URL must be an http(s) URL without credentials (the token goes in --commit-status-token)`);
    }
    if (tokenArg === undefined) throw new UsageError('--commit-status needs --commit-status-token secret:NAME/KEY or file:PATH');
    const context = contextArg ?? 'portico';
    if (!/^[\x21-\x7e][\x20-\x7e]{0,99}$/.test(context)) throw new UsageError(`--commit-status-context '${context}': printable ASCII, at most 100 characters`);
    const repositories: Record<string, string> = {};
    for (const arg of repoArgs) {
      const [name, path] = namedSourceValue('--commit-status-repo', arg, 'OWNER/NAME');
      if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)+$/.test(path)) throw new UsageError(`--commit-status-repo '${arg}': expected SOURCE=OWNER/NAME (GitLab: GROUP/…/PROJECT)`);
      repositories[name] = path;
    }
    commitStatus = { forge, api, token: credentialArg('--commit-status-token', tokenArg, secretsDir, false), context, ...(repoArgs.length > 0 ? { repositories } : {}) };
  }
  const webhooks: CredentialRef[] = [];
  for (const arg of (v['notify-webhook'] as string[] | undefined) ?? []) {
    if (!arg.startsWith('secret:') && !arg.startsWith('file:') && !/^https?:\/\//.test(arg)) throw new UsageError(`--notify-webhook '${arg}': expected an http(s) URL, secret:NAME/KEY or file:PATH`);
    webhooks.push(credentialArg('--notify-webhook', arg, secretsDir, true));
  }
  if (commitStatus === undefined && webhooks.length === 0) return undefined;
  return { ...(commitStatus ? { commitStatus } : {}), ...(webhooks.length > 0 ? { webhooks } : {}) };
}
