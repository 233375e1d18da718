// Envoy's dynamic values in header rules (%DOWNSTREAM_REMOTE_ADDRESS%, %REQ(x-user)%, ...), filled
// in per request with Envoy's output formats. A value is compiled once per runtime build into
// literal text and fill functions; a rule without one stays a plain IRHeaderValue, so the routes
// that have none pay nothing per request (header-policy.ts tells them apart by one field).

import { hostname } from 'node:os';
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { IRHeaderValue } from '../ir/types.js';
import type { ConnectionInfo } from './runtime-types.js';
import type { HeaderScan } from './header-policy.js';
import type { PeerFields } from './client-cert-details.js';
import { DEFAULT_TIME_FORMAT, headerNames, isFilledIn, parseTimeFormat, splitHeaderValue, type HeaderOperator, type TimeFormat } from '../api/header-operators.js';
import { connectionSocket, directPeer, localEnd } from './proxied-peer.js';

/** What the request path knows of a request, as the values need it (the request context has all of it). */
export interface RequestFacts {
  readonly req: IncomingMessage;
  readonly conn: ConnectionInfo;
  /** performance.now() when the request arrived. */
  readonly start: number;
  readonly method: string;
  /** The normalised path (routing's) and the query, before any rewrite. */
  readonly path: string;
  readonly query: string;
  /** As the client sent it. */
  readonly authority: string;
  /** The client the gateway trusts (X-Forwarded-For rules), and whether X-Forwarded-For named it. */
  readonly clientAddress: string;
  readonly clientViaXff: boolean;
}

/** Everything a value may read when it is filled in, on the way up (request) or down (response). */
export interface ValueScope {
  readonly facts: RequestFacts;
  readonly scan: HeaderScan;
  /** The request's headers REQ() reads, flat [name, value, ...], from index 2 (0-1 are the Host slot). */
  readonly request: readonly string[];
  /** What REQ(:path) and REQ(:authority) read. */
  readonly path: string;
  readonly authority: string;
  /** The response's headers RESP() reads, flat; undefined while the request goes up. */
  readonly response: readonly string[] | undefined;
  readonly status: number;
  /** The upstream that answered; undefined while the request goes up. */
  readonly upstream: { readonly address: string | undefined; readonly port: number | undefined } | undefined;
}

type Fill = (s: ValueScope) => string;

/** A value with operators: its literal text and the functions that fill the operators in, in order. */
export interface FilledValue {
  readonly parts: readonly (string | Fill)[];
}

/** Per add rule, aligned with the rules: its compiled value, or undefined for a value sent as it is. */
export type RuleValues = readonly (FilledValue | undefined)[];

/** Tab, visible ASCII and the Latin-1 range: what a header value may hold on the wire. */
const UNSENDABLE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * The value compiled: undefined when it is sent as written (no operator Portico fills in, no %%), a
 * string when it is constant but not as written (%% is one %, %HOSTNAME% is known), or its pieces.
 * An operator Portico does not fill in stays in the value as written (load reported it).
 */
export function compileValue(text: string): FilledValue | string | undefined {
  if (text.indexOf('%') < 0) return undefined;
  const parts: (string | Fill)[] = [];
  const literal = (t: string): void => {
    const last = parts.length - 1;
    if (last >= 0 && typeof parts[last] === 'string') parts[last] = (parts[last] as string) + t;
    else parts.push(t);
  };
  for (const p of splitHeaderValue(text)) {
    if (typeof p === 'string') literal(p);
    else if (!isFilledIn(p)) literal(p.text);
    // Envoy reads the host name once, when it takes the configuration.
    else if (p.name === 'HOSTNAME') literal(truncate(hostname(), p.maxLength));
    else parts.push(fillFor(p));
  }
  if (parts.every((p) => typeof p === 'string')) {
    const v = parts.join('');
    return v === text ? undefined : v;
  }
  return { parts };
}

/** The value for this request; '' when it comes out empty or could not go on the wire. */
export function fillValue(v: FilledValue, s: ValueScope): string {
  let out = '';
  for (const p of v.parts) out += typeof p === 'string' ? p : p(s);
  // REQ() copies what the parser already accepted, but a certificate field may hold anything.
  return UNSENDABLE.test(out) ? '' : out;
}

/** Every rule's value for this request (undefined: the rule's own), read before any rule applies, as Envoy does. */
export function fillRuleValues(adds: readonly IRHeaderValue[], values: RuleValues, s: ValueScope): (string | undefined)[] {
  const out = new Array<string | undefined>(adds.length);
  for (let i = 0; i < adds.length; i++) {
    const v = values[i];
    out[i] = v === undefined ? undefined : fillValue(v, s);
  }
  return out;
}

function truncate(v: string, max: number | undefined): string {
  return max !== undefined && v.length > max ? v.slice(0, max) : v;
}

function fillFor(op: HeaderOperator): Fill {
  const f = baseFill(op);
  const max = op.maxLength;
  return max === undefined ? f : (s) => truncate(f(s), max);
}

