// Module buffer.max_request_bytes → IRRequestBuffer: the largest request body the gateway accepts
// (read whole before it is forwarded, as Envoy's buffer filter does in Emissary).

import type { Resource } from '../../api/resource.js';
import type { IRRequestBuffer } from '../../ir/types.js';

type Obj = Record<string, unknown>;

export function compileRequestBuffer(module: Resource): IRRequestBuffer | undefined {
  const cfg = ((module.spec as Obj)['config'] ?? {}) as Obj;
  const buffer = cfg['buffer'];
  if (buffer === null || typeof buffer !== 'object') return undefined;
  // The schema requires max_request_bytes as an integer >= 1 (Emissary: "missing required field").
  const max = (buffer as Obj)['max_request_bytes'];
  if (typeof max !== 'number') return undefined;
  return { maxRequestBytes: max, source: { kind: module.kind, name: module.name, namespace: module.namespace, origin: module.origin } };
}
