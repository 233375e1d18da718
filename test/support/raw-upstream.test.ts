// The raw upstream's request reader: the same requests (or the same framing error) however the
// bytes are split across reads, so the recorder judges what the gateway sent, not how it arrived.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RequestAssembler } from './raw-upstream.js';

const STREAM = Buffer.from(
  'POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
  'GET /b HTTP/1.1\r\nHost: a\r\n\r\n' +
  'POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n' +
  'PUT /d HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n',
  'latin1',
);

/** Feed `bytes` cut at `cuts` (offsets), and describe what came out. */
function feed(bytes: Buffer, cuts: number[]): string[] {
  const a = new RequestAssembler();
  const out: string[] = [];
  let from = 0;
  for (const at of [...cuts.filter((c) => c > 0 && c < bytes.length).sort((x, y) => x - y), bytes.length]) {
    for (const r of a.push(bytes.subarray(from, at))) out.push('error' in r ? `error: ${r.error}` : `${r.requestLine} [${r.body.toString('latin1')}]`);
    from = at;
  }
  return out;
}

describe('raw upstream request reader', () => {
  it('reads length-framed, bodiless and chunked requests in order', () => {
    assert.deepEqual(feed(STREAM, []), [
      'POST /a HTTP/1.1 [hello]',
      'GET /b HTTP/1.1 []',
      'POST /c HTTP/1.1 [abc0123456789abcdef]',
      'PUT /d HTTP/1.1 []',
    ]);
  });

  it('reads the same requests however the bytes are split', () => {
    const whole = feed(STREAM, []);
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: STREAM.length }), { maxLength: 40 }), (cuts) => {
      assert.deepEqual(feed(STREAM, cuts), whole);
    }), { numRuns: 500, seed: 14 });
    assert.deepEqual(feed(STREAM, Array.from({ length: STREAM.length }, (_, i) => i)), whole, 'one byte per read');
  });

  const broken: [string, string, string][] = [
    ['both framing headers', 'POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'both content-length and transfer-encoding'],
    ['a chunk size that is not hex', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n', 'bad chunk size'],
    ['chunk data longer than its size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n', 'chunk data not followed by CRLF'],
    ['trailer fields', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nx-t: 1\r\n\r\n', 'trailers not supported by the recorder'],
    ['a bare LF in the head', 'GET / HTTP/1.1\nHost: a\r\n\r\n', 'bad request line: "GET / HTTP/1.1\\nHost: a"'],
  ];
  for (const [name, raw, error] of broken) {
    it(`reports ${name} as a framing error, split or not`, () => {
      const bytes = Buffer.from(raw, 'latin1');
      assert.deepEqual(feed(bytes, []), [`error: ${error}`]);
      assert.deepEqual(feed(bytes, Array.from({ length: bytes.length }, (_, i) => i)), [`error: ${error}`]);
    });
  }

  it('gives up on a head longer than 64 KiB without its end', () => {
    const a = new RequestAssembler();
    const out = a.push(Buffer.from(`GET / HTTP/1.1\r\nx-big: ${'a'.repeat(70_000)}`, 'latin1'));
    assert.deepEqual(out, [{ error: 'head too large' }]);
  });
});
