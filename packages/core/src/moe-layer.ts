/**
 * The MoE layer: config + weights + backend -> forward(x [T, D]) -> output and routing stats.
 *
 *   x --backend linear--> logits [T, E] --Router.route (host)--> decision
 *     --buildRoutingPlan (core)--> plan --backend runExperts--> y [T, D]   (+ shared experts)
 */
import type { Backend, PreparedExperts, PreparedLinear } from './backend.js';
import { BackendError, RouterError } from './errors.js';
import { sigmoid } from './expert.js';
import { checkFinite, checkRows, checkTokenIds } from './input-checks.js';
import { validateLayerConfig, type MoELayerConfig } from './layer-config.js';
import type { Router, RouterDecision } from './router.js';
import { createRouter } from './router-registry.js';
import { buildRoutingPlan, denseRoutingPlan, type RoutingPlan } from './routing-plan.js';
import { computeRoutingStats, type RoutingStats } from './routing-stats.js';
import { HostTensor } from './tensor.js';
import { routedExpertGroup, routerParamsOf, sharedExpertGroup, validateWeights, type MoEWeights } from './weights.js';

/** Per-call options of {@link MoELayer.forward}. */
export interface ForwardOptions {
  /** Token ids `[T]`, for routers that need them (hash routing). */
  readonly tokenIds?: ArrayLike<number>;
}

/** What one forward pass returns. */
export interface MoEForwardResult {
  /** `[T, D]` float32. */
  readonly output: HostTensor<'float32'>;
  /** Router logits `[T, E]` as the backend computed them. */
  readonly logits: Float32Array;
  /** The router's raw decision. */
  readonly decision: RouterDecision;
  /** The grouped plan the experts ran on. */
  readonly plan: RoutingPlan;
  readonly stats: RoutingStats;
}

/** Everything needed to build a layer. */
export interface MoELayerInit {
  readonly config: MoELayerConfig;
  readonly weights: MoEWeights;
  readonly backend: Backend;
  /** A router instance to use instead of the one `config.router` names. */
  readonly router?: Router;
}

/** An MoE layer whose weights are resident in one backend. */
export class MoELayer {
  readonly config: MoELayerConfig;
  readonly backend: Backend;
  readonly router: Router;
  private readonly routerLinear: PreparedLinear;
  private readonly experts: PreparedExperts;
  private readonly shared?: PreparedExperts;
  private readonly sharedGate?: PreparedLinear;
  private disposed = false;

  private constructor(
    init: MoELayerInit & { readonly router: Router },
    parts: { routerLinear: PreparedLinear; experts: PreparedExperts; shared?: PreparedExperts; sharedGate?: PreparedLinear },
  ) {
    this.config = init.config;
    this.backend = init.backend;
    this.router = init.router;
    this.routerLinear = parts.routerLinear;
    this.experts = parts.experts;
    this.shared = parts.shared;
    this.sharedGate = parts.sharedGate;
  }

  /** Validates config and weights, builds the router, and prepares the weights on the backend. */
  static async create(init: MoELayerInit): Promise<MoELayer> {
    validateLayerConfig(init.config);
    validateWeights(init.config, init.weights);
    // Build the router before uploading anything, so a bad router config fails fast.
    const router =
      init.router ??
      createRouter(init.config.router, { numExperts: init.config.numExperts, topK: init.config.topK, params: routerParamsOf(init.weights) });
    const { backend, config, weights } = init;
    const prepared: { dispose(): void }[] = [];
    const track = <T extends { dispose(): void }>(p: T): T => (prepared.push(p), p);
    try {
      const routerLinear = track(await backend.prepareLinear({ weight: weights.router, bias: weights.routerBias }));
      const experts = track(await backend.prepareExperts(routedExpertGroup(config, weights)));
      const sharedGroup = sharedExpertGroup(config, weights);
      const shared = sharedGroup ? track(await backend.prepareExperts(sharedGroup)) : undefined;
      const sharedGate = config.sharedExperts?.gated && weights.sharedGate ? track(await backend.prepareLinear({ weight: weights.sharedGate })) : undefined;
      return new MoELayer({ ...init, router }, { routerLinear, experts, shared, sharedGate });
    } catch (err) {
      for (const p of prepared) p.dispose();
      throw err;
    }
  }

  /** Runs the layer on `x` `[T, D]`. */
  async forward(x: HostTensor | Float32Array, options: ForwardOptions = {}): Promise<MoEForwardResult> {
    if (this.disposed) throw new BackendError('this MoELayer has been disposed');
    const { hiddenSize: d, numExperts: e } = this.config;
    const { rows: t, data } = checkRows('x', x, d);
    checkFinite('x', data, d);
    const tokenIds = checkTokenIds(options.tokenIds, t);
    if (this.router.needsTokenIds && !tokenIds) {
      throw new RouterError(`router '${this.router.name}' needs token ids; pass forward(x, { tokenIds })`);
    }
    const logits = await this.backend.linear(this.routerLinear, data, t);
    checkBackendOutput(this.backend, 'router logits', logits, t * e);
    const decision = this.router.route({ logits, numTokens: t, numExperts: e, tokenIds });
    const plan = buildRoutingPlan(decision, t, e);
    const [routed, shared] = await Promise.all([this.backend.runExperts(this.experts, data, plan), this.runShared(data, t)]);
    checkBackendOutput(this.backend, 'expert output', routed, t * d);
    if (shared) {
      checkBackendOutput(this.backend, 'shared expert output', shared, t * d);
      for (let i = 0; i < routed.length; i++) routed[i] += shared[i];
    }
    return { output: HostTensor.float32([t, d], routed), logits, decision, plan, stats: computeRoutingStats(logits, decision, plan) };
  }

  private async runShared(x: Float32Array, t: number): Promise<Float32Array | undefined> {
    if (!this.shared) return undefined;
    let weights: Float32Array | undefined;
    if (this.sharedGate) {
      const g = await this.backend.linear(this.sharedGate, x, t);
      checkBackendOutput(this.backend, 'shared expert gate', g, t);
      weights = g.map(sigmoid);
    }
    return this.backend.runExperts(this.shared, x, denseRoutingPlan(t, this.shared.numExperts, weights));
  }

  /** Frees the layer's backend resources. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.routerLinear.dispose();
    this.experts.dispose();
    this.shared?.dispose();
    this.sharedGate?.dispose();
  }
}

function checkBackendOutput(backend: Backend, what: string, data: Float32Array, expected: number): void {
  if (!(data instanceof Float32Array) || data.length !== expected) {
    throw new BackendError(`backend '${backend.name}' returned ${what} of length ${data?.length}, expected ${expected}`);
  }
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) throw new BackendError(`backend '${backend.name}' returned a non-finite ${what} (${v} at index ${i})`);
  }
}
