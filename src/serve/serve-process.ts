// `portico serve` as a process: builds the applier (in-process Gateway, or a worker pool in the
// primary), the admin server and the config providers, then handles SIGHUP (re-read) and SIGTERM (drain).
// A start-up failure ends with `portico serve: PORTICO_ERR_*: one line` on stderr, never a stack.
// The signals are caught before anything starts (stop-signals.ts): a stop that comes while serve starts
// ends the start-up at its next step, and the drain closes what was started so far.

import cluster from 'node:cluster';
import { createSecureContext } from 'node:tls';
import { Registry } from 'prom-client';
import type { BuildRuntime, RequestInfo } from '../dataplane/runtime-types.js';
import type { IR } from '../ir/types.js';
import { AdminServer, type AdminView } from '../admin/admin-server.js';
import { ConfigMetrics, TrafficMetrics, renderMerged } from '../admin/metrics.js';
import { AdminCredentialsError, BearerToken, type AdminAccessOptions } from '../admin/admin-access.js';
import { routeTable } from '../admin/config-view.js';
import { AccessLog, AccessLogError } from './access-log.js';
import type { Gateway, ConfigApplier } from './gateway.js';
import { overloadHooks } from './overload-monitor.js';
import { assertStrictParserProcess, InsecureParserError } from './http-limits.js';
import { createProcessLog, type ProcessLog } from './process-log.js';
import { addressURL, listenerChangeLines, withBindAddress } from './listener-lines.js';
import { FRONT_ENV, http1FrontChoice, unknownFrontSetting } from './http1-front-choice.js';
import { LLHTTP_SUPPORT } from '../dataplane/llhttp.js';
import { ServingState, type ConfigProvider } from './serving-state.js';
import { WorkerPool } from './worker-pool.js';
import { startTicketKeyRotation, ticketKeyCallbackAvailable, TicketKeyRing } from './session-tickets.js';
import { TraceExporters } from '../tracing/trace-exporters.js';
import { systemReason } from '../api/system-error.js';
import { StopSignals } from './stop-signals.js';

export interface ServeOptions {
  readonly admin: { readonly host: string; readonly port: number };
  /** Names the admin API answers for besides loopback names, IP addresses and its bound name (`--admin-host`). */
  readonly adminHosts?: readonly string[];
  /**
   * 0: serve in this process; N ≥ 1: a primary and N workers. With workers, a burst of webhooks
   * (fetches, parsing, compiling) runs in the primary and never on a serving event loop.
   */
  readonly workers: number;
  /** Overrides IRGlobal.limits.drainTimeoutMs. */
  readonly drainTimeoutMs?: number;
  /** '-' stdout (default), a file path, or undefined for none. */
  readonly accessLog?: string;
  /** Send the generation header on responses (tests). */
  readonly exposeGeneration?: boolean;
  /** Bind every Listener on this address instead of 0.0.0.0 (`--bind`), so replicas can share a host. */
  readonly bindAddress?: string;
  /** Bearer token file and/or mTLS material for the admin address (required off loopback; see serve-options). */
  readonly adminAccess?: AdminAccessOptions;
}

/** The admin server's access options: the token file read once now, so that a bad one stops the start. */
function adminAccessOptions(access: AdminAccessOptions | undefined): { token?: BearerToken; tls?: NonNullable<AdminAccessOptions['tls']> } {
  if (!access) return {};
  return { ...(access.tokenFile !== undefined ? { token: new BearerToken(access.tokenFile) } : {}), ...(access.tls ? { tls: access.tls } : {}) };
}

export interface ServeContext {
  readonly state: ServingState;
  readonly admin: AdminServer;
  readonly log: ProcessLog;
  /** The registry /metrics renders; providers add their own metrics to it. */
  readonly registry: Registry;
}

export interface ServeDeps {
  /** The request path; loaded lazily so the primary of a worker pool never builds runtimes. */
  loadBuildRuntime(): Promise<BuildRuntime>;
  /** The configuration providers (the sources controller), built once the state and the admin server exist. */
  readonly providers: (ctx: ServeContext) => ConfigProvider[] | Promise<ConfigProvider[]>;
  /** The stop signals, caught before serve's modules loaded (main.ts); caught here when not given. */
  readonly signals?: StopSignals;
}

const DEFAULT_DRAIN_MS = 5000;

/** The person-facing lines (listeners bound, start-up failures): stderr, beside the JSON log. */
function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * Start-up failed: the JSON log gets the code and message, then whatever was started is stopped, and
 * the last line on the terminal is the code and one line of why. Resolves with the exit code.
 */
