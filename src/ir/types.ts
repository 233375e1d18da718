// The IR is the master configuration: listeners → virtual hosts → ordered routes → clusters,
// plus TLS material and global policy. compile() produces it; the data plane consumes only it.
//
// Rules: plain JSON data (no classes, no Maps), every array in a deterministic order, no
// timestamps. Secret bytes never appear here: TLS keys are referenced by id and carried in a
// separate SecretStore (see ./secrets.ts) so that render, the admin API and golden files can
// print the IR as it is.

import type { ResourceRef } from '../api/problems.js';
import type { Origin } from '../api/origin.js';

export const IR_VERSION = 1;

export interface IR {
  readonly version: typeof IR_VERSION;
  readonly ambassadorId: string;
  readonly global: IRGlobal;
  /** Ordered by port. */
  readonly listeners: readonly IRListener[];
  /** Ordered by name. */
  readonly clusters: readonly IRCluster[];
  /** TLS contexts used for termination (by Hosts) and origination (by Mappings/TCPMappings). Ordered by name. */
  readonly tlsContexts: readonly IRTLSContext[];
  /** Upstream resolvers by name (for services outside Kubernetes). Ordered by name. */
  readonly resolvers: readonly IRResolver[];
}

/** Where an IR element came from: the resource and its origin (source@rev:path:line:col). */
export interface IRSourceRef extends ResourceRef {
  readonly origin: Origin;
}

// ───────────────────────── global policy (Module `ambassador` + built-in defaults) ─────────────────────────

export interface IRGlobal {
  /** Default request timeout for routes without timeout_ms (Emissary: 3000). 0 = none. */
  readonly requestTimeoutMs: number;
  /** Default upstream connect timeout (Emissary: 3000). */
  readonly connectTimeoutMs: number;
  /** Default upstream idle timeout (0 = pool default). */
  readonly clusterIdleTimeoutMs: number;
  /** Downstream connection idle timeout. */
  readonly listenerIdleTimeoutMs: number;
  /** Time allowed to receive the complete request headers (slowloris defence). */
  readonly requestHeadersTimeoutMs: number;
  /** Limit on request header bytes (request line included); larger → 431. */
  readonly maxRequestHeadersBytes: number;
  /** Limit on request header count; larger → 431. */
  readonly maxRequestHeadersCount: number;
  readonly mergeSlashes: boolean;
  /** What to do with %2F / %5C in paths. */
  readonly escapedSlashesAction: 'KEEP_UNCHANGED' | 'REJECT_REQUEST' | 'UNESCAPE_AND_REDIRECT' | 'UNESCAPE_AND_FORWARD';
  /** Normalise dot segments and percent-encoded unreserved characters before routing. */
  readonly normalizePath: boolean;
  /** Headers with '_' in their names: drop or reject (400). */
  readonly headersWithUnderscoresAction: 'ALLOW' | 'DROP_HEADER' | 'REJECT_REQUEST';
  readonly useRemoteAddress: boolean;
  readonly xffNumTrustedHops: number;
  readonly preserveExternalRequestId: boolean;
  /** Strip a port in Host that matches the listener port before vhost matching. */
  readonly stripMatchingHostPort: boolean;
  /** Default CORS policy for routes without their own. */
  readonly cors?: IRCors;
  /** Value of the Server header on local replies; absent = none. */
  readonly serverName?: string;
  /** Extra request/response header rules applied to every route (Module add_*). */
  readonly headers: IRHeaderRules;
  /** Default load balancer for clusters without their own. */
  readonly loadBalancer: IRLoadBalancer;
  /** Default circuit breakers. */
  readonly circuitBreakers: IRCircuitBreakers;
  /** Default retry policy for routes without their own. */
  readonly retryPolicy?: IRRetryPolicy;
  /**
   * What reaches the upstream as x-forwarded-client-cert (Module forward_client_cert_details and
   * set_current_client_cert_details). Absent = SANITIZE: a client's copy is removed, none is set.
   */
  readonly clientCertDetails?: IRClientCertDetails;
  /** Access log: JSON fields, or disabled. */
  readonly accessLog: { readonly enabled: boolean; readonly fields?: readonly string[] };
  /** Limits that protect the edge (HARDENING.md §2.11). */
  readonly limits: {
    /** Connections one listener accepts at once, per serving process (worker); 0 = no cap. */
    readonly maxConnections: number;
    /** Connections one client address may hold on one listener, per serving process; 0 = no cap. */
    readonly maxConnectionsPerClient: number;
    readonly keepAliveTimeoutMs: number;
    readonly maxRequestsPerConnection: number;
    readonly drainTimeoutMs: number;
    readonly tlsHandshakeTimeoutMs: number;
    readonly http2MaxConcurrentStreams: number;
    /** Load shedding under pressure (docs/reference/overload.md); a threshold of 0 turns its signal off. */
    readonly overload: IROverload;
  };
}

