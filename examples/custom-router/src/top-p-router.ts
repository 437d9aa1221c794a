/**
 * A custom router written outside core: nucleus (top-p) routing. Each token takes the fewest
 * experts, best first, whose softmax probabilities add up to at least `topP`, at most
 * `maxExperts` (default: the layer's topK), and weights them by their renormalised
 * probabilities. Confident tokens use one expert; uncertain ones use several.
 *
 * It uses only core's public API, so it runs unchanged on every backend.
 */
import {
  AssignmentList,
  ConfigError,
  parseRouterOptions,
  registerRouter,
  softmaxRow,
  topKIndices,
  type OptionsSchema,
  type Router,
  type RouterContext,
  type RouterInput,
} from '@moe-runtime/core';

/** The options of `top-p`, declared once: parseRouterOptions validates JSON against them. */
export const TOP_P_OPTIONS = {
  topP: { type: 'number', default: 0.7, min: 0, exclusiveMin: true, max: 1, description: 'probability mass to cover' },
  maxExperts: { type: 'integer', min: 1, description: 'at most this many experts per token (default: the layer topK)' },
} as const satisfies OptionsSchema;

/** Builds a `top-p` router from JSON options and the layer context. */
export function createTopPRouter(options: Readonly<Record<string, unknown>>, ctx: RouterContext): Router {
  const { topP, maxExperts = ctx.topK } = parseRouterOptions('top-p', TOP_P_OPTIONS, options);
  if (maxExperts > ctx.numExperts) {
    throw new ConfigError('router.options.maxExperts', `expected at most numExperts (${ctx.numExperts}), got ${maxExperts}`);
  }
  return {
    name: 'top-p',
    route({ logits, numTokens, numExperts }: RouterInput) {
      const out = new AssignmentList(numTokens * maxExperts);
      const probs = new Float64Array(numExperts);
      const ranked = new Int32Array(maxExperts);
      for (let t = 0; t < numTokens; t++) {
        softmaxRow(logits, t * numExperts, numExperts, probs);
        topKIndices(probs, 0, numExperts, maxExperts, ranked); // best first, ties to the lower id
        let n = 0;
        let mass = 0;
        while (n < maxExperts && mass < topP) mass += probs[ranked[n++]];
        for (let s = 0; s < n; s++) out.push(t, ranked[s], probs[ranked[s]] / mass);
      }
      return out.toDecision();
    },
  };
}

/** Registers `top-p`, so any layer config can name it: `router: { name: 'top-p', options: { topP: 0.8 } }`. */
export function registerTopPRouter(): void {
  registerRouter('top-p', createTopPRouter, {
    description: 'nucleus routing: the fewest experts covering topP of the softmax mass, renormalised',
    options: TOP_P_OPTIONS,
  });
}
