// Which policy steps run for a route, in which order: built once per IR from IRGlobal.policies and
// each route's own fields, shared by the runtime and `explain` so both see the same chain.
//
// Each stage's steps are built once per IR; a route's chain is the steps that apply to it, in
// stage order. Routes with the same steps share one chain object; a route with none has no chain.

import type { IR, IRRoute } from '../../ir/types.js';
import type { SecretStore } from '../../ir/secrets.js';
import type { UpstreamCluster } from '../upstream-pool.js';
import type { CompiledCors } from '../cors.js';
import { POLICY_STAGES, type PolicyChain, type PolicyStage, type PolicyStep, type ResponseHook } from './chain.js';
import { ipFilterStep } from './ip-filter.js';
import { corsPreflightStep } from './cors-preflight.js';
import { filterStage } from './filter-step.js';
import { CompressionHook } from '../compression.js';
import { rateLimitStage } from './rate-limit.js';
import { requestBufferStep } from './request-buffer.js';
import { authServiceStage } from './auth-service.js';

/** What building steps needs: the IR, and for a serving runtime its clusters (empty offline: no sockets). */
export interface ChainBuildContext {
  readonly ir: IR;
  readonly clusters: ReadonlyMap<string, UpstreamCluster>;
  readonly secrets: SecretStore | undefined;
  readonly random: () => number;
  /** The serving process's log for warnings (a rate limiter without Redis, Redis going down). */
  readonly warn?: (message: string) => void;
}

/** A stage's part of the chains: asked once per route. */
export interface StageSteps {
  /** The step this route runs at the stage, or undefined when the stage does not apply to it. */
  forRoute(route: IRRoute): PolicyStep | undefined;
  /** Lets go of what the stage holds beyond this IR's life (a shared Redis client), when the runtime closes. */
  close?(): void;
}

/** Builds a stage's steps for one IR; undefined when the IR configures nothing for the stage. */
type StageBuilder = (b: ChainBuildContext) => StageSteps | undefined;

/** A step that applies to every route the same way. */
function everyRoute(step: PolicyStep): StageSteps {
  return { forRoute: () => step };
}

/**
 * One builder per stage that the IR configures (cors_preflight is the route's own CORS policy,
 * added only to chains that have another step: on its own it needs no chain).
 */
const STAGE_BUILDERS: Readonly<Record<Exclude<PolicyStage, 'cors_preflight'>, StageBuilder>> = {
  ip_filter: (b) => (b.ir.global.policies?.ipFilter ? everyRoute(ipFilterStep(b.ir.global.policies.ipFilter)) : undefined),
  request_buffer: (b) => (b.ir.global.policies?.requestBuffer ? everyRoute(requestBufferStep(b.ir.global.policies.requestBuffer)) : undefined),
  // Offline (no clusters) nothing is fetched: explain and route tests never touch the network.
  filter: (b) => (b.ir.global.policies?.filters ? filterStage(b.ir.global.policies.filters, b.secrets, { clusters: b.clusters, prefetch: b.clusters.size > 0 }) : undefined),
  auth: (b) => authServiceStage(b.ir.global.policies?.authServices, b.clusters, b.secrets),
  rate_limit: rateLimitStage,
};

/** The response side (compression), if the IR configures one. */
const RESPONSE_HOOK_BUILDERS: readonly ((b: ChainBuildContext) => ResponseHook | undefined)[] = [
  (b) => (b.ir.global.compression !== undefined ? new CompressionHook(b.ir.global.compression) : undefined),
];

export class PolicyChains {
  private readonly stages: { readonly stage: PolicyStage; readonly steps: StageSteps }[] = [];
  private readonly response: ResponseHook | undefined;
  private readonly chains = new Map<string, PolicyChain>();
  private readonly ids = new Map<PolicyStep, number>();

  constructor(b: ChainBuildContext) {
    for (const stage of POLICY_STAGES) {
      if (stage === 'cors_preflight') continue;
      const steps = STAGE_BUILDERS[stage](b);
      if (steps !== undefined) this.stages.push({ stage, steps });
    }
    let hook: ResponseHook | undefined;
    for (const build of RESPONSE_HOOK_BUILDERS) hook ??= build(b);
    this.response = hook;
  }

  /** Whether any route can have a chain: false for most configurations, which then build none. */
  get empty(): boolean {
    return this.stages.length === 0 && this.response === undefined;
  }

  /** The route's chain; `cors` is the CORS policy the route uses (its own or the Module's). */
  chainFor(route: IRRoute, cors: CompiledCors | undefined): PolicyChain | undefined {
    if (this.empty) return undefined;
    const steps: PolicyStep[] = [];
    for (const s of this.stages) {
      const step = s.steps.forRoute(route);
      if (step !== undefined) steps.push(step);
    }
    if (steps.length > 0 && cors !== undefined) {
      const at = steps.findIndex((s) => POLICY_STAGES.indexOf(s.stage) > POLICY_STAGES.indexOf('cors_preflight'));
      steps.splice(at < 0 ? steps.length : at, 0, corsPreflightStep(cors));
    }
    if (steps.length === 0 && this.response === undefined) return undefined;
    const key = steps.map((s) => this.idOf(s)).join(',');
    let chain = this.chains.get(key);
    if (chain === undefined) {
      chain = { steps, response: this.response };
      this.chains.set(key, chain);
    }
    return chain;
  }

  /** The runtime closes: each stage lets go of what it holds. */
  close(): void {
    for (const s of this.stages) s.steps.close?.();
  }

  private idOf(step: PolicyStep): number {
    let id = this.ids.get(step);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(step, id);
    }
    return id;
  }
}
