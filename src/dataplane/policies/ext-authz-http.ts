// An AuthService with proto http (Envoy's ext_authz HTTP service): the client's request, with the
// allowed headers and path_prefix, asked of the service; 200 allows, 5xx or no answer is an error,
// any other answer is the client's reply.

import type { IRAuthService } from '../../ir/types.js';
import type { Endpoint, UpstreamCluster } from '../upstream-pool.js';
import { validateHead, type ExchangeHandlers, type UpstreamExchange } from '../upstream-h1.js';
import { isRelayableResponseField } from '../header-policy.js';
import type { PolicyRequest } from './chain.js';
import type { SeenBody } from './request-body.js';
import type { AuthTransport, AuthVerdict } from './auth-service.js';

/** An answer larger than this is an error (Envoy buffers the whole answer too). */
const MAX_ANSWER_BYTES = 1024 * 1024;
/** Always relayed with a refusal (Envoy's defaults for the client's answer). */
const ALWAYS_TO_CLIENT = ['www-authenticate', 'location'];
/** Client fields the check never copies: framing, and what the gateway sets itself. */
const NOT_COPIED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer', 'expect', 'x-forwarded-for', 'x-forwarded-proto']);

export class HttpAuthTransport implements AuthTransport {
  readonly allowedRequest: ReadonlySet<string>;
  readonly allowedAnswer: ReadonlySet<string>;
  readonly toClient: ReadonlySet<string>;
  /** Why the configured parts of a check (path_prefix, add_auth_headers) cannot be sent, if they cannot. */
  private readonly invalid: string | undefined;

  constructor(
    readonly ir: IRAuthService,
    private readonly cluster: UpstreamCluster | undefined,
    /** add_auth_headers with credentials filled in: [name, value, ...]. */
    private readonly adds: readonly string[],
  ) {
    this.allowedRequest = new Set(ir.allowedRequestHeaders);
    this.allowedAnswer = new Set(ir.allowedAuthorizationHeaders);
    this.toClient = new Set([...ir.allowedAuthorizationHeaders, ...ALWAYS_TO_CLIENT]);
    // Checked once: what the client sends was checked by the parser, and the path is normalised.
    this.invalid = validateHead(`${ir.pathPrefix}/`, adds) !== null ? 'invalid check request (path_prefix or add_auth_headers)' : undefined;
  }

  check(r: PolicyRequest, body: SeenBody | undefined): Promise<AuthVerdict> {
    const cluster = this.cluster;
    if (this.invalid !== undefined) return Promise.resolve({ kind: 'error', detail: this.invalid });
    if (cluster === undefined || cluster.endpoints.length === 0) return Promise.resolve({ kind: 'error', detail: 'no_endpoints' });
    if (!cluster.admit()) return Promise.resolve({ kind: 'error', detail: 'circuit_open' });
    const ep = cluster.pick(undefined, Date.now());
    if (ep === undefined) return Promise.resolve({ kind: 'error', detail: 'no_endpoints' });
    // The service sees the request as routing saw it: the normalised path, and the Host the client named.
    const headers: string[] = ['host', r.authority];
    const raw = r.req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      const lname = name.toLowerCase();
      if (lname.charCodeAt(0) === 0x3a || NOT_COPIED.has(lname) || !this.allowedRequest.has(lname)) continue;
      headers.push(name, raw[i + 1] as string);
    }
    // The forwarding headers as the upstream will see them (the trusted client address in X-Forwarded-For).
    if (r.forwardedFor !== undefined && this.allowedRequest.has('x-forwarded-for')) headers.push('x-forwarded-for', r.forwardedFor);
    if (this.allowedRequest.has('x-forwarded-proto')) headers.push('x-forwarded-proto', r.scheme);
    for (let i = 0; i < this.adds.length; i += 2) setField(headers, this.adds[i] as string, this.adds[i + 1] as string);
    if (this.ir.addLinkerdHeaders) setField(headers, 'l5d-dst-override', `${ep.hostname}:${ep.port}`);
    if (this.ir.includeBody !== undefined) headers.push('x-envoy-auth-partial-body', body !== undefined && !body.complete ? 'true' : 'false');
    const bytes = body?.bytes;
    headers.push('content-length', String(bytes?.length ?? 0));
    return new Promise<AuthVerdict>((resolve) => {
      const c = new HttpCheck(this, r, cluster, ep, resolve);
      ep.active++;
      cluster.active++;
      c.ex = cluster.pool.request(ep, {
        method: r.method, path: this.ir.pathPrefix + r.path + r.query, headers, chunked: false,
        connectTimeoutMs: cluster.ir.connectTimeoutMs > 0 ? cluster.ir.connectTimeoutMs : 3000, idleTimeoutMs: 0,
      }, c);
      r.onAbort(c.abort);
      if (this.ir.timeoutMs > 0) c.timer = setTimeout(onCheckTimeout, this.ir.timeoutMs, c);
      if (bytes !== undefined && bytes.length > 0) c.ex.end(bytes);
      else c.ex.end();
    });
  }

  /** 200 allows with the allowed answer headers; 5xx is the service failing; anything else refuses. */
  verdict(r: PolicyRequest, status: number, answer: readonly string[], body: Buffer): AuthVerdict {
    if (status >= 500) return { kind: 'error', detail: `auth service answered ${status}` };
    if (status === 200) {
      let seen: Set<string> | undefined;
      for (let i = 0; i < answer.length; i += 2) {
        const name = answer[i] as string;
        const lname = name.toLowerCase();
        const value = answer[i + 1] as string;
        if (lname === 'x-envoy-auth-headers-to-remove') {
          for (const n of value.split(',')) if (n.trim() !== '') r.upstreamHeaders().remove(n.trim());
          continue;
        }
        if (!this.allowedAnswer.has(lname)) continue;
        seen ??= new Set();
        if (seen.has(lname)) r.upstreamHeaders().append(name, value);
        else {
          seen.add(lname);
          r.upstreamHeaders().set(name, value);
        }
      }
      return ALLOWED;
    }
    const headers: string[] = [];
    for (let i = 0; i < answer.length; i += 2) {
      const lname = (answer[i] as string).toLowerCase();
      if (this.toClient.has(lname) && isRelayableResponseField(lname, answer[i + 1] as string)) headers.push(answer[i] as string, answer[i + 1] as string);
    }
    return { kind: 'deny', status, headers, body };
  }
}

