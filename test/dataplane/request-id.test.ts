// Generated x-request-id values: RFC 9562 version-4 UUIDs, unique, random in every position, across
// the refills of the random-byte batch they are cut from.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newRequestId } from '../../src/dataplane/header-policy.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('generated request ids', () => {
  it('are version-4 UUIDs, all different, over several batch refills', () => {
    const ids = Array.from({ length: 3000 }, () => newRequestId());
    for (const id of ids) assert.match(id, UUID_V4);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('vary in every random position', () => {
    const ids = Array.from({ length: 2000 }, () => newRequestId().replaceAll('-', ''));
    for (let pos = 0; pos < 32; pos++) {
      if (pos === 12) continue; // the version digit
      const seen = new Set(ids.map((id) => id[pos]));
      // the variant digit takes 4 values; every other digit takes all 16
      assert.equal(seen.size, pos === 16 ? 4 : 16, `digit ${pos} takes ${seen.size} values`);
    }
  });
});
