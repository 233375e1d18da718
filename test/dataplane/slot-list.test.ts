// SlotList: the request path's set of connections and exchanges (add, delete and has in constant
// time, a removed member unreferenced at once), checked against a Set over a random sequence.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SlotList } from '../../src/dataplane/slot-list.js';

describe('SlotList', () => {
  it('holds exactly what a Set holds over 5,000 random adds and deletes, across two lists', () => {
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const items = Array.from({ length: 64 }, (_, i) => ({ i }));
    const lists = [new SlotList<{ i: number }>(), new SlotList<{ i: number }>()];
    const sets = [new Set<{ i: number }>(), new Set<{ i: number }>()];
    for (let step = 0; step < 5000; step++) {
      const item = items[rand(items.length)]!;
      const which = rand(2);
      const other = 1 - which;
      if (rand(3) === 0) {
        assert.equal(lists[which]!.delete(item), sets[which]!.delete(item), `delete at step ${step}`);
      } else if (!sets[other]!.has(item)) {
        // a member belongs to one list at a time (as the request path uses it)
        lists[which]!.add(item);
        sets[which]!.add(item);
      }
      for (const k of [0, 1]) {
        assert.equal(lists[k]!.size, sets[k]!.size, `size at step ${step}`);
        assert.equal(lists[k]!.has(item), sets[k]!.has(item), `has at step ${step}`);
      }
    }
    for (const k of [0, 1]) assert.deepEqual(new Set(lists[k]!.snapshot()), sets[k]);
  });

  it('moves a member added to another list: the first list no longer holds it, and still holds the rest', () => {
    const a = new SlotList<object>();
    const b = new SlotList<object>();
    const x = {};
    const y = {};
    const z = {};
    a.add(x);
    a.add(y);
    a.add(z);
    b.add(x);
    assert.equal(a.has(x), false);
    assert.equal(b.has(x), true);
    assert.deepEqual(new Set(a.snapshot()), new Set([y, z]));
    assert.equal(a.delete(z), true);
    assert.deepEqual(a.snapshot(), [y]);
    assert.equal(b.delete(x), true);
    assert.equal(b.size, 0);
  });

  it('adds a member once, forgets everything on clear, and its snapshot does not follow later changes', () => {
    const l = new SlotList<object>();
    const a = {};
    const b = {};
    l.add(a);
    l.add(a);
    l.add(b);
    assert.equal(l.size, 2);
    const snap = l.snapshot();
    l.delete(a);
    assert.deepEqual(snap, [a, b]);
    assert.deepEqual(l.snapshot(), [b]);
    l.clear();
    assert.equal(l.size, 0);
    assert.equal(l.has(b), false);
    assert.equal(l.delete(b), false);
    l.add(b);
    assert.deepEqual(l.snapshot(), [b]);
  });
});
