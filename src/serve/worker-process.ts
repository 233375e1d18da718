// A worker process: serves traffic with its own Gateway on sockets the primary owns (cluster),
// applies what the primary sends (prepare → commit, or load), reports its generation, drains on request.

import type { BuildRuntime } from '../dataplane/runtime-types.js';
import type { RequestInfo } from '../dataplane/runtime-types.js';
import { TrafficMetrics, type MetricsJSON } from '../admin/metrics.js';
import { AccessLog } from './access-log.js';
import { Gateway, type ApplyResult, type PreparedApply } from './gateway.js';
import { overloadHooks } from './overload-monitor.js';
import { assertStrictParserProcess } from './http-limits.js';
import { createProcessLog } from './process-log.js';
import { isToWorker, type FromWorker, type ToWorker, type WorkerSettings } from './worker-messages.js';
import { TraceExporters } from '../tracing/trace-exporters.js';
import { TicketKeyRing } from './session-tickets.js';

/** How long a worker waits for its drain when the primary vanished without saying. */
const ORPHAN_DRAIN_MS = 5000;

export function runWorker(buildRuntime: BuildRuntime): Promise<number> {
  const log = createProcessLog('worker');
  assertStrictParserProcess();
  const send = (m: FromWorker) => {
    if (process.connected) process.send!(m);
  };
  let gateway: Gateway | undefined;
  let accessLog: AccessLog | undefined;
  const traffic = new TrafficMetrics();
  // Each worker sends its own spans: nothing of a request's trace crosses to the primary.
  const tracing = new TraceExporters({ onExportFailure: (m) => log.warn(m), onExportRecovery: (m) => log.info(m) });
  const prepared = new Map<number, PreparedApply>();
  // Replaced by the primary's keys right after init: tickets then resume on any worker.
  const ticketKeys = new TicketKeyRing();
  let exiting = false;

  return new Promise<number>((resolveExit) => {
    const exit = async (deadlineMs: number) => {
      if (exiting) return;
      exiting = true;
      await gateway?.shutdown(deadlineMs);
      await tracing.shutdown();
      await accessLog?.close();
      resolveExit(0);
    };

    const init = (settings: WorkerSettings) => {
      if (settings.accessLog) {
        try {
          accessLog = new AccessLog(settings.accessLog, (message) => log.warn(message));
        } catch (err) {
          // The primary opened the same path at startup; serving matters more than this log.
          log.error((err as Error).message);
        }
      }
      const onRequestDone = (info: RequestInfo) => {
        traffic.observe(info);
        accessLog?.write(info);
      };
      gateway = new Gateway({
        buildRuntime,
        exposeGeneration: settings.exposeGeneration,
        onRequestDone,
        tracing,
        ticketKeys,
        onWarning: (message) => log.warn(message),
        ...overloadHooks(traffic, log),
        ...(settings.drainTimeoutMs !== undefined ? { drainTimeoutMs: settings.drainTimeoutMs } : {}),
      });
    };

    const committed = (result: ApplyResult) => {
      if (result.ok && gateway?.ir) accessLog?.configure(gateway.ir.global.accessLog);
      return result;
    };

    const handle = async (m: ToWorker): Promise<void> => {
      switch (m.t) {
        case 'portico:init':
          init(m.settings);
          return;
        case 'portico:ticket-keys':
          if (!ticketKeys.adopt(m.keys)) log.error('the primary sent malformed TLS ticket keys; keeping the previous ones');
          return;
        case 'portico:prepare': {
          const p = await gateway!.prepare(m.config.ir, m.config.secrets, m.config.meta, m.config.generation);
          if ('commit' in p) {
            prepared.set(m.id, p);
            send({ t: 'portico:prepared', id: m.id, result: { ok: true, generation: p.generation, hash: p.hash, listeners: { added: [], removed: [], kept: [] } } });
          } else send({ t: 'portico:prepared', id: m.id, result: p });
          return;
        }
        case 'portico:commit': {
          const p = prepared.get(m.id);
          prepared.delete(m.id);
          if (!p) return;
          send({ t: 'portico:committed', id: m.id, result: committed(p.commit()) });
          return;
        }
        case 'portico:abort': {
          const p = prepared.get(m.id);
          prepared.delete(m.id);
          await p?.abort();
          return;
        }
        case 'portico:load': {
          const result = await gateway!.apply(m.config.ir, m.config.secrets, m.config.meta, m.config.generation);
          send({ t: 'portico:loaded', id: m.id, result: committed(result) });
          return;
        }
        case 'portico:metrics':
          send({ t: 'portico:metrics', id: m.id, metrics: (await traffic.registry.getMetricsAsJSON()) as MetricsJSON });
          return;
        case 'portico:traffic':
          send({ t: 'portico:traffic', id: m.id, tallies: traffic.routeTallies() });
          return;
        case 'portico:upstreams':
          send({ t: 'portico:upstreams', id: m.id, clusters: gateway?.upstreamHealth() ?? [] });
          return;
        case 'portico:canary-start':
          send({ t: 'portico:canary-started', id: m.id, result: await gateway!.canary.start(m.config.ir, m.config.secrets, m.config.meta, m.share, m.config.generation) });
          return;
        case 'portico:canary-share':
          await gateway?.canary.share(m.share);
          return;
        case 'portico:canary-end':
          if (m.promote) send({ t: 'portico:canary-ended', id: m.id, result: committed(await gateway!.canary.promote()) });
          else {
            await gateway?.canary.abort();
            send({ t: 'portico:canary-ended', id: m.id, result: { ok: true, generation: gateway?.generation ?? 0, hash: gateway?.hash ?? '', listeners: { added: [], removed: [], kept: [] } } });
          }
          return;
        case 'portico:canary-figures':
          send({ t: 'portico:canary-figures', id: m.id, figures: (await gateway?.canary.figures()) ?? null });
          return;
        case 'portico:drain':
          await exit(m.deadlineMs);
          return;
        case 'portico:force':
          gateway?.forceClose();
          await exit(0);
          return;
      }
    };

    process.on('message', (m: unknown) => {
      if (!isToWorker(m)) return;
      handle(m).catch((err) => {
        log.error({ err: (err as Error).stack ?? String(err), message: m.t }, 'worker failed to handle a message from the primary');
      });
    });
    // The primary coordinates shutdown and re-reads; a terminal's Ctrl-C or hangup reaches every
    // process of the group, and a worker must not die of it.
    process.on('SIGINT', () => {});
    process.on('SIGTERM', () => {});
    process.on('SIGHUP', () => {});
    process.on('disconnect', () => {
      log.warn('primary process went away; draining');
      void exit(ORPHAN_DRAIN_MS);
    });
    send({ t: 'portico:ready' });
  });
}
