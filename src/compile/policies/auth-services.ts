// AuthService → IRAuthService and the cluster its checks go to. Emissary's defaults: proto http,
// timeout_ms 5000, status_on_error 403, fail closed; its header lists always include its defaults.

import type { Resource } from '../../api/resource.js';
import type { IRAuthService, IRCluster, IRGlobal, IRHeaderValue, IRTLSContext } from '../../ir/types.js';
import type { CompileContext } from '../context.js';
import { clusterBaseName, parseService } from '../service.js';
import { circuitBreakersFrom } from '../mapping-policy.js';
import { sha256 } from '../../ir/canonical.js';

type Obj = Record<string, unknown>;

/** Client headers every HTTP check carries (Emissary's AllowedRequestHeaders). */
export const DEFAULT_AUTH_REQUEST_HEADERS: readonly string[] = [
  'authorization', 'cookie', 'from', 'proxy-authorization', 'user-agent', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto',
];

/** Auth response headers that always pass (Emissary's AllowedAuthorizationHeaders). */
export const DEFAULT_AUTH_RESPONSE_HEADERS: readonly string[] = ['authorization', 'location', 'proxy-authenticate', 'set-cookie', 'www-authenticate'];

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_STATUS_ON_ERROR = 403;
/** What the deprecated allow_request_body: true means in Emissary. */
const ALLOW_REQUEST_BODY = { maxBytes: 4096, allowPartial: true } as const;

export interface AuthServiceInputs {
  readonly authServices: readonly Resource[];
  readonly module: Resource | undefined;
  readonly global: IRGlobal;
  readonly tlsContexts: ReadonlyMap<string, IRTLSContext>;
}

function headerList(v: unknown, defaults: readonly string[]): string[] {
  const names = new Set(defaults);
  if (Array.isArray(v)) for (const n of v) if (typeof n === 'string' && n.trim() !== '') names.add(n.trim().toLowerCase());
  return [...names].sort();
}

/** The settings Emissary requires every AuthService to share ("All services must use the same path_prefix and header definitions"). */
function sharedSettings(a: IRAuthService): string {
  return JSON.stringify([a.proto, a.pathPrefix, a.timeoutMs, a.allowedRequestHeaders, a.allowedAuthorizationHeaders]);
}

