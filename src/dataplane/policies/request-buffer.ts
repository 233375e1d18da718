// The Module's buffer.max_request_bytes: the whole body is read before the request goes on, and a
// body over the limit is refused with 413 (Envoy's buffer filter, which Emissary configures).

import type { IRRequestBuffer } from '../../ir/types.js';
import { ALLOW, type ExplainedStep, type OfflineRequest, type PolicyDecision, type PolicyRequest, type PolicyStep } from './chain.js';
import { readRequestBody, type SeenBody } from './request-body.js';

const TOO_LARGE: PolicyDecision = Object.freeze({ outcome: 'deny', reply: Object.freeze({ status: 413, code: 'payload_too_large' as const }) });

function decide(b: SeenBody | 'too_large'): PolicyDecision {
  return b === 'too_large' ? TOO_LARGE : ALLOW;
}

class RequestBufferStep implements PolicyStep {
  readonly stage = 'request_buffer' as const;
  readonly label: string;
  readonly source: IRRequestBuffer['source'];

  constructor(readonly ir: IRRequestBuffer) {
    this.source = ir.source;
    this.label = `request_buffer Module ${ir.source.namespace}/${ir.source.name}`;
  }

  run(r: PolicyRequest): PolicyDecision | Promise<PolicyDecision> {
    const b = readRequestBody(r, this.ir.maxRequestBytes, false);
    return b instanceof Promise ? b.then(decide) : decide(b);
  }

  explain(r: OfflineRequest): ExplainedStep {
    const what = `buffer.max_request_bytes ${this.ir.maxRequestBytes} of Module ${this.ir.source.namespace}/${this.ir.source.name}`;
    let length: number | undefined;
    for (const [n, v] of r.headers) if (n.toLowerCase() === 'content-length' && /^\d+$/.test(v.trim())) length = Number(v.trim());
    if (length !== undefined && length > this.ir.maxRequestBytes) return { decision: 'deny', status: 413, reason: `${what}: the body (Content-Length ${length}) is larger` };
    if (length !== undefined) return { decision: 'allow', reason: `${what}: the body (Content-Length ${length}) fits; it is read whole before it is forwarded` };
    return { decision: 'allow', reason: `${what}: the body is read whole before it is forwarded; a longer one gets 413` };
  }
}

export function requestBufferStep(ir: IRRequestBuffer): PolicyStep {
  return new RequestBufferStep(ir);
}
