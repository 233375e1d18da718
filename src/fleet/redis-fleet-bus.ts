// The fleet over Redis (--redis URL or REDIS_URL): events on one pub/sub channel, each replica's last
// heartbeat in a key that expires, listed in a sorted set by time. Nothing waits for Redis: while it
// is down, events are dropped (the controller polls instead) and the state says since when.

import type { Redis, RedisOptions } from 'ioredis';
import { onDemand } from '../dataplane/on-demand-module.js';
import type { BusState, FleetBus } from './fleet-bus.js';
import { parseFleetEvent, parseReport, type FleetEvent, type ReplicaReport } from './fleet-messages.js';

/** ioredis, loaded with the first Redis client: a replica without --redis never loads it. */
const ioredis = onDemand<typeof import('ioredis')>(import.meta.url, 'ioredis');

/** Every key and channel name starts with this, so a shared Redis shows whose they are. */
export const FLEET_KEY_PREFIX = 'portico:fleet:';

export interface RedisFleetOptions {
  /** The fleet's name: replicas with the same name on the same Redis are one fleet. */
  readonly fleet: string;
  /** How long a stored heartbeat lives (a replica that stopped disappears after it). */
  readonly reportTtlMs: number;
  /** How long a Redis call may take. */
  readonly timeoutMs?: number;
}

/** The URL without credentials, for logs and status. */
export function redactedRedisUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/)[^@/]*@/, '$1[redacted]@');
}

export function fleetKeys(fleet: string): { channel: string; members: string; report: (replica: string) => string } {
  const base = `${FLEET_KEY_PREFIX}${fleet}:`;
  return { channel: `${base}events`, members: `${base}replicas`, report: (replica) => `${base}replica:${replica}` };
}

function clientOptions(timeoutMs: number): RedisOptions {
  return {
    // A command is sent now or fails now: an event queued through an outage would arrive late and stale.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // Subscriptions are renewed on every 'ready' below, whatever state the connection came back in.
    autoResubscribe: false,
    connectTimeout: Math.max(1000, timeoutMs),
    commandTimeout: timeoutMs,
    // Quickly at first, then every two seconds at most: a restarted Redis is found soon.
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
    lazyConnect: false,
  };
}

/** Reads every replica's stored report (for `portico status --fleet --redis URL`). */
export async function readFleetReports(url: string, fleet: string, retainMs: number, timeoutMs = 3000): Promise<ReplicaReport[]> {
  const client = new (ioredis().Redis)(url, { ...clientOptions(timeoutMs), enableOfflineQueue: true, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    return await membersOf(client, fleetKeys(fleet), retainMs);
  } finally {
    client.disconnect();
  }
}

async function membersOf(client: Redis, keys: ReturnType<typeof fleetKeys>, retainMs: number): Promise<ReplicaReport[]> {
  const ids = await client.zrangebyscore(keys.members, Date.now() - retainMs, '+inf');
  if (ids.length === 0) return [];
  const texts = await client.mget(...ids.map((id) => keys.report(id)));
  return texts.flatMap((t) => (t === null ? [] : (parseReport(t) ?? [])));
}

export class RedisFleetBus implements FleetBus {
  readonly transport = 'redis';
  private readonly keys: ReturnType<typeof fleetKeys>;
  private readonly pub: Redis;
  private readonly sub: Redis;
  private current: BusState = { connected: false, since: Date.now(), detail: 'connecting' };
  private onEvent: (e: FleetEvent) => void = () => {};
  private onState: (s: BusState) => void = () => {};
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly opts: RedisFleetOptions,
  ) {
    this.keys = fleetKeys(opts.fleet);
    const options = clientOptions(opts.timeoutMs ?? 2000);
    this.pub = new (ioredis().Redis)(url, { ...options, lazyConnect: true });
    this.sub = new (ioredis().Redis)(url, { ...options, lazyConnect: true });
  }

  describe(): string {
    return `Redis at ${redactedRedisUrl(this.url)} (fleet '${this.opts.fleet}')`;
  }

  start(onEvent: (e: FleetEvent) => void, onState: (s: BusState) => void): void {
    this.onEvent = onEvent;
    this.onState = onState;
    for (const c of [this.pub, this.sub]) {
      // ioredis reports every failed reconnect; the state keeps the last reason.
      c.on('error', (err: Error) => this.update(err.message));
      c.on('close', () => this.update('connection closed'));
      c.on('end', () => this.update('connection ended'));
      c.on('ready', () => {
        if (c === this.sub) void this.sub.subscribe(this.keys.channel).then(() => this.update(), (err: Error) => this.update(err.message));
        else this.update();
      });
    }
    this.sub.on('message', (channel: string, text: string) => {
      if (channel !== this.keys.channel) return;
      const e = parseFleetEvent(text);
      if (e) this.onEvent(e);
    });
    this.pub.connect().catch(() => {});
    this.sub.connect().catch(() => {});
  }

  /** Connected when both connections are ready and the channel is subscribed. */
  private update(detail?: string): void {
    if (this.closed) return;
    const connected = this.pub.status === 'ready' && this.sub.status === 'ready';
    if (connected === this.current.connected) {
      if (!connected && detail !== undefined) this.current = { ...this.current, detail };
      return;
    }
    this.current = { connected, since: Date.now(), ...(connected ? {} : { detail: detail ?? 'connection lost' }) };
    this.onState(this.current);
  }

  state(): BusState {
    return this.current;
  }

  publish(e: FleetEvent): void {
    if (this.pub.status !== 'ready') return;
    this.pub.publish(this.keys.channel, JSON.stringify(e)).catch(() => {});
  }

  heartbeat(e: Extract<FleetEvent, { kind: 'heartbeat' }>): void {
    if (this.pub.status !== 'ready') return;
    const now = Date.now();
    this.pub
      .multi()
      .set(this.keys.report(e.from), JSON.stringify(e.report), 'PX', this.opts.reportTtlMs)
      .zadd(this.keys.members, now, e.from)
      .zremrangebyscore(this.keys.members, '-inf', now - this.opts.reportTtlMs)
      .exec()
      .catch(() => {});
  }

  async members(): Promise<ReplicaReport[]> {
    if (this.pub.status !== 'ready') return [];
    try {
      return await membersOf(this.pub, this.keys, this.opts.reportTtlMs);
    } catch {
      return [];
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pub.disconnect();
    this.sub.disconnect();
  }
}
