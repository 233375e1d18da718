// The serving process's core: holds the current Runtime and the bound ports, applies a new IR
// (bind new ports → build → one reference swap → drain the old), and drains everything at shutdown.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContext } from 'node:tls';
import type { IR, IRListener } from '../ir/types.js';
import type { SecretStore } from '../ir/secrets.js';
import { hashIR } from '../ir/canonical.js';
import type { BuildRuntime, ConnectionInfo, RequestInfo, Runtime } from '../dataplane/runtime-types.js';
import type { ClusterHealth } from '../dataplane/upstream-health.js';
import { newRequestId } from '../dataplane/header-policy.js';
import { sendLocalReply, sendLocalReplyOnSocket } from '../dataplane/local-reply.js';
import { isGrpcRequest, sendGrpcLocalReply } from '../dataplane/grpc.js';
import { ListenerBindError, PortListener, listenerKey, type ConnectionRefusal, type ListenerDispatch } from './port-listener.js';
import { OverloadMonitor, OVERLOAD_SHEDDING, SHED_RETRY_AFTER_S, type OverloadLevel, type OverloadSample } from './overload-monitor.js';
import { buildTerminationContexts, TLSMaterialError, type TerminationContexts } from './tls-termination.js';
import { withFallbackCertificate } from './fallback-certificate.js';
import { TicketKeyRing } from './session-tickets.js';
import { RevisionSplit } from './revision-split.js';
import { TallyRecorder, type CanaryFigures } from '../release/revision-tally.js';
import type { TraceExporters } from '../tracing/trace-exporters.js';

/** Response header carrying the generation that served a request; off unless asked for (tests). */
export const GENERATION_HEADER = 'x-portico-generation';

/** Who asked for a configuration (a config provider) and what it is. */
export interface ApplyMeta {
  /** Provider/source name, e.g. "dir" or a git source name. */
  readonly source: string;
  readonly revision?: string;
  /** Content hash of the IR when the caller already has it. */
  readonly hash?: string;
}

export type ApplyFailureCode =
  | 'ListenerConflict'
  | 'EADDRINUSE'
  | 'EACCES'
  | 'EADDRNOTAVAIL'
  | 'BindFailed'
  | 'TLSMaterial'
  | 'RuntimeBuildFailed'
  | 'WorkerFailed'
  | 'ShuttingDown';

export interface ApplyFailure {
  readonly code: ApplyFailureCode;
  readonly message: string;
  readonly listener?: string;
  readonly port?: number;
}

export interface ListenerChanges {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly kept: readonly string[];
}

export type ApplyResult =
  | { readonly ok: true; readonly generation: number; readonly hash: string; readonly listeners: ListenerChanges }
  | { readonly ok: false; readonly generation: number; readonly error: ApplyFailure };

/** Anything that takes whole configurations: the in-process Gateway, or the worker pool in the primary. */
export interface ConfigApplier {
  apply(ir: IR, secrets: SecretStore, meta: ApplyMeta): Promise<ApplyResult>;
  /** A candidate beside the served configuration, on a share of requests (absent: no canaries). */
  readonly canary?: CanaryApplier;
}

/**
 * A canary in the serving processes: the candidate's runtime beside the served one, each request
 * given one of them when it starts. The candidate shares the served configuration's listeners and
 * TLS (the controller canaries nothing else); apply() of another configuration ends it.
 */
export interface CanaryApplier {
  /** `generation`: given by a worker pool's primary, so that every worker numbers the candidate alike. */
  start(ir: IR, secrets: SecretStore, meta: ApplyMeta, share: number, generation?: number): Promise<ApplyResult>;
  share(percent: number): Promise<void>;
  /** The candidate becomes the served configuration; the old one drains. */
  promote(): Promise<ApplyResult>;
  /** The candidate drains; requests it serves finish on it. */
  abort(): Promise<void>;
  /** Requests, errors and latencies of both revisions since the canary started. */
  figures(): Promise<CanaryFigures | undefined>;
}

