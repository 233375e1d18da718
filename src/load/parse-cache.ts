// What each file decoded to, kept from one load to the next by the hash of its content: after a
// one-file change, a load reads and decodes only that file and reuses the others' results.

import { createHash } from 'node:crypto';
import type { Origin } from '../api/origin.js';
import type { Problem } from '../api/problems.js';
import type { Resource } from '../api/resource.js';

/** One file's result: its resources and problems, as decoded for `revision`. */
interface Entry {
  readonly hash: string;
  readonly revision: string | undefined;
  readonly resources: readonly Resource[];
  readonly problems: readonly Problem[];
  /** Objects the file counted towards the per-load cap. */
  readonly objects: number;
}

/**
 * Results by source and ambassador ID (what a file decodes to depends on both), then by path. A
 * load keeps the entries of the files it saw and drops the others of its source, so the cache holds
 * at most one configuration's worth per source. Results are the same with and without it: a file is
 * reused only when its content, path, source and ambassador ID are those it was decoded with, and
 * its origins then name the new revision.
 */
export class ParseCache {
  private readonly scopes = new Map<string, Map<string, Entry>>();
  /** How many files the last load reused and read. */
  lastLoad = { reused: 0, read: 0 };

  /** A load of one source; `close` keeps what it saw. */
  open(source: string | undefined, ambassadorId: string, revision: string | undefined, ambassadorNamespace = 'default'): CacheSession {
    // Both decide what a file decodes to: which resources are kept, and the namespace of those that name none.
    const scope = `${source ?? ''}\u0000${ambassadorId}\u0000${ambassadorNamespace}`;
    return new CacheSession(this, scope, this.scopes.get(scope), revision);
  }

  /** Files remembered, over all sources. */
  get size(): number {
    let n = 0;
    for (const s of this.scopes.values()) n += s.size;
    return n;
  }

  /** @internal */
  keep(scope: string, entries: Map<string, Entry>, reused: number, read: number): void {
    this.scopes.set(scope, entries);
    this.lastLoad = { reused, read };
  }
}

export class CacheSession {
  private readonly next = new Map<string, Entry>();
  private reused = 0;
  private read = 0;

  constructor(
    private readonly cache: ParseCache,
    private readonly scope: string,
    private readonly previous: Map<string, Entry> | undefined,
    private readonly revision: string | undefined,
  ) {}

  /** The content's hash: the one given (a git blob id), or SHA-1 of the bytes. */
  hashOf(content: string | Buffer, given?: string): string {
    return given ?? createHash('sha1').update(content).digest('base64');
  }

  /**
   * The results of the file at `path` with content `hash`, when decoded before, its origins naming
   * this load's revision; `room` is how many objects the load may still count.
   */
  reuse(path: string, hash: string, room: number): { resources: Resource[]; problems: Problem[]; objects: number } | undefined {
    let e = this.previous?.get(path);
    if (!e || e.hash !== hash || e.objects > room) return undefined;
    if (e.revision !== this.revision) {
      const revision = this.revision;
      const originOf = (o: Origin): Origin => {
        const origin: { -readonly [K in keyof Origin]: Origin[K] } = { ...o };
        if (revision === undefined) delete origin.revision;
        else origin.revision = revision;
        return origin;
      };
      // Resources share one shape, so which of their keys are getters or symbols is learnt from the first.
      const special = e.resources.length > 0 ? specialKeys(e.resources[0] as Resource) : new Set<string | symbol>();
      e = { ...e, revision, resources: e.resources.map((r) => restamp(r, originOf(r.origin), special)), problems: e.problems.map((p) => ({ ...p, origin: originOf(p.origin) })) };
    }
    this.next.set(path, e);
    this.reused++;
    return { resources: [...e.resources], problems: [...e.problems], objects: e.objects };
  }

  /** Counts a file read and decoded; keeps its results unless the per-load object cap cut it short. */
  store(path: string, hash: string, resources: Resource[], problems: Problem[], objects: number, keep: boolean): void {
    this.read++;
    if (keep) this.next.set(path, { hash, revision: this.revision, resources, problems, objects });
  }

  /** The load is over: only the files it saw stay. */
  close(): void {
    this.cache.keep(this.scope, this.next, this.reused, this.read);
  }
}

/**
 * A copy of a resource with another origin. Values are copied as they are; getters (the field
 * positions, read only when asked for) and symbol-keyed properties, `special`, are copied as
 * properties, so the copy does not read them.
 */
function restamp(r: Resource, origin: Origin, special: ReadonlySet<string | symbol>): Resource {
  const c: Record<string | symbol, unknown> = {};
  for (const k of Object.keys(r)) if (!special.has(k)) c[k] = (r as unknown as Record<string, unknown>)[k];
  c.origin = origin;
  for (const k of special) Object.defineProperty(c, k, Object.getOwnPropertyDescriptor(r, k) as PropertyDescriptor);
  return Object.freeze(c) as unknown as Resource;
}

/** The keys of a resource that are getters or symbols. */
function specialKeys(r: Resource): Set<string | symbol> {
  const special = new Set<string | symbol>();
  for (const [k, d] of Object.entries(Object.getOwnPropertyDescriptors(r))) if (d.get || d.set) special.add(k);
  for (const k of Object.getOwnPropertySymbols(r)) special.add(k);
  return special;
}