/** ip:port, an IPv6 address in brackets, as Envoy prints an address; '' when there is none. */
function withPort(address: string | undefined, port: number | undefined): string {
  if (address === undefined || address === '') return '';
  const a = address.includes(':') ? `[${address}]` : address;
  return port === undefined ? a : `${a}:${port}`;
}

/**
 * Envoy's downstream remote address: the client X-Forwarded-For named when the gateway trusts it
 * (an address with no port, which Envoy prints as port 0), else the connection's client (the PROXY
 * header's, on such a listener). An entry that is no IP address is not an address to Envoy.
 */
function remoteEnd(f: RequestFacts): { address: string | undefined; port: number | undefined } {
  if (f.clientViaXff && isIP(f.clientAddress) !== 0) return { address: f.clientAddress, port: 0 };
  const socket = connectionSocket(f.req);
  return { address: socket.remoteAddress, port: socket.remotePort };
}

function fromPeer(pick: (p: PeerFields) => string): Fill {
  return (s) => {
    const p = s.scan.peer?.();
    return p === undefined ? '' : utf8Bytes(pick(p));
  };
}

/** Text beyond ASCII as its UTF-8 bytes, one character per byte: what Envoy puts on the wire. */
function utf8Bytes(v: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(v) ? v : Buffer.from(v, 'utf8').toString('latin1');
}

function headerIn(list: readonly string[], from: number, lname: string): string | undefined {
  for (let i = from; i < list.length; i += 2) {
    const n = list[i] as string;
    if (n.length === lname.length && n.toLowerCase() === lname) return list[i + 1] as string;
  }
  return undefined;
}

/** A request header as Envoy's REQ() reads it: the first value; pseudo-headers from the request. */
function requestHeader(s: ValueScope, lname: string): string | undefined {
  switch (lname) {
    case ':authority':
    case 'host':
      return s.authority;
    case ':path':
      return s.path;
    case ':method':
      return s.facts.method;
    case ':scheme':
      return headerIn(s.request, 2, 'x-forwarded-proto');
    default:
      return lname.charCodeAt(0) === 0x3a ? undefined : headerIn(s.request, 2, lname);
  }
}

function responseHeader(s: ValueScope, lname: string): string | undefined {
  if (s.response === undefined) return undefined;
  if (lname === ':status') return String(s.status);
  return lname.charCodeAt(0) === 0x3a ? undefined : headerIn(s.response, 0, lname);
}

function baseFill(op: HeaderOperator): Fill {
  switch (op.name) {
    case 'DOWNSTREAM_REMOTE_ADDRESS':
      return (s) => {
        const r = remoteEnd(s.facts);
        return withPort(r.address, r.port);
      };
    case 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT':
      return (s) => remoteEnd(s.facts).address ?? '';
    case 'DOWNSTREAM_REMOTE_PORT':
      return (s) => String(remoteEnd(s.facts).port ?? '');
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS':
      return (s) => {
        const r = directPeer(connectionSocket(s.facts.req));
        return withPort(r.address, r.port);
      };
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT':
      return (s) => directPeer(connectionSocket(s.facts.req)).address ?? '';
    case 'DOWNSTREAM_DIRECT_REMOTE_PORT':
      return (s) => String(directPeer(connectionSocket(s.facts.req)).port ?? '');
    case 'DOWNSTREAM_LOCAL_ADDRESS':
      return (s) => {
        const l = localEnd(connectionSocket(s.facts.req));
        return withPort(l.address, l.port);
      };
    case 'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT':
      return (s) => localEnd(connectionSocket(s.facts.req)).address ?? '';
    case 'DOWNSTREAM_LOCAL_PORT':
      return (s) => String(localEnd(connectionSocket(s.facts.req)).port ?? '');
    case 'PROTOCOL':
      return (s) => {
        const r = s.facts.req;
        return r.httpVersionMajor === 2 ? 'HTTP/2' : r.httpVersionMinor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
      };
    case 'REQUESTED_SERVER_NAME':
      return (s) => s.facts.conn.sni ?? '';
    case 'DOWNSTREAM_TLS_VERSION':
      return (s) => {
        const socket = connectionSocket(s.facts.req);
        return socket.encrypted === true ? (socket.getProtocol() ?? '') : '';
      };
    case 'DOWNSTREAM_TLS_CIPHER':
      return (s) => {
        const socket = connectionSocket(s.facts.req);
        return socket.encrypted === true ? (socket.getCipher()?.name ?? '') : '';
      };
    case 'DOWNSTREAM_PEER_SUBJECT':
      return fromPeer((p) => p.subject);
    case 'DOWNSTREAM_PEER_ISSUER':
      return fromPeer((p) => p.issuer);
    case 'DOWNSTREAM_PEER_URI_SAN':
      return fromPeer((p) => p.uriSan);
    case 'DOWNSTREAM_PEER_DNS_SAN':
      return fromPeer((p) => p.dnsSan);
    case 'DOWNSTREAM_PEER_FINGERPRINT_256':
      return fromPeer((p) => p.fingerprint256);
    case 'DOWNSTREAM_PEER_SERIAL':
      return fromPeer((p) => p.serial);
    case 'UPSTREAM_REMOTE_ADDRESS':
      return (s) => (s.upstream === undefined ? '' : withPort(s.upstream.address, s.upstream.port));
    case 'UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT':
      return (s) => s.upstream?.address ?? '';
    case 'UPSTREAM_REMOTE_PORT':
      return (s) => String(s.upstream?.port ?? '');
    case 'REQ': {
      const [main, alt] = headerNames(op.arg)!;
      return (s) => requestHeader(s, main) ?? (alt === undefined ? undefined : requestHeader(s, alt)) ?? '';
    }
    case 'RESP': {
      const [main, alt] = headerNames(op.arg)!;
      return (s) => responseHeader(s, main) ?? (alt === undefined ? undefined : responseHeader(s, alt)) ?? '';
    }
    case 'START_TIME': {
      // START_TIME() is START_TIME: Envoy's default format, which is ISO 8601 in UTC with milliseconds
      const iso = op.arg === undefined || op.arg === '';
      const format = parseTimeFormat(iso ? DEFAULT_TIME_FORMAT : (op.arg as string))!;
      return (s) => {
        // the wall clock now, less the time since the request arrived (the monotonic clock's)
        const ms = Date.now() - (performance.now() - s.facts.start);
        return iso ? new Date(Math.floor(ms)).toISOString() : formatTime(format, ms);
      };
    }
    default:
      // isFilledIn() admitted only the names above
      throw new Error(`header value operator ${op.name} has no fill`);
  }
}

