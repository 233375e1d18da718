// What `serve` tells a person at the terminal: one line per bound listener and one for the admin API,
// on stderr beside the JSON log; and the `--bind` address put on every Listener before it is bound.

import type { IR, IRListener } from '../ir/types.js';
import { listenerKey, listenerKind } from './port-listener.js';

const SCHEMES = { http: 'http', https: 'https', tcp: 'tcp', 'tls-tcp': 'tls' } as const;

/** `http://0.0.0.0:8080`, `http://[::1]:8080`. */
export function addressURL(scheme: string, host: string, port: number): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Which resource a listener comes from, as a person would look it up. */
function origin(l: IRListener): string {
  if (l.source) return `${l.source.kind} ${l.source.namespace}/${l.source.name}`;
  return l.name.startsWith('implied-') ? 'implied by TCPMappings' : 'default listener, no Listener given';
}

/** `listening on http://0.0.0.0:8080 (Listener default/http)`; `…, PROXY protocol)` when every connection starts with its header. */
export function listeningLine(l: IRListener, port = l.port): string {
  return `listening on ${addressURL(SCHEMES[listenerKind(l)], l.bindAddress, port)} (${origin(l)}${l.protocolStack.includes('PROXY') ? ', PROXY protocol' : ''})`;
}

export function stoppedLine(l: IRListener): string {
  return `stopped listening on ${addressURL(SCHEMES[listenerKind(l)], l.bindAddress, l.port)} (${origin(l)})`;
}

/** Every Listener on one address (`serve --bind`): replicas on one host each take their own. */
export function withBindAddress(ir: IR, address: string | undefined): IR {
  if (address === undefined) return ir;
  return { ...ir, listeners: ir.listeners.map((l) => (l.bindAddress === address ? l : { ...l, bindAddress: address })) };
}

/** Lines for what an apply changed: listeners bound that were not before, and ones let go. */
export function listenerChangeLines(before: IR | undefined, after: IR, boundPort: (l: IRListener) => number | undefined = () => undefined): string[] {
  const old = new Map((before?.listeners ?? []).map((l) => [listenerKey(l), l]));
  const now = new Set(after.listeners.map((l) => listenerKey(l)));
  const lines: string[] = [];
  for (const l of after.listeners) if (!old.has(listenerKey(l))) lines.push(listeningLine(l, boundPort(l) ?? l.port));
  for (const [key, l] of old) if (!now.has(key)) lines.push(stoppedLine(l));
  return lines;
}
