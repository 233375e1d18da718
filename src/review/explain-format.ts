// Text rendering of an explain result: the answer first (status, route, upstream), then how the
// gateway got there (listener, Host, security), what is forwarded, and where each setting came from.

import type { ExplainResult, MappingRef } from './explain-engine.js';

function mappingText(m: MappingRef): string {
  const owner = m.source ? ` (source ${m.source}${m.revision ? `@${m.revision.slice(0, 12)}` : ''})` : '';
  return `${m.kind} ${m.namespace}/${m.name} at ${m.file}:${m.line}${owner}`;
}

export function formatExplainText(r: ExplainResult): string {
  const out: string[] = [];
  out.push(`${r.request.method} ${r.request.url}`);
  const head = r.outcome === 'forward' ? `→ ${r.status} forwarded` : r.outcome === 'https_redirect' || r.outcome === 'redirect' ? `→ ${r.status} redirect to ${r.location ?? ''}` : `→ ${r.status} ${r.outcome.replace(/_/g, ' ')}`;
  out.push(`${head}${r.decidedAtServeTime ? ` if ${r.decidedAtServeTime.policy} lets it through` : ''}: ${r.reason}`);
  out.push('');
  if (r.listener) out.push(`listener:      ${r.listener.name} :${r.listener.port} (${r.listener.tls ? 'TLS' : 'cleartext'}, securityModel ${r.listener.securityModel}) — ${r.listener.why}`);
  if (r.request.host) out.push(`host:          ${r.request.host}`);
  if (r.request.path) out.push(`path:          ${r.request.path}${r.request.query}`);
  if (r.secure) out.push(`security:      ${r.secure.value ? 'secure' : 'insecure'} — ${r.secure.why}`);
  if (r.virtualHost) {
    const hosts = r.virtualHost.hosts.map((h) => `${h.namespace}/${h.name} at ${h.file}:${h.line}`).join(', ');
    out.push(`virtual host:  ${r.virtualHost.hostname} (insecure requests: ${r.virtualHost.insecureAction}${hosts ? `; Host ${hosts}` : ''})`);
  }
  if (r.route) {
    out.push(`route:         ${r.route.id} (#${r.route.order} in evaluation order) ${r.route.match}`);
    for (const m of r.route.mappings) out.push(`  defined by   ${mappingText(m)}`);
  }
  if (r.policies.length > 0) {
    out.push('');
    out.push('policies, in the order they run:');
    for (const p of r.policies) {
      const verdict = p.decision === 'at_serve_time' ? `decided at serve time${p.status !== undefined ? ` (${p.status} if it refuses)` : ''}` : `${p.decision}${p.status !== undefined ? ` ${p.status}` : ''}`;
      out.push(`  ${p.order}. ${p.policy} — ${verdict}: ${p.reason}${p.source ? ` (${p.source.file}:${p.source.line})` : ''}`);
    }
  }
  for (const b of r.backends) {
    out.push('');
    out.push(`upstream:      ${b.service}${r.backends.length > 1 ? ` (weight ${b.weight}%)` : ''} — cluster ${b.cluster}${b.endpoints.length ? ` → ${b.endpoints.join(', ')}` : ' (no endpoints)'}`);
    out.push(`  mapping      ${mappingText(b.mapping)}`);
    out.push(`  path sent    ${b.path}`);
    out.push('  headers sent');
    for (const [n, v] of b.headers) out.push(`    ${n}: ${v}${b.filledPerRequest.includes(n.toLowerCase()) ? '  ← filled in per request' : ''}`);
    out.push('  settings');
    const w = Math.max(...b.settings.map((s) => s.setting.length));
    for (const s of b.settings) out.push(`    ${s.setting.padEnd(w)}  ${s.value}  ← ${s.from === 'mapping' ? `Mapping (${s.origin})` : s.from === 'module' ? `Module ambassador default (${s.origin})` : 'built-in default'}`);
  }
  if (r.candidates.length > 0) {
    out.push('');
    out.push('nearest candidates:');
    for (const c of r.candidates) out.push(`  ${c.route} [${c.where}]${c.match ? ` ${c.match}` : ''}: ${c.reason}`);
  }
  if (r.notes.length > 0) {
    out.push('');
    for (const n of r.notes) out.push(`note: ${n}`);
  }
  return out.join('\n') + '\n';
}
