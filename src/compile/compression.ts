// The Module's response compression: Emissary's `gzip` block with its defaults, and Portico's own
// `portico_brotli` block (Emissary has no brotli key), into the IR's one compression setting.

import type { IRBrotli, IRCompression, IRGzip } from '../ir/types.js';

type Cfg = Record<string, unknown>;

/** Emissary's gzip content types when `content_type` is not given. */
export const DEFAULT_COMPRESSIBLE_TYPES: readonly string[] = [
  'application/javascript', 'application/json', 'application/xhtml+xml', 'image/svg+xml', 'text/css', 'text/html', 'text/plain', 'text/xml',
];

/** Emissary's gzip defaults (docs: memory_level 5, min_content_length 30, window_bits 12, DEFAULT level). */
export const GZIP_DEFAULTS = { minContentLength: 30, memoryLevel: 5, windowBits: 12, compressionLevel: 'DEFAULT', compressionStrategy: 'DEFAULT' } as const;
/** Envoy's brotli compressor defaults: quality 3, window 18 bits. */
export const BROTLI_DEFAULTS = { minContentLength: 30, quality: 3, windowBits: 18 } as const;

const num = (v: unknown, d: number): number => (typeof v === 'number' ? v : d);
const types = (v: unknown): string[] =>
  Array.isArray(v) && v.length > 0 ? [...new Set(v.filter((t): t is string => typeof t === 'string').map((t) => t.split(';')[0]!.trim().toLowerCase()))].sort() : [...DEFAULT_COMPRESSIBLE_TYPES];

/**
 * The compression setting of the Module's config, or undefined when neither coding is on. A block
 * is on when it is present and not `enabled: false` (Emissary's minimum is `gzip: {enabled: true}`).
 */
export function compressionFrom(cfg: Cfg): IRCompression | undefined {
  const gz = cfg['gzip'];
  const br = cfg['portico_brotli'];
  const on = (b: unknown): b is Cfg => typeof b === 'object' && b !== null && (b as Cfg)['enabled'] !== false;
  let gzip: IRGzip | undefined;
  let brotli: IRBrotli | undefined;
  if (on(gz)) {
    gzip = {
      minContentLength: num(gz['min_content_length'], GZIP_DEFAULTS.minContentLength),
      contentTypes: types(gz['content_type']),
      disableOnEtagHeader: gz['disable_on_etag_header'] === true,
      compressionLevel: typeof gz['compression_level'] === 'string' ? (gz['compression_level'] as IRGzip['compressionLevel']) : GZIP_DEFAULTS.compressionLevel,
      compressionStrategy: typeof gz['compression_strategy'] === 'string' ? (gz['compression_strategy'] as IRGzip['compressionStrategy']) : GZIP_DEFAULTS.compressionStrategy,
      memoryLevel: num(gz['memory_level'], GZIP_DEFAULTS.memoryLevel),
      windowBits: num(gz['window_bits'], GZIP_DEFAULTS.windowBits),
    };
  }
  if (on(br)) {
    brotli = {
      minContentLength: num(br['min_content_length'], BROTLI_DEFAULTS.minContentLength),
      contentTypes: types(br['content_type']),
      disableOnEtagHeader: br['disable_on_etag_header'] === true,
      quality: num(br['quality'], BROTLI_DEFAULTS.quality),
      windowBits: num(br['window_bits'], BROTLI_DEFAULTS.windowBits),
    };
  }
  if (gzip === undefined && brotli === undefined) return undefined;
  const removeAE = (on(gz) && gz['remove_accept_encoding_header'] === true) || (on(br) && br['remove_accept_encoding_header'] === true);
  return { ...(gzip ? { gzip } : {}), ...(brotli ? { brotli } : {}), removeAcceptEncodingHeader: removeAE };
}
