// Reads the SNI of a TLS ClientHello without terminating TLS, so TCP routes can pass TLS through
// by server name. Only the first record is looked at; anything unexpected means "no SNI".

export type ClientHelloPeek =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'not-tls' }
  | { readonly kind: 'hello'; readonly sni: string | undefined };

/** Largest first record accepted while peeking (TLS records are at most 16 KiB plus overhead). */
export const MAX_HELLO_BYTES = 16 * 1024 + 5;

/** Inspect the bytes received so far. */
export function peekClientHello(buf: Buffer): ClientHelloPeek {
  if (buf.length === 0) return { kind: 'need-more' };
  if (buf[0] !== 0x16) return { kind: 'not-tls' };
  if (buf.length < 5) return { kind: 'need-more' };
  const recordLen = buf.readUInt16BE(3);
  if (recordLen + 5 > MAX_HELLO_BYTES) return { kind: 'not-tls' };
  if (buf.length < 5 + recordLen) return { kind: 'need-more' };
  return { kind: 'hello', sni: parseSNI(buf.subarray(5, 5 + recordLen)) };
}

function parseSNI(hs: Buffer): string | undefined {
  // handshake header: type (1 = ClientHello), 3-byte length
  if (hs.length < 4 || hs[0] !== 0x01) return undefined;
  const end = Math.min(hs.length, 4 + hs.readUIntBE(1, 3));
  let p = 4 + 2 + 32; // client_version, random
  if (p + 1 > end) return undefined;
  p += 1 + (hs[p] as number); // session id
  if (p + 2 > end) return undefined;
  p += 2 + hs.readUInt16BE(p); // cipher suites
  if (p + 1 > end) return undefined;
  p += 1 + (hs[p] as number); // compression methods
  if (p + 2 > end) return undefined;
  const extEnd = Math.min(end, p + 2 + hs.readUInt16BE(p));
  p += 2;
  while (p + 4 <= extEnd) {
    const type = hs.readUInt16BE(p);
    const len = hs.readUInt16BE(p + 2);
    p += 4;
    if (p + len > extEnd) return undefined;
    if (type === 0x0000) {
      // server_name_list: 2-byte length, then entries of (type, 2-byte length, name)
      let q = p + 2;
      const listEnd = Math.min(p + len, p + 2 + (len >= 2 ? hs.readUInt16BE(p) : 0));
      while (q + 3 <= listEnd) {
        const nameType = hs[q] as number;
        const nameLen = hs.readUInt16BE(q + 1);
        q += 3;
        if (q + nameLen > listEnd) return undefined;
        if (nameType === 0) {
          const name = hs.toString('latin1', q, q + nameLen).toLowerCase();
          return /^[a-z0-9.-]{1,253}$/.test(name) ? name : undefined;
        }
        q += nameLen;
      }
      return undefined;
    }
    p += len;
  }
  return undefined;
}