const ALLOWED: AuthVerdict = Object.freeze({ kind: 'allow' });

function onCheckTimeout(c: HttpCheck): void {
  c.settle({ kind: 'error', detail: `auth service timeout (${c.t.ir.timeoutMs} ms)` }, true);
  c.ex.destroy();
}

/**
 * One check on the wire: what the exchange reports lands in these methods (state in fields, not
 * closures: this runs for every protected request).
 */
class HttpCheck implements ExchangeHandlers {
  ex!: UpstreamExchange;
  timer: NodeJS.Timeout | undefined;
  status = 0;
  answer: string[] = NO_FIELDS;
  chunks: Buffer[] | undefined;
  size = 0;
  settled = false;
  /** The client went away: the check is dropped (the runtime ignores the chain from here on). */
  readonly abort = (): void => {
    this.settle({ kind: 'error', detail: 'cancelled' }, false);
    this.ex.destroy();
  };

  constructor(
    readonly t: HttpAuthTransport,
    readonly r: PolicyRequest,
    readonly cluster: UpstreamCluster,
    readonly ep: Endpoint,
    readonly resolve: (v: AuthVerdict) => void,
  ) {}

  settle(v: AuthVerdict, failed: boolean): void {
    if (this.settled) return;
    this.settled = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.r.offAbort(this.abort);
    this.ep.active--;
    this.cluster.active--;
    if (failed) this.cluster.reportFailure(this.ep, Date.now());
    else this.cluster.reportSuccess(this.ep);
    this.resolve(v);
  }

  response(status: number, raw: string[]): void {
    this.status = status;
    this.answer = raw;
  }

  data(c: Buffer): void {
    this.size += c.length;
    if (this.size > MAX_ANSWER_BYTES) {
      this.settle({ kind: 'error', detail: 'auth answer too large' }, true);
      this.ex.destroy();
    } else (this.chunks ??= []).push(c);
  }

  end(): void {
    const body = this.chunks === undefined ? EMPTY : this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.size);
    this.settle(this.t.verdict(this.r, this.status, this.answer, body), this.status >= 500);
  }

  error(err: NodeJS.ErrnoException): void {
    this.settle({ kind: 'error', detail: `auth service unavailable: ${err.code ?? err.message}` }, true);
  }

  timeout(): void {
    this.settle({ kind: 'error', detail: 'auth service timeout' }, true);
  }

  close(): void {
    this.settle({ kind: 'error', detail: 'auth service closed the connection' }, true);
  }
}

const NO_FIELDS: string[] = [];
const EMPTY = Buffer.alloc(0);

/** Replace every earlier value of the field (add_auth_headers wins over the client's copy). */
function setField(headers: string[], name: string, value: string): void {
  const lname = name.toLowerCase();
  for (let i = headers.length - 2; i >= 2; i -= 2) if ((headers[i] as string).toLowerCase() === lname) headers.splice(i, 2);
  headers.push(name, value);
}
