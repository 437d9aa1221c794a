/**
 * `topk-capacity` (GShard, Lepikhin et al. 2020; DeepSpeed-MoE `top2gating`): p = softmax(l);
 * each token picks its top-k experts (ties: lower expert id); every expert keeps at most
 *
 *     C = max(minCapacity, ceil(T / E * capacityFactor * k))
 *
 * assignments. Drops go by position: all first choices (tokens in order) rank before all
 * second choices, and so on, as DeepSpeed's `locations2 = cumsum(mask2) + sum(mask1)`, so a
 * token's first choice is only dropped when its expert is already full of first choices.
 *
 * Weights: w = p_i, divided by the sum of the token's chosen p when `renormalize` (GShard's
 * g1 / (g1 + g2), computed before capacity). With `renormalizeAfterDrops` the sum runs over
 * the assignments that survive capacity instead (DeepSpeed normalises after masking), so a
 * token that lost its second expert gives weight 1 to its first.
 */
import { ConfigError } from '../errors.js';
import type { Router, RouterContext, RouterDecision, RouterInput } from '../router.js';
import { parseRouterOptions, type OptionsSchema } from '../router-options.js';
import { softmaxRow, topKIndices } from './select.js';

/** Options of `topk-capacity`. */
export const TOPK_CAPACITY_OPTIONS = {
  capacityFactor: { type: 'number', default: 1, min: 0, exclusiveMin: true, description: 'C = max(minCapacity, ceil(T / E * capacityFactor * k)); GShard/DeepSpeed default 1' },
  minCapacity: { type: 'integer', default: 4, min: 0, description: 'lower bound of the capacity (DeepSpeed min_capacity)' },
  renormalize: { type: 'boolean', default: true, description: 'divide the chosen probabilities by their sum (GShard normalises the top-2 gates)' },
  renormalizeAfterDrops: { type: 'boolean', default: false, description: 'normalise over the assignments that survive capacity (DeepSpeed); needs renormalize' },
  dropTokens: { type: 'boolean', default: true, description: 'enforce the capacity (false: nothing is dropped)' },
} as const satisfies OptionsSchema;

/** The capacity `topk-capacity` applies to a batch of `t` tokens. */
export function topKCapacity(t: number, e: number, k: number, capacityFactor: number, minCapacity: number): number {
  return Math.max(minCapacity, Math.ceil((t / e) * capacityFactor * k));
}

/** Builds a `topk-capacity` router. */
export function createTopKCapacityRouter(options: Readonly<Record<string, unknown>>, ctx: RouterContext): Router {
  const opts = parseRouterOptions('topk-capacity', TOPK_CAPACITY_OPTIONS, options);
  const k = ctx.topK;
  if (k > ctx.numExperts) throw new ConfigError('topK', `expected at most numExperts (${ctx.numExperts}), got ${k}`);
  if (opts.renormalizeAfterDrops && !opts.renormalize) {
    throw new ConfigError('router.options.renormalizeAfterDrops', "needs renormalize: true (router 'topk-capacity')");
  }
  return {
    name: 'topk-capacity',
    route(input: RouterInput): RouterDecision {
      const { numTokens: t, numExperts: e, logits } = input;
      // chosen[i * k + s]: token i's s-th choice; prob[...]: its softmax probability.
      const chosen = new Int32Array(t * k);
      const prob = new Float64Array(t * k);
      const probs = new Float64Array(e);
      for (let i = 0; i < t; i++) {
        softmaxRow(logits, i * e, e, probs);
        const row = chosen.subarray(i * k, (i + 1) * k);
        topKIndices(probs, 0, e, k, row);
        for (let s = 0; s < k; s++) prob[i * k + s] = probs[row[s]];
      }
      const capacity = opts.dropTokens ? topKCapacity(t, e, k, opts.capacityFactor, opts.minCapacity) : undefined;
      // Which assignments survive: replay the core's rule (listed order = slot-major).
      const kept = new Uint8Array(t * k).fill(1);
      if (capacity !== undefined) {
        const load = new Int32Array(e);
        for (let s = 0; s < k; s++) {
          for (let i = 0; i < t; i++) {
            const ex = chosen[i * k + s];
            if (load[ex] < capacity) load[ex]++;
            else kept[i * k + s] = 0;
          }
        }
      }
      const scale = new Float64Array(t).fill(1);
      if (opts.renormalize) {
        for (let i = 0; i < t; i++) {
          let sum = 0;
          for (let s = 0; s < k; s++) if (!opts.renormalizeAfterDrops || kept[i * k + s]) sum += prob[i * k + s];
          if (sum > 0) scale[i] = 1 / sum;
        }
      }
      const n = t * k;
      const token = new Int32Array(n);
      const expert = new Int32Array(n);
      const weight = new Float32Array(n);
      for (let s = 0, a = 0; s < k; s++) {
        for (let i = 0; i < t; i++, a++) {
          token[a] = i;
          expert[a] = chosen[i * k + s];
          weight[a] = prob[i * k + s] * scale[i];
        }
      }
      return { token, expert, weight, capacity };
    },
  };
}
