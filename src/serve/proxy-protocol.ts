// The PROXY protocol (versions 1 and 2) in front of a Listener whose protocolStack holds PROXY: a load
// balancer writes the client's addresses ahead of the connection's own bytes. The header is read and
// taken off before anything else sees the connection; its source becomes the connection's client
// address (X-Forwarded-For, access logs, per-client caps, rate-limit and IP rules). A connection
// without a valid header is closed: on such a port the header is required, as the protocol says a
// receiver must not guess whether it is present.

import { isIPv4, isIPv6, type Socket } from 'node:net';
import type { ProxyEndpoint } from '../dataplane/proxied-peer.js';

export type { ProxyEndpoint };

export type ProxyHeaderResult =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'invalid'; readonly reason: string }
  /**
   * `length` bytes make the header. `source` is absent when the header carries no client address
   * (version 1 UNKNOWN, version 2 LOCAL, or an address family other than IPv4/IPv6): the connection's
   * own addresses stand, as the protocol asks.
   */
  | { readonly kind: 'header'; readonly version: 1 | 2; readonly length: number; readonly source?: ProxyEndpoint; readonly destination?: ProxyEndpoint };

/** Version 2's twelve-byte signature. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** Version 1's longest header, CRLF included (the protocol's own bound). */
const V1_MAX_BYTES = 107;
const V2_FIXED_BYTES = 16;

const PORT = /^(?:0|[1-9][0-9]{0,4})$/;

/** Whether `got` so far is a prefix of `want` (or `want` a prefix of it). */
function agrees(got: Buffer, want: Buffer): boolean {
  const n = Math.min(got.length, want.length);
  return got.subarray(0, n).equals(want.subarray(0, n));
}

