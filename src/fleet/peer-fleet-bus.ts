// The fleet without Redis: the admin addresses of the peers, declared in the central repository
// (Module `portico_fleet_peers`). Each event is POSTed to every peer's /hooks/fleet, signed with the
// webhook secret (HMAC-SHA256 over "<timestamp>.<body>"); a peer checks the signature, the time and
// the event id before it acts. Heartbeats go the same way, so each replica keeps the others' last.

import { createHmac, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { readBoundedBody } from '../controller/webhooks.js';
import type { BusState, FleetBus } from './fleet-bus.js';
import { MAX_EVENT_BYTES, parseFleetEvent, type FleetEvent, type ReplicaReport } from './fleet-messages.js';

export const FLEET_SIGNATURE_HEADER = 'x-portico-fleet-signature';
export const FLEET_TIMESTAMP_HEADER = 'x-portico-timestamp';
/** The path every replica receives fleet events on (under /hooks/, the admin address's only POSTs). */
export const FLEET_HOOK_PATH = '/hooks/fleet';

const MAX_SKEW_MS = 300_000;
const MAX_REMEMBERED = 10_000;

export function fleetSignature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

export interface PeerFleetOptions {
  /** The webhook secrets (one, or two while rotating): events are signed with the first. */
  readonly secrets: readonly string[];
  /** This replica's own admin URLs: left out of the peer list. */
  readonly self: () => readonly string[];
  /** How long a POST to a peer may take. */
  readonly timeoutMs?: number;
  /** A peer that answered within this is counted as reachable. */
  readonly reachableWithinMs: number;
}

interface PeerState {
  lastOk?: number;
  lastError?: string;
}

/** Normalises an admin URL for comparison: scheme, lower-case host, port, no trailing slash. */
function normalise(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    return `${u.protocol}//${u.host.toLowerCase()}`;
  } catch {
    return undefined;
  }
}

export class PeerFleetBus implements FleetBus {
  private peers: string[] = [];
  private readonly peerStates = new Map<string, PeerState>();
  private readonly reports = new Map<string, ReplicaReport>();
  private readonly seen = new Map<string, number>();
  private onEvent: (e: FleetEvent) => void = () => {};
  private onState: (s: BusState) => void = () => {};
  private current: BusState = { connected: false, since: Date.now(), detail: 'no peers declared' };
  private readonly agents = { http: new http.Agent({ keepAlive: true, maxSockets: 4 }), https: new https.Agent({ keepAlive: true, maxSockets: 4 }) };

  constructor(private readonly opts: PeerFleetOptions) {}

  get transport(): 'peers' | 'none' {
    return this.peers.length > 0 ? 'peers' : 'none';
  }

  describe(): string {
    return this.peers.length > 0 ? `peers ${this.peers.join(', ')}` : 'no peers (Module portico_fleet_peers)';
  }

  /** The peers the served configuration declares (this replica's own address is left out). */
  setPeers(urls: readonly string[]): void {
    const self = new Set(this.opts.self().map(normalise));
    const next = [...new Set(urls.map((u) => normalise(u)).filter((u): u is string => u !== undefined && !self.has(u)))].sort();
    if (next.join(' ') === this.peers.join(' ')) return;
    this.peers = next;
    for (const p of [...this.peerStates.keys()]) if (!next.includes(p)) this.peerStates.delete(p);
    this.refresh();
  }

  start(onEvent: (e: FleetEvent) => void, onState: (s: BusState) => void): void {
    this.onEvent = onEvent;
    this.onState = onState;
    this.refresh();
  }

  state(): BusState {
    return this.current;
  }

  /** Connected while at least one peer answered lately; with no peers there is no fleet to reach. */
  private refresh(): void {
    const now = Date.now();
    let next: Omit<BusState, 'since'>;
    if (this.peers.length === 0) next = { connected: false, detail: 'no peers declared' };
    else if (this.opts.secrets.length === 0) next = { connected: false, detail: 'peers are declared but this replica has no webhook secret to sign events with (--webhook-secret)' };
    else {
      const failing = this.peers.filter((p) => !(this.peerStates.get(p)?.lastOk !== undefined && now - this.peerStates.get(p)!.lastOk! <= this.opts.reachableWithinMs));
      const first = failing[0];
      next = failing.length < this.peers.length ? { connected: true } : { connected: false, detail: `no peer answers (${first}: ${this.peerStates.get(first!)?.lastError ?? 'not reached yet'})` };
    }
    if (next.connected !== this.current.connected) {
      this.current = { ...next, since: now };
      this.onState(this.current);
    } else this.current = { ...next, since: this.current.since };
  }

