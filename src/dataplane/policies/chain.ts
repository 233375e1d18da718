// The policy chain of a route: the steps that run between route match and forward and may stop a
// request (IP filter, body limit, authentication, rate limit), in one fixed order, and the request's run through them.
//
// A route without policies has no chain at all (RouteAction.policies is undefined) and pays nothing.
// A step decides at once (a value) or later (a promise): a chain of steps that all decide at once
// runs without a promise or a tick. A step that waits (an auth call, a Redis call) keeps its own
// deadline and stops when the request is aborted (the client went away: r.onAbort, or r.signal).

import type { IncomingMessage } from 'node:http';
import type { IRRoute, IRSourceRef } from '../../ir/types.js';
import type { LocalReplyCode } from '../local-reply.js';
import { isPolicySettable } from '../header-policy.js';

/**
 * Stages in the order they run. Emissary's order: IP filters, then CORS (so a preflight, which
 * carries no credentials, is answered before anything asks for them), the body limit, Edge Stack
 * filters, the AuthService, rate limits. docs/reference/policies.md.
 */
export const POLICY_STAGES = ['ip_filter', 'cors_preflight', 'request_buffer', 'filter', 'auth', 'rate_limit'] as const;
export type PolicyStage = (typeof POLICY_STAGES)[number];

/**
 * What a step decided. allow: go on. deny: answer with `reply`. error: the service the step asks
 * failed and the step fails closed (reply). error_allow: it failed and the step is configured to
 * fail open (go on). answer: the step answered the request itself (a CORS preflight).
 */
export type PolicyOutcome = 'allow' | 'deny' | 'error' | 'error_allow' | 'answer';

/** A reply a step sends instead of forwarding: the gateway's JSON local reply, or another service's answer. */
export interface PolicyReply {
  readonly status: number;
  /** The local reply code (logs, metrics, and the JSON body when `body` is absent). */
  readonly code: LocalReplyCode;
  /** Extra response headers, [name, value, ...] (WWW-Authenticate, Location, rate-limit headers, ...). */
  readonly headers?: readonly string[];
  /** The body another service wrote (an auth service's denial), sent instead of the JSON body. */
  readonly body?: Buffer;
  /** For a gRPC request: this grpc-status instead of the one the HTTP status maps to (RESOURCE_EXHAUSTED for a rate limit). */
  readonly grpcStatus?: number;
}

export interface PolicyDecision {
  readonly outcome: PolicyOutcome;
  /** For deny, error and answer. */
  readonly reply?: PolicyReply;
  /** Why a service failed (error, error_allow), for the access log's upstreamError; never a secret. */
  readonly detail?: string;
  /** Metrics and log label when it is not the step's own (the one AuthService of several that answered). */
  readonly label?: string;
}

/** The decisions that carry nothing else are shared. */
export const ALLOW: PolicyDecision = Object.freeze({ outcome: 'allow' });
export const ERROR_ALLOW: PolicyDecision = Object.freeze({ outcome: 'error_allow' });

/** A request body a step read (the body limit, an auth check that includes the body). */
export interface ReadBody {
  /** Bytes read so far, in order. */
  readonly bytes: Buffer;
  /** The whole body (the request's end was seen); false: `bytes` is a prefix and the rest is still in the stream (paused). */
  readonly complete: boolean;
}

/** What a step knows about the request offline (`explain`, route tests): no socket, no body. */
export interface OfflineRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly host: string;
  /** Client headers as [name, value] pairs. */
  readonly headers: readonly (readonly [string, string])[];
  /** The trusted client address when the request says it (X-Forwarded-For with trusted hops), else undefined. */
  readonly clientAddress: string | undefined;
  readonly route: IRRoute;
}

/** A step's offline verdict: what it would decide, or that only the live gateway knows. */
export interface ExplainedStep {
  readonly decision: 'allow' | 'deny' | 'answer' | 'at_serve_time';
  /** The status it would answer with (deny, answer), or answers with when its service fails (at_serve_time). */
  readonly status?: number;
  readonly reason: string;
}

