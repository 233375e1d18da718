// A route's CORS preflight as a step of its policy chain: answered after the IP filter and before
// anything that asks for credentials, since a browser's preflight never carries them (Emissary's order).

import { preflightHeaders, type CompiledCors } from '../cors.js';
import { answersPreflight } from '../edge-decision.js';
import { ALLOW, type ExplainedStep, type OfflineRequest, type PolicyDecision, type PolicyRequest, type PolicyStep } from './chain.js';

class CorsPreflightStep implements PolicyStep {
  readonly stage = 'cors_preflight' as const;
  readonly label = 'cors_preflight';
  /** Its allows are not decisions worth counting: every request of the route passes through it. */
  readonly quiet = true;

  constructor(private readonly cors: CompiledCors) {}

  run(r: PolicyRequest): PolicyDecision {
    if (r.method !== 'OPTIONS') return ALLOW;
    const acrm = r.header('access-control-request-method');
    if (!answersPreflight(this.cors, r.method, r.origin, acrm)) return ALLOW;
    const headers = preflightHeaders(this.cors, r.origin as string, acrm, r.header('access-control-request-headers'));
    return { outcome: 'answer', reply: { status: 200, code: 'cors_preflight', headers } };
  }

  explain(r: OfflineRequest): ExplainedStep {
    const origin = headerOf(r, 'origin');
    if (answersPreflight(this.cors, r.method, origin, headerOf(r, 'access-control-request-method'))) {
      return { decision: 'answer', status: 200, reason: 'a CORS preflight from an allowed origin is answered here, before any step that asks for credentials' };
    }
    return { decision: 'allow', reason: 'not a CORS preflight from an allowed origin' };
  }
}

function headerOf(r: OfflineRequest, name: string): string | undefined {
  for (const [n, v] of r.headers) if (n.toLowerCase() === name) return v;
  return undefined;
}

const steps = new WeakMap<CompiledCors, PolicyStep>();

/** One step per CORS policy: routes sharing the Module's policy share the step (and so their chains). */
export function corsPreflightStep(cors: CompiledCors): PolicyStep {
  let s = steps.get(cors);
  if (s === undefined) {
    s = new CorsPreflightStep(cors);
    steps.set(cors, s);
  }
  return s;
}
