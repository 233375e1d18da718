// An AuthService with proto grpc (envoy.service.auth.v3.Authorization/Check): the request's
// attributes (trusted client address, normalised path, headers, context_extensions) in a
// CheckRequest; an OK status allows with ok_response's header changes, any other refuses.

import type { IRAuthService } from '../../ir/types.js';
import type { UpstreamCluster } from '../upstream-pool.js';
import { isRelayableResponseField } from '../header-policy.js';
import { grpcUnary } from '../grpc-unary.js';
import type { PolicyRequest } from './chain.js';
import type { SeenBody } from './request-body.js';
import type { AuthTransport, AuthVerdict } from './auth-service.js';
import { CHECK_PATH, decodeCheckResponse, encodeCheckRequest, type AnswerHeader } from './ext-authz-proto.js';

/** Client fields a check never carries as they are: connection fields, and what the gateway sets itself. */
const NOT_COPIED = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer', 'transfer-encoding', 'expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-request-id']);

export class GrpcAuthTransport implements AuthTransport {
  constructor(
    private readonly ir: IRAuthService,
    private readonly cluster: UpstreamCluster | undefined,
    /** Client fields only the auth service may set: not sent, as a client's claim, to the service either. */
    private readonly identity: ReadonlySet<string>,
  ) {}

  async check(r: PolicyRequest, body: SeenBody | undefined): Promise<AuthVerdict> {
    const headers: Record<string, string> = Object.create(null) as Record<string, string>;
    const raw = r.req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const lname = (raw[i] as string).toLowerCase();
      if (lname.charCodeAt(0) === 0x3a || NOT_COPIED.has(lname) || this.identity.has(lname)) continue;
      const v = raw[i + 1] as string;
      headers[lname] = headers[lname] === undefined ? v : `${headers[lname]},${v}`;
    }
    headers[':authority'] = r.authority;
    headers[':method'] = r.method;
    headers[':path'] = r.path + r.query;
    headers[':scheme'] = r.scheme;
    if (r.forwardedFor !== undefined) headers['x-forwarded-for'] = r.forwardedFor;
    headers['x-forwarded-proto'] = r.scheme;
    headers['x-request-id'] = r.requestId;
    if (this.ir.includeBody !== undefined) headers['x-envoy-auth-partial-body'] = body !== undefined && !body.complete ? 'true' : 'false';
    const socket = r.req.socket;
    // The source is the trusted client address; its port is the connection's only when it is the peer.
    const sourcePort = r.clientAddress === r.peerAddress ? (socket.remotePort ?? 0) : 0;
    const size = body !== undefined && body.complete ? body.bytes.length : r.contentLength ?? (r.hasBody ? -1 : 0);
    const message = encodeCheckRequest({
      source: { address: r.clientAddress, port: sourcePort },
      destination: { address: socket.localAddress ?? '', port: socket.localPort ?? 0 },
      time: Date.now(),
      http: {
        id: r.requestId,
        method: r.method,
        headers,
        path: r.path + r.query,
        host: r.authority,
        scheme: r.scheme,
        size,
        protocol: r.req.httpVersionMajor === 2 ? 'HTTP/2' : `HTTP/${r.req.httpVersion}`,
        ...(body !== undefined && body.bytes.length > 0 ? { body: body.bytes } : {}),
      },
      ...(r.route.policies?.authContextExtensions !== undefined ? { contextExtensions: r.route.policies.authContextExtensions } : {}),
    });
    const reply = await grpcUnary(this.cluster, CHECK_PATH, message, { deadlineMs: this.ir.timeoutMs, abort: r });
    if (!reply.ok) return { kind: 'error', detail: `auth service ${reply.error}` };
    const answer = decodeCheckResponse(reply.message);
    if (typeof answer === 'string') return { kind: 'error', detail: answer };
    if (!answer.allowed) {
      const out: string[] = [];
      for (const h of answer.headers) if (isRelayableResponseField(h.name.toLowerCase(), h.value)) out.push(h.name, h.value);
      return { kind: 'deny', status: answer.status, headers: out, body: answer.body };
    }
    const edits = r.upstreamHeaders();
    for (const name of answer.remove) edits.remove(name);
    for (const h of answer.headers) applyHeader(r, h);
    for (const h of answer.responseHeaders) if (isRelayableResponseField(h.name.toLowerCase(), h.value)) r.addResponseHeader(h.name, h.value);
    return { kind: 'allow' };
  }
}

/** An ok_response header, as Envoy applies HeaderValueOption (append defaults to false here). */
function applyHeader(r: PolicyRequest, h: AnswerHeader): void {
  const lname = h.name.toLowerCase();
  const edits = r.upstreamHeaders();
  const present = (r.header(lname) !== undefined && !edits.strip.has(lname)) || edits.add.some((n, i) => i % 2 === 0 && n.toLowerCase() === lname);
  if (h.ifAbsent && present) return;
  if (h.ifPresent && !present) return;
  if (h.append) edits.append(h.name, h.value);
  else edits.set(h.name, h.value);
}
