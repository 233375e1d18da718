// Turns a route's rate-limit label groups into the descriptors of one request, as Envoy's rate
// limit actions do for Emissary: one descriptor per group, entries in order, a group dropped whole
// when one of its entries has no value (a missing header). The data plane and explain share it.

import type { IRRateLimitAction, IRRateLimitGroup } from '../../ir/types.js';

export interface DescriptorEntry {
  readonly key: string;
  readonly value: string;
}

/** One descriptor: the entries of one label group, for one request. */
export type Descriptor = readonly DescriptorEntry[];

/** What the actions read from a request. */
export interface DescriptorInputs {
  /** A request header's value (first value when repeated); ':authority', ':method', ':path', ':scheme' too. */
  header(name: string): string | undefined;
  /** The trusted client address. */
  readonly remoteAddress: string;
  /** The cluster the request goes to. */
  readonly destinationCluster: string;
  /** The gateway's own cluster name. */
  readonly sourceCluster: string;
}

/** Emissary's Envoy runs with the service cluster "<AMBASSADOR_ID>-<namespace>"; Portico has no namespace of its own. */
export function sourceClusterName(ambassadorId: string): string {
  return `${ambassadorId}-default`;
}

/** The entry an action yields, or undefined when it has no value (the group is dropped). */
export function entryFor(action: IRRateLimitAction, input: DescriptorInputs): DescriptorEntry | undefined {
  switch (action.kind) {
    case 'source_cluster':
      return { key: 'source_cluster', value: input.sourceCluster };
    case 'destination_cluster':
      return { key: 'destination_cluster', value: input.destinationCluster };
    case 'remote_address':
      return input.remoteAddress === '' ? undefined : { key: 'remote_address', value: input.remoteAddress };
    case 'generic_key':
      return { key: action.key, value: action.value };
    case 'request_headers': {
      const v = input.header(action.header);
      return v === undefined ? undefined : { key: action.key, value: v };
    }
  }
}

/** The descriptors of one request: one per group that yields every one of its entries. */
export function descriptorsFor(groups: readonly IRRateLimitGroup[], input: DescriptorInputs): Descriptor[] {
  const out: Descriptor[] = [];
  for (const g of groups) {
    const d = descriptorOf(g, input);
    if (d !== undefined) out.push(d);
  }
  return out;
}

/** One group's descriptor, or undefined when an entry is missing. */
export function descriptorOf(group: IRRateLimitGroup, input: DescriptorInputs): Descriptor | undefined {
  const entries: DescriptorEntry[] = [];
  for (const a of group.actions) {
    const e = entryFor(a, input);
    if (e === undefined) return undefined;
    entries.push(e);
  }
  return entries.length === 0 ? undefined : entries;
}

/** A descriptor as text for logs and explain: "generic_key=foo, remote_address=10.0.0.1". */
export function describeDescriptor(d: Descriptor): string {
  return d.map((e) => `${e.key}=${e.value}`).join(', ');
}
