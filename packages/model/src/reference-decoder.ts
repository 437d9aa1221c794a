/**
 * The float64 reference decoder: the whole model in plain loops over the full sequence (no
 * cache), with core's float64 MoE reference. The oracle the backends' logits are checked against.
 */
import { plannedExperts, referenceForward, referenceLinear, ShapeError, type RoutingPlan } from '@moe-runtime/core';
import { causalAttention } from './attention.js';
import type { ModelConfig } from './model-config.js';
import type { ModelWeights } from './model-weights.js';
import { rmsNorm } from './rms-norm.js';
import { applyRotary, inverseFrequencies } from './rotary.js';

/** Reference results over a whole sequence. */
export interface ReferenceModelResult {
  /** `[n, V]` float64 logits of every position. */
  readonly logits: Float64Array;
  /** `plans[layer]`: the routing of every position in that layer. */
  readonly plans: readonly RoutingPlan[];
}

/** Logits of every position of `tokens`, in float64. */
export function referenceModelLogits(config: ModelConfig, weights: ModelWeights, tokens: ArrayLike<number>): ReferenceModelResult {
  const c = config;
  const n = tokens.length;
  const d = c.hiddenSize;
  const qw = c.numHeads * c.headDim;
  const kvw = c.numKvHeads * c.headDim;
  const invFreq = inverseFrequencies(c.headDim, c.ropeTheta);
  if (n === 0) throw new ShapeError('the reference decoder needs at least one token');
  const embed = weights.embed.toFloat32();
  const h = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const id = tokens[i];
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new ShapeError(`token id ${id} at position ${i} is outside the vocabulary [0, ${c.vocabSize})`);
    for (let j = 0; j < d; j++) h[i * d + j] = embed[id * d + j];
  }
  const plans: RoutingPlan[] = [];
  for (const lw of weights.layers) {
    const a = lw.attention;
    const xn = rmsNorm(h, lw.inputNorm.toFloat32(), d, c.rmsNormEps, new Float64Array(h.length));
    const q = referenceLinear(a.q, xn, n, a.qBias);
    const k = referenceLinear(a.k, xn, n, a.kBias);
    const v = referenceLinear(a.v, xn, n, a.vBias);
    if (c.qkNorm !== 'none') {
      rmsNorm(q, a.qNorm!.toFloat32(), c.qkNorm === 'per-head' ? c.headDim : qw, c.rmsNormEps);
      rmsNorm(k, a.kNorm!.toFloat32(), c.qkNorm === 'per-head' ? c.headDim : kvw, c.rmsNormEps);
    }
    for (let i = 0; i < n; i++) {
      applyRotary(q, i * qw, c.numHeads, c.headDim, i, invFreq);
      applyRotary(k, i * kvw, c.numKvHeads, c.headDim, i, invFreq);
    }
    const attn = new Float64Array(n * qw);
    causalAttention(c, q, k, v, 0, n, attn);
    const o = referenceLinear(a.o, attn, n);
    for (let i = 0; i < h.length; i++) h[i] += o[i];
    const xn2 = rmsNorm(h, lw.postAttentionNorm.toFloat32(), d, c.rmsNormEps, new Float64Array(h.length)) as Float64Array;
    const moe = referenceForward(c.moe, lw.moe, xn2);
    for (let i = 0; i < h.length; i++) h[i] += moe.output[i];
    plans.push(moe.plan);
  }
  const normed = rmsNorm(h, weights.finalNorm.toFloat32(), d, c.rmsNormEps, new Float64Array(h.length));
  return { logits: referenceLinear(weights.lmHead, normed, n), plans };
}

/** Chosen experts of every position in every layer: `[layer][position] -> experts ascending`. */
export function chosenExperts(plans: readonly RoutingPlan[]): number[][][] {
  return plans.map((plan) => Array.from({ length: plan.numTokens }, (_, t) => plannedExperts(plan, t)));
}
