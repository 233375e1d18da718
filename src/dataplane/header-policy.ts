// Request and response header rewriting between client and upstream: hop-by-hop stripping,
// X-Forwarded-*, x-request-id, and the Mapping/Module add/remove rules with Emissary append semantics.

import { randomFillSync } from 'node:crypto';
import type { IRGlobal, IRHeaderValue } from '../ir/types.js';
import type { PeerFields } from './client-cert-details.js';
import { fillRuleValues, type RequestFacts, type RuleValues, type ValueScope } from './header-values.js';
import type { RequestHeaderEdits } from './policies/chain.js';

/** Connection-level fields that never cross the proxy (RFC 9110 §7.6.1), plus h2c's settings field. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'http2-settings',
]);
/** A field name of another length cannot be hop-by-hop: most response fields skip the lower-casing. */
const HOP_BY_HOP_LENGTHS: ReadonlySet<number> = new Set([...HOP_BY_HOP].map((n) => n.length));

/**
 * Headers the gateway sets itself from trusted data; a client's copy is never forwarded.
 * `expect` too: the 100-continue handshake was already answered on the client connection.
 */
const GATEWAY_OWNED: ReadonlySet<string> = new Set([
  'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-request-id', 'content-length', 'expect',
  // the verified client identity is only ever set by the gateway itself
  'x-forwarded-client-cert',
]);

/** Internal control headers (Envoy's x-envoy-* and ours): clients must not steer retries or timeouts. */
function isInternal(lname: string): boolean {
  return lname.startsWith('x-envoy-') || lname.startsWith('x-portico-');
}

/** RFC 9110 token characters: a field name a policy may set. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** No CR, LF or NUL: a value that cannot split the head. */
const FIELD_VALUE = /^[^\r\n\0]*$/;

/**
 * Whether a policy (an auth service's answer, a filter) may set or remove this field on the upstream
 * request: never framing, hop-by-hop, pseudo or gateway-owned fields, never an unwritable value.
 */
export function isPolicySettable(lname: string, value: string): boolean {
  return FIELD_NAME.test(lname) && FIELD_VALUE.test(value) && !HOP_BY_HOP.has(lname) && !GATEWAY_OWNED.has(lname) && !isInternal(lname);
}

/**
 * Whether a field another service chose (an auth service's refusal or its response_headers_to_add)
 * may go to the client: never framing or hop-by-hop fields (the gateway frames the reply), never
 * the gateway's own x-request-id, never an unwritable value.
 */
export function isRelayableResponseField(lname: string, value: string): boolean {
  return FIELD_NAME.test(lname) && FIELD_VALUE.test(value) && !HOP_BY_HOP.has(lname) && lname !== 'content-length' && lname !== 'x-request-id';
}

export const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export type HeaderScanError = 'too_many' | 'duplicate_host' | 'underscore' | 'te_on_http10' | 'bad_content_length';

/** One pass over the client's raw headers: limits, ambiguities, and the few values the proxy needs. */
export interface HeaderScan {
  error: HeaderScanError | undefined;
  host: string | undefined;
  xff: string | undefined;
  xfp: string | undefined;
  requestId: string | undefined;
  origin: string | undefined;
  /** Lower-case names the client listed in Connection (hop-by-hop by nomination). */
  connectionTokens: Set<string> | undefined;
  hasBody: boolean;
  contentLength: string | undefined;
  underscoreSeen: boolean;
  /** The client's x-forwarded-client-cert (several fields joined with ","). */
  xfcc: string | undefined;
  /**
   * The x-forwarded-client-cert the gateway sends upstream, decided after the scan by the
   * client-certificate policy (client-cert-details.ts); undefined = none.
   */
  forwardedClientCert: string | undefined;
  /**
   * The verified client certificate for %DOWNSTREAM_PEER_*% in header rules; set by the request path
   * on TLS connections whose context verifies clients, read only when a rule names one.
   */
  peer: (() => PeerFields | undefined) | undefined;
}

