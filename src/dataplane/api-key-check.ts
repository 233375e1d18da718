// Edge Stack's APIKey filter check: the request's key header against the keys of the filter's
// Secrets, compared in constant time so that response timing says nothing about any key.
//
// Keys are kept as SHA-256 digests: each check hashes the presented value once and compares it
// with every digest (no early exit), so the time depends on the number of keys only.

import { createHash, timingSafeEqual } from 'node:crypto';

export class APIKeySet {
  private readonly digests: readonly Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  get size(): number {
    return this.digests.length;
  }

  /** True when `presented` is one of the keys. */
  accepts(presented: string | undefined): boolean {
    if (presented === undefined || presented === '') return false;
    const d = digest(presented);
    let found = 0;
    for (const k of this.digests) found |= timingSafeEqual(d, k) ? 1 : 0;
    return found === 1;
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
