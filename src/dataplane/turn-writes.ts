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
/** Responses whose end() waits for the turn's end: ServerResponse.end() uncorks its socket fully. */
const ending: { end(): void }[] = [];
let flushScheduled = false;

function flush(): void {
  flushScheduled = false;
  const ends = ending.splice(0);
  for (const r of ends) r.end();
  // A socket held twice in one turn is uncorked twice: cork() nests.
  const sockets = held.splice(0);
  for (const s of sockets) s.uncork();
}

function schedule(): void {
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

/** Cork `stream` until the current event-loop turn ends; writes made meanwhile go out together. */
export function holdWritesUntilTurnEnds(stream: Writable | null | undefined): void {
  if (stream === null || stream === undefined || stream.destroyed) return;
  stream.cork();
  held.push(stream);
  schedule();
}

/**
 * End `response` when the current turn ends. For an HTTP/1 response whose socket is held: Node's
 * end() flushes the socket at once whatever its cork count, which would undo the hold.
 */
export function endAtTurnEnd(response: { end(): void }): void {
  ending.push(response);
  schedule();
}
