// `portico serve` as a process: builds the applier (in-process Gateway, or a worker pool in the
// primary), the admin server and the config providers, then handles SIGHUP (re-read) and SIGTERM (drain).

import cluster from 'node:cluster';
import { Registry } from 'prom-client';
import type { BuildRuntime, RequestInfo } from '../dataplane/runtime-types.js';
import { AdminServer, type AdminView } from '../admin/admin-server.js';
import { ConfigMetrics, TrafficMetrics, renderMerged } from '../admin/metrics.js';
import { redactPEM, routeTable } from '../admin/config-view.js';
import { AccessLog, AccessLogError } from './access-log.js';
import { Gateway, type ConfigApplier } from './gateway.js';
import { overloadHooks } from './overload-monitor.js';
import { assertStrictParserProcess, InsecureParserError } from './http-limits.js';
import { createProcessLog, type ProcessLog } from './process-log.js';
import { FRONT_ENV, http1FrontChoice, unknownFrontSetting } from './http1-front-choice.js';
import { LLHTTP_SUPPORT } from '../dataplane/llhttp.js';
import { ServingState, type ConfigProvider } from './serving-state.js';
import { WorkerPool } from './worker-pool.js';
import { runWorker } from './worker-process.js';

export interface ServeOptions {
  readonly admin: { readonly host: string; readonly port: number };
  /** Names the admin API answers for besides loopback names, IP addresses and its bound name (`--admin-host`). */
  readonly adminHosts?: readonly string[];
  /** 0 or 1: serve in this process; N > 1: a primary and N workers. */
  readonly workers: number;
  /** Overrides IRGlobal.limits.drainTimeoutMs. */
  readonly drainTimeoutMs?: number;
  /** '-' stdout (default), a file path, or undefined for none. */
  readonly accessLog?: string;
  /** Send the generation header on responses (tests). */
  readonly exposeGeneration?: boolean;
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
}

const DEFAULT_DRAIN_MS = 5000;

