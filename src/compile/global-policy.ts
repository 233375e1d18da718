// Global policy: built-in edge-safe defaults (HARDENING.md §1.1, §2.11), overridden by the
// `ambassador` Module. Emissary's user-visible defaults (3000 ms timeouts) are kept.

import type { Resource } from '../api/resource.js';
import type { ForwardClientCertMode, IRCircuitBreakers, IRCors, IRGlobal, IRLoadBalancer, IROverload, IRRetryPolicy } from '../ir/types.js';
import type { CompileContext } from './context.js';
import { compressionFrom } from './compression.js';
import { corsFrom, loadBalancerFrom, retryPolicyFrom, circuitBreakersFrom, type HeaderRuleFields } from './mapping-policy.js';

export const DEFAULT_CIRCUIT_BREAKERS: IRCircuitBreakers = { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 };
/** Envoy's edge example sheds at 0.98 of a fixed heap; V8 spends most of its time in GC well before that. */
export const DEFAULT_OVERLOAD: IROverload = {
  heapDisableKeepAliveRatio: 0.85,
  heapShedRatio: 0.95,
  eventLoopDelayDisableKeepAliveMs: 0,
  eventLoopDelayShedMs: 0,
};
export const DEFAULT_LOAD_BALANCER: IRLoadBalancer = { policy: 'round_robin' };

export function defaultGlobal(): IRGlobal {
  return {
    requestTimeoutMs: 3000,
    connectTimeoutMs: 3000,
    clusterIdleTimeoutMs: 60000,
    listenerIdleTimeoutMs: 300000,
    requestHeadersTimeoutMs: 15000,
    maxRequestHeadersBytes: 60 * 1024,
    maxRequestHeadersCount: 100,
    mergeSlashes: true,
    escapedSlashesAction: 'UNESCAPE_AND_REDIRECT',
    normalizePath: true,
    headersWithUnderscoresAction: 'REJECT_REQUEST',
    useRemoteAddress: true,
    xffNumTrustedHops: 0,
    preserveExternalRequestId: false,
    stripMatchingHostPort: true,
    headers: { requestAdd: [], requestRemove: [], responseAdd: [], responseRemove: [] },
    loadBalancer: DEFAULT_LOAD_BALANCER,
    circuitBreakers: DEFAULT_CIRCUIT_BREAKERS,
    accessLog: { enabled: true },
    limits: {
      maxConnections: 50000,
      maxConnectionsPerClient: 1000,
      keepAliveTimeoutMs: 60000,
      maxRequestsPerConnection: 0,
      drainTimeoutMs: 5000,
      tlsHandshakeTimeoutMs: 10000,
      http2MaxConcurrentStreams: 100,
      overload: DEFAULT_OVERLOAD,
    },
  };
}

type Cfg = Record<string, unknown>;

