// The Module's ip_allow / ip_deny at the edge: `peer` rules match the TCP connection's address,
// `remote` rules the trusted client address (X-Forwarded-For read with the trusted hops).

import { BlockList, isIP } from 'node:net';
import type { IRIPFilter } from '../../ir/types.js';
import { ALLOW, type ExplainedStep, type OfflineRequest, type PolicyDecision, type PolicyRequest, type PolicyStep } from './chain.js';

const DENY: PolicyDecision = Object.freeze({ outcome: 'deny', reply: Object.freeze({ status: 403, code: 'ip_denied' as const }) });

function blockList(cidrs: readonly string[]): BlockList | undefined {
  if (cidrs.length === 0) return undefined;
  const list = new BlockList();
  for (const c of cidrs) {
    const slash = c.indexOf('/');
    const address = c.slice(0, slash);
    // compile wrote every rule as address/prefix and checked the address
    list.addSubnet(address, Number(c.slice(slash + 1)), isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

/** BlockList matches an IPv4-mapped IPv6 address (a dual-stack socket's) against IPv4 rules too. */
function matches(list: BlockList | undefined, address: string): boolean {
  if (list === undefined || address === '') return false;
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

class IPFilterStep implements PolicyStep {
  readonly stage = 'ip_filter' as const;
  readonly label: string;
  readonly source: IRIPFilter['source'];
  private readonly peer: BlockList | undefined;
  private readonly remote: BlockList | undefined;
  private readonly allowList: boolean;

  constructor(readonly ir: IRIPFilter) {
    this.source = ir.source;
    this.label = `ip_filter Module ${ir.source.namespace}/${ir.source.name}`;
    this.peer = blockList(ir.principals.filter((p) => p.kind === 'peer').map((p) => p.cidr));
    this.remote = blockList(ir.principals.filter((p) => p.kind === 'remote').map((p) => p.cidr));
    this.allowList = ir.action === 'ALLOW';
  }

  run(r: PolicyRequest): PolicyDecision {
    const hit = matches(this.peer, r.peerAddress) || matches(this.remote, r.clientAddress);
    return hit === this.allowList ? ALLOW : DENY;
  }

  explain(r: OfflineRequest): ExplainedStep {
    const list = this.ir.principals.map((p) => `${p.kind} ${p.cidr}`).join(', ');
    const what = `${this.allowList ? 'ip_allow' : 'ip_deny'} [${list}] of Module ${this.ir.source.namespace}/${this.ir.source.name}`;
    // Offline the connection's address is never known; the client's only when trusted hops name it.
    if (r.clientAddress !== undefined && matches(this.remote, r.clientAddress)) {
      return this.allowList
        ? { decision: 'allow', reason: `${what}: the client address ${r.clientAddress} is allowed` }
        : { decision: 'deny', status: 403, reason: `${what}: the client address ${r.clientAddress} is denied` };
    }
    if (r.clientAddress !== undefined && this.peer === undefined) {
      return this.allowList
        ? { decision: 'deny', status: 403, reason: `${what}: the client address ${r.clientAddress} is not allowed` }
        : { decision: 'allow', reason: `${what}: the client address ${r.clientAddress} is not denied` };
    }
    return { decision: 'at_serve_time', status: 403, reason: `${what}: decided by the client's address (403 when ${this.allowList ? 'not allowed' : 'denied'})` };
  }
}

export function ipFilterStep(ir: IRIPFilter): PolicyStep {
  return new IPFilterStep(ir);
}
