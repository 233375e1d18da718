// What replicas of one fleet tell each other: "fetch now" after a verified webhook, a heartbeat with
// what each serves, and a canary rolled back. Anything read from the bus is checked before use.

/** A source's state as a replica reports it (the state /api/v1/status gives, and its refusal). */
export interface SourceVerdict {
  readonly state: string;
  readonly desired?: string;
  readonly reason?: string;
}

/** A canary in progress on a replica: which revisions it tries, at what share of requests. */
export interface CanaryReport {
  /** Source → the revision in the canary. */
  readonly revisions: Readonly<Record<string, string>>;
  /** Percent of requests the canary serves now. */
  readonly share: number;
  /** 1-based step, of `steps`. */
  readonly step: number;
  readonly steps: number;
}

/** What one replica serves, sent with every heartbeat. */
export interface ReplicaReport {
  readonly replica: string;
  /** Its admin address (for people; peers are declared in the central repository). */
  readonly admin?: string;
  readonly version: string;
  readonly startedAt: string;
  /** When this report was made. */
  readonly at: string;
  /** How often it reports: three missed heartbeats make it stale. */
  readonly heartbeatMs?: number;
  readonly ready: boolean;
  readonly generation: number;
  readonly irHash: string | null;
  /** Source → the revision it serves. */
  readonly revisions: Readonly<Record<string, string>>;
  readonly verdicts: Readonly<Record<string, SourceVerdict>>;
  /** Since when `revisions` and `canary` are what they are here. */
  readonly servingSince: string;
  readonly canary?: CanaryReport;
  /** How the replica hears the fleet: redis, peers, or none; and whether that works now. */
  readonly bus: { readonly transport: FleetTransport; readonly connected: boolean };
}

export type FleetTransport = 'redis' | 'peers' | 'none';

export type FleetEvent =
  | { readonly kind: 'fetch'; readonly id: string; readonly from: string; readonly at: number; readonly source?: string }
  | { readonly kind: 'heartbeat'; readonly id: string; readonly from: string; readonly at: number; readonly report: ReplicaReport }
  | { readonly kind: 'rollback'; readonly id: string; readonly from: string; readonly at: number; readonly source: string; readonly revision: string; readonly detail: string };

/** The largest event accepted from the bus or a peer. */
export const MAX_EVENT_BYTES = 256 * 1024;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,252}$/;
const SOURCE = /^[a-z0-9@]([a-z0-9-]{0,62})$/;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown, max = 1000): v is Record<string, string> {
  return isObj(v) && Object.keys(v).length <= max && Object.values(v).every((x) => typeof x === 'string' && x.length <= 200);
}

function isReport(v: unknown): v is ReplicaReport {
  if (!isObj(v)) return false;
  const bus = v['bus'];
  const canary = v['canary'];
  return (
    typeof v['replica'] === 'string' &&
    NAME.test(v['replica']) &&
    typeof v['version'] === 'string' &&
    typeof v['startedAt'] === 'string' &&
    typeof v['at'] === 'string' &&
    !Number.isNaN(Date.parse(v['at'])) &&
    (v['heartbeatMs'] === undefined || (typeof v['heartbeatMs'] === 'number' && v['heartbeatMs'] > 0)) &&
    typeof v['ready'] === 'boolean' &&
    typeof v['generation'] === 'number' &&
    (v['irHash'] === null || typeof v['irHash'] === 'string') &&
    stringMap(v['revisions']) &&
    isObj(v['verdicts']) &&
    Object.values(v['verdicts']).every((x) => isObj(x) && typeof x['state'] === 'string') &&
    typeof v['servingSince'] === 'string' &&
    !Number.isNaN(Date.parse(v['servingSince'])) &&
    (canary === undefined || (isObj(canary) && stringMap(canary['revisions']) && typeof canary['share'] === 'number' && typeof canary['step'] === 'number' && typeof canary['steps'] === 'number')) &&
    isObj(bus) &&
    (bus['transport'] === 'redis' || bus['transport'] === 'peers' || bus['transport'] === 'none') &&
    typeof bus['connected'] === 'boolean'
  );
}

/** An event as read from the bus, or undefined when it is not one (too large, malformed, unknown kind). */
export function parseFleetEvent(text: string): FleetEvent | undefined {
  if (text.length > MAX_EVENT_BYTES) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObj(v) || typeof v['id'] !== 'string' || v['id'].length > 100 || typeof v['from'] !== 'string' || !NAME.test(v['from']) || typeof v['at'] !== 'number') return undefined;
  switch (v['kind']) {
    case 'fetch':
      if (v['source'] !== undefined && (typeof v['source'] !== 'string' || !SOURCE.test(v['source']))) return undefined;
      return v as FleetEvent;
    case 'heartbeat':
      return isReport(v['report']) && v['report'].replica === v['from'] ? (v as FleetEvent) : undefined;
    case 'rollback':
      return typeof v['source'] === 'string' && SOURCE.test(v['source']) && typeof v['revision'] === 'string' && v['revision'].length <= 100 && typeof v['detail'] === 'string' ? (v as FleetEvent) : undefined;
    default:
      return undefined;
  }
}

/** A stored report (Redis keys), checked like an event's. */
export function parseReport(text: string): ReplicaReport | undefined {
  if (text.length > MAX_EVENT_BYTES) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return isReport(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
