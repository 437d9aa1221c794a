import { describe, expect, it } from 'vitest';
import { createRouter } from '../src/index.js';
import { ctx, keptRouting, oracleGroupTopK, randomLogits, routingDiff, routingStrings } from './routers-oracle.js';

const sig = (x: number) => 1 / (1 + Math.exp(-x));
const logit = (p: number) => Math.log(p / (1 - p));

describe('sigmoid-group-topk (DeepSeek-V3)', () => {
  const router = (options: Record<string, unknown>, e: number, k: number, params: Record<string, Float32Array> = {}) =>
    createRouter({ name: 'sigmoid-group-topk', options }, ctx(e, k, params));

  it('keeps the group with the best top-2 sum and masks the others to -Infinity', () => {
    // group 0 = experts 0,1: s = .95, .05 (sum 1.0); group 1 = experts 2,3: s = .73, .73 (sum 1.46).
    // Expert 0 has the highest score but its group loses; experts 2, 3 tie -> 2 listed first.
    const logits = Float64Array.from([logit(0.95), logit(0.05), 1, 1]);
    const d = router({ nGroup: 2, topkGroup: 1, routedScalingFactor: 2.5 }, 4, 2).route({ logits, numTokens: 1, numExperts: 4 });
    expect(Array.from(d.expert)).toEqual([2, 3]);
    expect(d.weight[0]).toBeCloseTo(1.25, 6); // normalised 1/2 each, times 2.5
    expect(d.weight[1]).toBeCloseTo(1.25, 6);
    expect(Array.from(d.selectionScores!.subarray(0, 2))).toEqual([-Infinity, -Infinity]);
    expect(d.selectionScores![2]).toBeCloseTo(sig(1), 12);
    // without groups the plain top-2 is experts 0 and 2
    expect(Array.from(router({}, 4, 2).route({ logits, numTokens: 1, numExperts: 4 }).expert)).toEqual([0, 2]);
  });

  it('chooses with s + bias but weights with the unbiased s', () => {
    const logits = Float64Array.from([1, 0, 0, 0]); // s = .731, .5, .5, .5
    const bias = [0, 0.5, 0, 0]; // choice scores .731, 1.0, .5, .5
    const d = router({ bias, normTopkProb: false }, 4, 1).route({ logits, numTokens: 1, numExperts: 4 });
    expect(d.expert[0]).toBe(1);
    expect(d.weight[0]).toBeCloseTo(0.5, 7);
    expect(d.selectionScores![1]).toBeCloseTo(1, 12);
    // the same bias from the weights' e_score_correction_bias
    const p = router({ normTopkProb: false }, 4, 1, { e_score_correction_bias: Float32Array.from(bias) }).route({ logits, numTokens: 1, numExperts: 4 });
    expect(Array.from(p.expert)).toEqual([1]);
    expect(p.weight[0]).toBeCloseTo(0.5, 7);
    // normalised top-1 weight is 1 (times the scaling factor)
    expect(router({ bias, routedScalingFactor: 3 }, 4, 1).route({ logits, numTokens: 1, numExperts: 4 }).weight[0]).toBeCloseTo(3, 6);
  });

  it('breaks tied groups toward the lower group id and tied experts toward the lower expert id', () => {
    const logits = new Float64Array(8); // all s = .5: group 0 wins, experts 0 and 1
    const d = router({ nGroup: 4, topkGroup: 1 }, 8, 2).route({ logits, numTokens: 1, numExperts: 8 });
    expect(Array.from(d.expert)).toEqual([0, 1]);
    const d2 = router({ nGroup: 4, topkGroup: 2 }, 8, 3).route({ logits, numTokens: 1, numExperts: 8 });
    expect(Array.from(d2.expert)).toEqual([0, 1, 2]);
  });

  it('handles a -Infinity logit (sigmoid 0) like any low score', () => {
    const logits = Float64Array.from([-Infinity, 0, 2, -1]);
    const d = router({ normTopkProb: false }, 4, 2).route({ logits, numTokens: 1, numExperts: 4 });
    expect(routingStrings(keptRouting(d, 1, 4), 4)).toEqual([`1:0.5000 2:${sig(2).toFixed(4)}`]);
  });

  it('agrees with a sort-based float64 oracle on random logits', () => {
    for (const [t, e, k, nGroup, topkGroup, norm, scale, seed] of [
      [30, 16, 4, 4, 2, true, 2.5, 1],
      [25, 8, 2, 8, 3, false, 1, 2], // groups of one expert
      [20, 12, 3, 3, 1, true, 1, 3],
      [20, 6, 2, 1, 1, true, 1.5, 4],
    ] as const) {
      const logits = randomLogits(t, e, seed);
      const bias = Array.from(randomLogits(1, e, seed + 100, 0.3));
      const d = router({ nGroup, topkGroup, normTopkProb: norm, routedScalingFactor: scale, bias }, e, k).route({ logits, numTokens: t, numExperts: e });
      const expected = oracleGroupTopK(logits, t, e, k, { kind: 'sigmoid', nGroup, topkGroup, norm, scale, bias });
      expect(routingDiff(keptRouting(d, t, e), expected, 1e-6)).toEqual([]);
    }
  });
});

