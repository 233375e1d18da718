// The part of Envoy's ext_authz v3 protocol (envoy.service.auth.v3.Authorization/Check) the gateway
// speaks: field numbers and wire types as Envoy's protos define them, names shortened.
//
// Only what a check sends and reads. Enums are int32 and string bodies are bytes: the same wire
// encoding, without reinterpreting a body that is not UTF-8 (Envoy sends the raw bytes too).

import { grpcMessageTypes } from './grpc-message-types.js';

const PROTO = `
syntax = "proto3";
package portico.extauthz;

message SocketAddress { int32 protocol = 1; string address = 2; uint32 port_value = 3; }
message Address { SocketAddress socket_address = 1; }
message Peer { Address address = 1; string service = 2; map<string, string> labels = 3; string principal = 4; string certificate = 5; }
message Timestamp { int64 seconds = 1; int32 nanos = 2; }
message HttpRequest {
  string id = 1; string method = 2; map<string, string> headers = 3; string path = 4; string host = 5;
  string scheme = 6; string query = 7; string fragment = 8; int64 size = 9; string protocol = 10; bytes body = 11;
}
message Request { Timestamp time = 1; HttpRequest http = 2; }
message AttributeContext { Peer source = 1; Peer destination = 2; Request request = 4; map<string, string> context_extensions = 10; }
message CheckRequest { AttributeContext attributes = 1; }

message RpcStatus { int32 code = 1; string message = 2; }
message HttpStatus { int32 code = 1; }
message HeaderValue { string key = 1; string value = 2; bytes raw_value = 3; }
message BoolValue { bool value = 1; }
message HeaderValueOption { HeaderValue header = 1; BoolValue append = 2; int32 append_action = 3; }
message DeniedHttpResponse { HttpStatus status = 1; repeated HeaderValueOption headers = 2; bytes body = 3; }
message OkHttpResponse { repeated HeaderValueOption headers = 2; repeated string headers_to_remove = 5; repeated HeaderValueOption response_headers_to_add = 6; }
message CheckResponse { RpcStatus status = 1; oneof http_response { DeniedHttpResponse denied_response = 2; OkHttpResponse ok_response = 3; } }
`;

/** The message types, built on first use: a gateway with no gRPC AuthService never loads protobufjs. */
const types = grpcMessageTypes(PROTO, 'portico.extauthz.CheckRequest', 'portico.extauthz.CheckResponse');

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

export interface CheckRequestFields {
  readonly source: { readonly address: string; readonly port: number };
  readonly destination: { readonly address: string; readonly port: number };
  readonly http: {
    readonly id: string;
    readonly method: string;
    readonly headers: Record<string, string>;
    readonly path: string;
    readonly host: string;
    readonly scheme: string;
    readonly size: number;
    readonly protocol: string;
    readonly body?: Buffer;
  };
  readonly time: number;
  readonly contextExtensions?: Readonly<Record<string, string>>;
}

function peer(p: { readonly address: string; readonly port: number }): object {
  return { address: { socket_address: { address: p.address, port_value: p.port } } };
}

export function encodeCheckRequest(f: CheckRequestFields): Uint8Array {
  const CheckRequestType = types().request;
  const msg = CheckRequestType.fromObject({
    attributes: {
      source: peer(f.source),
      destination: peer(f.destination),
      request: {
        time: { seconds: Math.floor(f.time / 1000), nanos: (f.time % 1000) * 1e6 },
        http: { ...f.http, ...(f.http.body !== undefined ? { body: f.http.body } : {}) },
      },
      ...(f.contextExtensions !== undefined ? { context_extensions: f.contextExtensions } : {}),
    },
  });
  return CheckRequestType.encode(msg).finish();
}

/** One header an answer sets: append (true) or replace; ifAbsent: only when the request lacks it. */
export interface AnswerHeader {
  readonly name: string;
  readonly value: string;
  readonly append: boolean;
  readonly ifAbsent: boolean;
  /** Only when the request has it (OVERWRITE_IF_EXISTS). */
  readonly ifPresent: boolean;
}

export type CheckAnswer =
  | { readonly allowed: true; readonly headers: readonly AnswerHeader[]; readonly remove: readonly string[]; readonly responseHeaders: readonly AnswerHeader[] }
  | { readonly allowed: false; readonly status: number; readonly headers: readonly AnswerHeader[]; readonly body: Buffer | undefined };

interface DecodedHeaderOption {
  header?: { key?: string; value?: string; raw_value?: Uint8Array };
  append?: { value?: boolean } | null;
  append_action?: number;
}

/** Envoy's HeaderValueOption, with ext_authz's rule that `append` defaults to false here. */
function answerHeaders(list: readonly DecodedHeaderOption[] | undefined): AnswerHeader[] {
  const out: AnswerHeader[] = [];
  for (const o of list ?? []) {
    const name = o.header?.key ?? '';
    if (name === '') continue;
    const raw = o.header?.raw_value;
    const value = o.header?.value !== undefined && o.header.value !== '' ? o.header.value : raw !== undefined && raw.length > 0 ? Buffer.from(raw).toString('latin1') : '';
    const action = o.append_action ?? 0;
    const append = o.append !== undefined && o.append !== null ? o.append.value === true : false;
    out.push({ name, value, append: o.append !== undefined && o.append !== null ? append : false, ifAbsent: action === 1, ifPresent: action === 3 });
  }
  return out;
}

/** The answer of a Check, or why it cannot be read. */
export function decodeCheckResponse(bytes: Buffer): CheckAnswer | string {
  let m: {
    status?: { code?: number };
    denied_response?: { status?: { code?: number }; headers?: DecodedHeaderOption[]; body?: Uint8Array };
    ok_response?: { headers?: DecodedHeaderOption[]; headers_to_remove?: string[]; response_headers_to_add?: DecodedHeaderOption[] };
  };
  try {
    m = types().response.decode(bytes) as unknown as typeof m;
  } catch (err) {
    return `malformed CheckResponse: ${(err as Error).message}`;
  }
  if ((m.status?.code ?? 0) === 0) {
    const ok = m.ok_response;
    return { allowed: true, headers: answerHeaders(ok?.headers), remove: ok?.headers_to_remove ?? [], responseHeaders: answerHeaders(ok?.response_headers_to_add) };
  }
  const d = m.denied_response;
  // Envoy: a denial without a status is 403 Forbidden
  const code = d?.status?.code ?? 0;
  return {
    allowed: false,
    status: code >= 100 && code <= 599 ? code : 403,
    headers: answerHeaders(d?.headers),
    body: d?.body !== undefined && d.body.length > 0 ? Buffer.from(d.body) : undefined,
  };
}
