// Writes to clients and upstreams are held until the end of the event-loop turn and then flushed
// together, so a peer that went idle is woken once per turn rather than once per request.

import type { Writable } from 'node:stream';

/**
 * Why: on loopback and in VMs, most of a small request's kernel cost is waking the reader (an
 * inter-processor interrupt when it sleeps on another core). One poll of the event loop hands over
 * several readable sockets; writing each answer as it is made spreads the writes over the whole
 * turn, so the peer falls asleep between them and each write pays for a wakeup. Holding them to the
 * end of the turn (setImmediate runs right after the poll phase's callbacks) sends them back to back.
 * Nothing waits for a later turn: with one request per turn, the write happens at once.
 */
const held: Writable[] = [];
let flushScheduled = false;

function flush(): void {
  flushScheduled = false;
  // A socket held twice in one turn is uncorked twice: cork() nests.
  const sockets = held.splice(0);
  for (const s of sockets) s.uncork();
}

/** Cork `stream` until the current event-loop turn ends; writes made meanwhile go out together. */
export function holdWritesUntilTurnEnds(stream: Writable | null | undefined): void {
  if (stream === null || stream === undefined || stream.destroyed) return;
  stream.cork();
  held.push(stream);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}
