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
  /** How the fleet moves: its peers and release policies (absent when the configuration declares neither). */
  readonly fleet?: IRFleet;
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
  /** Response compression (Module gzip, portico_brotli); absent = none. */
  readonly compression?: IRCompression;
  /** Distributed tracing (the TracingService); absent = off, and the request path does no tracing work. */
  readonly tracing?: IRTracing;
  /** Access log: JSON fields, or disabled. */
  readonly accessLog: { readonly enabled: boolean; readonly fields?: readonly string[] };
  /**
   * Edge policies that may stop a routed request (docs/reference/policies.md): IP filters, the
   * request body limit, external authentication. Absent when none is configured.
   */
  readonly policies?: IRPolicies;
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

/** Where spans go and which requests make them (docs/reference/tracing.md). */
export interface IRTracing {
  /** opentelemetry: OTLP over HTTP (protobuf); zipkin: Zipkin v2 JSON. */
  readonly driver: 'opentelemetry' | 'zipkin';
  /** The collector's URL, http(s)://host:port/path. */
  readonly endpoint: string;
  /** Host header sent to the collector when it differs from the URL's (zipkin collector_hostname). */
  readonly collectorHostname?: string;
  /** The service.name resource attribute of every span. */
  readonly serviceName: string;
  /** Percentages (0–100): requests with x-client-trace-id, requests without a decision, and the share kept of both. */
  readonly sampling: { readonly client: number; readonly random: number; readonly overall: number };
  /** Header formats read (first found wins) and written (all), in this order. */
  readonly propagation: readonly ('TRACE_CONTEXT' | 'B3')[];
  /** Zipkin with trace_id_128bit: false: new traces get 64-bit ids. */
  readonly traceId64Bit: boolean;
  readonly customTags: readonly IRTraceTag[];
  readonly source: IRSourceRef;
}

/** A span attribute: exactly one of literal, environment (read by the serving process), requestHeader. */
export interface IRTraceTag {
  readonly tag: string;
  readonly literal?: string;
  readonly environment?: { readonly name: string; readonly defaultValue?: string };
  readonly requestHeader?: { readonly name: string; readonly defaultValue?: string };
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
  /** Retry requests with a body too: the body is kept for a replay up to the data plane's limit (1 MiB). */
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
  /** The Mapping's response header rules, sent with the redirect as Envoy sends a route's with its direct response. */
  readonly headers?: { readonly responseAdd: readonly IRHeaderValue[]; readonly responseRemove: readonly string[] };
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
  /** Mapping bypass_auth: no AuthService is asked about this route's requests. */
  readonly bypassAuth: boolean;
  /** Every Mapping in the group (canaries, shadow). */
  readonly mappings: readonly IRSourceRef[];
  /** What the route's own Mapping adds to the edge policies; absent when nothing. */
  readonly policies?: IRRoutePolicies;
}

// ───────────────────────── edge policies ─────────────────────────
//
// Gateway-wide definitions live in IRGlobal.policies; a route carries only what its Mapping adds.
// Which policies run for a route, and in which order, is derived from both by one function that
// the data plane and `explain` share (src/dataplane/policies/chain-builder.ts).

export interface IRPolicies {
  /** Module ip_allow / ip_deny (Emissary allows one of the two). */
  readonly ipFilter?: IRIPFilter;
  /** The RateLimitService labelled routes ask (then builtInRateLimiter is absent). */
  readonly rateLimitService?: IRRateLimitService;
  /** Edge Stack RateLimits, when there is no RateLimitService. */
  readonly builtInRateLimiter?: IRBuiltInRateLimiter;
  /** Module buffer.max_request_bytes. */
  readonly requestBuffer?: IRRequestBuffer;
  /** AuthServices, by name; several take turns (round-robin, as Emissary balances them), never chained. */
  readonly authServices?: readonly IRAuthService[];
  /** Edge Stack Filters and FilterPolicy rules; absent when there are none. */
  readonly filters?: IRFilters;
}