export interface PolicyStep {
  readonly stage: PolicyStage;
  /** For metrics and logs: "<stage> <Kind> <namespace>/<name>", e.g. "auth AuthService default/ext-auth". */
  readonly label: string;
  /** What configured it (a Module, an AuthService); absent for steps derived from the route (CORS). */
  readonly source?: IRSourceRef;
  /** Only its answers are recorded (metrics, logs), not its allows: it is not a protection (CORS). */
  readonly quiet?: boolean;
  /** Decide now (a decision) or later (a promise that never rejects for the service's own failures). */
  run(r: PolicyRequest): PolicyDecision | Promise<PolicyDecision>;
  explain(r: OfflineRequest): ExplainedStep;
}

/** Transforms a response body (compression): bytes in, bytes out, ended once. */
export interface ResponseBodyTransform {
  write(chunk: Buffer): void;
  end(): void;
}

/**
 * The response side of a chain (compression). Called once with the status and headers before the
 * head is written; it may change `headers` ([name, value, ...]) in place and return a transform
 * for the body, whose output it sends to `emit` (false: the client is not keeping up; `drained`
 * tells when it is again).
 */
export interface ResponseHook {
  start(req: IncomingMessage, status: number, headers: string[], sink: ResponseSink): ResponseBodyTransform | undefined;
}

export interface ResponseSink {
  emit(chunk: Buffer): boolean;
  end(): void;
  /** The transform failed: the response is aborted. */
  fail(err: Error): void;
}

export interface PolicyChain {
  /** Steps in stage order; empty when only the response side applies. */
  readonly steps: readonly PolicyStep[];
  readonly response: ResponseHook | undefined;
}

/**
 * One request on its way through a chain: what the steps read, and what they leave for the forward
 * path (header edits, a read body) and for logs and metrics (decisions).
 */
export class PolicyRequest {
  /** The normalised path routing used (the same the upstream gets before rewrite), without query. */
  path = '';
  /** "" or "?..." */
  query = '';
  method = '';
  /** Host as routing used it (normalised). */
  host = '';
  /** Authority as the client sent it. */
  authority = '';
  /** The scheme the upstream is told (X-Forwarded-Proto). */
  scheme = 'http';
  /** The trusted client address (X-Forwarded-For with trusted hops). */
  clientAddress = '';
  /** The address of the TCP connection. */
  peerAddress = '';
  /** The X-Forwarded-For the upstream gets (the client's, with the peer appended), if any. */
  forwardedFor: string | undefined;
  requestId = '';
  /** The body was announced (Content-Length > 0 or chunked); a WebSocket upgrade has none. */
  hasBody = false;
  /** Content-Length as a number, when the client sent one. */
  contentLength: number | undefined;
  origin: string | undefined;
  /** The cluster the request will go to (the backend picked before the chain runs); the rate-limit label destination_cluster. */
  destinationCluster: string | undefined;
  /** Set by a step that read the body; the forward path sends it, then whatever is still in the stream. */
  body: ReadBody | undefined;
  /** Request headers the upstream gets on top of (or instead of) the client's: see RequestHeaderEdits. */
  edits: RequestHeaderEdits | undefined;
  /** Response headers the client gets whatever the answer ([name, value, ...]). */
  responseHeaders: string[] | undefined;
  /** [label, outcome, ...] in the order steps decided. */
  decisions: string[] | undefined;
  /** What steps that let the request on had to say (a failed service, a LogOnly limit passed); the access log's upstreamError. */
  passedDetail: string | undefined;
  aborted = false;
  private controller: AbortController | undefined;
  /** Called once if the request is aborted; cheaper than a signal for the steps that wait on every request. */
  private abortHandlers: (() => void)[] | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly route: IRRoute,
    /** A WebSocket upgrade: no body, and the reply goes on the raw socket. */
    readonly upgrade: boolean,
  ) {}

  /** Aborted when the client goes away: a step that waits stops waiting (onAbort is cheaper). */
  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.aborted) this.controller.abort();
    return this.controller.signal;
  }

  /** `fn` runs once if the client goes away (at once if it has); offAbort(fn) when the wait is over. */
  onAbort(fn: () => void): void {
    if (this.aborted) {
      fn();
      return;
    }
    (this.abortHandlers ??= []).push(fn);
  }

  offAbort(fn: () => void): void {
    const h = this.abortHandlers;
    if (h === undefined) return;
    const i = h.indexOf(fn);
    if (i >= 0) h.splice(i, 1);
  }

  /** ctx.upstream's contract: the runtime calls it when the client goes away. */
  destroy(): void {
    this.abort();
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.controller?.abort();
    const h = this.abortHandlers;
    this.abortHandlers = undefined;
    if (h !== undefined) for (const fn of h) fn();
  }

  /** The client's header (lower-case name), several values joined with ", ". */
  header(name: string): string | undefined {
    const v = this.req.headers[name];
    return v === undefined ? undefined : Array.isArray(v) ? v.join(', ') : v;
  }

  /** Header edits for the upstream request, created on first use. */
  upstreamHeaders(): RequestHeaderEdits {
    return (this.edits ??= new RequestHeaderEdits());
  }

  addResponseHeader(name: string, value: string): void {
    (this.responseHeaders ??= []).push(name, value);
  }

  record(label: string, outcome: PolicyOutcome): void {
    (this.decisions ??= []).push(label, outcome);
  }
}

