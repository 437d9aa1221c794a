/**
 * `expert-choice` (Zhou et al. 2022, "Mixture-of-Experts with Expert Choice Routing"): the
 * experts pick tokens instead of tokens picking experts.
 *
 *     S = softmax over experts of each token's logits            [T, E]
 *     C = min(T, ceil(T * capacityFactor / E))                   tokens per expert
 *     expert e takes the C tokens with the largest S[t, e] (ties: lower token index)
 *     w(t, e) = S[t, e]
 *
 * The capacity rounds UP (the paper writes k = n * c / e; ceil makes sure on average at
 * least `capacityFactor` experts serve a token) and never exceeds T. `capacityFactor` is the
 * mean number of experts per token; it defaults to the layer's topK.
 *
 * Consequences worth knowing:
 * - a token may get 0 experts (its routed output is 0) or up to E;
 * - every expert is exactly full (C rows each): perfect load balance by construction;
 * - the routing of a token depends on the WHOLE batch: the same token can gain or lose an
 *   expert when other tokens are added, removed or reordered. Batch tokens together only when
 *   that is what you mean (it is not causal, so not for autoregressive decoding).
 *
 * Assignments are listed expert by expert, each expert's tokens best first. `capacity` is set
 * to C for the statistics (nothing is dropped). `selectionScores` is S; note that the core's
 * near-tie detection compares experts within a token, while an expert-choice near-tie is
 * between tokens competing for one expert's last slot, so such a flip counts as a mismatch.
 */
import { ConfigError, RouterError } from '../errors.js';
import type { Router, RouterContext, RouterDecision, RouterInput } from '../router.js';
import { parseRouterOptions, type OptionsSchema } from '../router-options.js';
import { AssignmentList } from './assignments.js';
import { softmaxRow, topKIndices } from './select.js';

/** Options of `expert-choice`. */
export const EXPERT_CHOICE_OPTIONS = {
  capacityFactor: {
    type: 'number',
    min: 0,
    exclusiveMin: true,
    description: 'mean experts per token c; C = min(T, ceil(T * c / E)) tokens per expert (default: the layer topK)',
  },
} as const satisfies OptionsSchema;

/** Tokens per expert for a batch of `t` tokens. */
export function expertChoiceCapacity(t: number, e: number, capacityFactor: number): number {
  return Math.min(t, Math.ceil((t * capacityFactor) / e));
}

// topKIndices is O(T * C): right for small C. Past that: find the C-th largest score with a
// native numeric sort, take every token above it plus the lowest-index tokens equal to it,
// and order just those C (score desc, token asc).
function pickTokens(column: Float64Array, t: number, c: number, out: Int32Array, sorted: Float64Array): void {
  if (c <= 16) {
    topKIndices(column, 0, t, c, out);
    return;
  }
  for (let i = 0; i < t; i++) if (Number.isNaN(column[i])) throw new RouterError(`expert-choice: routing score of token ${i} is NaN`);
  sorted.set(column);
  sorted.sort();
  const threshold = sorted[t - c];
  let n = 0;
  for (let i = 0; i < t; i++) if (column[i] > threshold) out[n++] = i;
  for (let i = 0; i < t && n < c; i++) if (column[i] === threshold) out[n++] = i;
  out.sort((a, b) => column[b] - column[a] || a - b);
}

/** Builds an `expert-choice` router. */
export function createExpertChoiceRouter(options: Readonly<Record<string, unknown>>, ctx: RouterContext): Router {
  const parsed = parseRouterOptions('expert-choice', EXPERT_CHOICE_OPTIONS, options);
  const capacityFactor = parsed.capacityFactor ?? ctx.topK;
  if (capacityFactor > ctx.numExperts) {
    throw new ConfigError('router.options.capacityFactor', `expected at most numExperts (${ctx.numExperts}) experts per token, got ${capacityFactor} (router 'expert-choice')`);
  }
  return {
    name: 'expert-choice',
    route(input: RouterInput): RouterDecision {
      const { numTokens: t, numExperts: e, logits } = input;
      const scores = new Float64Array(t * e);
      const row = new Float64Array(e);
      for (let i = 0; i < t; i++) scores.set(softmaxRow(logits, i * e, e, row), i * e);
      const c = expertChoiceCapacity(t, e, capacityFactor);
      // Column e of S, contiguous, so topKIndices' lower-index tie rule means lower token.
      const column = new Float64Array(t);
      const picked = new Int32Array(c);
      const sorted = new Float64Array(t);
      const out = new AssignmentList(e * c);
      for (let j = 0; j < e; j++) {
        for (let i = 0; i < t; i++) column[i] = scores[i * e + j];
        pickTokens(column, t, c, picked, sorted);
        for (let s = 0; s < c; s++) out.push(picked[s], j, column[picked[s]]);
      }
      return out.toDecision({ capacity: c, selectionScores: scores });
    },
  };
}
