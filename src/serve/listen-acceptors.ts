// More accepts per event-loop turn on a cluster worker's shared listening socket: the primary hands
// the worker duplicates of the socket's descriptor, and each duplicate is polled on its own.

import cluster, { type Worker } from 'node:cluster';
import net from 'node:net';

/**
 * Why: libuv accepts one connection each time the listening descriptor is reported readable, so a
 * worker that is busy serving takes one new connection per turn of its event loop. 200 clients
 * connecting at once to a saturated worker waited up to a second to be accepted (the kernel had
 * already completed their handshakes and they had sent their requests). Each duplicate descriptor
 * of the same socket is a separate entry in the worker's epoll set, so a turn accepts up to this
 * many. An idle arrival wakes every duplicate; those that find the queue empty return at once.
 */
export const ACCEPTORS_PER_LISTENER = 32;

/** The native handle of a listening TCP server, as far as this module needs it. */
interface ListenHandle {
  readonly fd?: number;
  close(cb?: () => void): void;
}

/** net.Server's private setup of an existing handle (what it does with a server received over IPC). */
interface ServerInternals {
  _handle: ListenHandle | null;
  _listen2?: (address: string | null, port: number, addressType: number, backlog: number) => void;
}

const REQUEST = 'portico:acceptors';
const GRANT = 'portico:acceptor';

/** Whether this Node.js has what duplicating acceptors needs; otherwise the worker keeps one. */
function acceptorsSupported(): boolean {
  return cluster.isWorker && typeof process.send === 'function' && typeof (net.Server.prototype as unknown as ServerInternals)._listen2 === 'function';
}

let nextRequest = 1;
const waiting = new Map<number, { want: number; got: ListenHandle[]; done: (handles: ListenHandle[]) => void }>();
let listening = false;

function onGrant(m: unknown, handle: unknown): void {
  if (typeof m !== 'object' || m === null || (m as { t?: unknown }).t !== GRANT) return;
  const id = (m as { id?: unknown }).id;
  const w = typeof id === 'number' ? waiting.get(id) : undefined;
  const h = handle as ListenHandle | undefined;
  if (w === undefined) {
    h?.close();
    return;
  }
  if (h !== undefined) w.got.push(h);
  // The primary sends `want` grants, the last one possibly without a handle (it could not send one).
  if (w.got.length >= w.want || (m as { last?: unknown }).last === true) {
    waiting.delete(id as number);
    w.done(w.got);
  }
}

/**
 * Ask the primary for `count` duplicates of `server`'s listening descriptor (a worker of `serve
 * --workers N` only). Resolves with the handles received, none when unsupported or refused.
 */
export function requestDuplicateHandles(server: net.Server, count: number): Promise<ListenHandle[]> {
  const handle = (server as unknown as ServerInternals)._handle;
  // Under NODE_CLUSTER_SCHED_POLICY=rr the worker's handle is a stand-in with no descriptor.
  if (count <= 0 || !acceptorsSupported() || handle === null || typeof handle.fd !== 'number' || handle.fd < 0) return Promise.resolve([]);
  if (!listening) {
    listening = true;
    process.on('message', onGrant);
  }
  const id = nextRequest++;
  return new Promise((resolve) => {
    waiting.set(id, { want: count, got: [], done: resolve });
    try {
      process.send!({ t: REQUEST, id, count }, handle as unknown as net.Socket, (err: Error | null) => {
        if (err) {
          waiting.delete(id);
          resolve([]);
        }
      });
    } catch {
      waiting.delete(id);
      resolve([]);
    }
  });
}

/** Poll a received duplicate with `server` (a fresh net.Server made with the listener's options). */
export function listenOnDuplicate(server: net.Server, handle: ListenHandle): boolean {
  const s = server as unknown as ServerInternals;
  try {
    s._handle = handle;
    s._listen2!(null, -1, -1, 511);
    return true;
  } catch {
    s._handle = null;
    handle.close();
    return false;
  }
}

/**
 * The primary's side: answer a worker's request with `count` sends of the handle it came with
 * (each send gives the worker a new descriptor), then close the primary's own copy.
 */
export function grantDuplicateHandles(worker: Worker, m: unknown, handle: unknown): boolean {
  if (typeof m !== 'object' || m === null || (m as { t?: unknown }).t !== REQUEST) return false;
  const id = (m as { id?: unknown }).id;
  const count = Math.min(Number((m as { count?: unknown }).count) || 0, 64);
  const h = handle as ListenHandle | undefined;
  if (typeof id !== 'number' || h === undefined) {
    h?.close();
    return true;
  }
  // Node.js sends one handle at a time (each waits for the worker's acknowledgement): chain them.
  const sendNext = (i: number): void => {
    if (i >= count || !worker.isConnected()) {
      h.close();
      if (i < count && worker.isConnected()) worker.send({ t: GRANT, id, last: true });
      return;
    }
    try {
      worker.send({ t: GRANT, id, last: i === count - 1 }, h as unknown as net.Socket, (err: Error | null) => {
        if (err) {
          h.close();
          if (worker.isConnected()) worker.send({ t: GRANT, id, last: true });
          return;
        }
        sendNext(i + 1);
      });
    } catch {
      h.close();
    }
  };
  sendNext(0);
  return true;
}