/** The candidate of a running canary, with the split and each revision's tally. */
interface CanaryRuntime {
  readonly runtime: Runtime;
  readonly ir: IR;
  readonly split: RevisionSplit;
  readonly stableGeneration: number;
  readonly stable: TallyRecorder;
  readonly candidate: TallyRecorder;
}

export interface GatewayOptions {
  readonly buildRuntime: BuildRuntime;
  /** Overrides IRGlobal.limits.drainTimeoutMs for the old runtime and removed listeners. */
  readonly drainTimeoutMs?: number;
  /** Send GENERATION_HEADER on every response (tests; off by default so internals do not leak). */
  readonly exposeGeneration?: boolean;
  readonly onRequestDone?: (info: RequestInfo) => void;
  /** This process's span exporters (runtimes of an IR with a TracingService trace through them). */
  readonly tracing?: TraceExporters;
  /** Called when a listener or runtime could not be drained cleanly; never for request errors. */
  readonly onWarning?: (message: string) => void;
  /** A connection was closed at accept (connection caps, or a TCP listener while shedding). */
  readonly onConnectionRefused?: (listener: string, reason: ConnectionRefusal) => void;
  /** A request was answered 503 by the overload monitor instead of being routed. */
  readonly onRequestShed?: (listener: string) => void;
  /** Every overload sample (gauges), and level changes (logs). */
  readonly onOverloadSample?: (sample: OverloadSample) => void;
  readonly onOverloadChange?: (sample: OverloadSample, previous: OverloadLevel) => void;
  /** How often the overload monitor samples (default 1000 ms). */
  readonly overloadSampleMs?: number;
  /**
   * The keys that seal TLS session tickets: the serving process's ring (rotated by the primary and
   * shared by its workers). Without one, the gateway keeps its own, never rotated.
   */
  readonly ticketKeys?: TicketKeyRing;
}

export class ApplySettledError extends Error {
  readonly code = 'PORTICO_ERR_APPLY_SETTLED';
}

/** A built and bound candidate, not yet serving: commit swaps it in, abort throws it away. */
export interface PreparedApply {
  readonly generation: number;
  readonly hash: string;
  commit(): ApplyResult & { ok: true };
  abort(): Promise<void>;
}

export class Gateway implements ConfigApplier {
  private current: Runtime | undefined;
  private currentIR: IR | undefined;
  private candidate: CanaryRuntime | undefined;
  private generationValue = 0;
  /** The highest generation built so far: an aborted canary's number is never reused. */
  private highestGeneration = 0;
  private hashValue = '';
  private readonly ports = new Map<string, PortListener>();
  private tls = new Map<string, TerminationContexts>();
  private queue: Promise<unknown> = Promise.resolve();
  private closing = false;
  private readonly draining = new Set<Promise<void>>();
  private readonly dispatch: ListenerDispatch;
  private readonly overload: OverloadMonitor;
  private readonly ticketKeys: TicketKeyRing;

  /** Every finished request: counted for a running canary, then handed on. */
  private readonly requestDone = (info: RequestInfo): void => {
    const c = this.candidate;
    if (c !== undefined) {
      if (info.generation === c.runtime.generation) c.candidate.observe(info.status, info.durationMs);
      else if (info.generation === c.stableGeneration) c.stable.observe(info.status, info.durationMs);
    }
    this.options.onRequestDone?.(info);
  };

  constructor(private readonly options: GatewayOptions) {
    this.ticketKeys = options.ticketKeys ?? new TicketKeyRing();
    this.overload = new OverloadMonitor({
      thresholds: () => this.currentIR?.global.limits.overload,
      intervalMs: options.overloadSampleMs,
      onSample: options.onOverloadSample,
      onChange: (sample, previous) => {
        for (const p of this.ports.values()) p.overloadChanged(sample.level);
        options.onOverloadChange?.(sample, previous);
      },
    });
    this.overload.start();
    this.dispatch = {
      overloadLevel: () => this.overload.level,
      connectionRefused: (from, reason) => this.options.onConnectionRefused?.(from.name, reason),
      request: (req, res, from) => this.onRequest(req, res, from),
      upgrade: (req, socket, head, from) => this.onUpgrade(req, socket, head, from),
      tcp: (socket, from) => this.onTCP(socket, from),
      secureContext: (from, servername) => this.secureContext(from, servername),
      clientCertRequired: (from, servername) => this.tls.get(from.key)?.certRequired(servername) ?? false,
      requestCert: (from) => this.tls.get(from.key)?.verifiesClients ?? false,
    };
  }