describe('softmax-group-topk (DeepSeek-V2 group-limited greedy)', () => {
  const router = (options: Record<string, unknown>, e: number, k: number) => createRouter({ name: 'softmax-group-topk', options }, ctx(e, k));

  it('scores groups by their max probability by hand', () => {
    // p = .4 .05 | .3 .25: group 0 (max .4) beats group 1 (max .3) -> experts 0, 1; plain top-2 is 0, 2.
    const logits = Float64Array.from([0.4, 0.05, 0.3, 0.25].map(Math.log));
    const d = router({ nGroup: 2, topkGroup: 1 }, 4, 2).route({ logits, numTokens: 1, numExperts: 4 });
    expect(routingStrings(keptRouting(d, 1, 4), 4)).toEqual(['0:0.4000 1:0.0500']);
    const n = router({ nGroup: 2, topkGroup: 1, normTopkProb: true, routedScalingFactor: 2 }, 4, 2).route({ logits, numTokens: 1, numExperts: 4 });
    expect(routingStrings(keptRouting(n, 1, 4), 4)).toEqual([`0:${((2 * 0.4) / 0.45).toFixed(4)} 1:${((2 * 0.05) / 0.45).toFixed(4)}`]);
    expect(Array.from(router({}, 4, 2).route({ logits, numTokens: 1, numExperts: 4 }).expert)).toEqual([0, 2]);
    expect(Array.from(d.selectionScores!.subarray(2))).toEqual([-Infinity, -Infinity]);
  });

  it('never picks a -Infinity logit (probability 0) over a positive one', () => {
    const logits = Float64Array.from([-Infinity, 0, 0, Math.log(2)]); // p = 0, .25, .25, .5
    const d = router({ nGroup: 2, topkGroup: 1 }, 4, 2).route({ logits, numTokens: 1, numExperts: 4 });
    expect(routingStrings(keptRouting(d, 1, 4), 4)).toEqual(['2:0.2500 3:0.5000']);
    const flat = router({}, 4, 3).route({ logits, numTokens: 1, numExperts: 4 });
    expect(Array.from(flat.expert)).toEqual([3, 1, 2]);
  });

  it('breaks ties toward the lower group and expert id', () => {
    const d = router({ nGroup: 2, topkGroup: 1 }, 4, 2).route({ logits: new Float64Array(4), numTokens: 1, numExperts: 4 });
    expect(Array.from(d.expert)).toEqual([0, 1]);
  });

  it('agrees with a sort-based float64 oracle on random logits', () => {
    for (const [t, e, k, nGroup, topkGroup, norm, scale, seed] of [
      [30, 16, 6, 8, 3, false, 16, 5],
      [25, 8, 2, 4, 2, true, 1, 6],
      [20, 6, 2, 1, 1, false, 1, 7],
    ] as const) {
      const logits = randomLogits(t, e, seed);
      const d = router({ nGroup, topkGroup, normTopkProb: norm, routedScalingFactor: scale }, e, k).route({ logits, numTokens: t, numExperts: e });
      const expected = oracleGroupTopK(logits, t, e, k, { kind: 'softmax', nGroup, topkGroup, norm, scale });
      expect(routingDiff(keptRouting(d, t, e), expected, 1e-5)).toEqual([]);
    }
  });
});
