// An AuthService with proto http (Envoy's ext_authz HTTP service): the client's request, with the
// allowed headers and path_prefix, asked of the service; 200 allows, 5xx or no answer is an error,
// any other answer is the client's reply.

import type { IRAuthService } from '../../ir/types.js';
import type { UpstreamCluster } from '../upstream-pool.js';
import { validateHead, type ExchangeHandlers } from '../upstream-h1.js';
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
  private readonly allowedRequest: ReadonlySet<string>;
  private readonly allowedAnswer: ReadonlySet<string>;
  private readonly toClient: ReadonlySet<string>;

  constructor(
    private readonly ir: IRAuthService,
    private readonly cluster: UpstreamCluster | undefined,
    /** add_auth_headers with credentials filled in: [name, value, ...]. */
    private readonly adds: readonly string[],
  ) {
    this.allowedRequest = new Set(ir.allowedRequestHeaders);
    this.allowedAnswer = new Set(ir.allowedAuthorizationHeaders);
    this.toClient = new Set([...ir.allowedAuthorizationHeaders, ...ALWAYS_TO_CLIENT]);
  }

  check(r: PolicyRequest, body: SeenBody | undefined): Promise<AuthVerdict> {
    const cluster = this.cluster;
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
    const path = this.ir.pathPrefix + r.path + r.query;
    if (validateHead(path, headers) !== null) return Promise.resolve({ kind: 'error', detail: 'invalid check request (path_prefix or add_auth_headers)' });

    return new Promise<AuthVerdict>((resolve) => {
      let status = 0;
      let answer: string[] = [];
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const signal = r.signal;
      const settle = (v: AuthVerdict, failed: boolean): void => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        ep.active--;
        cluster.active--;
        if (failed) cluster.reportFailure(ep, Date.now());
        else cluster.reportSuccess(ep);
        resolve(v);
      };
      const handlers: ExchangeHandlers = {
        response: (s, h) => {
          status = s;
          answer = h;
        },
        data: (c) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) {
            settle({ kind: 'error', detail: 'auth answer too large' }, true);
            ex.destroy();
          } else chunks.push(c);
        },
        end: () => settle(this.verdict(r, status, answer, Buffer.concat(chunks, size)), status >= 500),
        error: (err) => settle({ kind: 'error', detail: `auth service unavailable: ${err.code ?? err.message}` }, true),
        timeout: () => settle({ kind: 'error', detail: 'auth service timeout' }, true),
        close: () => settle({ kind: 'error', detail: 'auth service closed the connection' }, true),
      };
      ep.active++;
      cluster.active++;
      const ex = cluster.pool.request(ep, {
        method: r.method, path, headers, chunked: false,
        connectTimeoutMs: cluster.ir.connectTimeoutMs > 0 ? cluster.ir.connectTimeoutMs : 3000, idleTimeoutMs: 0,
      }, handlers);
      const onAbort = (): void => {
        settle({ kind: 'error', detail: 'cancelled' }, false);
        ex.destroy();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (this.ir.timeoutMs > 0) {
        timer = setTimeout(() => {
          settle({ kind: 'error', detail: `auth service timeout (${this.ir.timeoutMs} ms)` }, true);
          ex.destroy();
        }, this.ir.timeoutMs);
      }
      if (bytes !== undefined && bytes.length > 0) ex.end(bytes);
      else ex.end();
    });
  }

  /** 200 allows with the allowed answer headers; 5xx is the service failing; anything else refuses. */
  private verdict(r: PolicyRequest, status: number, answer: readonly string[], body: Buffer): AuthVerdict {
    if (status >= 500) return { kind: 'error', detail: `auth service answered ${status}` };
    if (status === 200) {
      const edits = r.upstreamHeaders();
      const seen = new Set<string>();
      for (let i = 0; i < answer.length; i += 2) {
        const name = answer[i] as string;
        const lname = name.toLowerCase();
        const value = answer[i + 1] as string;
        if (lname === 'x-envoy-auth-headers-to-remove') {
          for (const n of value.split(',')) if (n.trim() !== '') edits.remove(n.trim());
          continue;
        }
        if (!this.allowedAnswer.has(lname)) continue;
        if (seen.has(lname)) edits.append(name, value);
        else {
          seen.add(lname);
          edits.set(name, value);
        }
      }
      return { kind: 'allow' };
    }
    const headers: string[] = [];
    for (let i = 0; i < answer.length; i += 2) {
      const lname = (answer[i] as string).toLowerCase();
      if (this.toClient.has(lname) && isRelayableResponseField(lname, answer[i + 1] as string)) headers.push(answer[i] as string, answer[i + 1] as string);
    }
    return { kind: 'deny', status, headers, body };
  }
}

/** Replace every earlier value of the field (add_auth_headers wins over the client's copy). */
function setField(headers: string[], name: string, value: string): void {
  const lname = name.toLowerCase();
  for (let i = headers.length - 2; i >= 2; i -= 2) if ((headers[i] as string).toLowerCase() === lname) headers.splice(i, 2);
  headers.push(name, value);
}
