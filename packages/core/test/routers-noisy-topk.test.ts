import { describe, expect, it } from 'vitest';
import { createRng, createRouter, softplus } from '../src/index.js';
import { ctx, keptRouting, oracleNoisyTopK, oracleTopKSoftmax, randomLogits, routingDiff, routingStrings } from './routers-oracle.js';

const noisy = (options: Record<string, unknown>, e: number, k: number, params: Record<string, Float32Array> = {}) =>
  createRouter({ name: 'noisy-topk', options }, ctx(e, k, params));

describe('noisy-topk (Shazeer et al. 2017)', () => {
  it('without noise (the default) equals top-k softmax renormalised', () => {
    const [t, e, k] = [40, 8, 2];
    const logits = randomLogits(t, e, 11);
    const d = noisy({}, e, k).route({ logits, numTokens: t, numExperts: e });
    const mixtral = createRouter({ name: 'topk-softmax' }, ctx(e, k)).route({ logits, numTokens: t, numExperts: e });
    expect(Array.from(d.expert)).toEqual(Array.from(mixtral.expert));
    expect(routingDiff(keptRouting(d, t, e), oracleTopKSoftmax(logits, t, e, k, true), 1e-6)).toEqual([]);
  });

  it('softmaxes over the kept H values by hand, ties to the lower id', () => {
    // H = l (no noise): top-2 of [0, ln 3, ln 3, -inf] = experts 1, 2 (tie: 1 first), weights 1/2 each.
    const d = noisy({}, 4, 2).route({ logits: Float64Array.from([0, Math.log(3), Math.log(3), -Infinity]), numTokens: 1, numExperts: 4 });
    expect(Array.from(d.expert)).toEqual([1, 2]);
    expect(Array.from(d.weight)).toEqual([0.5, 0.5]);
    // softmax over top-2 of [ln 1, ln 3, ln 2]: experts 1, 2 with 3/5 and 2/5
    const d2 = noisy({}, 3, 2).route({ logits: Float64Array.from([0, Math.log(3), Math.log(2)]), numTokens: 1, numExperts: 3 });
    expect(Array.from(d2.expert)).toEqual([1, 2]);
    expect(d2.weight[0]).toBeCloseTo(0.6, 6);
    expect(d2.weight[1]).toBeCloseTo(0.4, 6);
  });

  it('adds eps * noiseStd from createRng(seed), token-major, when training', () => {
    const logits = Float64Array.from([0, 0.1, 0.2]);
    const rng = createRng(5);
    const h = Array.from(logits, (l) => l + rng.normal() * 2);
    const best = h.indexOf(Math.max(...h));
    const d = noisy({ train: true, seed: 5, noiseStd: 2 }, 3, 1).route({ logits, numTokens: 1, numExperts: 3 });
    expect(d.expert[0]).toBe(best);
    expect(d.weight[0]).toBe(1);
    expect(Array.from(d.selectionScores!)).toEqual(h);
  });

  it('agrees with the oracle with constant and per-expert (softplus of a parameter) noise', () => {
    const [t, e, k] = [30, 6, 2];
    const logits = randomLogits(t, e, 12);
    const d = noisy({ train: true, seed: 3, noiseStd: 0.7 }, e, k).route({ logits, numTokens: t, numExperts: e });
    expect(routingDiff(keptRouting(d, t, e), oracleNoisyTopK(logits, t, e, k, 3, () => 0.7), 1e-6)).toEqual([]);
    const param = Float32Array.from([-2, -1, 0, 0.5, 1, 3]);
    const p = noisy({ train: true, seed: 4 }, e, k, { noise_logits: param }).route({ logits, numTokens: t, numExperts: e });
    expect(routingDiff(keptRouting(p, t, e), oracleNoisyTopK(logits, t, e, k, 4, (j) => Math.log(1 + Math.exp(param[j]))), 1e-6)).toEqual([]);
    // the noise really changes the routing here, so the test can tell noise from no noise
    expect(routingStrings(keptRouting(d, t, e))).not.toEqual(routingStrings(oracleTopKSoftmax(logits, t, e, k, true)));
  });

  it('is deterministic for equal inputs and changes with the seed', () => {
    const [t, e, k] = [50, 8, 2];
    const logits = randomLogits(t, e, 13);
    const r = noisy({ train: true, seed: 1 }, e, k);
    const a = r.route({ logits, numTokens: t, numExperts: e });
    const b = r.route({ logits, numTokens: t, numExperts: e });
    expect(Array.from(b.expert)).toEqual(Array.from(a.expert));
    const c = noisy({ train: true, seed: 2 }, e, k).route({ logits, numTokens: t, numExperts: e });
    expect(Array.from(c.expert)).not.toEqual(Array.from(a.expert));
  });

  it('softplus is ln(1 + e^x) and safe for large x', () => {
    expect(softplus(0)).toBeCloseTo(Math.LN2, 12);
    expect(softplus(-40)).toBeCloseTo(Math.exp(-40), 20);
    expect(softplus(1000)).toBe(1000);
  });
});
