/**
 * The deliberately naive MoE formulation, for the benchmark only: every expert runs on every
 * token and a dense [T, E] weight matrix (zero where a token is not routed) masks the results.
 * This is what the backend must never do; it exists to show what routing saves.
 */
import type { RoutingPlan } from '@moe-runtime/core';
import { expertForward } from '../src/expert-ffn.js';
import type { TfjsExperts } from '../src/prepared.js';
import { tf, type Tensor2D } from '../src/tf.js';

/** The plan's routing weights as a dense `[T, E]` matrix (0 where not routed). */
export function denseRoutingWeights(plan: RoutingPlan): Float32Array {
  const w = new Float32Array(plan.numTokens * plan.numExperts);
  for (let e = 0; e < plan.numExperts; e++) {
    for (let r = plan.expertOffsets[e]; r < plan.expertOffsets[e + 1]; r++) w[plan.rowToken[r] * plan.numExperts + e] = plan.rowWeight[r];
  }
  return w;
}

/** y `[T, D]` = sum over all E experts of mask[:, e] * FFN_e(x). */
export async function naiveMaskedExperts(experts: TfjsExperts, x: Float32Array, mask: Float32Array, tokens: number): Promise<Float32Array> {
  const d = experts.hiddenSize;
  const y = tf.tidy(() => {
    const xt = tf.tensor2d(x, [tokens, d]);
    const m = tf.tensor2d(mask, [tokens, experts.numExperts]);
    let acc: Tensor2D = tf.zeros([tokens, d]);
    for (let e = 0; e < experts.numExperts; e++) {
      const col = tf.slice(m, [0, e], [tokens, 1]);
      acc = tf.add(acc, tf.mul(expertForward(experts.kind, experts.experts[e], xt), col));
    }
    return acc;
  });
  try {
    return (await y.data()) as Float32Array;
  } finally {
    y.dispose();
  }
}
