// Reading a request body for a policy step (the body limit, an auth check that includes the body):
// at most `limit` bytes are held, and what was read is kept on the request for the upstream.

import type { PolicyRequest } from './chain.js';

/** What a step sees of the body. */
export interface SeenBody {
  /** The body, or its first `limit` bytes when it is longer and partial reads are allowed. */
  readonly bytes: Buffer;
  /** `bytes` is the whole body. */
  readonly complete: boolean;
}

const EMPTY: SeenBody = Object.freeze({ bytes: Buffer.alloc(0), complete: true });

/**
 * The body up to `limit` bytes. Longer: 'too_large', or with `allowPartial` its first `limit`
 * bytes, the stream paused with the rest for the upstream. Everything read is kept in r.body (the
 * forward path sends it first). Immediate when there is nothing to read or the body was read before.
 */
export function readRequestBody(r: PolicyRequest, limit: number, allowPartial: boolean): SeenBody | 'too_large' | Promise<SeenBody | 'too_large'> {
  if (!r.hasBody || r.upgrade) return EMPTY;
  const earlier = r.body;
  if (earlier !== undefined && (earlier.complete || earlier.bytes.length > limit)) return seen(earlier.bytes, earlier.complete, limit, allowPartial);
  // A declared length over the limit is refused before a byte is read.
  if (!allowPartial && r.contentLength !== undefined && r.contentLength > limit && earlier === undefined) return 'too_large';
  const req = r.req;
  return new Promise((resolve) => {
    const chunks: Buffer[] = earlier !== undefined ? [earlier.bytes] : [];
    let size = earlier?.bytes.length ?? 0;
    const finish = (value: SeenBody | 'too_large'): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onGone);
      resolve(value);
    };
    const onData = (c: Buffer): void => {
      chunks.push(c);
      size += c.length;
      if (size <= limit) return;
      // Past the limit: hold what is read, and leave the rest in the stream for the upstream.
      req.pause();
      const bytes = Buffer.concat(chunks, size);
      r.body = { bytes, complete: false };
      finish(allowPartial ? { bytes: bytes.subarray(0, limit), complete: false } : 'too_large');
    };
    const onEnd = (): void => {
      const bytes = Buffer.concat(chunks, size);
      r.body = { bytes, complete: true };
      finish({ bytes, complete: true });
    };
    // The client went away: the runtime aborts the chain, nothing more is decided here.
    const onGone = (): void => {
      if (!req.complete) finish('too_large');
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onGone);
    req.once('close', onGone);
    req.resume();
  });
}

function seen(bytes: Buffer, complete: boolean, limit: number, allowPartial: boolean): SeenBody | 'too_large' {
  if (bytes.length <= limit) return { bytes, complete };
  return allowPartial ? { bytes: bytes.subarray(0, limit), complete: false } : 'too_large';
}
