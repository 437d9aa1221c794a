/**
 * `sigmoid-group-topk` (DeepSeek-V3 `noaux_tc` gate; also Kimi K2 / GLM-4.5 style):
 *
 *     s = sigmoid(l)                                    affinity, per expert
 *     c = s + bias                                      for CHOOSING only (aux-loss-free balancing)
 *     groups: E experts in nGroup contiguous groups, each scored by the sum of its top-2 c
 *     keep the topkGroup best groups; c of every other expert = -Infinity
 *     chosen = top-k of c (ties: lower expert id)
 *     w_i = s_i (unbiased) [/ (sum of the chosen s + 1e-20) when normTopkProb] * routedScalingFactor
 *
 * The bias is `routerParams.e_score_correction_bias` `[E]` from the weights (the Hugging Face
 * name; `biasParam` changes it) or the option `bias`; giving both is an error. Without either
 * it is 0. `selectionScores` is c after the group mask, so near-ties are judged on what chose.
 *
 * Differences from the reference code, on purpose: experts of dropped groups are masked to
 * -Infinity (Hugging Face masks them to 0.0, which only differs when a kept score is negative,
 * i.e. with a strongly negative bias); a group of one expert is scored by that expert alone.
 */
import { ConfigError } from '../errors.js';
import type { Router, RouterContext, RouterDecision, RouterInput } from '../router.js';
import { parseRouterOptions, type OptionsSchema } from '../router-options.js';
import { checkGroupLayout, routeGroupLimited } from './group-limit.js';

/** Options of `sigmoid-group-topk`. */
export const SIGMOID_GROUP_TOPK_OPTIONS = {
  nGroup: { type: 'integer', default: 1, min: 1, description: 'number of expert groups (n_group); must divide E' },
  topkGroup: { type: 'integer', default: 1, min: 1, description: 'groups kept per token (topk_group); at most nGroup' },
  normTopkProb: { type: 'boolean', default: true, description: 'divide the chosen sigmoid scores by their sum (norm_topk_prob)' },
  routedScalingFactor: { type: 'number', default: 1, min: 0, exclusiveMin: true, description: 'multiplies every weight (routed_scaling_factor; DeepSeek-V3: 2.5)' },
  bias: { type: 'number[]', description: '[E] selection bias, instead of the weights\' biasParam' },
  biasParam: { type: 'string', default: 'e_score_correction_bias', description: 'router parameter [E] holding the selection bias' },
} as const satisfies OptionsSchema;

/** Logistic sigmoid in float64 (stable for large |x|). */
function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

function selectionBias(options: { bias?: readonly number[]; biasParam: string }, ctx: RouterContext): Float64Array {
  const e = ctx.numExperts;
  const fromWeights = ctx.params[options.biasParam];
  if (options.bias && fromWeights) {
    throw new ConfigError('router.options.bias', `the weights already hold routerParams.${options.biasParam}; give the bias once (router 'sigmoid-group-topk')`);
  }
  const bias = options.bias ?? fromWeights;
  if (!bias) return new Float64Array(e);
  if (bias.length !== e) {
    const field = options.bias ? 'router.options.bias' : `routerParams.${options.biasParam}`;
    throw new ConfigError(field, `expected ${e} values (one per expert), got ${bias.length} (router 'sigmoid-group-topk')`);
  }
  return Float64Array.from(bias);
}

/** Builds a `sigmoid-group-topk` router. */
export function createSigmoidGroupTopKRouter(options: Readonly<Record<string, unknown>>, ctx: RouterContext): Router {
  const opts = parseRouterOptions('sigmoid-group-topk', SIGMOID_GROUP_TOPK_OPTIONS, options);
  const k = ctx.topK;
  const e = ctx.numExperts;
  if (k > e) throw new ConfigError('topK', `expected at most numExperts (${e}), got ${k}`);
  const layout = checkGroupLayout('sigmoid-group-topk', e, k, opts.nGroup, opts.topkGroup);
  const bias = selectionBias(opts, ctx);
  const scoreRow = (logits: RouterInput['logits'], i: number, w: Float64Array, c: Float64Array): void => {
    for (let j = 0; j < e; j++) {
      w[j] = sigmoid(logits[i * e + j]);
      c[j] = w[j] + bias[j];
    }
  };
  const routing = { topK: k, layout, scoring: 'top2-sum', normTopkProb: opts.normTopkProb, routedScalingFactor: opts.routedScalingFactor, scoreRow } as const;
  return {
    name: 'sigmoid-group-topk',
    route: (input: RouterInput): RouterDecision => routeGroupLimited(input, routing),
  };
}
