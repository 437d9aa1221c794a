/**
 * The data of one scenario: the MoE layer's config and seeded weights, its dense equivalent,
 * a fresh seeded input batch for every pass, and their float64 reference oracles. Built once
 * per scenario and shared by every backend, so every backend sees the same weights and inputs.
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

/**
 * A 32-bit seed for one stream of one pass, mixed from its parts (FNV-1a over the words, then
 * an avalanche), so the streams of different (T, pass) never share a seed or a prefix.
 */
export function passSeed(...parts: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x85ebca6b) >>> 0;
  }
  return (h ^ (h >>> 13)) >>> 0;
}

/** Which stream of a pass a seed is for. */
const STREAM = { input: 1, tokenIds: 2 } as const;

/** The data of one forward pass: a fresh input batch, its token ids and their float64 oracles. */
export interface WorkloadPass {
  /** The input batch `[T, D]`. */
  readonly x: HostTensor<'float32'>;
  /** Token ids `[T]` in [0, 32000), for routers that route by token id (hash); others ignore them. */
  readonly tokenIds: Int32Array;
  /** The float64 oracle of the MoE layer on this batch. */
  readonly moe: ReferenceOracle;
  /** The float64 oracle of the dense equivalent on this batch. */
  readonly dense: ReferenceOracle;
}

/**
 * Seeded weights, the dense equivalent, and the data of every pass of a scenario. Every pass
 * (warm-up and timed) gets its own seeded input: decode meets a new token every step, and one
 * batch repeated would route to the same experts every time, which then answer from the cache.
 * Pass `i` at T tokens is the same on every backend, so its oracle is built once and shared.
 */
export class Workload {
  readonly config: MoELayerConfig;
  readonly denseConfig: MoELayerConfig;
  readonly weights: MoEWeights;
  readonly denseWeights: MoEWeights;
  private readonly passes = new Map<string, WorkloadPass>();

  constructor(readonly scenario: Scenario) {
    this.config = scenario.layer;
    this.denseConfig = denseConfigOf(scenario.layer);
    this.weights = randomWeights(this.config, { seed: scenario.seed, dtype: scenario.weightDtype });
    const dense = randomWeights(this.denseConfig, { seed: scenario.seed + 1, dtype: scenario.weightDtype });
    // The dense layer reuses the MoE layer's shared experts: same weights on both sides.
    this.denseWeights = this.weights.shared ? { ...dense, shared: this.weights.shared, sharedGate: this.weights.sharedGate } : dense;
  }

  /**
   * Pass number `index` (0-based; the runner numbers warm-up passes first, timed passes from
   * `warmup`) at T tokens: its input, token ids and oracles (routing of all T tokens computed
   * now; expected rows when they are first checked). Built on first use and kept for the
   * other backends of the scenario.
   */
  pass(tokens: number, index: number): WorkloadPass {
    const key = `${tokens}:${index}`;
    let p = this.passes.get(key);
    if (!p) {
      const s = this.scenario;
      const x = randomInput(tokens, this.config.hiddenSize, passSeed(s.seed, tokens, index, STREAM.input));
      const rng = createRng(passSeed(s.seed, tokens, index, STREAM.tokenIds));
      const tokenIds = Int32Array.from({ length: tokens }, () => rng.int(32000));
      p = {
        x,
        tokenIds,
        moe: new ReferenceOracle(this.config, this.weights, x, s.referenceRows, tokenIds),
        dense: new ReferenceOracle(this.denseConfig, this.denseWeights, x, s.referenceRows),
      };
      this.passes.set(key, p);
    }
    return p;
  }
}