  /** Per-peer reachability, for the fleet view. */
  peerStatus(): { url: string; lastOk?: string; lastError?: string }[] {
    return this.peers.map((url) => {
      const s = this.peerStates.get(url);
      return { url, ...(s?.lastOk !== undefined ? { lastOk: new Date(s.lastOk).toISOString() } : {}), ...(s?.lastError !== undefined ? { lastError: s.lastError } : {}) };
    });
  }

  publish(e: FleetEvent): void {
    const secret = this.opts.secrets[0];
    if (secret === undefined) return;
    const body = JSON.stringify(e);
    for (const peer of this.peers) this.post(peer, secret, body);
  }

  heartbeat(e: Extract<FleetEvent, { kind: 'heartbeat' }>): void {
    this.reports.set(e.from, e.report);
    this.publish(e);
    this.refresh();
  }

  private post(peer: string, secret: string, body: string): void {
    const ts = Math.floor(Date.now() / 1000);
    const url = new URL(FLEET_HOOK_PATH, peer);
    const lib = url.protocol === 'https:' ? https : http;
    const state = this.peerStates.get(peer) ?? {};
    this.peerStates.set(peer, state);
    const req = lib.request(
      url,
      {
        method: 'POST',
        agent: url.protocol === 'https:' ? this.agents.https : this.agents.http,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [FLEET_SIGNATURE_HEADER]: fleetSignature(secret, ts, body), [FLEET_TIMESTAMP_HEADER]: String(ts) },
        timeout: this.opts.timeoutMs ?? 2000,
      },
      (res) => {
        res.resume();
        if (res.statusCode === 202) {
          state.lastOk = Date.now();
          delete state.lastError;
        } else state.lastError = `HTTP ${res.statusCode}`;
        this.refresh();
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      state.lastError = err.code ?? err.message;
      this.refresh();
    });
    req.end(body);
  }

  async members(): Promise<ReplicaReport[]> {
    return [...this.reports.values()];
  }

  /** The admin handler for /hooks/fleet: a signed event from a peer. */
  handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const answer = (status: number, message: string): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status, message }) + '\n');
    };
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return answer(405, 'POST only');
    }
    if (Number(req.headers['content-length'] ?? '0') > MAX_EVENT_BYTES) {
      req.resume();
      res.setHeader('connection', 'close');
      return answer(413, 'payload too large');
    }
    const body = (await readBoundedBody(req, MAX_EVENT_BYTES))?.toString('utf8');
    if (body === undefined) {
      res.setHeader('connection', 'close');
      return answer(413, 'payload too large');
    }
    const sig = header(req, FLEET_SIGNATURE_HEADER);
    const ts = header(req, FLEET_TIMESTAMP_HEADER);
    if (!sig || !ts || !/^[0-9]{1,12}$/.test(ts) || !sig.startsWith('sha256=')) return answer(401, 'signature check failed');
    if (Math.abs(Date.now() - Number(ts) * 1000) > MAX_SKEW_MS) return answer(401, 'signature check failed');
    const given = sig.slice(7);
    if (!this.opts.secrets.some((s) => hexEqual(given, fleetSignature(s, Number(ts), body).slice(7)))) return answer(401, 'signature check failed');
    const e = parseFleetEvent(body);
    if (!e) return answer(400, 'not a fleet event');
    if (this.remember(`${e.from}:${e.id}`)) return answer(202, 'duplicate event ignored');
    if (e.kind === 'heartbeat') this.reports.set(e.from, e.report);
    this.onEvent(e);
    return answer(202, 'accepted');
  };

  /** True if the key was seen within the skew window (a replayed event). */
  private remember(key: string): boolean {
    const now = Date.now();
    const until = this.seen.get(key);
    if (until !== undefined && now < until) return true;
    this.seen.set(key, now + MAX_SKEW_MS);
    for (const [k, u] of this.seen) {
      if (now < u && this.seen.size <= MAX_REMEMBERED) break;
      this.seen.delete(k);
    }
    return false;
  }

  async close(): Promise<void> {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function hexEqual(given: string, expected: string): boolean {
  if (!/^[0-9a-f]+$/i.test(given) || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(given.toLowerCase(), 'hex'), Buffer.from(expected, 'hex'));
}