export function scanRequestHeaders(raw: readonly string[], httpMinor: number, g: IRGlobal): HeaderScan {
  const s: HeaderScan = {
    error: undefined, host: undefined, xff: undefined, xfp: undefined, requestId: undefined,
    origin: undefined, connectionTokens: undefined, hasBody: false, contentLength: undefined, underscoreSeen: false,
    xfcc: undefined, forwardedClientCert: undefined, peer: undefined,
  };
  // Node keeps at most ~2000 raw headers and silently drops the rest; our own limit is far below that.
  if (raw.length / 2 > g.maxRequestHeadersCount) {
    s.error = 'too_many';
    return s;
  }
  let hostCount = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (name.indexOf('_') !== -1) {
      s.underscoreSeen = true;
      if (g.headersWithUnderscoresAction === 'REJECT_REQUEST') {
        s.error = 'underscore';
        return s;
      }
    }
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') {
          hostCount++;
          s.host = value;
        }
        break;
      case 6:
        if (name.toLowerCase() === 'origin') s.origin = value;
        break;
      case 10:
        if (name.toLowerCase() === 'connection') {
          for (const t of value.split(',')) {
            const tok = t.trim().toLowerCase();
            if (tok !== '' && tok !== 'close' && tok !== 'keep-alive') (s.connectionTokens ??= new Set()).add(tok);
          }
        }
        break;
      case 12:
        if (name.toLowerCase() === 'x-request-id') s.requestId = value;
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          s.contentLength = value;
          if (value !== '0') s.hasBody = true;
        }
        break;
      case 15: {
        const l = name.toLowerCase();
        if (l === 'x-forwarded-for') s.xff = s.xff === undefined ? value : `${s.xff}, ${value}`;
        break;
      }
      case 17: {
        const l = name.toLowerCase();
        if (l === 'transfer-encoding') {
          s.hasBody = true;
          // HTTP/1.0 has no chunked framing: treat as faulty framing (RFC 9112 §6.1).
          if (httpMinor === 0) {
            s.error = 'te_on_http10';
            return s;
          }
        } else if (l === 'x-forwarded-proto') s.xfp ??= value;
        break;
      }
      case 23:
        if (name.toLowerCase() === 'x-forwarded-client-cert') s.xfcc = s.xfcc === undefined ? value : `${s.xfcc},${value}`;
        break;
      default:
        break;
    }
  }
  if (hostCount > 1) s.error = 'duplicate_host';
  const t = s.connectionTokens;
  if (t !== undefined) {
    // Nominated as hop-by-hop: the value was meant for us, never for the upstream or our XFF logic.
    if (t.has('x-forwarded-for')) s.xff = undefined;
    if (t.has('x-forwarded-proto')) s.xfp = undefined;
    if (t.has('x-request-id')) s.requestId = undefined;
    if (t.has('x-forwarded-client-cert')) s.xfcc = undefined;
  }
  return s;
}

/**
 * The client address the gateway trusts (Envoy's XFF rules), whether X-Forwarded-For named it
 * (`viaXff`), and the X-Forwarded-For to send on.
 */