/** Read a PROXY header at the start of `buf`: the whole header, more bytes needed, or why it is not one. */
export function parseProxyHeader(buf: Buffer): ProxyHeaderResult {
  if (buf.length === 0) return { kind: 'need-more' };
  if (agrees(buf, V2_SIGNATURE)) return buf.length < V2_FIXED_BYTES ? { kind: 'need-more' } : parseV2(buf);
  if (agrees(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? { kind: 'need-more' } : parseV1(buf);
  return { kind: 'invalid', reason: 'the connection does not start with a PROXY protocol header' };
}

function parseV1(buf: Buffer): ProxyHeaderResult {
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end < 0) return buf.length < V1_MAX_BYTES ? { kind: 'need-more' } : { kind: 'invalid', reason: `a version 1 header longer than ${V1_MAX_BYTES} bytes` };
  if (end + 2 > V1_MAX_BYTES) return { kind: 'invalid', reason: `a version 1 header longer than ${V1_MAX_BYTES} bytes` };
  const line = buf.toString('latin1', 0, end);
  const parts = line.split(' ');
  const length = end + 2;
  // "PROXY UNKNOWN" may be followed by anything up to the CRLF; the connection's own addresses stand.
  if (parts[1] === 'UNKNOWN') return { kind: 'header', version: 1, length };
  const family = parts[1] === 'TCP4' ? 'IPv4' : parts[1] === 'TCP6' ? 'IPv6' : undefined;
  if (family === undefined) return { kind: 'invalid', reason: `version 1 protocol '${parts[1] ?? ''}' (TCP4, TCP6 or UNKNOWN)` };
  if (parts.length !== 6) return { kind: 'invalid', reason: 'a version 1 header is PROXY, the protocol, two addresses and two ports, one space apart' };
  const [, , src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const isIP = family === 'IPv4' ? isIPv4 : isIPv6;
  if (!isIP(src) || !isIP(dst)) return { kind: 'invalid', reason: `a version 1 address that is not ${family}` };
  const sp = port(sport);
  const dp = port(dport);
  if (sp === undefined || dp === undefined) return { kind: 'invalid', reason: 'a version 1 port that is not a number from 0 to 65535' };
  const text = (a: string): string => (family === 'IPv6' ? a.toLowerCase() : a);
  return { kind: 'header', version: 1, length, source: { address: text(src), port: sp, family }, destination: { address: text(dst), port: dp, family } };
}

function port(s: string): number | undefined {
  if (!PORT.test(s)) return undefined;
  const n = Number(s);
  return n <= 0xffff ? n : undefined;
}

function parseV2(buf: Buffer): ProxyHeaderResult {
  const verCmd = buf[12] as number;
  if (verCmd >> 4 !== 2) return { kind: 'invalid', reason: `version 2 signature with version ${verCmd >> 4}` };
  const command = verCmd & 0x0f;
  if (command > 1) return { kind: 'invalid', reason: `version 2 command ${command} (LOCAL or PROXY)` };
  const famTransport = buf[13] as number;
  const length = V2_FIXED_BYTES + buf.readUInt16BE(14);
  if (buf.length < length) return { kind: 'need-more' };
  // LOCAL: the balancer's own connection (a health check); the connection's addresses stand.
  if (command === 0) return { kind: 'header', version: 2, length };
  const family = famTransport >> 4;
  const transport = famTransport & 0x0f;
  // UNSPEC and UNIX: nothing a client address can be made of; the connection's addresses stand.
  if (family === 0 || family === 3) return { kind: 'header', version: 2, length };
  if (family > 3) return { kind: 'invalid', reason: `version 2 address family ${family}` };
  if (transport !== 1) return { kind: 'invalid', reason: 'version 2 transport other than STREAM on a TCP listener' };
  const block = family === 1 ? 12 : 36;
  if (length - V2_FIXED_BYTES < block) return { kind: 'invalid', reason: 'a version 2 header too short for its addresses' };
  const at = V2_FIXED_BYTES;
  if (family === 1) {
    return {
      kind: 'header', version: 2, length,
      source: { address: ipv4(buf, at), port: buf.readUInt16BE(at + 8), family: 'IPv4' },
      destination: { address: ipv4(buf, at + 4), port: buf.readUInt16BE(at + 10), family: 'IPv4' },
    };
  }
  return {
    kind: 'header', version: 2, length,
    source: { address: ipv6(buf, at), port: buf.readUInt16BE(at + 32), family: 'IPv6' },
    destination: { address: ipv6(buf, at + 16), port: buf.readUInt16BE(at + 34), family: 'IPv6' },
  };
}

function ipv4(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups as `::`, IPv4-mapped as ::ffff:a.b.c.d. */
export function ipv6(buf: Buffer, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(at + 2 * i));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${ipv4(buf, at + 12)}`;
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export type ProxyReadOutcome = Extract<ProxyHeaderResult, { kind: 'header' }> | { readonly kind: 'invalid'; readonly reason: string } | { readonly kind: 'closed' };

/**
 * Read the PROXY header off an accepted socket, then hand it on paused, with the bytes that followed
 * the header put back to be read first. `done` is called once: the header, why the connection has
 * none (or not within `deadlineMs`), or that it closed first. The caller destroys it when invalid.
 */
export function readProxyHeader(socket: Socket, deadlineMs: number, done: (outcome: ProxyReadOutcome) => void): void {
  socket.on('error', () => {});
  let got: Buffer = Buffer.alloc(0);
  let settled = false;
  const finish = (outcome: ProxyReadOutcome): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
    done(outcome);
  };
  const timer = setTimeout(() => finish({ kind: 'invalid', reason: `no PROXY protocol header within ${deadlineMs} ms` }), deadlineMs);
  const onData = (chunk: Buffer): void => {
    got = got.length === 0 ? chunk : Buffer.concat([got, chunk]);
    const r = parseProxyHeader(got);
    if (r.kind === 'need-more') return;
    socket.pause();
    if (r.kind === 'header' && got.length > r.length) socket.unshift(got.subarray(r.length));
    finish(r);
  };
  const onClose = (): void => finish({ kind: 'closed' });
  socket.on('data', onData);
  socket.once('close', onClose);
  socket.resume();
}
