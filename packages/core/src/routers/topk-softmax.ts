/**
 * `topk-softmax` (Mixtral; Qwen-MoE with `norm_topk_prob`): p = softmax(l); take the top-k of
 * p; w = p_i, divided by the sum of the chosen p when `renormalize` (the default, Mixtral).
 */
import { ConfigError } from '../errors.js';
import type { Router, RouterContext, RouterDecision, RouterInput } from '../router.js';
import { parseRouterOptions, type OptionsSchema } from '../router-options.js';
import { softmaxRow, topKIndices } from './select.js';

/** Options of `topk-softmax`. */
export const TOPK_SOFTMAX_OPTIONS = {
  renormalize: { type: 'boolean', default: true, description: 'divide the chosen probabilities by their sum (Mixtral: true; Qwen norm_topk_prob)' },
} as const satisfies OptionsSchema;

/** Builds a `topk-softmax` router. */
export function createTopKSoftmaxRouter(options: Readonly<Record<string, unknown>>, ctx: RouterContext): Router {
  const { renormalize } = parseRouterOptions('topk-softmax', TOPK_SOFTMAX_OPTIONS, options);
  const k = ctx.topK;
  if (k > ctx.numExperts) throw new ConfigError('topK', `expected at most numExperts (${ctx.numExperts}), got ${k}`);
  return {
    name: 'topk-softmax',
    route(input: RouterInput): RouterDecision {
      const { numTokens: t, numExperts: e, logits } = input;
      const n = t * k;
      const token = new Int32Array(n);
      const expert = new Int32Array(n);
      const weight = new Float32Array(n);
      const probs = new Float64Array(e);
      const chosen = new Int32Array(k);
      for (let i = 0; i < t; i++) {
        softmaxRow(logits, i * e, e, probs);
        topKIndices(probs, 0, e, k, chosen);
        let sum = 0;
        for (let s = 0; s < k; s++) sum += probs[chosen[s]];
        const scale = renormalize ? 1 / sum : 1;
        for (let s = 0; s < k; s++) {
          const a = i * k + s;
          token[a] = i;
          expert[a] = chosen[s];
          weight[a] = probs[chosen[s]] * scale;
        }
      }
      return { token, expert, weight };
    },
  };
}
