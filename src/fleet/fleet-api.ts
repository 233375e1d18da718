// /api/v1/fleet on the admin address: every replica this one hears of, what each serves, whether it
// agrees with the others, its last heartbeat, and how this replica reaches the fleet. Read-only.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FleetMember, FleetStatus } from './fleet-member.js';
import type { FleetView } from './fleet-view.js';

/** The JSON of /api/v1/fleet (and of `portico status --fleet --format json`). */
export interface FleetDocument extends FleetView {
  /** The replica that answered. */
  readonly self?: string;
  readonly bus?: FleetStatus;
  readonly peers?: readonly { url: string; lastOk?: string; lastError?: string }[];
}

export async function fleetDocument(member: FleetMember, identity: string, peers?: () => { url: string; lastOk?: string; lastError?: string }[]): Promise<FleetDocument> {
  const view = await member.view();
  const list = peers?.();
  return { self: identity, bus: member.status(), ...(list && list.length > 0 ? { peers: list } : {}), ...view };
}

export function fleetHandler(member: FleetMember, identity: string, peers?: () => { url: string; lastOk?: string; lastError?: string }[]): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (_req, res) => {
    const body = await fleetDocument(member, identity, peers);
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body, null, 2) + '\n');
  };
}
