// Response compression (the Module's gzip and portico_brotli): which coding a request accepts
// (Accept-Encoding with q-values), whether a response may be compressed, and the streaming encoder.
//
// A response is left alone when it is already encoded, marked no-transform, too small by its
// Content-Length, a partial (206) or bodiless one, or of a type not listed. Compressed responses
// lose Content-Length (they stream) and gain `Vary: Accept-Encoding`, as do the uncompressed
// responses that would have been compressed for another client, so caches keep them apart.

import type { IncomingMessage } from 'node:http';
import { constants as zc, createBrotliCompress, createGzip, type BrotliCompress, type Gzip } from 'node:zlib';
import type { IRCompression, IRCompressionCommon } from '../ir/types.js';

export type Coding = 'br' | 'gzip';

/**
 * The coding to use for this Accept-Encoding, among those configured (in the server's order of
 * preference): the one with the highest q-value, `*` standing for codings not named, q=0 refusing.
 */
export function negotiateCoding(acceptEncoding: string | undefined, offered: readonly Coding[]): Coding | undefined {
  if (acceptEncoding === undefined || offered.length === 0) return undefined;
  const q = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [name, ...params] = part.split(';');
    const coding = name!.trim().toLowerCase();
    if (coding === '') continue;
    let weight = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*(\S*)\s*$/i.exec(p);
      // a q-value that is not a number counts as 0: the coding is not wanted
      if (m !== null) weight = /^[01](\.\d{0,3})?$/.test(m[1]!) ? Math.min(1, Number(m[1])) : 0;
    }
    // the first mention counts (a repeated coding does not raise its own weight)
    if (!q.has(coding)) q.set(coding, weight);
  }
  let best: Coding | undefined;
  let bestQ = 0;
  for (const c of offered) {
    const w = q.get(c) ?? (c === 'gzip' ? q.get('x-gzip') : undefined) ?? q.get('*') ?? 0;
    if (w > bestQ) {
      best = c;
      bestQ = w;
    }
  }
  return best;
}

/** What the response looks like, from its raw header list (name, value, name, value, ...). */
export interface ResponseFacts {
  contentType: string | undefined;
  contentLength: number | undefined;
  contentEncoding: string | undefined;
  cacheControl: string | undefined;
  etag: string | undefined;
}

export function responseFacts(raw: readonly string[]): ResponseFacts {
  const f: ResponseFacts = { contentType: undefined, contentLength: undefined, contentEncoding: undefined, cacheControl: undefined, etag: undefined };
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name === 'content-type') f.contentType = value;
    else if (name === 'content-length') f.contentLength = /^\d+$/.test(value.trim()) ? Number(value.trim()) : undefined;
    else if (name === 'content-encoding') f.contentEncoding = f.contentEncoding === undefined ? value : `${f.contentEncoding}, ${value}`;
    else if (name === 'cache-control') f.cacheControl = f.cacheControl === undefined ? value : `${f.cacheControl}, ${value}`;
    else if (name === 'etag') f.etag = value;
  }
  return f;
}

/**
 * Whether this response is one the coding's settings compress, whatever the client accepts (then
 * it gets `Vary: Accept-Encoding` either way).
 */
export function compressibleResponse(c: IRCompressionCommon, method: string, status: number, f: ResponseFacts): boolean {
  if (method === 'HEAD' || status < 200 || status === 204 || status === 206 || status === 304) return false;
  if (f.contentEncoding !== undefined && f.contentEncoding.trim().toLowerCase() !== 'identity') return false;
  if (f.cacheControl !== undefined && /(^|[\s,])no-transform([\s,;=]|$)/i.test(f.cacheControl)) return false;
  if (f.contentLength !== undefined && f.contentLength < c.minContentLength) return false;
  if (f.etag !== undefined && c.disableOnEtagHeader) return false;
  // No type, no way to tell an image from text: left alone.
  if (f.contentType === undefined) return false;
  const type = f.contentType.split(';')[0]!.trim().toLowerCase();
  return c.contentTypes.includes(type);
}

/**
 * The response headers for a compressed body: Content-Encoding set, Content-Length gone (the body
 * streams), a strong ETag gone (the bytes differ; weak ones stay), Vary extended.
 */
export function compressedHeaders(raw: readonly string[], coding: Coding): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name === 'content-length' || name === 'content-encoding' || name === 'vary') continue;
    if (name === 'etag' && !value.trim().startsWith('W/')) continue;
    out.push(raw[i]!, value);
  }
  out.push('content-encoding', coding);
  out.push('vary', varyWithAcceptEncoding(raw));
  return out;
}

/** The headers of an uncompressed response another client would have had compressed: Vary extended. */
export function withVary(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() !== 'vary') out.push(raw[i]!, raw[i + 1]!);
  out.push('vary', varyWithAcceptEncoding(raw));
  return out;
}

