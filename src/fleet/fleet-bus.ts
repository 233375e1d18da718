// How a replica reaches the rest of its fleet: a Redis channel (--redis URL) or the peers the central
// repository declares. Either carries events both ways and keeps every replica's last heartbeat.

import type { FleetEvent, FleetTransport, ReplicaReport } from './fleet-messages.js';

export interface BusState {
  /** The bus carries events now. */
  readonly connected: boolean;
  /** When it last changed (ms since the epoch). */
  readonly since: number;
  /** Why it does not work, when it does not. */
  readonly detail?: string;
}

export interface FleetBus {
  readonly transport: FleetTransport;
  /** Where the bus is, for people and logs (a Redis URL without its credentials, the peer list). */
  describe(): string;
  /** Starts listening: every event of another replica goes to onEvent; state changes to onState. */
  start(onEvent: (e: FleetEvent) => void, onState: (s: BusState) => void): void;
  /** Sends an event to every other replica, at most once; lost while the bus is down. */
  publish(e: FleetEvent): void;
  /** Makes this replica's report readable by others (and by `portico status --fleet`). */
  heartbeat(e: Extract<FleetEvent, { kind: 'heartbeat' }>): void;
  /** Every replica's last report the bus knows of. */
  members(): Promise<ReplicaReport[]>;
  state(): BusState;
  close(): Promise<void>;
}

let counter = 0;

/** An event id unique to this process (replicas dedupe by replica and id). */
export function eventId(): string {
  counter = (counter + 1) % 1e9;
  return `${process.pid.toString(36)}-${Date.now().toString(36)}-${counter.toString(36)}`;
}
