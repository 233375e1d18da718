// Being told when a response is over, at the cost of a function call: HTTP/1 responses take the
// callback directly, other responses (HTTP/2 compat) through their 'close' event.

import type { ServerResponse } from 'node:http';

/** A response that runs close callbacks itself implements this method (the HTTP/1.1 front's responses do). */
export const ON_RESPONSE_CLOSE = Symbol('portico.onResponseClose');

interface DirectClose {
  [ON_RESPONSE_CLOSE]?: (fn: () => void) => void;
}

/**
 * `fn` runs once when `res` is over (finished or cut short), in the order callbacks were added.
 * Every request registers two (the listener's in-flight count, the runtime's access log and
 * metrics); an EventEmitter `once` pair cost more than the rest of the response's bookkeeping.
 */
export function whenResponseCloses(res: ServerResponse, fn: () => void): void {
  const direct = (res as unknown as DirectClose)[ON_RESPONSE_CLOSE];
  if (direct !== undefined) direct.call(res, fn);
  else res.once('close', fn);
}