  get generation(): number {
    return this.generationValue;
  }

  get hash(): string {
    return this.hashValue;
  }

  get ir(): IR | undefined {
    return this.currentIR;
  }

  /** Bound ports by listener name (the real port when the IR asked for 0). */
  /** The served generation's upstream health (empty before the first apply). */
  upstreamHealth(): ClusterHealth[] {
    return this.current?.upstreamHealth?.() ?? [];
  }

  boundPorts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const p of this.ports.values()) out[p.name] = p.boundPort();
    return out;
  }

  /** Apply one configuration; applies are serialised, so bursts queue behind the running one. */
  apply(ir: IR, secrets: SecretStore, meta: ApplyMeta, generation?: number): Promise<ApplyResult> {
    return this.serialize(async () => {
      const prepared = await this.prepareNow(ir, secrets, meta, generation ?? this.highestGeneration + 1);
      return 'commit' in prepared ? prepared.commit() : prepared;
    });
  }

  /** First half of an apply (workers prepare everywhere, then commit everywhere). Serialised with apply. */
  prepare(ir: IR, secrets: SecretStore, meta: ApplyMeta, generation: number): Promise<PreparedApply | (ApplyResult & { ok: false })> {
    return this.serialize(() => this.prepareNow(ir, secrets, meta, generation));
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private fail(error: ApplyFailure): ApplyResult & { ok: false } {
    return { ok: false, generation: this.generationValue, error };
  }

  private async prepareNow(ir: IR, secrets: SecretStore, meta: ApplyMeta, generation: number): Promise<PreparedApply | (ApplyResult & { ok: false })> {
    if (this.closing) return this.fail({ code: 'ShuttingDown', message: 'the gateway is draining' });
    const conflict = findListenerConflict(ir.listeners);
    if (conflict) return this.fail(conflict);

    // Present already when the serving state (or a worker's primary) added it; generated here otherwise.
    secrets = await withFallbackCertificate(ir, secrets);
    const tls = new Map<string, TerminationContexts>();
    for (const l of ir.listeners) {
      if (!l.tls) continue;
      try {
        tls.set(listenerKey(l), buildTerminationContexts(ir, l, secrets, this.ticketKeys));
      } catch (err) {
        if (!(err instanceof TLSMaterialError)) throw err;
        return this.fail({ code: 'TLSMaterial', message: err.message, listener: l.name, port: l.port });
      }
    }

    const hash = meta.hash ?? hashIR(ir);
    let runtime: Runtime;
    try {
      runtime = this.options.buildRuntime(ir, secrets, { generation, hash, onRequestDone: this.requestDone, onWarning: this.options.onWarning, tracing: this.options.tracing });
    } catch (err) {
      return this.fail({ code: 'RuntimeBuildFailed', message: `cannot build the runtime: ${(err as Error).message}` });
    }

    // Bind before commit: every new port is listening before anything that serves changes.
    const wanted = new Map(ir.listeners.map((l) => [listenerKey(l), l]));
    const bound: PortListener[] = [];
    const drainMs = this.drainTimeout(ir);
    const replaced: PortListener[] = [];
    for (const [key, l] of wanted) {
      if (this.ports.has(key)) continue;
      // Same port with another protocol or address: the old socket must let go of the port first.
      for (const old of this.ports.values()) {
        if (old.port === l.port && !wanted.has(old.key) && l.port !== 0) {
          replaced.push(old);
          void old.drain(drainMs);
        }
      }
      const port = new PortListener(l, ir.global, this.dispatch);
      try {
        await port.bind();
        bound.push(port);
      } catch (err) {
        for (const p of bound) p.forceClose();
        void runtime.drain(0).catch(() => {});
        if (replaced.length > 0) await this.rebindReplaced(replaced);
        if (err instanceof ListenerBindError) {
          return this.fail({ code: err.reason, message: err.message, listener: l.name, port: l.port });
        }
        return this.fail({ code: 'BindFailed', message: (err as Error).message, listener: l.name, port: l.port });
      }
    }

    let settled = false;
    return {
      generation,
      hash,
      commit: () => {
        if (settled) throw new ApplySettledError('a prepared configuration was committed after it was committed or aborted');
        settled = true;
        const old = this.current;
        const added: string[] = [];
        const kept: string[] = [];
        const removed: string[] = [];
        for (const p of bound) this.ports.set(p.key, p);
        for (const p of replaced) {
          this.ports.delete(p.key);
          removed.push(p.name);
        }
        // The swap: requests read `current` once at their start, so each stays on one generation.
        this.current = runtime;
        this.currentIR = ir;
        this.tls = tls;
        this.generationValue = generation;
        this.highestGeneration = Math.max(this.highestGeneration, generation);
        this.hashValue = hash;
        // A whole configuration ends any canary: its candidate drains like the old generation.
        const canary = this.candidate;
        this.candidate = undefined;
        if (canary) this.track(canary.runtime.drain(drainMs).catch((err) => this.options.onWarning?.(`draining canary generation ${canary.runtime.generation}: ${(err as Error).message}`)));
        for (const [key, p] of this.ports) {
          const l = wanted.get(key);
          if (l) {
            if (bound.includes(p)) added.push(l.name);
            else {
              p.update(l, ir.global);
              kept.push(l.name);
            }
            continue;
          }
          this.ports.delete(key);
          removed.push(p.name);
          this.track(p.drain(drainMs));
        }
        if (old) this.track(old.drain(drainMs).catch((err) => this.options.onWarning?.(`draining generation ${old.generation}: ${(err as Error).message}`)));
        // New thresholds (or new ports) act now rather than at the next tick.
        this.overload.sample();
        for (const p of bound) p.overloadChanged(this.overload.level);
        return { ok: true, generation, hash, listeners: { added: added.sort(), removed: removed.sort(), kept: kept.sort() } };
      },
      abort: async () => {
        if (settled) return;
        settled = true;
        for (const p of bound) p.forceClose();
        if (replaced.length > 0) await this.rebindReplaced(replaced);
        await runtime.drain(0).catch(() => {});
      },
    };
  }

  /** Best effort after a failed protocol change on one port: bring the old listener back. */
  private async rebindReplaced(replaced: PortListener[]): Promise<void> {
    const ir = this.currentIR;
    if (!ir) return;
    for (const old of replaced) {
      const l = ir.listeners.find((x) => listenerKey(x) === old.key);
      if (!l) continue;
      const again = new PortListener(l, ir.global, this.dispatch);
      try {
        await again.bind();
        this.ports.set(old.key, again);
      } catch (err) {
        this.options.onWarning?.(`listener ${l.name} could not be restored: ${(err as Error).message}`);
      }
    }
  }

  private drainTimeout(ir: IR | undefined): number {
    return this.options.drainTimeoutMs ?? ir?.global.limits.drainTimeoutMs ?? 5000;
  }

  private track(p: Promise<void>): void {
    this.draining.add(p);
    void p.finally(() => this.draining.delete(p));
  }

  private connInfo(from: PortListener, socket: Socket): ConnectionInfo {
    return from.connectionInfo(socket);
  }

  /** The runtime a new request, stream, WebSocket or TCP connection keeps to its end. */
  private pick(): Runtime | undefined {
    const c = this.candidate;
    return c !== undefined && c.split.pick() ? c.runtime : this.current;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse, from: PortListener): void {
    const rt = this.pick();
    if (!rt) {
      res.writeHead(503, { 'content-type': 'text/plain', connection: 'close' }).end('no configuration\n');
      return;
    }
    if (this.options.exposeGeneration) res.setHeader(GENERATION_HEADER, String(rt.generation));
    if (this.overload.level === OVERLOAD_SHEDDING) {
      this.shed(rt, req, res, from);
      return;
    }
    try {
      rt.handle(req, res, this.connInfo(from, req.socket));
    } catch (err) {
      // A fault in the request path costs this request only, never the process.
      this.options.onWarning?.(`request path fault on ${from.name}: ${(err as Error).message}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain', connection: 'close' }).end('internal error\n');
      else res.destroy();
    }
  }

  /** stop_accepting_requests: a 503 the client may retry, written before any routing or upstream work. */
  private shed(rt: Runtime, req: IncomingMessage, res: ServerResponse, from: PortListener): void {
    const start = performance.now();
    const requestId = newRequestId();
    const h1 = req.httpVersionMajor < 2;
    if (isGrpcRequest(req)) sendGrpcLocalReply(res, 503, 'overloaded', requestId);
    else sendLocalReply(res, 503, 'overloaded', requestId, h1, rt.ir.global.serverName, ['retry-after', String(SHED_RETRY_AFTER_S)]);
    this.options.onRequestShed?.(from.name);
    const url = req.url ?? '';
    const q = url.indexOf('?');
    this.options.onRequestDone?.({
      generation: rt.generation,
      listener: from.name,
      method: req.method ?? '',
      path: q >= 0 ? url.slice(0, q) : url,
      authority: (h1 ? req.headers.host : (req.headers[':authority'] as string | undefined) ?? req.headers.host) ?? '',
      status: 503,
      durationMs: performance.now() - start,
      bytesIn: 0,
      bytesOut: 0,
      clientAddress: req.socket?.remoteAddress ?? '',
      requestId,
      localReply: 'overloaded',
    });
  }

  /** The overload monitor's level and last sample (admin view, tests). */
  overloadState(): OverloadSample | undefined {
    return this.overload.last;
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, from: PortListener): void {
    const rt = this.pick();
    if (!rt) {
      socket.destroy();
      return;
    }
    if (this.overload.level === OVERLOAD_SHEDDING) {
      sendLocalReplyOnSocket(socket, 503, 'overloaded', newRequestId());
      this.options.onRequestShed?.(from.name);
      return;
    }
    try {
      rt.handleUpgrade(req, socket, head, this.connInfo(from, req.socket));
    } catch (err) {
      this.options.onWarning?.(`upgrade fault on ${from.name}: ${(err as Error).message}`);
      socket.destroy();
    }
  }

  private onTCP(socket: Socket, from: PortListener): void {
    const rt = this.pick();
    if (!rt) {
      socket.destroy();
      return;
    }
    try {
      rt.handleTCP(socket, this.connInfo(from, socket));
    } catch (err) {
      this.options.onWarning?.(`TCP fault on ${from.name}: ${(err as Error).message}`);
      socket.destroy();
    }
  }

  private secureContext(from: PortListener, servername: string | undefined): SecureContext | undefined {
    return this.tls.get(from.key)?.lookup(servername);
  }

  /**
   * Stop accepting everywhere, let in-flight work finish with `Connection: close`, and resolve when
   * every socket is gone or the deadline passed (then everything left is destroyed).
   */
  async shutdown(deadlineMs = this.drainTimeout(this.currentIR)): Promise<void> {
    this.closing = true;
    this.overload.stop();
    // An apply in flight (a start-up stopped as it binds) may still add ports: they drain with the rest.
    await this.queue;
    const work: Promise<void>[] = [...this.draining];
    for (const p of this.ports.values()) work.push(p.drain(deadlineMs));
    if (this.current) work.push(this.current.drain(deadlineMs).catch(() => {}));
    if (this.candidate) work.push(this.candidate.runtime.drain(deadlineMs).catch(() => {}));
    await Promise.all(work);
  }

  // ───────────────────────── canary ─────────────────────────

  readonly canary: CanaryApplier = {
    start: (ir, secrets, meta, share, generation) => this.serialize(() => this.startCanary(ir, secrets, meta, share, generation)),
    share: async (percent) => {
      if (this.candidate) this.candidate.split.share = percent;
    },
    promote: () => this.serialize(async () => this.promoteCanary()),
    abort: () => this.serialize(async () => this.abortCanary()),
    figures: async () => this.canaryFigures(),
  };

  /** Builds the candidate's runtime beside the served one (the same listeners and TLS; no port changes). */
  private async startCanary(ir: IR, secrets: SecretStore, meta: ApplyMeta, share: number, generation: number = this.highestGeneration + 1): Promise<ApplyResult> {
    if (this.closing) return this.fail({ code: 'ShuttingDown', message: 'the gateway is draining' });
    const stable = this.current;
    if (!stable) return this.fail({ code: 'RuntimeBuildFailed', message: 'a canary needs a served configuration beside it' });
    secrets = await withFallbackCertificate(ir, secrets);
    const hash = meta.hash ?? hashIR(ir);
    let runtime: Runtime;
    try {
      runtime = this.options.buildRuntime(ir, secrets, { generation, hash, onRequestDone: this.requestDone, onWarning: this.options.onWarning, tracing: this.options.tracing });
    } catch (err) {
      return this.fail({ code: 'RuntimeBuildFailed', message: `cannot build the runtime: ${(err as Error).message}` });
    }
    this.highestGeneration = Math.max(this.highestGeneration, generation);
    this.abortCanary();
    this.candidate = { runtime, ir, split: new RevisionSplit(share), stableGeneration: stable.generation, stable: new TallyRecorder(), candidate: new TallyRecorder() };
    return { ok: true, generation, hash, listeners: { added: [], removed: [], kept: this.ir?.listeners.map((l) => l.name).sort() ?? [] } };
  }

  /** The candidate serves everything: the swap apply makes, without building or binding anything again. */
  private promoteCanary(): ApplyResult {
    const c = this.candidate;
    if (!c) return this.fail({ code: 'RuntimeBuildFailed', message: 'no canary to promote' });
    this.candidate = undefined;
    const old = this.current;
    this.current = c.runtime;
    this.currentIR = c.ir;
    this.generationValue = c.runtime.generation;
    this.hashValue = c.runtime.hash;
    const kept: string[] = [];
    for (const l of c.ir.listeners) {
      const p = this.ports.get(listenerKey(l));
      if (!p) continue;
      p.update(l, c.ir.global);
      kept.push(l.name);
    }
    const drainMs = this.drainTimeout(c.ir);
    if (old) this.track(old.drain(drainMs).catch((err) => this.options.onWarning?.(`draining generation ${old.generation}: ${(err as Error).message}`)));
    this.overload.sample();
    return { ok: true, generation: c.runtime.generation, hash: c.runtime.hash, listeners: { added: [], removed: [], kept: kept.sort() } };
  }

  /** The candidate stops getting requests; those it serves finish on it. */
  private abortCanary(): void {
    const c = this.candidate;
    if (!c) return;
    this.candidate = undefined;
    this.track(c.runtime.drain(this.drainTimeout(c.ir)).catch((err) => this.options.onWarning?.(`draining canary generation ${c.runtime.generation}: ${(err as Error).message}`)));
  }

  private canaryFigures(): CanaryFigures | undefined {
    const c = this.candidate;
    return c ? { stable: c.stable.reading(), canary: c.candidate.reading() } : undefined;
  }

  /** The running canary's generation and share (admin view, tests). */
  canaryState(): { generation: number; share: number } | undefined {
    const c = this.candidate;
    return c ? { generation: c.runtime.generation, share: c.split.share } : undefined;
  }

  /** Second SIGTERM: drop every connection now. */
  forceClose(): void {
    this.closing = true;
    this.overload.stop();
    for (const p of this.ports.values()) p.forceClose();
  }
}

function findListenerConflict(listeners: readonly IRListener[]): ApplyFailure | undefined {
  const byPort = new Map<number, IRListener>();
  for (const l of listeners) {
    if (l.port === 0) continue;
    const other = byPort.get(l.port);
    if (other) {
      return {
        code: 'ListenerConflict',
        message: `listeners ${other.name} and ${l.name} both use port ${l.port}`,
        listener: l.name,
        port: l.port,
      };
    }
    byPort.set(l.port, l);
  }
  return undefined;
}