/**
 * Thresholds of the overload monitor. Heap ratios are V8's used heap over its limit; at the first
 * threshold keep-alive is disabled, at the second new requests get 503 + Retry-After.
 */
export interface IROverload {
  readonly heapDisableKeepAliveRatio: number;
  readonly heapShedRatio: number;
  readonly eventLoopDelayDisableKeepAliveMs: number;
  readonly eventLoopDelayShedMs: number;
}

/** Envoy's modes: which x-forwarded-client-cert the upstream sees, and from whom. */
export type ForwardClientCertMode = 'SANITIZE' | 'FORWARD_ONLY' | 'APPEND_FORWARD' | 'SANITIZE_SET' | 'ALWAYS_FORWARD_ONLY';

export interface IRClientCertDetails {
  readonly forward: ForwardClientCertMode;
  /** Fields of the verified client certificate the gateway adds (APPEND_FORWARD, SANITIZE_SET); Hash always. */
  readonly set: { readonly subject: boolean; readonly cert: boolean; readonly chain: boolean; readonly dns: boolean; readonly uri: boolean };
}

// ───────────────────────── listeners and virtual hosts ─────────────────────────

export type SecurityModel = 'XFP' | 'SECURE' | 'INSECURE';

export interface IRListener {
  /** Unique: the Listener's name, or "implied-<port>" for listeners implied by TCPMappings / defaults. */
  readonly name: string;
  readonly bindAddress: string;
  readonly port: number;
  /**
   * The protocol stack, outermost first, e.g. ["TLS","HTTP","TCP"] (HTTPS), ["HTTP","TCP"],
   * ["PROXY","HTTP","TCP"], ["TLS","TCP"] (TLS-terminated TCP), ["TCP"].
   */
  readonly protocolStack: readonly string[];
  /** Whether this listener serves HTTP (then virtualHosts apply) or raw TCP (tcpRoutes apply). */
  readonly l7: boolean;
  /** Whether the listener terminates TLS. */
  readonly tls: boolean;
  readonly securityModel: SecurityModel;
  /** Number of trusted L7 proxies in front (Listener.l7Depth); used for X-Forwarded-For. */
  readonly l7Depth: number;
  /** Ordered: exact hostnames first (alphabetical), then wildcard globs longest first, "*" last. */
  readonly virtualHosts: readonly IRVirtualHost[];
  /** TCP routes on this port, ordered: SNI-specific first (alphabetical), then catch-all. */
  readonly tcpRoutes: readonly IRTCPRoute[];
  readonly source?: IRSourceRef;
}

export type InsecureAction = 'Redirect' | 'Reject' | 'Route';

export interface IRVirtualHost {
  /** "<listener>-<hostname>" as Emissary names it. */
  readonly name: string;
  /** DNS glob: "*", "*.example.com", "api.example.com". Lower case. */
  readonly hostname: string;
  /** Hosts (resources) merged into this vhost. */
  readonly hosts: readonly IRSourceRef[];
  /** TLS termination context for this hostname (name in IR.tlsContexts), when the Host has TLS. */
  readonly tlsContext?: string;
  /** Action for requests that are not secure (per the listener's securityModel). */
  readonly insecureAction: InsecureAction;
  /** Port to redirect insecure requests to (Host.requestPolicy.insecure.additionalPort); default 443 scheme default. */
  readonly redirectPort?: number;
  /** Routes in evaluation order: first match wins. */
  readonly routes: readonly IRRoute[];
}

// ───────────────────────── routes ─────────────────────────

export interface IRHeaderMatch {
  /** Lower-case header name; ":authority" for host matches. */
  readonly name: string;
  /** Exact value match. */
  readonly exact?: string;
  /** RE2 regex, matched against the whole value (src/ir/re2-regex.ts). */
  readonly regex?: string;
  /** Only presence is required (v2 boolean header `true`). */
  readonly present?: boolean;
  /** Header must be absent (v2 boolean header `false`). */
  readonly invert?: boolean;
}

