// HTTP/2 session protections Node does not give by itself (HARDENING §2.4, §2.5, §2.11): edge
// settings, idle and header-phase timers, per-stream timers, and reset-rate accounting (rapid reset).

import http2, { type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { IRGlobal } from '../ir/types.js';
import { responseStreamClosed } from './h2-front.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_CANCEL } = http2.constants;

/** Client resets tolerated per session before the ratio test applies (Envoy-style premature-reset accounting). */
export const RESET_FLOOR = 100;
/** Time a closing session gets to flush its GOAWAY before it is destroyed. */
const GOAWAY_GRACE_MS = 1000;

export function h2ServerOptions(g: IRGlobal): http2.ServerOptions {
  return {
    settings: {
      // Node advertises 2^32-1 by default.
      maxConcurrentStreams: g.limits.http2MaxConcurrentStreams > 0 ? g.limits.http2MaxConcurrentStreams : 100,
      maxHeaderListSize: g.maxRequestHeadersBytes,
      initialWindowSize: 65535,
      enablePush: false,
    },
    maxSessionInvalidFrames: 100,
    maxSessionRejectedStreams: 100,
    // pseudo-headers count as pairs too
    maxHeaderListPairs: Math.max(8, g.maxRequestHeadersCount + 4),
    maxSessionMemory: 10,
    maxOutstandingPings: 10,
    maxSettings: 32,
    unknownProtocolTimeout: 10_000,
  };
}

export interface SessionGuard {
  /** Graceful: GOAWAY(NO_ERROR), streams in flight finish, then the session closes. */
  goAway(): void;
  destroy(): void;
}

/**
 * A stream's idle timer starts when the stream has been open across a whole sweep interval, so
 * between one and two intervals after it opened: streams that end sooner (nearly all) never get one.
 */
const STREAM_TIMER_SWEEP_MS = 1000;

function ignoreError(): void {}

export function guardSession(session: ServerHttp2Session, global: () => IRGlobal): SessionGuard {
  let open = 0;
  let seen = 0;
  let aborted = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  let ending = false;
  /** Streams opened since the last sweep, and those opened in the interval before it (still open at the next sweep: timer). */
  let young = new Set<ServerHttp2Stream>();
  let older = new Set<ServerHttp2Stream>();
  let sweepTimer: NodeJS.Timeout | undefined;
  session.on('error', ignoreError);

  const end = (code: number, graceMs = GOAWAY_GRACE_MS): void => {
    if (ending || session.destroyed) return;
    ending = true;
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    try {
      session.goaway(code);
    } catch {
      // already closing
    }
    if (code === NGHTTP2_NO_ERROR) session.close();
    const t = setTimeout(() => session.destroy(), graceMs);
    t.unref();
    if (code !== NGHTTP2_NO_ERROR) setImmediate(() => session.destroy());
  };

  // With no stream open, a session may wait only so long: the first request within the header
  // deadline (preface-only and HEADERS without END_HEADERS end here), later ones within keep-alive.
  const armIdle = (): void => {
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    const g = global();
    const ms = seen === 0 ? (g.requestHeadersTimeoutMs > 0 ? g.requestHeadersTimeoutMs : 10_000) : (g.limits.keepAliveTimeoutMs > 0 ? g.limits.keepAliveTimeoutMs : 60_000);
    idleTimer = setTimeout(() => {
      if (open === 0) end(NGHTTP2_NO_ERROR);
    }, ms);
    idleTimer.unref();
  };
  armIdle();

  const g0 = global();
  if (g0.listenerIdleTimeoutMs > 0) session.setTimeout(g0.listenerIdleTimeoutMs, () => end(NGHTTP2_NO_ERROR));

  // Every stream has an idle timer (listener_idle_timeout_ms), started one to two sweeps after the
  // stream opened: a timer armed, refreshed on every frame and cleared for each of the many short
  // streams took about 2% of a worker's time under h2load, as much as route matching.
  const sweep = (): void => {
    sweepTimer = undefined;
    const ms = global().listenerIdleTimeoutMs;
    if (ms > 0) {
      for (const stream of older) {
        if (!stream.closed && !stream.destroyed) stream.setTimeout(ms, closeIdleStream);
      }
    }
    older.clear();
    const next = older;
    older = young;
    young = next;
    if (older.size > 0) armSweep();
  };
  const armSweep = (): void => {
    if (sweepTimer !== undefined) return;
    sweepTimer = setTimeout(sweep, STREAM_TIMER_SWEEP_MS);
    sweepTimer.unref();
  };

  // Shared by all streams of the session (`this` is the stream): no closure per stream.
  function onStreamClose(this: ServerHttp2Stream): void {
    open--;
    if (!young.delete(this)) older.delete(this);
    // Rapid reset (CVE-2023-44487): streams the client cancelled before any answer. nghttp2's own
    // defence sends a GOAWAY but keeps the connection open, so the session is ended here.
    if (!this.headersSent && this.rstCode !== undefined && this.rstCode !== NGHTTP2_NO_ERROR) {
      aborted++;
      if (aborted >= RESET_FLOOR && aborted * 2 >= seen) end(NGHTTP2_ENHANCE_YOUR_CALM);
    }
    if (open === 0 && !ending) armIdle();
    responseStreamClosed(this);
  }

  session.on('stream', (stream: ServerHttp2Stream) => {
    seen++;
    open++;
    if (idleTimer !== undefined) {
      clearTimeout(idleTimer);
      idleTimer = undefined;
    }
    young.add(stream);
    armSweep();
    stream.on('error', ignoreError);
    stream.on('close', onStreamClose);
  });
  session.once('close', () => {
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    if (sweepTimer !== undefined) clearTimeout(sweepTimer);
    young.clear();
    older.clear();
  });

  return {
    goAway: () => end(NGHTTP2_NO_ERROR, global().limits.drainTimeoutMs),
    destroy: () => session.destroy(),
  };
}

function closeIdleStream(this: ServerHttp2Stream): void {
  this.close(NGHTTP2_CANCEL);
}
