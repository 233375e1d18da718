// Active health checks of one upstream cluster (Emissary's `health_checks`): HTTP GET or gRPC
// grpc.health.v1 probes per endpoint on an interval; thresholds move endpoints out of and back into balancing.
//
// What can happen to an endpoint: unknown (no verdict yet: balanced, as Envoy does with a cluster
// that is already serving) → healthy after `healthyThreshold` passes, or unhealthy after
// `unhealthyThreshold` failures → and back. Verdicts outlive a configuration change that keeps the
// cluster and its checks, so a push elsewhere never hands traffic back to an endpoint known bad.

import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import type { ConnectionOptions } from 'node:tls';
import type { IRHealthCheck } from '../ir/types.js';
import type { SecretStore } from '../ir/secrets.js';

/** What a checker reads and marks on each endpoint (upstream-pool's Endpoint fits). */
export interface CheckedEndpoint {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly hostname: string;
  /** True while active checks hold it out of balancing. */
  unhealthy: boolean;
}

export type ActiveState = 'unknown' | 'healthy' | 'unhealthy';

export interface ActiveHealth {
  readonly state: ActiveState;
  readonly lastCheckAt?: string;
  /** The last probe's outcome: "200", "SERVING", or why it failed. */
  readonly lastResult?: string;
  readonly lastFailure?: { readonly message: string; readonly at: string };
}

interface Verdict {
  state: ActiveState;
  passes: number;
  failures: number;
  lastCheckAt?: string;
  lastResult?: string;
  lastFailure?: { message: string; at: string };
  owner: object;
}

/** Verdicts by cluster, checks and endpoint, handed from one generation's checker to the next. */
const carried = new Map<string, Verdict>();

export interface ProbeTarget {
  readonly secure: boolean;
  readonly tlsOptions: ConnectionOptions | undefined;
  readonly secrets: SecretStore;
}

type ProbeResult = { ok: true; result: string } | { ok: false; result: string };

/** The response body a probe reads at most: a health page is small, and only its status counts. */
const MAX_PROBE_BODY = 64 * 1024;

function hostOf(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

function probeHTTP(check: NonNullable<IRHealthCheck['http']>, timeoutMs: number, ep: CheckedEndpoint, target: ProbeTarget): Promise<ProbeResult> {
  const headers: Record<string, string | string[]> = {
    host: check.hostname ?? (ep.port === (target.secure ? 443 : 80) ? ep.hostname : `${ep.hostname}:${ep.port}`),
    'user-agent': 'Portico-HealthCheck',
  };
  for (const name of check.removeHeaders) delete headers[name];
  for (const a of check.addHeaders) {
    const value = a.secret !== undefined ? target.secrets[a.secret.id]?.value : a.value;
    if (value === undefined) continue;
    const name = a.name.toLowerCase();
    const old = headers[name];
    headers[name] = a.append && old !== undefined ? [...(Array.isArray(old) ? old : [old]), value] : value;
  }
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const options = { host: ep.address, port: ep.port, method: 'GET', path: check.path, headers, agent: false as const };
    const req = target.secure
      ? https.request({ ...target.tlsOptions, ...options, servername: target.tlsOptions?.servername ?? ep.hostname })
      : http.request(options);
    const timer = setTimeout(() => done({ ok: false, result: `timeout after ${timeoutMs}ms` }), timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, result: err.code ?? err.message }));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      let read = 0;
      res.on('data', (b: Buffer) => {
        read += b.length;
        if (read > MAX_PROBE_BODY) finish();
      });
      const finish = (): void => {
        const ok = check.expectedStatuses.some((s) => status >= s.min && status <= s.max);
        done(ok ? { ok: true, result: String(status) } : { ok: false, result: `status ${status}` });
      };
      res.on('end', finish);
      res.on('error', finish);
    });
    req.end();
  });
}

/** grpc.health.v1.HealthCheckRequest{service}: field 1, length-delimited, in one gRPC frame. */
function grpcRequestFrame(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const len: number[] = [];
  let n = name.length;
  do {
    len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  const message = name.length > 0 ? Buffer.concat([Buffer.from([0x0a, ...len]), name]) : Buffer.alloc(0);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** HealthCheckResponse.status (field 1, varint) from a gRPC frame; 0 (UNKNOWN) when absent. */
function grpcServingStatus(body: Buffer): number {
  if (body.length < 5 || body[0] !== 0) return -1;
  const len = body.readUInt32BE(1);
  const m = body.subarray(5, 5 + len);
  for (let i = 0; i < m.length; ) {
    const tag = m[i++]!;
    if (tag === 0x08) return m[i] ?? 0;
    // Skip another field: varint or length-delimited are the only kinds this message can carry.
    if ((tag & 7) === 0) {
      while (i < m.length && (m[i++]! & 0x80) !== 0);
    } else if ((tag & 7) === 2) i += 1 + (m[i] ?? 0);
    else return -1;
  }
  return 0;
}

const GRPC_SERVING = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

function probeGRPC(check: NonNullable<IRHealthCheck['grpc']>, timeoutMs: number, ep: CheckedEndpoint, target: ProbeTarget): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const origin = `${target.secure ? 'https' : 'http'}://${hostOf(ep.address)}:${ep.port}`;
    const session = http2.connect(origin, target.secure ? { ...target.tlsOptions, servername: target.tlsOptions?.servername ?? ep.hostname, ALPNProtocols: ['h2'] } : {});
    const done = (r: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, result: `timeout after ${timeoutMs}ms` }), timeoutMs);
    session.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, result: err.code ?? err.message }));
    const stream = session.request({
      ':method': 'POST',
      ':path': '/grpc.health.v1.Health/Check',
      ':authority': check.authority ?? `${ep.hostname}:${ep.port}`,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'Portico-HealthCheck',
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let status = '';
    let grpcStatus: string | undefined;
    stream.on('response', (h: IncomingHttpHeaders & { ':status'?: number }) => {
      status = String(h[':status'] ?? '');
      if (typeof h['grpc-status'] === 'string') grpcStatus = h['grpc-status'];
    });
    stream.on('trailers', (t: IncomingHttpHeaders) => {
      if (typeof t['grpc-status'] === 'string') grpcStatus = t['grpc-status'];
    });
    stream.on('data', (b: Buffer) => {
      size += b.length;
      if (size <= MAX_PROBE_BODY) chunks.push(b);
    });
    stream.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, result: err.code ?? err.message }));
    stream.on('end', () => {
      if (status !== '200') return done({ ok: false, result: `status ${status || 'none'}` });
      if (grpcStatus !== '0') return done({ ok: false, result: `grpc-status ${grpcStatus ?? 'missing'}` });
      const serving = grpcServingStatus(Buffer.concat(chunks));
      done(serving === 1 ? { ok: true, result: 'SERVING' } : { ok: false, result: GRPC_SERVING[serving] ?? 'invalid response' });
    });
    stream.end(grpcRequestFrame(check.service));
  });
}