export interface IRQueryMatch {
  readonly name: string;
  readonly exact?: string;
  readonly regex?: string;
  readonly present?: boolean;
}

export interface IRRouteMatch {
  /** Exactly one of prefix / path / regex is set. */
  readonly prefix?: string;
  readonly path?: string;
  /** RE2 regex over the whole path; caseSensitive does not apply to it (as in Envoy). */
  readonly regex?: string;
  readonly caseSensitive: boolean;
  /** Upper-case method; absent = any. */
  readonly method?: string;
  /** Regex over the method (method_regex: true). */
  readonly methodRegex?: boolean;
  /** Includes the Mapping's `host`/`hostname` as an ":authority" match when narrower than the vhost. */
  readonly headers: readonly IRHeaderMatch[];
  readonly query: readonly IRQueryMatch[];
}

export interface IRHeaderValue {
  readonly name: string;
  /** The value; "[redacted]" when `secret` is set (the real one is in the SecretStore). */
  readonly value: string;
  /** Emissary append semantics: true (default) adds another value, false replaces. */
  readonly append: boolean;
  /**
   * A credential: its value lives in the SecretStore under `id`, never here. `digest` (the first
   * 16 hex digits of the value's SHA-256) changes with the value, so a rotation shows in plan and
   * moves the IR hash.
   */
  readonly secret?: { readonly id: string; readonly digest: string };
}

export interface IRHeaderRules {
  readonly requestAdd: readonly IRHeaderValue[];
  readonly requestRemove: readonly string[];
  readonly responseAdd: readonly IRHeaderValue[];
  readonly responseRemove: readonly string[];
}

export interface IRCors {
  /** Exact origins, or "*" alone. */
  readonly origins: readonly string[];
  /** Regex origins (full match). */
  readonly originRegexes: readonly string[];
  readonly methods: readonly string[];
  readonly headers: readonly string[];
  readonly exposedHeaders: readonly string[];
  readonly credentials: boolean;
  readonly maxAge?: string;
}

export interface IRRetryPolicy {
  /** Envoy retry_on conditions: "5xx", "gateway-error", "connect-failure", "retriable-4xx", "refused-stream", "reset", ... */
  readonly retryOn: readonly string[];
  readonly numRetries: number;
  readonly perTryTimeoutMs?: number;
  /** Retry requests whose body was already consumed (not replayable by default). */
  readonly retryNonIdempotent: boolean;
}

export interface IRRewrite {
  /** Replace the matched prefix with this; null = no rewrite. Emissary default "/". */
  readonly prefix: string | null;
  /** regex_rewrite: replaces matches of pattern in the path with substitution. */
  readonly regex?: { readonly pattern: string; readonly substitution: string };
}

/** One weighted backend of a route: the per-Mapping policy travels with it (canary Mappings may differ). */
export interface IRBackend {
  readonly cluster: string;
  /** Normalised weight; the weights of a route's backends add up to 100. */
  readonly weight: number;
  readonly rewrite: IRRewrite;
  readonly hostRewrite?: string;
  readonly autoHostRewrite: boolean;
  readonly headers: IRHeaderRules;
  readonly timeouts: {
    /** Whole-request timeout; 0 = none. */
    readonly requestMs: number;
    readonly idleMs: number;
  };
  readonly retryPolicy?: IRRetryPolicy;
  /** Mapping that defined this backend. */
  readonly mapping: IRSourceRef;
}

export interface IRRedirect {
  readonly hostRedirect?: string;
  readonly pathRedirect?: string;
  readonly prefixRedirect?: string;
  readonly regexRedirect?: { readonly pattern: string; readonly substitution: string };
  readonly responseCode: 301 | 302 | 303 | 307 | 308;
  /** Redirect to https (scheme change). */
  readonly httpsRedirect?: boolean;
}

export interface IRRoute {
  /** Stable id: "<namespace>/<mapping name>" of the first Mapping of the group (+ "#n" when needed). */
  readonly id: string;
  readonly match: IRRouteMatch;
  readonly precedence: number;
  /** Either backends (route) or redirect. */
  readonly backends: readonly IRBackend[];
  readonly redirect?: IRRedirect;
  /** Mirror a percentage of requests to this cluster; response discarded. */
  readonly shadow?: { readonly cluster: string; readonly weight: number };
  readonly cors?: IRCors;
  readonly allowUpgrade: readonly string[];
  readonly grpc: boolean;
  readonly bypassAuth: boolean;
  /** Every Mapping in the group (canaries, shadow). */
  readonly mappings: readonly IRSourceRef[];
}

