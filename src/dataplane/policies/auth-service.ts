// The AuthService stage: every request of a route without bypass_auth is checked by one of the
// AuthServices (they take turns, as Emissary balances them; never chained), over HTTP or gRPC.
//
// Security (HARDENING §41): the service sees the normalised path and the trusted client address;
// a client's copy of a header only the service sets (allowed_authorization_headers beyond Emissary's
// defaults) never reaches the upstream, whatever the answer; only allowed answer headers are
// injected; a service that cannot be asked refuses the request (status_on_error) unless
// failure_mode_allow says otherwise.

import type { IRAuthService, IRHeaderValue, IRRoute } from '../../ir/types.js';
import type { SecretStore } from '../../ir/secrets.js';
import type { UpstreamCluster } from '../upstream-pool.js';
import { ALLOW, type ExplainedStep, type OfflineRequest, type PolicyDecision, type PolicyRequest, type PolicyStep } from './chain.js';
import { readRequestBody, type SeenBody } from './request-body.js';
import { HttpAuthTransport } from './ext-authz-http.js';
import { GrpcAuthTransport } from './ext-authz-grpc.js';

/** What one check came to. */
export type AuthVerdict =
  | { readonly kind: 'allow' }
  | { readonly kind: 'deny'; readonly status: number; readonly headers: readonly string[]; readonly body: Buffer | undefined }
  | { readonly kind: 'error'; readonly detail: string };

/** How a check reaches the service. Never rejects; an allow has already put its header edits on `r`. */
export interface AuthTransport {
  check(r: PolicyRequest, body: SeenBody | undefined): Promise<AuthVerdict>;
}

interface Service {
  readonly ir: IRAuthService;
  readonly label: string;
  readonly transport: AuthTransport;
  /** Lower-case names only the service sets (see above). */
  readonly identity: readonly string[];
  readonly onError: PolicyDecision;
  readonly tooLarge: PolicyDecision;
}

/** add_auth_headers with credentials from the SecretStore; offline (no store) they are not needed. */
function resolved(adds: readonly IRHeaderValue[], secrets: SecretStore | undefined): string[] {
  const out: string[] = [];
  for (const a of adds) {
    const value = a.secret !== undefined ? secrets?.[a.secret.id]?.value : a.value;
    // compile put every credential it referenced in the store; a missing one must not send "[redacted]"
    if (value === undefined) throw new Error(`AuthService add_auth_headers ${a.name}: credential ${a.secret?.id ?? ''} is not in the secret store`);
    out.push(a.name, value);
  }
  return out;
}

class AuthServiceStep implements PolicyStep {
  readonly stage = 'auth' as const;
  readonly label: string;
  readonly source: IRAuthService['source'];
  private turn = 0;

  constructor(private readonly services: readonly Service[]) {
    const first = services[0] as Service;
    this.label = first.label;
    this.source = first.ir.source;
  }

  run(r: PolicyRequest): Promise<PolicyDecision> {
    const s = this.services[this.turn] as Service;
    this.turn = (this.turn + 1) % this.services.length;
    return this.check(s, r);
  }

  private async check(s: Service, r: PolicyRequest): Promise<PolicyDecision> {
    let body: SeenBody | undefined;
    const include = s.ir.includeBody;
    if (include !== undefined) {
      const b = await readRequestBody(r, include.maxBytes, include.allowPartial);
      if (b === 'too_large') return s.tooLarge;
      body = b;
    }
    // A client's claim to an identity only the service may state is dropped whatever happens next.
    if (s.identity.length > 0) {
      const edits = r.upstreamHeaders();
      for (const n of s.identity) edits.remove(n);
    }
    const v = await s.transport.check(r, body);
    if (v.kind === 'allow') return s.label === this.label ? ALLOW : { outcome: 'allow', label: s.label };
    if (v.kind === 'deny') {
      return { outcome: 'deny', label: s.label, reply: { status: v.status, code: 'auth_denied', headers: v.headers, ...(v.body !== undefined ? { body: v.body } : {}) } };
    }
    return s.ir.failureModeAllow ? { outcome: 'error_allow', label: s.label, detail: v.detail } : { ...s.onError, detail: v.detail };
  }

  explain(r: OfflineRequest): ExplainedStep {
    const s = this.services[0] as Service;
    const others = this.services.length > 1 ? `, taking turns with ${this.services.slice(1).map((x) => x.ir.name).join(', ')}` : '';
    const include = s.ir.includeBody;
    if (include !== undefined && !include.allowPartial) {
      for (const [n, v] of r.headers) {
        if (n.toLowerCase() === 'content-length' && /^\d+$/.test(v.trim()) && Number(v.trim()) > include.maxBytes) {
          return { decision: 'deny', status: 413, reason: `AuthService ${s.ir.name} includes at most ${include.maxBytes} body bytes without allow_partial: the body (Content-Length ${v.trim()}) is refused before the check` };
        }
      }
    }
    const how = s.ir.proto === 'http' ? `an HTTP check, ${r.method} ${s.ir.pathPrefix}${r.path}${r.query}` : 'a gRPC Check (envoy.service.auth.v3)';
    const failing = s.ir.failureModeAllow ? 'the request goes on (failure_mode_allow)' : `${s.ir.statusOnError} (status_on_error)`;
    return {
      decision: 'at_serve_time',
      ...(s.ir.failureModeAllow ? {} : { status: s.ir.statusOnError }),
      reason: `AuthService ${s.ir.name} decides with ${how}${others}; 200 lets the request on, another answer is the client's; when it cannot be asked: ${failing}`,
    };
  }
}

function serviceOf(ir: IRAuthService, clusters: ReadonlyMap<string, UpstreamCluster>, secrets: SecretStore | undefined): Service {
  const identity = ir.identityHeaders;
  const cluster = clusters.get(ir.cluster);
  const transport = ir.proto === 'grpc' ? new GrpcAuthTransport(ir, cluster, new Set(identity)) : new HttpAuthTransport(ir, cluster, clusters.size > 0 ? resolved(ir.addAuthHeaders, secrets) : []);
  const label = `auth AuthService ${ir.name}`;
  return {
    ir, label, transport, identity,
    onError: { outcome: 'error', label, reply: { status: ir.statusOnError, code: 'auth_error' } },
    tooLarge: { outcome: 'deny', label, reply: { status: 413, code: 'payload_too_large' } },
  };
}

/**
 * One AuthService's check on its own, for an Edge Stack External filter (its own spec, compiled as an
 * AuthService): the same transport, identity-header rule, body handling and failure mode.
 */
export function authServiceCheck(ir: IRAuthService, clusters: ReadonlyMap<string, UpstreamCluster>, secrets: SecretStore | undefined): (r: PolicyRequest) => Promise<PolicyDecision> {
  const step = new AuthServiceStep([serviceOf(ir, clusters, secrets)]);
  return (r) => step.run(r);
}

/** The stage's step for one IR, or undefined when it has no AuthService; a route with bypass_auth skips it. */
export function authServiceStage(list: readonly IRAuthService[] | undefined, clusters: ReadonlyMap<string, UpstreamCluster>, secrets: SecretStore | undefined): { forRoute(route: IRRoute): PolicyStep | undefined } | undefined {
  if (list === undefined || list.length === 0) return undefined;
  const services = list.map((ir) => serviceOf(ir, clusters, secrets));
  const step = new AuthServiceStep(services);
  return { forRoute: (route) => (route.bypassAuth ? undefined : step) };
}
