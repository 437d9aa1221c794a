/**
 * The data of one scenario: the MoE layer's config and seeded weights, its dense equivalent,
 * the seeded input batches per T, and their float64 reference oracles. Built once per scenario
 * and shared by every backend, so every backend sees the same weights and inputs.
 */
import {
  activeExpertFlopsPerToken,
  createRng,
  denseEquivalentConfig,
  randomInput,
  randomWeights,
  sharedExpertCount,
  type HostTensor,
  type MoELayerConfig,
  type MoEWeights,
} from '@moe-runtime/core';
import { ReferenceOracle } from './reference-oracle.js';
import type { Scenario } from './scenario.js';

/**
 * The dense FFN a layer is measured against: core's `denseEquivalentConfig` (one expert with
 * inner size k x F) plus the layer's own shared experts, so both sides compute the same active
 * parameters and the ratio isolates the cost of routing and grouping.
 */
export function denseConfigOf(config: MoELayerConfig): MoELayerConfig {
  const dense = denseEquivalentConfig(config);
  return config.sharedExperts ? { ...dense, sharedExperts: config.sharedExperts } : dense;
}

/**
 * FLOPs of one token through every expert it uses: the k routed experts (core's
 * `activeExpertFlopsPerToken`) plus the shared experts (same formula); the router is excluded.
 */
export function flopsPerToken(config: MoELayerConfig): number {
  const routed = activeExpertFlopsPerToken(config);
  const shared = sharedExpertCount(config);
  if (!shared) return routed;
  return routed + activeExpertFlopsPerToken({ ...config, topK: shared, expert: { ...config.expert, ffnSize: config.sharedExperts!.ffnSize } });
}

/** Bytes of one routed expert's weights as float32 (what a backend streams when it runs it). */
export function expertBytes(config: MoELayerConfig): number {
  const matrices = config.expert.kind === 'swiglu' ? 3 : 2;
  return 4 * matrices * config.hiddenSize * config.expert.ffnSize;
}

/** Seeded weights, dense weights and per-T inputs and oracles of a scenario. */
export class Workload {
  readonly config: MoELayerConfig;
  readonly denseConfig: MoELayerConfig;
  readonly weights: MoEWeights;
  readonly denseWeights: MoEWeights;
  private readonly inputs = new Map<number, HostTensor<'float32'>>();
  private readonly ids = new Map<number, Int32Array>();
  private readonly oracles = new Map<number, { moe: ReferenceOracle; dense: ReferenceOracle }>();

  constructor(readonly scenario: Scenario) {
    this.config = scenario.layer;
    this.denseConfig = denseConfigOf(scenario.layer);
    this.weights = randomWeights(this.config, { seed: scenario.seed, dtype: scenario.weightDtype });
    const dense = randomWeights(this.denseConfig, { seed: scenario.seed + 1, dtype: scenario.weightDtype });
    // The dense layer reuses the MoE layer's shared experts: same weights on both sides.
    this.denseWeights = this.weights.shared ? { ...dense, shared: this.weights.shared, sharedGate: this.weights.sharedGate } : dense;
  }

  /** The input batch `[T, D]` (seeded by the scenario seed and T). */
  input(tokens: number): HostTensor<'float32'> {
    let x = this.inputs.get(tokens);
    if (!x) {
      x = randomInput(tokens, this.config.hiddenSize, this.scenario.seed * 1_000_003 + tokens);
      this.inputs.set(tokens, x);
    }
    return x;
  }

  /**
   * Seeded token ids `[T]` in [0, 32000) for the batch, passed to every forward pass so routers
   * that route by token id (hash) run; routers that ignore them are unaffected.
   */
  tokenIds(tokens: number): Int32Array {
    let ids = this.ids.get(tokens);
    if (!ids) {
      const rng = createRng(this.scenario.seed * 7919 + tokens + 17);
      ids = Int32Array.from({ length: tokens }, () => rng.int(32000));
      this.ids.set(tokens, ids);
    }
    return ids;
  }

  /** The float64 oracles of the MoE layer and the dense layer on the batch of T tokens. */
  oracle(tokens: number): { moe: ReferenceOracle; dense: ReferenceOracle } {
    let o = this.oracles.get(tokens);
    if (!o) {
      const x = this.input(tokens);
      o = {
        moe: new ReferenceOracle(this.config, this.weights, x, this.scenario.referenceRows, this.tokenIds(tokens)),
        dense: new ReferenceOracle(this.denseConfig, this.denseWeights, x, this.scenario.referenceRows),
      };
      o.moe.prepare();
      o.dense.prepare();
      this.oracles.set(tokens, o);
    }
    return o;
  }
}
