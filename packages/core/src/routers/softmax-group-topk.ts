/**
 * `softmax-group-topk` (DeepSeek-V2 `group_limited_greedy` gate):
 *
 *     p = softmax(l)
 *     groups: E experts in nGroup contiguous groups, each scored by its largest p
 *     keep the topkGroup best groups; p of every other expert = -Infinity (for choosing)
 *     chosen = top-k (ties: lower expert id)
 *     w_i = p_i [/ (sum of the chosen p + 1e-20) when normTopkProb] * routedScalingFactor
 *
 * With nGroup = 1 this is DeepSeek-V2-Lite's plain `greedy` top-k softmax. DeepSeek-V2's code
 * applies routed_scaling_factor only when it does not normalise; here the factor always
 * applies, so for a normalising V2 config set routedScalingFactor to 1 (V2 itself ships
 * norm_topk_prob = false, routed_scaling_factor = 16, where both rules agree). Dropped groups
 * are masked to -Infinity (the reference code uses 0.0: identical unless probabilities
 * underflow to 0). `selectionScores` is p after the group mask.
 */
import { ConfigError } from '../errors.js';
import type { Router, RouterContext, RouterDecision, RouterInput } from '../router.js';
import { parseRouterOptions, type OptionsSchema } from '../router-options.js';
import { checkGroupLayout, routeGroupLimited } from './group-limit.js';
import { softmaxRow } from './select.js';

/** Options of `softmax-group-topk`. */
export const SOFTMAX_GROUP_TOPK_OPTIONS = {
  nGroup: { type: 'integer', default: 1, min: 1, description: 'number of expert groups (n_group); must divide E' },
  topkGroup: { type: 'integer', default: 1, min: 1, description: 'groups kept per token (topk_group); at most nGroup' },
  normTopkProb: { type: 'boolean', default: false, description: 'divide the chosen probabilities by their sum (norm_topk_prob)' },
  routedScalingFactor: { type: 'number', default: 1, min: 0, exclusiveMin: true, description: 'multiplies every weight (routed_scaling_factor; DeepSeek-V2: 16)' },
} as const satisfies OptionsSchema;

/** Builds a `softmax-group-topk` router. */
export function createSoftmaxGroupTopKRouter(options: Readonly<Record<string, unknown>>, ctx: RouterContext): Router {
  const opts = parseRouterOptions('softmax-group-topk', SOFTMAX_GROUP_TOPK_OPTIONS, options);
  const k = ctx.topK;
  const e = ctx.numExperts;
  if (k > e) throw new ConfigError('topK', `expected at most numExperts (${e}), got ${k}`);
  const layout = checkGroupLayout('softmax-group-topk', e, k, opts.nGroup, opts.topkGroup);
  const scoreRow = (logits: RouterInput['logits'], i: number, w: Float64Array, c: Float64Array): void => {
    softmaxRow(logits, i * e, e, w);
    c.set(w);
  };
  const routing = { topK: k, layout, scoring: 'max', normTopkProb: opts.normTopkProb, routedScalingFactor: opts.routedScalingFactor, scoreRow } as const;
  return {
    name: 'softmax-group-topk',
    route: (input: RouterInput): RouterDecision => routeGroupLimited(input, routing),
  };
}