/** Apply the `ambassador` Module (if any) over the defaults. */
export function compileGlobal(modules: readonly Resource[], ctx: CompileContext): IRGlobal {
  const g: { -readonly [K in keyof IRGlobal]: IRGlobal[K] } = { ...defaultGlobal() };
  const valid = modules.filter((m) => {
    if (m.name !== 'ambassador') {
      ctx.report(m, 'ModuleNameInvalid', `Module '${m.name}' is not used: only the Module named 'ambassador' configures the gateway`, 'metadata.name');
      return false;
    }
    return ctx.isValid(m);
  });
  const mod = valid[0];
  if (!mod) return g;
  const cfg = ((mod.spec as Cfg)['config'] ?? {}) as Cfg;
  const num = (k: string): number | undefined => (typeof cfg[k] === 'number' ? (cfg[k] as number) : undefined);
  const bool = (k: string): boolean | undefined => (typeof cfg[k] === 'boolean' ? (cfg[k] as boolean) : undefined);
  const field = (k: string): string => `spec.config.${k}`;

  g.requestTimeoutMs = num('cluster_request_timeout_ms') ?? g.requestTimeoutMs;
  g.clusterIdleTimeoutMs = num('cluster_idle_timeout_ms') ?? g.clusterIdleTimeoutMs;
  g.listenerIdleTimeoutMs = num('listener_idle_timeout_ms') ?? g.listenerIdleTimeoutMs;
  const kb = num('max_request_headers_kb');
  if (kb !== undefined) g.maxRequestHeadersBytes = kb * 1024;
  g.mergeSlashes = bool('merge_slashes') ?? g.mergeSlashes;
  g.normalizePath = bool('normalize_path') ?? g.normalizePath;
  g.useRemoteAddress = bool('use_remote_address') ?? g.useRemoteAddress;
  g.xffNumTrustedHops = num('xff_num_trusted_hops') ?? g.xffNumTrustedHops;
  g.preserveExternalRequestId = bool('preserve_external_request_id') ?? g.preserveExternalRequestId;
  g.stripMatchingHostPort = bool('strip_matching_host_port') ?? g.stripMatchingHostPort;
  // Emissary 2 moved it to the Listener (the Module key is read by nothing since); a Module that still
  // asks for it is told where it now goes, and the Listeners are not changed: a migrated configuration
  // is served as Emissary served it.
  if (cfg['use_proxy_proto'] === true) {
    ctx.report(mod, 'Deprecated', '"use_proxy_proto" has had no effect since Emissary 2.0 (its AWS guide still shows it); the PROXY protocol is set on each Listener (protocol HTTPPROXY or HTTPSPROXY, or PROXY in its protocolStack)', field('use_proxy_proto'));
  }
  // Read by the Mappings' regex checks only: the IR keeps the regexes, never the limit.
  ctx.regexMaxSize = num('regex_max_size') ?? ctx.regexMaxSize;
  // Read by the Mappings' and TCPMappings' services only: the IR keeps the services as qualified.
  ctx.useAmbassadorNamespaceForServices = bool('use_ambassador_namespace_for_service_resolution') === true;
  // Emissary's switch: true rejects (400); an explicit false asks for Emissary's default, the path
  // forwarded as received. Unset keeps Portico's default, a 307 to the unescaped path.
  if (cfg['reject_requests_with_escaped_slashes'] === true) g.escapedSlashesAction = 'REJECT_REQUEST';
  else if (cfg['reject_requests_with_escaped_slashes'] === false) g.escapedSlashesAction = 'KEEP_UNCHANGED';
  const hua = cfg['headers_with_underscores_action'];
  if (typeof hua === 'string') g.headersWithUnderscoresAction = hua as IRGlobal['headersWithUnderscoresAction'];
  const sn = cfg['server_name'];
  if (typeof sn === 'string') g.serverName = sn;
  if (cfg['cors'] !== undefined) {
    const c: IRCors | string = corsFrom(cfg['cors'] as Cfg);
    if (typeof c === 'string') ctx.report(mod, 'InvalidCORS', c, field('cors'));
    else g.cors = c;
  }
  if (cfg['load_balancer'] !== undefined) {
    const lb = loadBalancerFrom(cfg['load_balancer'] as Cfg);
    if (typeof lb === 'string') ctx.report(mod, 'SchemaViolation', lb, field('load_balancer'));
    else g.loadBalancer = lb;
  }
  if (cfg['circuit_breakers'] !== undefined) g.circuitBreakers = circuitBreakersFrom(cfg['circuit_breakers'], g.circuitBreakers);
  if (cfg['retry_policy'] !== undefined) {
    const rp: IRRetryPolicy | string = retryPolicyFrom(cfg['retry_policy'] as Cfg);
    if (typeof rp === 'string') ctx.report(mod, 'SchemaViolation', rp, field('retry_policy'));
    else g.retryPolicy = rp;
  }
  g.limits = limitsFrom(cfg, g.limits);
  const compression = compressionFrom(cfg);
  if (compression !== undefined) {
    g.compression = compression;
    // Emissary's remove_accept_encoding_header: upstreams answer uncompressed, the gateway compresses
    if (compression.removeAcceptEncodingHeader) g.headers = { ...g.headers, requestRemove: [...g.headers.requestRemove, 'accept-encoding'] };
  }
  const fccd = cfg['forward_client_cert_details'];
  const sccd = cfg['set_current_client_cert_details'];
  if (typeof fccd === 'string' || (typeof sccd === 'object' && sccd !== null)) {
    const set = (typeof sccd === 'object' && sccd !== null ? sccd : {}) as Cfg;
    g.clientCertDetails = {
      forward: typeof fccd === 'string' ? (fccd as ForwardClientCertMode) : 'SANITIZE',
      set: { subject: set['subject'] === true, cert: set['cert'] === true, chain: set['chain'] === true, dns: set['dns'] === true, uri: set['uri'] === true },
    };
  }
  ctx.credentials.addNames(cfg['portico_credential_headers']);
  // Emissary has no gateway-wide header rules: the Module's defaults are per Mapping (see mappingDefaults).
  const defaults = cfg['defaults'];
  if (defaults !== null && typeof defaults === 'object') {
    ctx.mappingDefaults = mappingDefaultsFrom(defaults as Cfg);
    const ns = (defaults as Cfg)['tls_secret_namespacing'];
    if (typeof ns === 'boolean') ctx.tlsSecretNamespacing = ns;
  }
  if (valid.length > 1) {
    for (const extra of valid.slice(1)) ctx.report(extra, 'DuplicateResource', `another Module 'ambassador' (${mod.namespace}) already configures the gateway`);
  }
  return g;
}

/** The header rules a Mapping defaults to: the `httpmapping` class first, then the top level of `defaults`. */
function mappingDefaultsFrom(defaults: Cfg): HeaderRuleFields | undefined {
  const cls = (defaults['httpmapping'] !== null && typeof defaults['httpmapping'] === 'object' ? defaults['httpmapping'] : {}) as Cfg;
  const pick = (k: keyof HeaderRuleFields): unknown => cls[k] ?? defaults[k];
  const out: HeaderRuleFields = {
    add_request_headers: pick('add_request_headers'),
    remove_request_headers: pick('remove_request_headers'),
    add_response_headers: pick('add_response_headers'),
    remove_response_headers: pick('remove_response_headers'),
  };
  return Object.values(out).some((v) => v !== undefined) ? out : undefined;
}

/** The Portico-specific `portico_*` keys (connection caps, overload thresholds); the schema checked ranges. */
function limitsFrom(cfg: Cfg, limits: IRGlobal['limits']): IRGlobal['limits'] {
  const num = (v: unknown, fallback: number): number => (typeof v === 'number' ? v : fallback);
  const o = (cfg['portico_overload'] ?? {}) as Cfg;
  return {
    ...limits,
    maxConnections: num(cfg['portico_max_connections'], limits.maxConnections),
    maxConnectionsPerClient: num(cfg['portico_max_connections_per_client'], limits.maxConnectionsPerClient),
    overload: {
      heapDisableKeepAliveRatio: num(o['heap_disable_keepalive_ratio'], limits.overload.heapDisableKeepAliveRatio),
      heapShedRatio: num(o['heap_shed_ratio'], limits.overload.heapShedRatio),
      eventLoopDelayDisableKeepAliveMs: num(o['event_loop_delay_disable_keepalive_ms'], limits.overload.eventLoopDelayDisableKeepAliveMs),
      eventLoopDelayShedMs: num(o['event_loop_delay_shed_ms'], limits.overload.eventLoopDelayShedMs),
    },
  };
}
