// Bounded waits for tests: the next event of an emitter, a condition re-checked each time an event
// that can change it fires, and a poll of state held elsewhere (another process's admin API).

import type { EventEmitter } from 'node:events';

// Captured when this module loads, before any test enables node:test mock timers: a bound must keep
// running on the real clock while the product's clock is the test's to move.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realSetImmediate = globalThis.setImmediate;

/** How long a wait lasts before it fails, unless the caller says otherwise: generous for a busy machine. */
export const WAIT_BOUND_MS = 20_000;

/** A wait passed its bound; the message says what never happened. */
export class WaitTimeout extends Error {
  readonly code = 'PORTICO_ERR_TEST_WAIT_TIMEOUT';
}

/**
 * One turn of the event loop (to the next check phase): I/O that was ready, in the test or in a
 * gateway sharing its loop, has been read by then. A count of turns, never a time.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve));
}

/** One source of wake-ups: an emitter and the events after which the condition may have changed. */
export type Trigger = readonly [EventEmitter, ...string[]];

/**
 * Resolves with the first truthy value of `check`, tried at once and again after every event the
 * triggers name; fails after `timeoutMs` with `what` (and `describe()`, the state it last saw).
 */
export function whenTrue<T>(
  what: string,
  check: () => T | false | undefined | null,
  triggers: readonly Trigger[],
  opts: { timeoutMs?: number; describe?: () => string } = {},
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const first = check();
    if (first) {
      resolve(first);
      return;
    }
    const detach = (): void => {
      realClearTimeout(timer);
      for (const [emitter, ...events] of triggers) for (const e of events) emitter.off(e, recheck);
    };
    const recheck = (): void => {
      let v: T | false | undefined | null;
      try {
        v = check();
      } catch (err) {
        detach();
        reject(err as Error);
        return;
      }
      if (v) {
        detach();
        resolve(v);
      }
    };
    const bound = opts.timeoutMs ?? WAIT_BOUND_MS;
    const timer = realSetTimeout(() => {
      detach();
      reject(new WaitTimeout(`gave up after ${bound} ms waiting for ${what}${opts.describe ? ` (${opts.describe()})` : ''}`));
    }, bound);
    for (const [emitter, ...events] of triggers) for (const e of events) emitter.on(e, recheck);
  });
}

/** The arguments of `emitter`'s next `event` that `accept` takes (any, by default); fails after `timeoutMs`. */
export function nextEvent<A extends unknown[] = unknown[]>(
  emitter: EventEmitter,
  event: string,
  what: string,
  opts: { accept?: (...args: A) => boolean; timeoutMs?: number } = {},
): Promise<A> {
  return new Promise<A>((resolve, reject) => {
    const bound = opts.timeoutMs ?? WAIT_BOUND_MS;
    const on = (...args: unknown[]): void => {
      if (opts.accept !== undefined && !opts.accept(...(args as A))) return;
      realClearTimeout(timer);
      emitter.off(event, on);
      resolve(args as A);
    };
    const timer = realSetTimeout(() => {
      emitter.off(event, on);
      reject(new WaitTimeout(`gave up after ${bound} ms waiting for ${what}`));
    }, bound);
    emitter.on(event, on);
  });
}

/** Whether `p` settles within `ms` of real time (true) or not (false); for racing an event against a bound. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<false>((resolve) => {
    timer = realSetTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true, () => true), bound]);
  } finally {
    realClearTimeout(timer);
  }
}

/**
 * For state only another process knows (an admin API, a port): resolves with the first truthy value
 * of `check`, tried at once, again at once after any event of `wake` (e.g. the process logged a
 * line), and otherwise every `everyMs`; fails after `timeoutMs` naming `what` and the last error.
 */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | false | undefined | null>,
  opts: { timeoutMs?: number; everyMs?: number; wake?: Trigger } = {},
): Promise<T> {
  const bound = opts.timeoutMs ?? WAIT_BOUND_MS;
  const everyMs = opts.everyMs ?? 100;
  const deadline = performance.now() + bound;
  let last: unknown;
  let woken = false;
  let wakeUp: (() => void) | undefined;
  const onWake = (): void => {
    woken = true;
    wakeUp?.();
  };
  const [emitter, ...events] = opts.wake ?? [undefined];
  for (const e of events) emitter?.on(e, onWake);
  try {
    for (;;) {
      woken = false;
      try {
        const v = await check();
        if (v) return v;
        last = undefined;
      } catch (err) {
        last = err;
      }
      const left = deadline - performance.now();
      if (left <= 0) break;
      if (!woken) {
        await new Promise<void>((resolve) => {
          const t = realSetTimeout(resolve, Math.min(everyMs, left));
          wakeUp = () => {
            realClearTimeout(t);
            resolve();
          };
        });
        wakeUp = undefined;
      }
    }
  } finally {
    for (const e of events) emitter?.off(e, onWake);
  }
  throw new WaitTimeout(`gave up after ${bound} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
