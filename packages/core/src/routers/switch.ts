/**
 * `switch` (Switch Transformer, Fedus et al. 2021): p = softmax(l); expert = argmax p;
 * w = p_expert (no renormalisation); capacity C = ceil(T / E * capacityFactor); tokens past an
 * expert's capacity, in token order, are dropped (their MoE output is 0).
 */
import { ConfigError } from '../errors.js';
import type { Router, RouterContext, RouterDecision, RouterInput } from '../router.js';
import { parseRouterOptions, type OptionsSchema } from '../router-options.js';
import { softmaxRow, topKIndices } from './select.js';

/** Options of `switch`. */
export const SWITCH_OPTIONS = {
  capacityFactor: { type: 'number', default: 1.25, min: 0, exclusiveMin: true, description: 'C = ceil(T / E * capacityFactor)' },
  dropTokens: { type: 'boolean', default: true, description: 'enforce the capacity (false: no token is dropped)' },
} as const satisfies OptionsSchema;

/** Builds a `switch` router. */
export function createSwitchRouter(options: Readonly<Record<string, unknown>>, ctx: RouterContext): Router {
  const { capacityFactor, dropTokens } = parseRouterOptions('switch', SWITCH_OPTIONS, options);
  if (ctx.topK !== 1) throw new ConfigError('topK', `the 'switch' router routes each token to 1 expert; expected topK = 1, got ${ctx.topK}`);
  return {
    name: 'switch',
    route(input: RouterInput): RouterDecision {
      const { numTokens: t, numExperts: e, logits } = input;
      const token = new Int32Array(t);
      const expert = new Int32Array(t);
      const weight = new Float32Array(t);
      const probs = new Float64Array(e);
      const best = new Int32Array(1);
      for (let i = 0; i < t; i++) {
        softmaxRow(logits, i * e, e, probs);
        topKIndices(probs, 0, e, 1, best);
        token[i] = i;
        expert[i] = best[0];
        weight[i] = probs[best[0]];
      }
      const capacity = dropTokens ? Math.ceil((t / e) * capacityFactor) : undefined;
      return { token, expert, weight, capacity };
    },
  };
}