function varyWithAcceptEncoding(raw: readonly string[]): string {
  const items: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== 'vary') continue;
    for (const v of raw[i + 1]!.split(',')) if (v.trim() !== '') items.push(v.trim());
  }
  if (items.includes('*') || items.some((v) => v.toLowerCase() === 'accept-encoding')) return items.join(', ');
  items.push('Accept-Encoding');
  return items.join(', ');
}

const GZIP_LEVEL = { DEFAULT: zc.Z_DEFAULT_COMPRESSION, BEST: zc.Z_BEST_COMPRESSION, SPEED: zc.Z_BEST_SPEED } as const;
const GZIP_STRATEGY = { DEFAULT: zc.Z_DEFAULT_STRATEGY, FILTERED: zc.Z_FILTERED, HUFFMAN: zc.Z_HUFFMAN_ONLY, RLE: zc.Z_RLE } as const;

/** A streaming encoder for the coding, with the settings' parameters. */
export function createEncoder(c: IRCompression, coding: Coding): Gzip | BrotliCompress {
  if (coding === 'gzip') {
    const g = c.gzip!;
    return createGzip({ level: GZIP_LEVEL[g.compressionLevel], memLevel: g.memoryLevel, windowBits: g.windowBits, strategy: GZIP_STRATEGY[g.compressionStrategy] });
  }
  const b = c.brotli!;
  return createBrotliCompress({ params: { [zc.BROTLI_PARAM_QUALITY]: b.quality, [zc.BROTLI_PARAM_LGWIN]: b.windowBits, [zc.BROTLI_PARAM_MODE]: zc.BROTLI_MODE_TEXT } });
}

/** The codings on offer, in the server's preference (brotli first: smaller at like cost). */
export function offeredCodings(c: IRCompression): Coding[] {
  const out: Coding[] = [];
  if (c.brotli !== undefined) out.push('br');
  if (c.gzip !== undefined) out.push('gzip');
  return out;
}

/** The settings of one coding. */
export function settingsFor(c: IRCompression, coding: Coding): IRCompressionCommon {
  return coding === 'gzip' ? c.gzip! : c.brotli!;
}

/** Where compressed bytes go (the forward path's response sink). */
export interface CompressedSink {
  /** False: the client is not keeping up (the forward path pauses the upstream until it does). */
  emit(chunk: Buffer): boolean;
  end(): void;
  fail(err: Error): void;
}

/**
 * The response side of compression: decides per response, rewrites the head in place and returns
 * the body transform, or leaves the response alone (adding Vary when another client would have
 * had it compressed). Built once per runtime.
 */
export class CompressionHook {
  private readonly offered: readonly Coding[];

  constructor(private readonly settings: IRCompression) {
    this.offered = offeredCodings(settings);
  }

  start(req: IncomingMessage, status: number, headers: string[], sink: CompressedSink): EncodingTransform | undefined {
    const method = req.method ?? 'GET';
    const facts = responseFacts(headers);
    const ae = req.headers['accept-encoding'];
    const coding = negotiateCoding(Array.isArray(ae) ? ae.join(', ') : ae, this.offered);
    if (coding !== undefined && compressibleResponse(settingsFor(this.settings, coding), method, status, facts)) {
      replaceAll(headers, compressedHeaders(headers, coding));
      return new EncodingTransform(createEncoder(this.settings, coding), coding, sink);
    }
    // Not for this client: caches must still tell its copy from another client's compressed one.
    if (this.offered.some((c) => compressibleResponse(settingsFor(this.settings, c), method, status, facts))) replaceAll(headers, withVary(headers));
    return undefined;
  }
}

function replaceAll(target: string[], from: readonly string[]): void {
  target.length = 0;
  for (const x of from) target.push(x);
}

/**
 * One response's encoder. Upstream chunks go in as they come; what the encoder has is flushed
 * once per turn of the event loop, so a streamed response (server-sent events, a slow upstream)
 * reaches the client as it arrives instead of when a window fills.
 */
export class EncodingTransform {
  private flushQueued = false;
  private ended = false;

  constructor(
    private readonly encoder: Gzip | BrotliCompress,
    private readonly coding: Coding,
    sink: CompressedSink,
  ) {
    encoder.on('data', (c: Buffer) => {
      // the forward path pauses the upstream when the client lags; the encoder holds at most what it was given
      sink.emit(c);
    });
    encoder.once('end', () => sink.end());
    encoder.once('error', (err: Error) => sink.fail(err));
  }

  write(chunk: Buffer): void {
    if (this.ended) return;
    this.encoder.write(chunk);
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(flushEncoder, this);
    }
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.encoder.end();
  }

  flush(): void {
    this.flushQueued = false;
    if (this.ended) return;
    this.encoder.flush(this.coding === 'gzip' ? zc.Z_SYNC_FLUSH : zc.BROTLI_OPERATION_FLUSH);
  }
}

function flushEncoder(t: EncodingTransform): void {
  t.flush();
}