/**
 * One checker per cluster that asks for checks. Each check probes every current endpoint once per
 * interval (a probe still running is not started twice); an endpoint is out while any check holds it out.
 */
export class ActiveHealthChecker {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly inFlight = new Set<string>();
  private readonly verdicts = new Map<string, Verdict>();
  private stopped = false;

  constructor(
    private readonly clusterName: string,
    private readonly checks: readonly IRHealthCheck[],
    private readonly endpoints: () => readonly CheckedEndpoint[],
    private readonly target: ProbeTarget,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.checks.forEach((check, i) => {
      const round = (): void => {
        if (this.stopped) return;
        for (const ep of this.endpoints()) void this.probe(i, check, ep);
      };
      // The first round at once: a fresh cluster learns about a dead endpoint within one timeout.
      setImmediate(round);
      const t = setInterval(round, check.intervalMs);
      t.unref();
      this.timers.push(t);
    });
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const [k, v] of carried) if (v.owner === this) carried.delete(k);
  }

  /** The endpoint's verdict across every check: unhealthy if any holds it out. */
  health(ep: CheckedEndpoint): ActiveHealth {
    const vs = this.checks.map((_, i) => this.verdicts.get(this.key(i, ep))).filter((v): v is Verdict => v !== undefined);
    const state: ActiveState = vs.some((v) => v.state === 'unhealthy') ? 'unhealthy' : vs.length === this.checks.length && vs.every((v) => v.state === 'healthy') ? 'healthy' : 'unknown';
    const last = vs.filter((v) => v.lastCheckAt !== undefined).sort((a, b) => (a.lastCheckAt! < b.lastCheckAt! ? 1 : -1))[0];
    const failure = vs.filter((v) => v.lastFailure !== undefined).sort((a, b) => (a.lastFailure!.at < b.lastFailure!.at ? 1 : -1))[0]?.lastFailure;
    return { state, ...(last?.lastCheckAt ? { lastCheckAt: last.lastCheckAt, lastResult: last.lastResult! } : {}), ...(failure ? { lastFailure: failure } : {}) };
  }

  private key(i: number, ep: CheckedEndpoint): string {
    return `${this.clusterName}\n${JSON.stringify(this.checks[i])}\n${ep.key}`;
  }

  private verdict(i: number, ep: CheckedEndpoint): Verdict {
    const k = this.key(i, ep);
    let v = this.verdicts.get(k);
    if (v === undefined) {
      const old = carried.get(k);
      v = old ? { ...old, owner: this } : { state: 'unknown', passes: 0, failures: 0, owner: this };
      this.verdicts.set(k, v);
      carried.set(k, v);
      if (v.state === 'unhealthy') ep.unhealthy = true;
    }
    return v;
  }

  private async probe(i: number, check: IRHealthCheck, ep: CheckedEndpoint): Promise<void> {
    const flight = `${i}\n${ep.key}`;
    if (this.inFlight.has(flight)) return;
    this.inFlight.add(flight);
    const v = this.verdict(i, ep);
    let r: ProbeResult;
    try {
      r = check.grpc ? await probeGRPC(check.grpc, check.timeoutMs, ep, this.target) : await probeHTTP(check.http!, check.timeoutMs, ep, this.target);
    } catch (err) {
      r = { ok: false, result: (err as Error).message };
    } finally {
      this.inFlight.delete(flight);
    }
    if (this.stopped) return;
    const at = new Date(this.now()).toISOString();
    v.lastCheckAt = at;
    v.lastResult = r.result;
    if (r.ok) {
      v.failures = 0;
      v.passes++;
      if (v.state !== 'healthy' && (v.state === 'unknown' || v.passes >= check.healthyThreshold)) v.state = 'healthy';
    } else {
      v.passes = 0;
      v.failures++;
      v.lastFailure = { message: r.result, at };
      if (v.state !== 'unhealthy' && v.failures >= check.unhealthyThreshold) v.state = 'unhealthy';
    }
    ep.unhealthy = this.checks.some((_, j) => this.verdicts.get(this.key(j, ep))?.state === 'unhealthy');
  }
}
