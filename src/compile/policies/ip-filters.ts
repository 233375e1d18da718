// Module ip_allow / ip_deny → IRIPFilter: which client addresses may use the gateway at all.
// `peer` rules match the TCP connection's address, `remote` rules the trusted client address.

import { isIP } from 'node:net';
import type { Resource } from '../../api/resource.js';
import type { IRIPFilter } from '../../ir/types.js';
import type { CompileContext } from '../context.js';

type Obj = Record<string, unknown>;

/**
 * An address or CIDR block as written ("10.0.0.0/8", "127.0.0.1", "2001:db8::/32"), with its prefix
 * made explicit; or why it is not one.
 */
export function parseCIDR(raw: string): { address: string; prefix: number; family: 4 | 6 } | string {
  const text = raw.trim();
  const slash = text.indexOf('/');
  const address = (slash < 0 ? text : text.slice(0, slash)).toLowerCase();
  const ip = isIP(address);
  if (ip === 0) return `'${raw}' is not an IPv4 or IPv6 address`;
  const family = ip === 4 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  if (slash < 0) return { address, prefix: max, family };
  const p = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(p) || Number(p) > max) return `'${raw}' has a prefix length outside 0-${max}`;
  return { address, prefix: Number(p), family };
}

/**
 * The Module's IP filter. Emissary takes one of ip_allow and ip_deny: both set is an error (the
 * revision is refused), and the allow list is what the IR keeps. An empty list filters nothing, as there.
 */
export function compileIPFilter(module: Resource, ctx: CompileContext): IRIPFilter | undefined {
  const cfg = ((module.spec as Obj)['config'] ?? {}) as Obj;
  const allow = cfg['ip_allow'];
  const deny = cfg['ip_deny'];
  if (allow !== undefined && deny !== undefined) {
    ctx.report(module, 'SchemaViolation', 'ip_allow and ip_deny may not both be set (as in Emissary): keep one list', 'spec.config.ip_deny');
  }
  const key = allow !== undefined ? 'ip_allow' : deny !== undefined ? 'ip_deny' : undefined;
  if (key === undefined) return undefined;
  const rules = Array.isArray(cfg[key]) ? (cfg[key] as Obj[]) : [];
  const principals: { kind: 'peer' | 'remote'; cidr: string }[] = [];
  rules.forEach((rule, i) => {
    // The schema admits exactly one of peer and remote per rule.
    const kind = typeof rule['peer'] === 'string' ? 'peer' : 'remote';
    const parsed = parseCIDR(String(rule[kind]));
    if (typeof parsed === 'string') {
      ctx.report(module, 'InvalidCIDR', `${key}[${i}].${kind}: ${parsed}`, `spec.config.${key}[${i}].${kind}`);
      return;
    }
    principals.push({ kind, cidr: `${parsed.address}/${parsed.prefix}` });
  });
  if (principals.length === 0) return undefined;
  return {
    action: key === 'ip_allow' ? 'ALLOW' : 'DENY',
    principals,
    source: { kind: module.kind, name: module.name, namespace: module.namespace, origin: module.origin },
  };
}