// ── START_TIME(format), in UTC as Envoy formats it ──

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

const pad = (n: number, width: number, fill = '0'): string => String(n).padStart(width, fill);

/** `epochMs` (fractional) in the format. */
export function formatTime(format: TimeFormat, epochMs: number): string {
  const whole = Math.floor(epochMs);
  const d = new Date(whole);
  const seconds = Math.floor(whole / 1000);
  // nanoseconds into the second, as far as the clocks tell them
  const nanos = Math.min(999_999_999, Math.max(0, Math.floor((epochMs - seconds * 1000) * 1e6)));
  let out = '';
  for (const p of format) {
    if (typeof p === 'string') {
      out += p;
      continue;
    }
    out += timeSpec(p.spec, d, seconds, nanos);
  }
  return out;
}

function timeSpec(spec: string, d: Date, seconds: number, nanos: number): string {
  const hour = d.getUTCHours();
  switch (spec) {
    case 'Y': return String(d.getUTCFullYear());
    case 'y': return pad(d.getUTCFullYear() % 100, 2);
    case 'C': return pad(Math.floor(d.getUTCFullYear() / 100), 2);
    case 'm': return pad(d.getUTCMonth() + 1, 2);
    case 'd': return pad(d.getUTCDate(), 2);
    case 'e': return pad(d.getUTCDate(), 2, ' ');
    case 'H': return pad(hour, 2);
    case 'I': return pad(hour % 12 === 0 ? 12 : hour % 12, 2);
    case 'p': return hour < 12 ? 'AM' : 'PM';
    case 'M': return pad(d.getUTCMinutes(), 2);
    case 'S': return pad(d.getUTCSeconds(), 2);
    case 'j': return pad(Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1, 3);
    case 'a': return (DAYS[d.getUTCDay()] as string).slice(0, 3);
    case 'A': return DAYS[d.getUTCDay()] as string;
    case 'b':
    case 'h': return (MONTHS[d.getUTCMonth()] as string).slice(0, 3);
    case 'B': return MONTHS[d.getUTCMonth()] as string;
    case 'u': return String(d.getUTCDay() === 0 ? 7 : d.getUTCDay());
    case 'w': return String(d.getUTCDay());
    case 'z': return '+0000';
    case 'Ez': return '+00:00';
    case 'Z': return 'UTC';
    case 's': return String(seconds);
    case 'T': return `${pad(hour, 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
    case 'R': return `${pad(hour, 2)}:${pad(d.getUTCMinutes(), 2)}`;
    case 'D': return `${pad(d.getUTCMonth() + 1, 2)}/${pad(d.getUTCDate(), 2)}/${pad(d.getUTCFullYear() % 100, 2)}`;
    case 'F': return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
    case 'f': return pad(nanos, 9);
    default: {
      // %Nf: N digits of the fraction; %ENS: seconds and N digits of the fraction
      const fraction = (digits: number): string => pad(nanos, 9).slice(0, digits);
      if (spec.endsWith('f')) return fraction(Number(spec[0]));
      const digits = Number(spec[1]);
      return pad(d.getUTCSeconds(), 2) + (digits > 0 ? `.${fraction(digits)}` : '');
    }
  }
}