export function forwardedFor(peer: string, clientXff: string | undefined, trustedHops: number, useRemoteAddress: boolean): { client: string; viaXff: boolean; xff: string } {
  if (clientXff === undefined || trustedHops === 0 && useRemoteAddress) {
    return { client: peer, viaXff: false, xff: useRemoteAddress ? (clientXff === undefined ? peer : `${clientXff}, ${peer}`) : (clientXff ?? peer) };
  }
  const entries = clientXff.split(',');
  const pos = entries.length - trustedHops - (useRemoteAddress ? 0 : 1);
  const picked = pos >= 0 && pos < entries.length ? (entries[pos] as string).trim() : '';
  return { client: picked !== '' ? picked : peer, viaXff: picked !== '', xff: useRemoteAddress ? `${clientXff}, ${peer}` : clientXff };
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** Random bytes for 256 ids at a time; an id is formatted into `idText` and read out as one string. */
const idRandom = Buffer.allocUnsafe(16 * 256);
let idOffset = idRandom.length;
const idText = Buffer.allocUnsafe(36);

/**
 * A version-4 UUID from the CSPRNG, as crypto.randomUUID() makes, formatted without building
 * intermediate strings: every proxied request gets one, and randomUUID's formatting allocated more
 * than the rest of the request's routing.
 */
export function newRequestId(): string {
  if (idOffset === idRandom.length) {
    randomFillSync(idRandom);
    idOffset = 0;
  }
  const o = idOffset;
  idOffset += 16;
  let j = 0;
  for (let i = 0; i < 16; i++) {
    let b = idRandom[o + i] as number;
    if (i === 6) b = (b & 0x0f) | 0x40;
    else if (i === 8) b = (b & 0x3f) | 0x80;
    if (i === 4 || i === 6 || i === 8 || i === 10) idText[j++] = 0x2d;
    idText[j++] = HEX_DIGITS[b >> 4] as number;
    idText[j++] = HEX_DIGITS[b & 15] as number;
  }
  return idText.toString('latin1', 0, 36);
}

/** Add rules in order: append=true adds another value, append=false replaces every earlier value. */
export function applyAdds(out: string[], adds: readonly IRHeaderValue[], start: number): void {
  for (const a of adds) {
    if (!a.append) removeField(out, a.name.toLowerCase(), start);
    out.push(a.name, a.value);
  }
}

function removeField(out: string[], lname: string, start: number): void {
  for (let i = out.length - 2; i >= start; i -= 2) {
    if ((out[i] as string).toLowerCase() === lname) out.splice(i, 2);
  }
}

/**
 * Add rules some of whose values are filled in per request (header-values.ts). A value that comes
 * out empty adds nothing (as Envoy), but with append=false it still removes the values already
 * there: a header the upstream reads as the client's address or certificate must never carry what
 * a client sent instead.
 */
export function applyFilledAdds(out: string[], adds: readonly IRHeaderValue[], values: RuleValues, scope: ValueScope, start: number): void {
  const filled = fillRuleValues(adds, values, scope);
  for (let i = 0; i < adds.length; i++) {
    const a = adds[i] as IRHeaderValue;
    const value = filled[i];
    if (!a.append) removeField(out, a.name.toLowerCase(), start);
    if (value === undefined) out.push(a.name, a.value);
    else if (value !== '') out.push(a.name, value);
  }
}

export interface UpstreamHeaderInput {
  readonly raw: readonly string[];
  readonly scan: HeaderScan;
  readonly dropUnderscore: boolean;
  readonly remove: ReadonlySet<string>;
  readonly adds: readonly IRHeaderValue[];
  /** The rules' values filled in per request (undefined: none is); sent as written without `facts`. */
  readonly addValues?: RuleValues | undefined;
  /** The request, for the values filled in; undefined offline (explain, route tests). */
  readonly facts?: RequestFacts | undefined;
  readonly xff: string | undefined;
  readonly xfp: string;
  readonly requestId: string;
  /** Edits decided by the route's policies (auth headers); applied before the route's own rules. */
  readonly policy?: RequestHeaderEdits | undefined;
}

/**
 * Request headers for the upstream as a flat [name, value, ...] list. Index 0/1 is the Host slot,
 * filled per attempt (auto_host_rewrite depends on the endpoint). Framing headers are never
 * copied: the client's Content-Length is re-emitted only after llhttp validated it.
 */
export function upstreamRequestHeaders(x: UpstreamHeaderInput): string[] {
  const out: string[] = ['host', ''];
  const tokens = x.scan.connectionTokens;
  const raw = x.raw;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lname = name.toLowerCase();
    // HTTP/2 pseudo-headers (:method, :path, ...) become the request line, never fields.
    if (name.charCodeAt(0) === 0x3a) continue;
    if (HOP_BY_HOP.has(lname)) {
      if (lname === 'te' && (raw[i + 1] as string).trim().toLowerCase() === 'trailers') out.push('te', 'trailers');
      continue;
    }
    if (GATEWAY_OWNED.has(lname) || isInternal(lname)) continue;
    if (tokens !== undefined && tokens.has(lname)) continue;
    if (x.remove.size > 0 && x.remove.has(lname)) continue;
    if (x.dropUnderscore && name.indexOf('_') !== -1) continue;
    if (x.policy !== undefined && x.policy.strip.has(lname)) continue;
    out.push(name, raw[i + 1] as string);
  }
  if (x.policy !== undefined) {
    // what the policies set stands where the client's field would have: the route's rules come after
    const add = x.policy.add;
    for (let i = 0; i < add.length; i += 2) if (!x.remove.has((add[i] as string).toLowerCase())) out.push(add[i] as string, add[i + 1] as string);
  }
  if (x.scan.contentLength !== undefined) out.push('content-length', x.scan.contentLength);
  else if (x.scan.hasBody) out.push('transfer-encoding', 'chunked');
  if (x.xff !== undefined) out.push('x-forwarded-for', x.xff);
  // No X-Forwarded-Host: Envoy (and so Emissary) never adds one; a client's passes through unchanged.
  out.push('x-forwarded-proto', x.xfp, 'x-request-id', x.requestId);
  const xfcc = x.scan.forwardedClientCert;
  if (xfcc !== undefined && !x.remove.has('x-forwarded-client-cert')) out.push('x-forwarded-client-cert', xfcc);
  if (x.adds.length > 0) {
    if (x.addValues === undefined || x.facts === undefined) applyAdds(out, x.adds, 2);
    else {
      const f = x.facts;
      const scope: ValueScope = {
        facts: f, scan: x.scan, request: out, path: f.path + f.query, authority: f.authority, response: undefined, status: 0, upstream: undefined,
      };
      applyFilledAdds(out, x.adds, x.addValues, scope, 2);
    }
  }
  return out;
}

/** Response headers for the client: upstream's end-to-end headers minus removals. */
export function downstreamResponseHeaders(raw: readonly string[], remove: ReadonlySet<string>): string[] {
  const out: string[] = [];
  let tokens: Set<string> | undefined;
  const removing = remove.size > 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!removing && !HOP_BY_HOP_LENGTHS.has(name.length)) {
      out.push(name, raw[i + 1] as string);
      continue;
    }
    const lname = name.toLowerCase();
    if (HOP_BY_HOP.has(lname)) {
      if (lname === 'connection') {
        for (const t of (raw[i + 1] as string).split(',')) {
          const tok = t.trim().toLowerCase();
          if (tok !== '' && !HOP_BY_HOP.has(tok)) (tokens ??= new Set()).add(tok);
        }
      }
      continue;
    }
    if (removing && remove.has(lname)) continue;
    out.push(name, raw[i + 1] as string);
  }
  // Fields the upstream nominated as hop-by-hop in Connection (rare): drop them wherever they were.
  if (tokens === undefined) return out;
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) if (!tokens.has((out[i] as string).toLowerCase())) kept.push(out[i] as string, out[i + 1] as string);
  return kept;
}