/** One AuthService (external authorization, Envoy's ext_authz). */
export interface IRAuthService {
  /** "namespace/name" (its identity in plan). */
  readonly name: string;
  readonly proto: 'http' | 'grpc';
  /** The cluster in IR.clusters the checks go to (HTTP/2 for gRPC). */
  readonly cluster: string;
  /** HTTP: prepended to the request's path in the check. */
  readonly pathPrefix: string;
  /** The whole check, connection included; 0 = no limit of its own. */
  readonly timeoutMs: number;
  /** The request body sent with the check: at most maxBytes; a longer one is cut (allowPartial) or refused with 413. */
  readonly includeBody?: { readonly maxBytes: number; readonly allowPartial: boolean };
  /** HTTP: lower-case names of the client's headers copied into the check (Emissary's defaults included). */
  readonly allowedRequestHeaders: readonly string[];
  /**
   * Lower-case names of the auth service's response headers that reach the upstream on a 200 and
   * the client on a refusal (HTTP; Emissary's defaults included).
   */
  readonly allowedAuthorizationHeaders: readonly string[];
  /**
   * The allowed_authorization_headers beyond Emissary's defaults: identities only the service
   * states (x-user-id). A client's copy is never sent to the service nor to the upstream.
   */
  readonly identityHeaders: readonly string[];
  /** Headers added to the check (HTTP); credentials redacted as in header rules. */
  readonly addAuthHeaders: readonly IRHeaderValue[];
  /** HTTP: l5d-dst-override with the service's host:port in the check. */
  readonly addLinkerdHeaders: boolean;
  /** The status when the service cannot be asked (down, timeout, 5xx, circuit breaker). */
  readonly statusOnError: number;
  /** When the service cannot be asked, let the request on instead. */
  readonly failureModeAllow: boolean;
  readonly source: IRSourceRef;
}
export interface IRRequestBuffer {
  /** Larger request bodies are refused with 413; smaller ones are read whole before forwarding. */
  readonly maxRequestBytes: number;
  readonly source: IRSourceRef;
}

export interface IRIPFilter {
  /** ALLOW: only matching clients pass; DENY: matching clients are refused (403). */
  readonly action: 'ALLOW' | 'DENY';
  /**
   * In the order written. `peer`: the address of the TCP connection; `remote`: the trusted client
   * address (X-Forwarded-For read with the trusted hops, as routing and logs use it).
   */
  readonly principals: readonly { readonly kind: 'peer' | 'remote'; readonly cidr: string }[];
  readonly source: IRSourceRef;
}