/** Runs until drained; resolves with the process exit code. */
export async function serve(options: ServeOptions, deps: ServeDeps): Promise<number> {
  let accessLogInProcess: AccessLog | undefined;
  if (cluster.isWorker) return runWorker(await deps.loadBuildRuntime());
  try {
    assertStrictParserProcess();
  } catch (err) {
    if (!(err instanceof InsecureParserError)) throw err;
    console.error(`portico serve: ${err.message}`);
    return 1;
  }
  if (LLHTTP_SUPPORT.parser !== undefined) {
    // the upstream client parses with it; the client side alone could fall back to node:http
    console.error(`portico serve: PORTICO_ERR_NO_LLHTTP: node:http's llhttp parser is not usable on this Node.js (${LLHTTP_SUPPORT.parser})`);
    return 1;
  }
  const pooled = options.workers > 1;
  const log = createProcessLog(pooled ? 'primary' : 'single');
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
      log.fatal(err.message);
      return 1;
    }
  }
  const registry = new Registry();
  const configMetrics = new ConfigMetrics(registry);

  let applier: ConfigApplier;
  let gateway: Gateway | undefined;
  let pool: WorkerPool | undefined;
  if (pooled) {
    pool = new WorkerPool(
      options.workers,
      {
        exposeGeneration: options.exposeGeneration ?? false,
        ...(options.drainTimeoutMs !== undefined ? { drainTimeoutMs: options.drainTimeoutMs } : {}),
        ...(options.accessLog ? { accessLog: options.accessLog } : {}),
      },
      log,
      configMetrics,
    );
    try {
      await pool.start();
    } catch (err) {
      log.fatal({ err: (err as Error).message }, 'worker processes cannot start');
      await pool.shutdown(0);
      return 1;
    }
    applier = pool;
  } else {
    const traffic = new TrafficMetrics(registry);
    const accessLog = accessLogInProcess;
    const buildRuntime = await deps.loadBuildRuntime();
    gateway = new Gateway({
      buildRuntime,
      exposeGeneration: options.exposeGeneration ?? false,
      onRequestDone: (info: RequestInfo) => {
        traffic.observe(info);
        accessLog?.write(info);
      },
      onWarning: (message) => log.warn(message),
      ...overloadHooks(traffic, log),
      ...(options.drainTimeoutMs !== undefined ? { drainTimeoutMs: options.drainTimeoutMs } : {}),
    });
    const inner = gateway;
    applier = {
      apply: async (ir, secrets, meta) => {
        const r = await inner.apply(ir, secrets, meta);
        if (r.ok) accessLog?.configure(ir.global.accessLog);
        return r;
      },
    };
  }

  const state = new ServingState(applier, configMetrics, log);
  const view: AdminView = {
    ready: () => state.ready,
    config: () => {
      const served = state.served;
      return {
        ready: state.ready,
        draining: state.draining,
        generation: served?.generation ?? 0,
        hash: served?.hash ?? null,
        source: served?.source ?? null,
        revision: served?.revision ?? null,
        appliedAt: served?.appliedAt ?? null,
        ...(gateway ? { listeners: gateway.boundPorts(), overload: gateway.overloadState() ?? null } : {}),
        ...(pool ? { workers: pool.workers() } : {}),
        sources: state.lastAttempts(),
        ir: served ? redactPEM(served.ir) : null,
      };
    },
    routes: () => {
      const served = state.served;
      return { generation: served?.generation ?? 0, routes: served ? routeTable(served.ir) : [] };
    },
    metrics: async () => renderMerged(registry, pool ? await pool.metricsJSON() : []),
  };
  const admin = new AdminServer(view, { hosts: options.adminHosts ?? [] });
  let adminAddress;
  try {
    adminAddress = await admin.listen(options.admin.host, options.admin.port);
  } catch (err) {
    log.fatal({ err: (err as Error).message, admin: options.admin }, 'cannot bind the admin address');
    await pool?.shutdown(0);
    return 1;
  }
  log.info({ address: `http://${adminAddress.host.includes(':') ? `[${adminAddress.host}]` : adminAddress.host}:${adminAddress.port}` }, 'admin listening');

  const providers: ConfigProvider[] = [...(await deps.providers({ state, admin, log, registry }))];

  let drained: Promise<number> | undefined;
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (finish = resolve));
  const drain = (why: string): Promise<number> => {
    if (drained) return drained;
    drained = (async () => {
      const deadline = options.drainTimeoutMs ?? state.served?.ir.global.limits.drainTimeoutMs ?? DEFAULT_DRAIN_MS;
      log.info({ why, deadlineMs: deadline }, 'draining');
      // Readiness fails first, so a load balancer stops sending before the sockets close.
      state.startDraining();
      await Promise.all(providers.map((p) => p.stop().catch(() => {})));
      if (gateway) await gateway.shutdown(deadline);
      if (pool) await pool.shutdown(deadline);
      await accessLogInProcess?.close();
      await admin.close();
      log.info('drained; exiting');
      return 0;
    })();
    void drained.then(finish);
    return drained;
  };

  let terms = 0;
  const onTerm = (signal: NodeJS.Signals) => {
    terms++;
    if (terms === 1) {
      void drain(signal);
      return;
    }
    log.warn({ signal }, 'second termination signal: closing every connection now');
    gateway?.forceClose();
    pool?.force();
  };
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onTerm);
  process.on('SIGHUP', () => {
    log.info('SIGHUP: re-reading configuration');
    for (const p of providers) p.trigger();
  });

  if (providers.length === 0) {
    log.fatal('nothing to serve: give --config DIR or --source NAME=URL');
    await drain('no providers');
    return 2;
  }
  let startFailed = false;
  for (const p of providers) {
    try {
      await p.start({ state, log });
    } catch (err) {
      startFailed = true;
      const code = (err as { code?: unknown }).code;
      // A known start-up failure is one line with its code; anything else is a fault, logged whole.
      if (typeof code === 'string' && code.startsWith('PORTICO_ERR_')) log.error({ source: p.name, code }, (err as Error).message);
      else log.error({ source: p.name, err: (err as Error).stack ?? String(err) }, 'configuration provider failed to start');
    }
  }
  if (!state.served || startFailed) {
    // No last-known-good and no valid configuration: refuse to run rather than serve nothing.
    log.fatal({ sources: state.lastAttempts() }, 'no valid configuration to serve; see the problems above');
    await drain('no valid configuration');
    return 1;
  }
  return finished;
}
