// Ownership: a team source may configure only the kinds, hostnames, path prefixes and ports its
// claim grants. A resource outside its claim is rejected for that source only, naming the claim.

import type { Resource } from '../api/resource.js';
import type { CompileContext } from './context.js';
import type { Claim } from './options.js';
import { canonicalHostname, globContains } from './hostname-globs.js';
import { exactAuthorityHeader } from '../api/kinds/mapping.js';

type Obj = Record<string, unknown>;

export function checkClaims(resources: readonly Resource[], claims: Readonly<Record<string, Claim>>, ctx: CompileContext): void {
  for (const r of resources) {
    const src = r.origin.source;
    if (!src) continue;
    const claim = claims[src];
    if (!claim) continue;
    const describe = `source '${src}' claims kinds [${claim.kinds.join(', ')}], hostnames [${claim.hostnames.join(', ')}]${claim.pathPrefixes.length ? `, path prefixes [${claim.pathPrefixes.join(', ')}]` : ''}`;
    if (!claim.kinds.includes(r.kind)) {
      ctx.report(r, 'ClaimViolation', `${r.kind} ${r.namespace}/${r.name} is outside its claim: ${describe}`, 'kind');
      continue;
    }
    const s = r.spec as Obj;
    if (r.kind === 'Mapping') {
      // The Mapping's host as compile reads it: hostname, else an exact host, else an exact :authority header.
      const exact = typeof s['hostname'] === 'string' || s['host'] !== undefined ? undefined : exactAuthorityHeader(s['headers']);
      const authority = exact !== undefined && !exact.value.includes('*') ? exact : undefined;
      const raw = typeof s['hostname'] === 'string' ? s['hostname'] : typeof s['host'] === 'string' && s['host_regex'] !== true ? s['host'] : authority?.value;
      if (raw === undefined) {
        ctx.report(r, 'ClaimViolation', `Mapping ${r.namespace}/${r.name} has no hostname; a team Mapping must name a hostname inside its claim (${describe})`, 'spec.hostname');
        continue;
      }
      const h = canonicalHostname(raw);
      if (!claim.hostnames.some((g) => globContains(canonicalHostname(g), h))) {
        ctx.report(r, 'ClaimViolation', `hostname '${h}' is outside its claim: ${describe}`, typeof s['hostname'] === 'string' ? 'spec.hostname' : authority ? `spec.headers.${authority.key}` : 'spec.host');
        continue;
      }
      if (claim.pathPrefixes.length > 0) {
        const prefix = typeof s['prefix'] === 'string' ? s['prefix'] : '';
        if (s['prefix_regex'] === true || !claim.pathPrefixes.some((p) => prefix.startsWith(p))) {
          ctx.report(r, 'ClaimViolation', `prefix '${prefix}'${s['prefix_regex'] === true ? ' (a regex)' : ''} is outside its claim: ${describe}`, 'spec.prefix');
          continue;
        }
      }
    }
    if (r.kind === 'TCPMapping' && claim.ports !== undefined) {
      const port = Number(s['port']);
      if (!claim.ports.includes(port)) ctx.report(r, 'ClaimViolation', `port ${port} is outside its claim: source '${src}' claims ports [${claim.ports.join(', ')}]`, 'spec.port');
    }
  }
}
