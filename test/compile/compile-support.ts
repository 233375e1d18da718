// Test support for compile tests: YAML text → Resources → compile, the same path validate takes.

import { loadFiles } from '../../src/load/index.js';
import { compile, type CompileResult } from '../../src/compile/index.js';
import type { CompileOptions } from '../../src/compile/options.js';

export function compileYAML(files: Record<string, string> | string, options: CompileOptions = {}, source?: string): CompileResult {
  const list = typeof files === 'string' ? [{ path: 'policy.yaml', content: files }] : Object.entries(files).map(([path, content]) => ({ path, content }));
  const loaded = loadFiles(list, { ...(source ? { source } : {}), ...(options.ambassadorId ? { ambassadorId: options.ambassadorId } : {}), ...(options.ambassadorNamespace ? { ambassadorNamespace: options.ambassadorNamespace } : {}) });
  return compile(loaded.resources, options, loaded.problems);
}

/**
 * Routes of every listener (or one), each distinct route once: with no Listener at all, the default
 * 8080 and 8443 listeners serve the same routes.
 */
export function routesOf(r: CompileResult, listener?: string): { vhost: string; id: string; backends: [string, number][] }[] {
  const out: { vhost: string; id: string; backends: [string, number][] }[] = [];
  const seen = new Set<string>();
  for (const l of r.ir.listeners) {
    if (listener && l.name !== listener) continue;
    for (const v of l.virtualHosts) {
      for (const rt of v.routes) {
        const row = { vhost: v.hostname, id: rt.id, backends: rt.backends.map((b): [string, number] => [r.ir.clusters.find((c) => c.name === b.cluster)!.service, b.weight]) };
        const key = JSON.stringify(row);
        if (listener === undefined && seen.has(key)) continue;
        seen.add(key);
        out.push(row);
      }
    }
  }
  return out;
}

export function codes(r: CompileResult): string[] {
  return r.report.problems.map((p) => `${p.code}:${p.resource ? p.resource.name : ''}`).sort();
}

/** A Mapping document in namespace default (`meta` adds to its metadata), followed by `---`. */
export const M = (name: string, spec: string, meta = ''): string => `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: ${name}, namespace: default${meta} }
spec: { ${spec} }
---
`;