export function compileAuthServices(input: AuthServiceInputs, ctx: CompileContext): { authServices: IRAuthService[]; clusters: IRCluster[] } {
  const authServices: IRAuthService[] = [];
  const clusters = new Map<string, IRCluster>();
  const moduleLinkerd = ((input.module?.spec as Obj | undefined)?.['config'] as Obj | undefined)?.['add_linkerd_headers'];
  for (const r of input.authServices) {
    const s = r.spec as Obj;
    const before = ctx.problems.length;
    const proto = s['proto'] === 'grpc' ? 'grpc' : 'http';
    if (proto === 'grpc' && s['protocol_version'] !== 'v3') {
      // Emissary 3 answers every request with a 500 for such an AuthService (Envoy dropped v2).
      ctx.report(r, 'SchemaViolation', `a gRPC AuthService needs protocol_version: v3 (${s['protocol_version'] === 'v2' ? 'v2' : 'the default, v2,'} is the transport Envoy dropped; Emissary 3 answers every request with 500 for it)`, s['protocol_version'] === undefined ? 'spec.proto' : 'spec.protocol_version');
    }
    const tls = s['tls'];
    const tlsContext = typeof tls === 'string' && tls !== '' && tls !== 'true' && tls !== 'false' ? tls : undefined;
    const forceTLS = tls === true || tls === 'true' || tlsContext !== undefined;
    if (tlsContext !== undefined && !input.tlsContexts.has(tlsContext)) {
      ctx.report(r, 'TLSContextNotFound', `TLSContext '${tlsContext}' (named by tls) was not found or is invalid`, 'spec.tls');
    }
    const service = String(s['auth_service']);
    const parsed = parseService(service, forceTLS);
    if (typeof parsed === 'string') ctx.report(r, 'InvalidService', parsed, 'spec.auth_service');
    if (s['include_body'] !== undefined && s['allow_request_body'] === true) {
      ctx.report(r, 'Deprecated', 'allow_request_body is ignored: include_body is set', 'spec.allow_request_body');
    } else if (s['allow_request_body'] !== undefined) {
      ctx.report(r, 'Deprecated', `allow_request_body is deprecated: write include_body${s['allow_request_body'] === true ? ' {max_bytes: 4096, allow_partial: true}, which is what it means' : ''}`, 'spec.allow_request_body');
    }
    if (ctx.problems.slice(before).some((p) => p.severity === 'error') || typeof parsed === 'string') continue;

    const g = input.global;
    const cluster: IRCluster = {
      name: '',
      service,
      namespace: r.namespace,
      scheme: parsed.scheme,
      endpoints: [{ host: parsed.host, port: parsed.port }],
      dns: !parsed.isIP,
      http2: proto === 'grpc',
      ...(parsed.scheme === 'https' ? { tls: tlsContext !== undefined ? { context: tlsContext } : {} } : {}),
      connectTimeoutMs: g.connectTimeoutMs,
      idleTimeoutMs: g.clusterIdleTimeoutMs,
      loadBalancer: g.loadBalancer,
      circuitBreakers: s['circuit_breakers'] !== undefined ? circuitBreakersFrom(s['circuit_breakers'], g.circuitBreakers) : g.circuitBreakers,
      outlierDetection: { consecutiveFailures: 5, baseEjectionMs: 30000 },
    };
    // Emissary's name for the cluster (marker "extauth"); AuthServices that differ in how they
    // reach one service get a hash of their settings appended.
    const base = clusterBaseName(service, r.namespace).replace(/^cluster_/, 'cluster_extauth_');
    const settings = JSON.stringify({ ...cluster, name: '' });
    let name = base;
    const taken = clusters.get(name);
    if (taken !== undefined && JSON.stringify({ ...taken, name: '' }) !== settings) name = `${base}_${sha256(settings).slice(0, 8)}`;
    clusters.set(name, { ...cluster, name });

    const body = s['include_body'] as Obj | undefined;
    const includeBody = body !== undefined
      ? { maxBytes: body['max_bytes'] as number, allowPartial: body['allow_partial'] === true }
      : s['allow_request_body'] === true ? ALLOW_REQUEST_BODY : undefined;
    const status = (s['status_on_error'] as Obj | undefined)?.['code'];
    const adds = s['add_auth_headers'];
    let addAuthHeaders: IRHeaderValue[] = [];
    if (adds !== undefined && adds !== null && typeof adds === 'object') {
      // Literal credentials move to the SecretStore, as in header rules: no view of the IR shows them.
      const rules = ctx.credentialRules(r, 'spec.');
      addAuthHeaders = ctx.credentials.values(adds as Obj, rules.team, 'spec.add_auth_headers', rules.report) ?? [];
    }
    const auth: IRAuthService = {
      name: `${r.namespace}/${r.name}`,
      proto,
      cluster: name,
      pathPrefix: typeof s['path_prefix'] === 'string' ? s['path_prefix'] : '',
      timeoutMs: typeof s['timeout_ms'] === 'number' ? s['timeout_ms'] : DEFAULT_TIMEOUT_MS,
      ...(includeBody !== undefined ? { includeBody } : {}),
      allowedRequestHeaders: headerList(s['allowed_request_headers'], DEFAULT_AUTH_REQUEST_HEADERS),
      allowedAuthorizationHeaders: headerList(s['allowed_authorization_headers'], DEFAULT_AUTH_RESPONSE_HEADERS),
      identityHeaders: headerList(s['allowed_authorization_headers'], []).filter((n) => !DEFAULT_AUTH_RESPONSE_HEADERS.includes(n)),
      addAuthHeaders,
      addLinkerdHeaders: typeof s['add_linkerd_headers'] === 'boolean' ? s['add_linkerd_headers'] : moduleLinkerd === true,
      statusOnError: typeof status === 'number' ? status : DEFAULT_STATUS_ON_ERROR,
      failureModeAllow: s['failure_mode_allow'] === true,
      source: { kind: r.kind, name: r.name, namespace: r.namespace, origin: r.origin },
    };
    const first = authServices[0];
    if (first !== undefined && sharedSettings(first) !== sharedSettings(auth)) {
      ctx.report(r, 'AuthServicesDiffer', `AuthService ${auth.name} differs from ${first.name} in proto, path_prefix, timeout_ms or its header lists; the requests they share take turns, and each is asked with its own settings (Emissary would use ${first.name}'s for both and report an error)`, 'spec');
    }
    authServices.push(auth);
  }
  authServices.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { authServices, clusters: [...clusters.values()] };
}
