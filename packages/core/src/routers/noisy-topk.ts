/**
 * `noisy-topk` (Shazeer et al. 2017, "Outrageously Large Neural Networks"):
 *
 *     H_e = l_e + eps * softplus(n_e),   eps ~ N(0, 1)
 *     keep the top-k of H (ties: lower expert id); w = softmax over the kept H values
 *
 * Noise is a training device, so it is OFF unless `train: true`; with it off H = l and the
 * weights equal `topk-softmax` with renormalisation (softmax over the top-k logits =
 * p_i / sum of the chosen p).
 *
 * The noise scale. In the paper n = x W_noise is a second projection of the token. A router
 * here sees the logits only, so the scale is per expert: softplus of the `[E]` router parameter
 * named by `noiseParam` (default `noise_logits`, from the weights' `routerParams`) when the
 * weights have it, else the constant `noiseStd` for every expert.
 *
 * Determinism. The router must give equal answers for equal inputs (the float64 reference
 * re-routes the same batch), so every call draws its noise from a fresh `createRng(seed)` in
 * token-major order: eps of (token i, expert e) is the (i * E + e)-th normal of the stream.
 * Change `seed` for another draw.
 */
import { ConfigError, RouterError } from '../errors.js';
import type { Router, RouterContext, RouterDecision, RouterInput } from '../router.js';
import { parseRouterOptions, type OptionsSchema } from '../router-options.js';
import { createRng } from '../rng.js';
import { topKIndices } from './select.js';

/** Options of `noisy-topk`. */
export const NOISY_TOPK_OPTIONS = {
  train: { type: 'boolean', default: false, description: 'add the noise (training); off at inference, where H = l' },
  seed: { type: 'integer', default: 0, min: 0, description: 'seed of the N(0, 1) noise stream (createRng)' },
  noiseStd: { type: 'number', default: 1, min: 0, description: 'noise scale of every expert when the weights have no noiseParam' },
  noiseParam: { type: 'string', default: 'noise_logits', description: 'router parameter [E] whose softplus is the per-expert noise scale, if present' },
} as const satisfies OptionsSchema;

/** softplus(x) = ln(1 + e^x), without overflow for large x. */
export function softplus(x: number): number {
  return x > 30 ? x : Math.log1p(Math.exp(x));
}

/** Builds a `noisy-topk` router. */
export function createNoisyTopKRouter(options: Readonly<Record<string, unknown>>, ctx: RouterContext): Router {
  const { train, seed, noiseStd, noiseParam } = parseRouterOptions('noisy-topk', NOISY_TOPK_OPTIONS, options);
  const k = ctx.topK;
  const e = ctx.numExperts;
  if (k > e) throw new ConfigError('topK', `expected at most numExperts (${e}), got ${k}`);
  const param = ctx.params[noiseParam];
  if (param && param.length !== e) {
    throw new ConfigError(`routerParams.${noiseParam}`, `expected ${e} values (one per expert), got ${param.length} (router 'noisy-topk')`);
  }
  const scale = Float64Array.from({ length: e }, (_, j) => (param ? softplus(param[j]) : noiseStd));
  return {
    name: 'noisy-topk',
    route(input: RouterInput): RouterDecision {
      const { numTokens: t, logits } = input;
      const h = Float64Array.from(logits);
      if (train) {
        const rng = createRng(seed);
        for (let a = 0; a < t * e; a++) h[a] += rng.normal() * scale[a % e];
      }
      const n = t * k;
      const token = new Int32Array(n);
      const expert = new Int32Array(n);
      const weight = new Float32Array(n);
      const chosen = new Int32Array(k);
      const ex = new Float64Array(k);
      for (let i = 0; i < t; i++) {
        topKIndices(h, i * e, e, k, chosen);
        // Softmax over the kept H values; chosen[0] holds the largest.
        const top = h[i * e + chosen[0]];
        if (top === -Infinity) throw new RouterError(`noisy-topk: token ${i} has no finite logit`);
        let sum = 0;
        for (let s = 0; s < k; s++) sum += ex[s] = Math.exp(h[i * e + chosen[s]] - top);
        for (let s = 0; s < k; s++) {
          const a = i * k + s;
          token[a] = i;
          expert[a] = chosen[s];
          weight[a] = ex[s] / sum;
        }
      }
      return { token, expert, weight, selectionScores: h };
    },
  };
}
