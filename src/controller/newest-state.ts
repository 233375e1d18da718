// Reading a revision from a source that keeps only its newest state (a folder, a cluster): older
// states are gone once it changes, so a revision is either kept from an earlier read or read now.

import { FetchError } from '../sources/git-source.js';
import type { Snapshot } from './reconcile.js';

/**
 * The snapshot of `revision` for a driver that can read only its newest state (a folder, a
 * cluster): the one kept for it, else the state read now, which must still be that revision.
 */
export async function newestStateSnapshot(
  kept: { get(revision: string): Snapshot | undefined },
  revision: string,
  readNow: () => Promise<string>,
  changedWhileRead: string,
): Promise<Snapshot> {
  const hit = kept.get(revision);
  if (hit) return hit;
  const now = await readNow();
  if (now !== revision) throw new FetchError('RefNotFound', changedWhileRead);
  return kept.get(now)!;
}
