// A set of objects for the request path, where members come and go once a request or a connection:
// an array with swap-removal, each member holding its own index. Not a Set: a long-lived Set or Map
// that adds and deletes that often has its hash table replaced every few additions, and once one
// table has reached V8's old generation the superseded ones keep every member they listed alive
// through scavenges until the next full collection, so every member is promoted (see
// docs/reference/overload.md, "Memory"). Here a removed member is unreferenced at once.

const LIST = Symbol('portico.slotList');
const INDEX = Symbol('portico.slotIndex');

interface Slotted {
  [LIST]?: SlotList<object> | undefined;
  [INDEX]?: number;
}

/** Unordered; add, delete and has take constant time. A member belongs to one SlotList at a time: adding it to another moves it. */
export class SlotList<T extends object> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  add(item: T): void {
    const s = item as Slotted;
    const owner = s[LIST];
    if (owner === (this as SlotList<object>)) return;
    if (owner !== undefined) owner.delete(item);
    s[LIST] = this as SlotList<object>;
    s[INDEX] = this.items.length;
    this.items.push(item);
  }

  has(item: T): boolean {
    return (item as Slotted)[LIST] === (this as SlotList<object>);
  }

  /** Whether it was a member. */
  delete(item: T): boolean {
    const s = item as Slotted;
    if (s[LIST] !== (this as SlotList<object>)) return false;
    const index = s[INDEX] as number;
    s[LIST] = undefined;
    const last = this.items.pop() as T;
    if (last !== item) {
      this.items[index] = last;
      (last as Slotted)[INDEX] = index;
    }
    return true;
  }

  clear(): void {
    for (const item of this.items) (item as Slotted)[LIST] = undefined;
    this.items.length = 0;
  }

  /** The members now, as an array the caller may keep (changes to the list do not reach it). */
  snapshot(): T[] {
    return this.items.slice();
  }
}