async function startupFailed(log: ProcessLog | undefined, code: string, message: string, fields: Record<string, unknown> = {}, cleanup?: () => Promise<unknown>): Promise<number> {
  log?.fatal({ code, ...fields }, message);
  await cleanup?.();
  say(`portico serve: ${code}: ${message.split('\n')[0]}`);
  return 1;
}

/** The apply failures that stop a first start, by the code of their error. */
const APPLY_FAILURE_CODES: Record<string, string> = {
  EADDRINUSE: 'PORTICO_ERR_LISTENER_BIND',
  EACCES: 'PORTICO_ERR_LISTENER_BIND',
  EADDRNOTAVAIL: 'PORTICO_ERR_LISTENER_BIND',
  BindFailed: 'PORTICO_ERR_LISTENER_BIND',
  TLSMaterial: 'PORTICO_ERR_TLS_MATERIAL',
};

/** Runs until drained; resolves with the process exit code. */
export async function serve(options: ServeOptions, deps: ServeDeps): Promise<number> {
  // Pool workers run worker-main.js; a CLI started as a cluster worker some other way serves the same.
  if (cluster.isWorker) return (await import('./worker-process.js')).runWorker(await deps.loadBuildRuntime());
  // Before anything starts, so that a stop never finds the default action (see stop-signals.ts).
  const signals = deps.signals ?? new StopSignals();
  try {
    assertStrictParserProcess();
  } catch (err) {
    if (!(err instanceof InsecureParserError)) throw err;
    return startupFailed(undefined, err.code, err.message);
  }
  if (LLHTTP_SUPPORT.parser !== undefined) {
    // the upstream client parses with it; the client side alone could fall back to node:http
    return startupFailed(undefined, 'PORTICO_ERR_NO_LLHTTP', `node:http's llhttp parser is not usable on this Node.js (${LLHTTP_SUPPORT.parser})`);
  }
  const pooled = options.workers >= 1;
  const log = createProcessLog(pooled ? 'primary' : 'single');

  // What has started so far; the drain stops each that exists, so it can end a start-up at any step.
  let accessLogInProcess: AccessLog | undefined;
  let gateway: Gateway | undefined;
  let tracing: TraceExporters | undefined;
  let pool: WorkerPool | undefined;
  const started: { state?: ServingState; admin?: AdminServer; stopTicketRotation?: () => void } = {};
  let providers: ConfigProvider[] = [];
  let drained: Promise<number> | undefined;
  const drain = (why: string): Promise<number> => {
    if (drained) return drained;
    drained = (async () => {
      const deadline = options.drainTimeoutMs ?? started.state?.served?.ir.global.limits.drainTimeoutMs ?? DEFAULT_DRAIN_MS;
      log.info({ why, deadlineMs: deadline }, 'draining');
      // Readiness fails first, so a load balancer stops sending before the sockets close.
      started.state?.startDraining();
      await Promise.all(providers.map((p) => p.stop().catch(() => {})));
      if (gateway) await gateway.shutdown(deadline);
      await tracing?.shutdown();
      if (pool) await pool.shutdown(deadline);
      await accessLogInProcess?.close();
      started.stopTicketRotation?.();
      await started.admin?.close();
      log.info('drained; exiting');
      return 0;
    })();
    return drained;
  };
  signals.onForce((signal) => {
    log.warn({ signal }, 'second termination signal: closing every connection now');
    gateway?.forceClose();
    pool?.force();
  });
  // Until the providers start, a stop is acted on between the steps below (`signals.requested`):
  // nothing is started after the drain went by it. (It may have come while serve's modules loaded.)
  if (signals.requested) return drain(signals.requested);

  // Decided the same way in every worker; said once, here.
  const front = http1FrontChoice();
  if (front.front === 'node') log.warn({ reason: front.reason }, 'HTTP/1.1 clients are served by node:http (fallback front)');
  const badFront = unknownFrontSetting();
  if (badFront !== undefined) log.warn({ value: badFront }, `${FRONT_ENV} is neither node nor llhttp; ignored`);
  if (options.accessLog) {
    try {
      // Opened once here even with workers, so a bad path stops startup with its reason.
      const probe = new AccessLog(options.accessLog, (message) => log.warn(message));
      if (pooled) await probe.close();
      else accessLogInProcess = probe;
    } catch (err) {
      if (!(err instanceof AccessLogError)) throw err;
      return startupFailed(log, err.code, err.message);
    }
    if (signals.requested) return drain(signals.requested);
  }
  const registry = new Registry();
  const configMetrics = new ConfigMetrics(registry);

  // TLS session tickets: made and rotated here, shared by every worker (or this process's gateway).
  const ticketKeys = new TicketKeyRing();
  if (!ticketKeyCallbackAvailable(createSecureContext())) {
    log.warn('this Node.js has no TLS ticket-key hook: a TLS session resumes only on the worker that issued its ticket');
  }
  let inner: ConfigApplier;
  /** This process's request tallies when it serves (no workers). */
  let ownTraffic: TrafficMetrics | undefined;
  if (pooled) {
    const starting = new WorkerPool(
      options.workers,
      {
        exposeGeneration: options.exposeGeneration ?? false,
        ...(options.drainTimeoutMs !== undefined ? { drainTimeoutMs: options.drainTimeoutMs } : {}),
        ...(options.accessLog ? { accessLog: options.accessLog } : {}),
      },
      log,
      configMetrics,
      ticketKeys,
    );
    pool = starting;
    try {
      await starting.start();
    } catch (err) {
      // Workers ended by a stop signal (a second one forces them) did not fail to start: this is the stop.
      if (signals.requested) return drain(signals.requested);
      return startupFailed(log, 'PORTICO_ERR_WORKER_START', `worker processes cannot start: ${(err as Error).message}`, {}, () => starting.shutdown(0));
    }
    inner = starting;
  } else {
    const traffic = new TrafficMetrics(registry);
    ownTraffic = traffic;
    const accessLog = accessLogInProcess;
    const buildRuntime = await deps.loadBuildRuntime();
    // Loaded here: the primary of a worker pool serves nothing and never holds the serving front.
    const { Gateway } = await import('./gateway.js');
    tracing = new TraceExporters({ onExportFailure: (m) => log.warn(m), onExportRecovery: (m) => log.info(m) });
    const inProcess = new Gateway({
      buildRuntime,
      tracing,
      ticketKeys,
      exposeGeneration: options.exposeGeneration ?? false,
      onRequestDone: (info: RequestInfo) => {
        traffic.observe(info);
        accessLog?.write(info);
      },
      onWarning: (message) => log.warn(message),
      ...overloadHooks(traffic, log),
      ...(options.drainTimeoutMs !== undefined ? { drainTimeoutMs: options.drainTimeoutMs } : {}),
    });
    gateway = inProcess;
    inner = {
      apply: async (ir, secrets, meta) => {
        const r = await inProcess.apply(ir, secrets, meta);
        if (r.ok) accessLog?.configure(ir.global.accessLog);
        return r;
      },
      canary: {
        ...inProcess.canary,
        promote: async () => {
          const r = await inProcess.canary.promote();
          if (r.ok && inProcess.ir) accessLog?.configure(inProcess.ir.global.accessLog);
          return r;
        },
      },
    };
  }
  if (signals.requested) return drain(signals.requested);
  // The ticket keys rotate hourly until drain: a worker pool is sent each new set; one process reads the ring itself.
  const rotatingPool = pool;
  started.stopTicketRotation = startTicketKeyRotation(ticketKeys, () => rotatingPool?.ticketKeysRotated());
  // Every applied configuration is bound on --bind's address, and each listener it opens or closes is told.
  let announced: IR | undefined;
  const innerCanary = inner.canary;
  const applier: ConfigApplier = {
    apply: async (ir, secrets, meta) => {
      const bound = withBindAddress(ir, options.bindAddress);
      const r = await inner.apply(bound, secrets, meta);
      if (r.ok) {
        const ports = gateway?.boundPorts() ?? {};
        for (const line of listenerChangeLines(announced, bound, (l) => ports[l.name])) say(line);
        announced = bound;
      }
      return r;
    },
    // A candidate shares the served listeners (the controller canaries nothing else): bound alike, nothing to announce.
    ...(innerCanary ? { canary: { ...innerCanary, start: (ir, secrets, meta, share) => innerCanary.start(withBindAddress(ir, options.bindAddress), secrets, meta, share) } } : {}),
  };

  const serving = new ServingState(applier, configMetrics, log);
  started.state = serving;
  const view: AdminView = {
    ready: () => serving.ready,
    config: () => {
      const served = serving.served;
      return {
        ready: serving.ready,
        draining: serving.draining,
        generation: served?.generation ?? 0,
        hash: served?.hash ?? null,
        source: served?.source ?? null,
        revision: served?.revision ?? null,
        appliedAt: served?.appliedAt ?? null,
        // A canary's candidate beside it, on a share of requests (docs/fleet.md).
        canary: serving.canaryServed ? { generation: serving.canaryServed.generation, hash: serving.canaryServed.hash, revision: serving.canaryServed.revision ?? null, share: serving.canaryServed.share, since: serving.canaryServed.appliedAt } : null,
        ...(gateway ? { listeners: gateway.boundPorts(), overload: gateway.overloadState() ?? null } : {}),
        ...(pool ? { workers: pool.workers() } : {}),
        sources: serving.lastAttempts(),
        // PEM-looking strings are redacted as the admin API prints it (config-view.ts).
        ir: served ? withBindAddress(served.ir, options.bindAddress) : null,
      };
    },
    routes: () => {
      const served = serving.served;
      return { generation: served?.generation ?? 0, routes: served ? routeTable(served.ir) : [] };
    },
    metrics: async () => renderMerged(registry, pool ? await pool.metricsJSON() : []),
    served: () => {
      const served = serving.served;
      return served ? { generation: served.generation, hash: served.hash, appliedAt: served.appliedAt } : undefined;
    },
    upstreams: async () => (gateway ? gateway.upstreamHealth() : pool ? pool.upstreamHealth() : []),
    traffic: async () => [...(ownTraffic ? [ownTraffic.routeTallies()] : []), ...(pool ? await pool.routeTallies() : [])],
  };
  let adminAccess;
  try {
    adminAccess = adminAccessOptions(options.adminAccess);
  } catch (err) {
    if (!(err instanceof AdminCredentialsError)) throw err;
    return startupFailed(log, err.code, err.message, {}, async () => pool?.shutdown(0));
  }
  const adminServer = new AdminServer(view, { hosts: options.adminHosts ?? [], ...adminAccess });
  let adminAddress;
  try {
    adminAddress = await adminServer.listen(options.admin.host, options.admin.port);
  } catch (err) {
    const reason = systemReason(err);
    return startupFailed(log, 'PORTICO_ERR_ADMIN_BIND', `cannot bind the admin address ${addressURL('http', options.admin.host, options.admin.port)}: ${reason}`, { admin: options.admin }, async () => pool?.shutdown(0));
  }
  started.admin = adminServer;
  const adminURL = addressURL(adminServer.scheme, adminAddress.host, adminAddress.port);
  log.info({ address: adminURL }, 'admin listening');
  say(`admin on ${adminURL}`);
  if (signals.requested) return drain(signals.requested);

  providers = [...(await deps.providers({ state: serving, admin: adminServer, log, registry }))];
  if (signals.requested) return drain(signals.requested);
  signals.onReread(() => {
    log.info('SIGHUP: re-reading configuration');
    for (const p of providers) p.trigger();
  });

  if (providers.length === 0) {
    log.fatal('nothing to serve: give --config DIR or --source NAME=URL');
    await drain('no providers');
    return 2;
  }
  // From here a stop drains at once: the providers' stop ends a start that waits on a fetch.
  const stopped = signals.whenStopped.then((signal) => drain(signal));
  let startFailed = false;
  let startError: { code: string; message: string } | undefined;
  for (const p of providers) {
    if (signals.requested) break;
    try {
      await p.start({ state: serving, log });
    } catch (err) {
      startFailed = true;
      const code = (err as { code?: unknown }).code;
      // A known start-up failure is one line with its code; anything else is a fault, logged whole.
      if (typeof code === 'string' && code.startsWith('PORTICO_ERR_')) {
        log.error({ source: p.name, code }, (err as Error).message);
        startError ??= { code, message: (err as Error).message };
      } else log.error({ source: p.name, err: (err as Error).stack ?? String(err) }, 'configuration provider failed to start');
    }
  }
  // A start cut short by a stop is no failure to report: the stop's drain is the end of it.
  if (signals.requested) return stopped;
  if (!serving.served || startFailed) {
    // No last-known-good and no valid configuration (or a source that could not start): refuse to run
    // rather than serve less. The line names the first cause: a listener that cannot bind, TLS
    // material, or the sources' problems.
    const failedApply = serving.lastAttempts().find((a) => a.result === 'failed' && a.error && APPLY_FAILURE_CODES[a.error.code]);
    const cause = failedApply?.error
      ? { code: APPLY_FAILURE_CODES[failedApply.error.code]!, message: failedApply.error.message }
      : (startError ?? { code: 'PORTICO_ERR_NO_VALID_CONFIGURATION', message: 'no valid configuration to serve; see the problems above' });
    return startupFailed(log, cause.code, cause.message, { sources: serving.lastAttempts() }, () => drain('no valid configuration'));
  }
  return stopped;
}