/** Per-route additions to the edge policies, from the route's primary Mapping. */
export interface IRRoutePolicies {
  /** Mapping auth_context_extensions: sent to a gRPC AuthService as the check's context_extensions. */
  readonly authContextExtensions?: Readonly<Record<string, string>>;
  /**
   * The rate-limit label groups of the limiter's domain, the Module's default_labels first; only
   * when a limiter is configured (labels do nothing otherwise).
   */
  readonly rateLimitGroups?: readonly IRRateLimitGroup[];
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

// ───────────────────────── fleet and releases ─────────────────────────

/** Portico's own: what no data plane reads, but the controller and the fleet do. */
export interface IRFleet {
  /** Admin URLs of the replicas (Module portico_fleet_peers), sorted. */
  readonly peers: readonly string[];
  /** ReleasePolicies, ordered by namespace and name. */
  readonly releasePolicies: readonly IRReleasePolicy[];
}

/** A ReleasePolicy with its defaults filled in. */
export interface IRReleasePolicy {
  readonly name: string;
  readonly namespace: string;
  /** The sources it releases; absent: every source. */
  readonly sources?: readonly string[];
  /** Percent of requests at each step, ascending. */
  readonly steps: readonly number[];
  readonly windowMs: number;
  readonly minRequests: number;
  /** Percentage points. */
  readonly maxErrorRateIncrease: number;
  /** Percent of the current revision's p95. */
  readonly maxLatencyIncrease: number;
  readonly latencyToleranceMs: number;
  readonly onInsufficientTraffic: 'Promote' | 'Hold' | 'Rollback';
  readonly source: IRSourceRef;
}

// ───────────────────────── response compression (Module gzip and portico_brotli) ─────────────────────────

/** What both codings share: which responses they take. */
export interface IRCompressionCommon {
  /** Responses with a smaller Content-Length stay as they are. */
  readonly minContentLength: number;
  /** Media types (lower case, no parameters) that are compressed. */
  readonly contentTypes: readonly string[];
  /** Leave responses with an ETag alone (else strong ETags are dropped from compressed ones). */
  readonly disableOnEtagHeader: boolean;
}

export interface IRGzip extends IRCompressionCommon {
  readonly compressionLevel: 'DEFAULT' | 'BEST' | 'SPEED';
  readonly compressionStrategy: 'DEFAULT' | 'FILTERED' | 'HUFFMAN' | 'RLE';
  readonly memoryLevel: number;
  readonly windowBits: number;
}

export interface IRBrotli extends IRCompressionCommon {
  /** 0–11. */
  readonly quality: number;
  /** 10–24 (log2 of the window). */
  readonly windowBits: number;
}

export interface IRCompression {
  readonly gzip?: IRGzip;
  readonly brotli?: IRBrotli;
  /** Remove Accept-Encoding from requests so that upstreams answer uncompressed (Emissary's remove_accept_encoding_header). */
  readonly removeAcceptEncodingHeader: boolean;
}

// ───────────────────────── Edge Stack Filters and FilterPolicies ─────────────────────────

export interface IRFilters {
  /** Ordered by id ("namespace/name"). */
  readonly filters: readonly IRFilter[];
  /** Every FilterPolicy rule, policies ordered by namespace/name, rules in their order: the first that matches applies. */
  readonly rules: readonly IRFilterRule[];
}

export interface IRHeaderTemplate {
  readonly name: string;
  /** Go text/template source (see src/ir/text-template.ts); checked at compile. */
  readonly value: string;
}

export interface IRJWTFilter {
  readonly jwksURI?: string;
  readonly insecureTLS: boolean;
  readonly algorithms: readonly string[];
  readonly audience?: string;
  readonly requireAudience: boolean;
  readonly issuer?: string;
  readonly requireIssuer: boolean;
  readonly requireExpiresAt: boolean;
  readonly leewayForExpiresAtMs: number;
  readonly requireNotBefore: boolean;
  readonly leewayForNotBeforeMs: number;
  readonly requireIssuedAt: boolean;
  readonly leewayForIssuedAtMs: number;
  /** How long fetched keys are used before a refresh. */
  readonly maxStaleMs: number;
  readonly injectRequestHeaders: readonly IRHeaderTemplate[];
  readonly errorResponse: {
    readonly realm: string;
    readonly headers: readonly IRHeaderTemplate[];
    readonly bodyTemplate?: string;
  };
}

export interface IRAPIKeyFilter {
  /** Lower case. */
  readonly httpHeader: string;
  /** SecretStore ids of the keys (each entry's `value`); the IR holds no key. */
  readonly keys: readonly { readonly id: string; readonly digest: string }[];
}

export interface IRFilter {
  /** "namespace/name". */
  readonly id: string;
  readonly source: IRSourceRef;
  readonly type: 'JWT' | 'APIKey' | 'External' | 'Invalid';
  readonly jwt?: IRJWTFilter;
  readonly apiKey?: IRAPIKeyFilter;
  /** An External filter: the AuthService check compiled from the filter's own spec (its cluster is among the IR's). */
  readonly external?: IRAuthService;
  /** Why an Invalid filter cannot run: requests it guards are refused (fail closed). */
  readonly invalid?: string;
}

export interface IRFilterRef {
  /** IRFilter id; a missing Filter is an Invalid one under this id. */
  readonly filter: string;
  readonly onDeny: 'break' | 'continue';
  readonly onAllow: 'break' | 'continue';
  readonly ifRequestHeader?: {
    /** Lower case. */
    readonly name: string;
    readonly negate: boolean;
    readonly value?: string;
    /** RE2. */
    readonly valueRegex?: string;
  };
  /** Scopes the JWT must carry (arguments.scope). */
  readonly scope: readonly string[];
}

export interface IRFilterRule {
  /** Glob: `*` matches any run of characters; compared without case. */
  readonly host: string;
  /** Glob: `*` matches any run of characters, `/` included. */
  readonly path: string;
  /** Empty: requests the rule matches pass with no filter. */
  readonly filters: readonly IRFilterRef[];
  readonly source: IRSourceRef;
  /** Index of the rule in its FilterPolicy's rules. */
  readonly index: number;
}

// ───────────────────────── rate limits ─────────────────────────

/**
 * One label specifier of a Mapping (or of the Module's default_labels), as the Envoy rate limit
 * action it becomes: each yields one descriptor entry, or none, which drops its whole group.
 */
export type IRRateLimitAction =
  /** ("source_cluster", the gateway's own cluster name: "<ambassador_id>-default"). */
  | { readonly kind: 'source_cluster' }
  /** ("destination_cluster", the name of the cluster the request is routed to). */
  | { readonly kind: 'destination_cluster' }
  /** ("remote_address", the trusted client address: X-Forwarded-For read with the trusted hops). */
  | { readonly kind: 'remote_address' }
  /** (key, the header's first value); a missing header drops the group. `header` is lower case. */
  | { readonly kind: 'request_headers'; readonly key: string; readonly header: string }
  /** (key, value): a constant. */
  | { readonly kind: 'generic_key'; readonly key: string; readonly value: string };

/** One label group: one descriptor sent (or matched) per request, its entries in this order. */
export interface IRRateLimitGroup {
  /** The group's name as written; Emissary does not send it (it is for people, and explain). */
  readonly name: string;
  readonly actions: readonly IRRateLimitAction[];
}

/** The Emissary RateLimitService every labelled route asks (Emissary allows one). */
export interface IRRateLimitService {
  /** Cluster of the gRPC service (in IR.clusters). */
  readonly cluster: string;
  readonly domain: string;
  readonly timeoutMs: number;
  /** Refuse (500) when the service cannot be asked; otherwise let the request through. */
  readonly failureModeDeny: boolean;
  /** gRPC requests refused for the limit get RESOURCE_EXHAUSTED instead of UNAVAILABLE. */
  readonly useResourceExhaustedCode: boolean;
  readonly source: IRSourceRef;
}

/** One header a limit sets; `value` is a template (docs/reference/policies.md). */
export interface IRRateLimitHeader {
  readonly name: string;
  readonly value: string;
}

/** One limit of an Edge Stack RateLimit resource, for the built-in limiter. */
export interface IRRateLimitRule {
  /** limits[].name, or "<name>.<namespace>-<index>" as Edge Stack names it. */
  readonly name: string;
  /**
   * The descriptor must start with one entry per item, in order; an item lists the (key, value)
   * pairs it accepts, any one of which matches; value "*" (or "") matches any value of the key.
   */
  readonly pattern: readonly (readonly { readonly key: string; readonly value: string }[])[];
  readonly rate: number;
  readonly unit: 'second' | 'minute' | 'hour' | 'day';
  /** Absent: a wall-clock window; set: a sliding window of burstFactor units allowing rate × burstFactor. */
  readonly burstFactor?: number;
  readonly action: 'Enforce' | 'LogOnly';
  readonly injectRequestHeaders: readonly IRRateLimitHeader[];
  readonly injectResponseHeaders: readonly IRRateLimitHeader[];
  readonly errorResponse?: { readonly headers: readonly IRRateLimitHeader[]; readonly bodyTemplate?: string };
  readonly source: IRSourceRef;
}

/** The built-in limiter: Edge Stack RateLimits, counted in Redis or in each serving process. */
export interface IRBuiltInRateLimiter {
  /** The label domain whose groups it matches (Module default_label_domain, "ambassador"). */
  readonly domain: string;
  /** Ordered: longest pattern first, then by resource and index (the first of equals wins). */
  readonly rules: readonly IRRateLimitRule[];
  /**
   * Where counts live: a Redis URL without credentials (those come from the secrets directory and
   * are in the SecretStore under `passwordSecret`), or absent: REDIS_URL, else each process.
   */
  readonly redis?: { readonly url: string; readonly passwordSecret?: string };
  readonly timeoutMs: number;
  readonly failureModeDeny: boolean;
}