// ───────────────────────── TCP ─────────────────────────

export interface IRTCPRoute {
  readonly id: string;
  /** SNI hostname (TCPMapping.host) or undefined for any. */
  readonly sni?: string;
  /** TLS termination context when the listener terminates TLS for this SNI. */
  readonly tlsContext?: string;
  readonly backends: readonly { readonly cluster: string; readonly weight: number }[];
  readonly idleTimeoutMs: number;
  readonly mapping: IRSourceRef;
}

// ───────────────────────── clusters ─────────────────────────

export interface IRLoadBalancer {
  readonly policy: 'round_robin' | 'least_request' | 'ring_hash' | 'maglev';
  /** For ring_hash / maglev: what to hash. */
  readonly hash?:
    | { readonly header: string }
    | { readonly cookie: { readonly name: string; readonly ttl?: string; readonly path?: string } }
    | { readonly sourceIp: true };
}

export interface IRCircuitBreakers {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
}

export interface IREndpoint {
  readonly host: string;
  readonly port: number;
}

export interface IRCluster {
  /** e.g. "cluster_quote_ambassador", plus a short hash suffix when settings differ. */
  readonly name: string;
  /** The `service` string as written. */
  readonly service: string;
  readonly namespace: string;
  /** 'https' = TLS to the upstream. */
  readonly scheme: 'http' | 'https';
  /** Endpoints: IP literals, DNS names (resolved by the data plane), or resolver-provided. */
  readonly endpoints: readonly IREndpoint[];
  /** Names are resolved through DNS and refreshed. */
  readonly dns: boolean;
  /** HTTP/2 to the upstream (gRPC). */
  readonly http2: boolean;
  /** TLS origination: context name (client cert, CA) and SNI. */
  readonly tls?: { readonly context?: string; readonly sni?: string };
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly loadBalancer: IRLoadBalancer;
  readonly circuitBreakers: IRCircuitBreakers;
  /** Passive ejection of failing endpoints (consecutive 5xx / connect failures). */
  readonly outlierDetection: { readonly consecutiveFailures: number; readonly baseEjectionMs: number };
  /** Active health checks (a Mapping's `health_checks`): failing endpoints leave the balancing. */
  readonly healthChecks?: readonly IRHealthCheck[];
}

export interface IRHealthCheck {
  readonly timeoutMs: number;
  readonly intervalMs: number;
  /** Consecutive passes that make an unhealthy endpoint healthy again. */
  readonly healthyThreshold: number;
  /** Consecutive failures that take an endpoint out. */
  readonly unhealthyThreshold: number;
  /** GET path; healthy when the status is in one of the ranges (inclusive). */
  readonly http?: {
    readonly path: string;
    readonly hostname?: string;
    readonly addHeaders: readonly IRHeaderValue[];
    readonly removeHeaders: readonly string[];
    readonly expectedStatuses: readonly { readonly min: number; readonly max: number }[];
  };
  /** grpc.health.v1.Health/Check for `service`; healthy when it answers SERVING. */
  readonly grpc?: { readonly service: string; readonly authority?: string };
}

export interface IRResolver {
  readonly name: string;
  /** service name → endpoints */
  readonly services: readonly { readonly service: string; readonly endpoints: readonly IREndpoint[] }[];
  readonly source: IRSourceRef;
}

// ───────────────────────── TLS ─────────────────────────

export interface IRTLSContext {
  readonly name: string;
  /** Hostnames this context terminates (SNI), for termination contexts. */
  readonly hosts: readonly string[];
  /** Certificate chain + key: id into the SecretStore (never the bytes). */
  readonly certificate?: { readonly secret: string; readonly sha256: string };
  /**
   * The default Host's fallback: a self-signed certificate the serving process generates at start
   * (as Emissary's fallback-self-signed-cert). Neither the IR nor compile's SecretStore holds it.
   */
  readonly fallback?: true;
  /** CA bundle for verifying peers (client certs when terminating, servers when originating). */
  readonly ca?: { readonly secret: string; readonly sha256: string };
  readonly certRequired: boolean;
  readonly minVersion?: 'TLSv1.0' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  readonly maxVersion?: 'TLSv1.0' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  readonly cipherSuites: readonly string[];
  readonly alpnProtocols: readonly string[];
  readonly sni?: string;
  readonly source?: IRSourceRef;
}
