/**
 * `hash` (Roller et al. 2021, "Hash Layers For Large Sparse Models"): the expert is a fixed
 * function of the token id, not of the hidden state; no learned routing, weight 1.
 *
 *     h_s(id) = fmix32(id XOR fmix32(seed + s))       (fmix32: MurmurHash3's 32-bit finaliser)
 *     expert  = h_0(id) mod E                          (k = 1, weight 1)
 *
 * fmix32(0) = 0, so with the default seed 0 the expert is simply fmix32(id) mod E.
 *
 * k > 1 (the layer's topK): the token takes k DISTINCT experts, from h_0, h_1, h_2, ... mod E in
 * that order, skipping experts it already has (after 8k draws the lowest unused expert ids
 * fill what is left, so it always terminates); each gets weight 1 / k, so the output stays an
 * average of expert outputs as with k = 1.
 *
 * The router needs token ids (`needsTokenIds`); without them it throws a RouterError. The
 * logits are ignored, so the router projection is computed but does not matter.
 */
import { ConfigError, RouterError } from '../errors.js';
import type { Router, RouterContext, RouterDecision, RouterInput } from '../router.js';
import { parseRouterOptions, type OptionsSchema } from '../router-options.js';

/** Options of `hash`. */
export const HASH_OPTIONS = {
  seed: { type: 'integer', default: 0, min: 0, max: 0xffffffff, description: 'hash seed; h_s(id) = fmix32(id ^ fmix32(seed + s))' },
} as const satisfies OptionsSchema;

/** MurmurHash3's 32-bit finaliser (an invertible integer mix), as an unsigned 32-bit integer. */
export function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The s-th hash of a token id under `seed` (unsigned 32-bit). */
export function tokenHash(id: number, seed: number, s = 0): number {
  return fmix32((id ^ fmix32((seed + s) >>> 0)) >>> 0);
}

/** Writes the k distinct experts of token `id` into `out` (see the module comment). */
export function hashExperts(id: number, seed: number, e: number, k: number, out: Int32Array): Int32Array {
  let count = 0;
  for (let s = 0; count < k && s < 8 * k; s++) {
    const ex = tokenHash(id, seed, s) % e;
    if (!out.subarray(0, count).includes(ex)) out[count++] = ex;
  }
  for (let ex = 0; count < k; ex++) if (!out.subarray(0, count).includes(ex)) out[count++] = ex;
  return out;
}

/** Builds a `hash` router. */
export function createHashRouter(options: Readonly<Record<string, unknown>>, ctx: RouterContext): Router {
  const { seed } = parseRouterOptions('hash', HASH_OPTIONS, options);
  const k = ctx.topK;
  if (k > ctx.numExperts) throw new ConfigError('topK', `expected at most numExperts (${ctx.numExperts}), got ${k}`);
  return {
    name: 'hash',
    needsTokenIds: true,
    route(input: RouterInput): RouterDecision {
      const { numTokens: t, numExperts: e, tokenIds } = input;
      if (!tokenIds) throw new RouterError("router 'hash' needs token ids; pass forward(x, { tokenIds })");
      if (tokenIds.length !== t) throw new RouterError(`router 'hash': tokenIds has ${tokenIds.length} entries, expected ${t}`);
      const n = t * k;
      const token = new Int32Array(n);
      const expert = new Int32Array(n);
      const weight = new Float32Array(n).fill(1 / k);
      const chosen = new Int32Array(k);
      for (let i = 0; i < t; i++) {
        hashExperts(tokenIds[i], seed, e, k, chosen);
        token.fill(i, i * k, (i + 1) * k);
        expert.set(chosen, i * k);
      }
      return { token, expert, weight };
    },
  };
}
