// Which coding a client gets (Accept-Encoding with q-values) and which responses are left alone
// (already encoded, no-transform, small, partial, untyped): the decisions, table by table.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compressedHeaders, compressibleResponse, negotiateCoding, responseFacts, withVary } from '../../src/dataplane/compression.js';
import { compressionFrom } from '../../src/compile/compression.js';

test('Accept-Encoding negotiation, brotli preferred at equal weight', async (t) => {
  const both = ['br', 'gzip'] as const;
  const cases: Record<string, [string | undefined, readonly ('br' | 'gzip')[], string | undefined]> = {
    'no header: identity': [undefined, both, undefined],
    'gzip only': ['gzip', both, 'gzip'],
    'both, equal: brotli': ['gzip, deflate, br', both, 'br'],
    'q-values: gzip preferred': ['br;q=0.5, gzip;q=0.9', both, 'gzip'],
    'q=0 refuses': ['br;q=0, gzip;q=0', both, undefined],
    'wildcard': ['*', both, 'br'],
    'wildcard, brotli refused': ['*, br;q=0', both, 'gzip'],
    'identity only': ['identity', both, undefined],
    'only gzip configured': ['br', ['gzip'], undefined],
    'x-gzip counts as gzip': ['x-gzip', ['gzip'], 'gzip'],
    'spaces and case': [' GZIP ; Q=1 ', ['gzip'], 'gzip'],
    'a malformed q is 0': ['gzip;q=abc', ['gzip'], undefined],
  };
  for (const [name, [header, offered, want]] of Object.entries(cases)) {
    await t.test(name, () => assert.equal(negotiateCoding(header, offered), want));
  }
});

test('which responses are compressed (Emissary defaults: 30 bytes, the text types)', async (t) => {
  const gzip = compressionFrom({ gzip: { enabled: true } })!.gzip!;
  const json = ['content-type', 'application/json; charset=utf-8'];
  const cases: Record<string, [string, number, string[], boolean]> = {
    'JSON of unknown length': ['GET', 200, json, true],
    'JSON above the minimum': ['GET', 200, [...json, 'content-length', '30'], true],
    'JSON below the minimum': ['GET', 200, [...json, 'content-length', '29'], false],
    'already encoded': ['GET', 200, [...json, 'content-encoding', 'br'], false],
    'identity encoding is no encoding': ['GET', 200, [...json, 'content-encoding', 'identity'], true],
    'no-transform': ['GET', 200, [...json, 'cache-control', 'public, no-transform'], false],
    'an image': ['GET', 200, ['content-type', 'image/png'], false],
    'no content type': ['GET', 200, [], false],
    'HEAD': ['HEAD', 200, json, false],
    '204': ['GET', 204, json, false],
    '206 partial content': ['GET', 206, json, false],
    '304': ['GET', 304, json, false],
    'an error page': ['GET', 500, ['content-type', 'text/html'], true],
  };
  for (const [name, [method, status, raw, want]] of Object.entries(cases)) {
    await t.test(name, () => assert.equal(compressibleResponse(gzip, method, status, responseFacts(raw)), want));
  }
});

test('compressed headers: encoding set, length and strong ETag gone, Vary extended', () => {
  const out = compressedHeaders(['Content-Type', 'text/html', 'Content-Length', '5000', 'ETag', '"abc"', 'Vary', 'Origin'], 'gzip');
  assert.deepEqual(out, ['Content-Type', 'text/html', 'content-encoding', 'gzip', 'vary', 'Origin, Accept-Encoding']);
  assert.deepEqual(compressedHeaders(['ETag', 'W/"abc"', 'vary', 'accept-encoding'], 'br'), ['ETag', 'W/"abc"', 'content-encoding', 'br', 'vary', 'accept-encoding']);
  assert.deepEqual(withVary(['content-type', 'text/html']), ['content-type', 'text/html', 'vary', 'Accept-Encoding']);
  assert.deepEqual(withVary(['vary', '*']), ['vary', '*']);
});

test('Module settings: Emissary gzip fields and defaults, portico_brotli, enabled: false', () => {
  assert.equal(compressionFrom({}), undefined);
  assert.equal(compressionFrom({ gzip: { enabled: false } }), undefined);
  const c = compressionFrom({
    gzip: { memory_level: 2, min_content_length: 32, compression_level: 'BEST', compression_strategy: 'RLE', content_type: ['application/json', 'text/plain'], window_bits: 15 },
    portico_brotli: { quality: 5 },
  })!;
  assert.deepEqual(c.gzip, {
    minContentLength: 32, contentTypes: ['application/json', 'text/plain'], disableOnEtagHeader: false,
    compressionLevel: 'BEST', compressionStrategy: 'RLE', memoryLevel: 2, windowBits: 15,
  });
  assert.equal(c.brotli!.quality, 5);
  assert.equal(c.brotli!.windowBits, 18);
  assert.equal(c.brotli!.contentTypes.length, 8, "Emissary's eight default types");
  const d = compressionFrom({ gzip: { enabled: true } })!.gzip!;
  assert.deepEqual([d.minContentLength, d.memoryLevel, d.windowBits, d.compressionLevel], [30, 5, 12, 'DEFAULT']);
});