/**
 * Changes to the upstream request's headers decided by steps, applied before the route's own
 * header rules (as Envoy's filters run before its router): `set` replaces the client's values,
 * `append` adds one, `remove` drops the client's. Framing, hop-by-hop and gateway-owned fields
 * (Host, Content-Length, X-Forwarded-For, X-Request-Id, ...) are never changed by a policy.
 */
export class RequestHeaderEdits {
  /** Lower-case names of client fields that never reach the upstream. */
  readonly strip = new Set<string>();
  /** [name, value, ...] sent after the client's fields. */
  readonly add: string[] = [];

  /** False when the name may not be set by a policy (the edit is not made). */
  set(name: string, value: string): boolean {
    const l = name.toLowerCase();
    if (!isPolicySettable(l, value)) return false;
    this.dropAdded(l);
    this.strip.add(l);
    this.add.push(name, value);
    return true;
  }

  append(name: string, value: string): boolean {
    if (!isPolicySettable(name.toLowerCase(), value)) return false;
    this.add.push(name, value);
    return true;
  }

  remove(name: string): boolean {
    const l = name.toLowerCase();
    if (!isPolicySettable(l, '')) return false;
    this.dropAdded(l);
    this.strip.add(l);
    return true;
  }

  private dropAdded(lname: string): void {
    for (let i = this.add.length - 2; i >= 0; i -= 2) if ((this.add[i] as string).toLowerCase() === lname) this.add.splice(i, 2);
  }
}

/** How a run ended: undefined = every step let the request go on; else the deciding step and its decision. */
export type ChainEnd = (decision: PolicyDecision | undefined, step: PolicyStep | undefined) => void;

/** The decision for a step that threw or rejected: a fault of the gateway, never an allow. */
export const STEP_FAULT: PolicyDecision = Object.freeze({ outcome: 'error', reply: Object.freeze({ status: 500, code: 'internal_error' as const }) });

/**
 * Run `chain` for `r`. `end` is called exactly once, unless the request is aborted first (then
 * never); synchronously when every step decides at once.
 */
export function runPolicyChain(chain: PolicyChain, r: PolicyRequest, end: ChainEnd): void {
  runSteps(chain.steps, 0, r, end);
}

function runSteps(steps: readonly PolicyStep[], from: number, r: PolicyRequest, end: ChainEnd): void {
  for (let i = from; i < steps.length; i++) {
    const step = steps[i] as PolicyStep;
    let d: PolicyDecision | Promise<PolicyDecision>;
    try {
      d = step.run(r);
    } catch {
      d = STEP_FAULT;
    }
    if (d instanceof Promise) {
      d.then(
        (x) => {
          if (!r.aborted && settle(step, x, r, end)) runSteps(steps, i + 1, r, end);
        },
        () => {
          if (!r.aborted) settle(step, STEP_FAULT, r, end);
        },
      );
      return;
    }
    if (!settle(step, d, r, end)) return;
  }
  end(undefined, undefined);
}

/** Records the decision; true when the request goes on to the next step. */
function settle(step: PolicyStep, d: PolicyDecision, r: PolicyRequest, end: ChainEnd): boolean {
  const goesOn = d.outcome === 'allow' || d.outcome === 'error_allow';
  if (!goesOn || step.quiet !== true) r.record(d.label ?? step.label, d.outcome);
  if (goesOn) {
    // Why a step let the request on anyway (its service failed, a LogOnly limit was passed): for the access log.
    if (d.detail !== undefined) r.passedDetail = r.passedDetail === undefined ? d.detail : `${r.passedDetail}; ${d.detail}`;
    return true;
  }
  end(d, step);
  return false;
}
