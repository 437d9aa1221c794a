import { describe, expect, it } from 'vitest';
import { buildRoutingPlan, createRouter, expertChoiceCapacity } from '../src/index.js';
import { ctx, keptRouting, oracleExpertChoice, randomLogits, routingDiff, routingStrings } from './routers-oracle.js';

// Logit rows [ln a, ln b] give S = [a, b] / (a + b).
const rows = (...probs: number[][]) => Float64Array.from(probs.flat().map(Math.log));
const ec = (options: Record<string, unknown>, e: number, k = 1) => createRouter({ name: 'expert-choice', options }, ctx(e, k));

describe('expert-choice (Zhou et al. 2022)', () => {
  it('takes C = min(T, ceil(T * c / E)) tokens per expert', () => {
    expect(expertChoiceCapacity(4, 2, 1)).toBe(2);
    expect(expertChoiceCapacity(5, 2, 1)).toBe(3); // 2.5 rounds up
    expect(expertChoiceCapacity(3, 2, 2)).toBe(3);
    expect(expertChoiceCapacity(3, 4, 2)).toBe(2); // ceil(1.5)
    expect(expertChoiceCapacity(2, 2, 2)).toBe(2); // never more than T
  });

  it('lets each expert pick its best tokens by hand: a token may get 0 or several experts', () => {
    // S[:, 0] = .9 .8 .6 .3, S[:, 1] = .1 .2 .4 .7; C = ceil(4 * 1 / 2) = 2.
    // expert 0 takes tokens 0, 1; expert 1 takes 3, 2. Balanced: every expert exactly full.
    const logits = rows([0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]);
    const d = ec({ capacityFactor: 1 }, 2).route({ logits, numTokens: 4, numExperts: 2 });
    expect(d.capacity).toBe(2);
    expect(Array.from(d.expert)).toEqual([0, 0, 1, 1]);
    expect(Array.from(d.token)).toEqual([0, 1, 3, 2]);
    expect(routingStrings(keptRouting(d, 4, 2), 1)).toEqual(['0:0.9', '0:0.8', '1:0.4', '1:0.7']);
    // With E = 3 and c = 1, C = ceil(4/3) = 2: tokens 0-2 get two experts each, token 3 none.
    const three = rows([0.6, 0.35, 0.05], [0.5, 0.05, 0.45], [0.05, 0.5, 0.45], [1 / 3, 1 / 3, 1 / 3]);
    const d3 = ec({ capacityFactor: 1 }, 3).route({ logits: three, numTokens: 4, numExperts: 3 });
    expect(routingStrings(keptRouting(d3, 4, 3), 2)).toEqual(['0:0.60 1:0.35', '0:0.50 2:0.45', '1:0.50 2:0.45', '']);
  });

  it('breaks exact ties toward the lower token index', () => {
    // Three identical tokens, C = ceil(3 * 1 / 3) = 1: every expert takes token 0.
    const logits = rows([0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.5, 0.3, 0.2]);
    const d = ec({ capacityFactor: 1 }, 3).route({ logits, numTokens: 3, numExperts: 3 });
    expect(Array.from(d.token)).toEqual([0, 0, 0]);
    expect(Array.from(d.expert)).toEqual([0, 1, 2]);
    // The same with C = 20 (> 16, the threshold path): 40 identical tokens, each expert takes 0..19.
    const many = rows(...Array.from({ length: 40 }, () => [0.6, 0.4]));
    const dm = ec({ capacityFactor: 1 }, 2).route({ logits: many, numTokens: 40, numExperts: 2 });
    const first20 = Array.from({ length: 20 }, (_, i) => i);
    expect(Array.from(dm.token)).toEqual([...first20, ...first20]);
    // ties at the threshold only: tokens 5 and 7 score higher, the rest tie; the lowest indices fill up
    const mixed = rows(...Array.from({ length: 40 }, (_, i) => (i === 5 || i === 7 ? [0.9, 0.1] : [0.6, 0.4])));
    const dx = ec({ capacityFactor: 1 }, 2).route({ logits: mixed, numTokens: 40, numExperts: 2 });
    expect(Array.from(dx.token.subarray(0, 20))).toEqual([5, 7, ...first20.filter((i) => i !== 5 && i !== 7).slice(0, 18)]);
  });

  it('gives a -Infinity logit a zero score that loses to every positive one', () => {
    const logits = Float64Array.from([-Infinity, 0, 0, 0, 0, -Infinity]); // S = [0,1], [.5,.5], [1,0]
    const d = ec({ capacityFactor: 1 }, 2).route({ logits, numTokens: 3, numExperts: 2 });
    expect(routingStrings(keptRouting(d, 3, 2), 1)).toEqual(['1:1.0', '0:0.5 1:0.5', '0:1.0']);
  });

  it('depends on the whole batch, as documented', () => {
    // Token a alone with b: C = 1, expert 0 takes a (.9 > .8), expert 1 takes b (.2 > .1): a -> {0}.
    const a = [0.9, 0.1];
    const withB = ec({ capacityFactor: 1 }, 2).route({ logits: rows(a, [0.8, 0.2]), numTokens: 2, numExperts: 2 });
    expect(routingStrings(keptRouting(withB, 2, 2), 1)[0]).toBe('0:0.9');
    // The same token a next to d = [.99, .01]: expert 0 takes d, expert 1 takes a (.1 > .01): a -> {1}.
    const withD = ec({ capacityFactor: 1 }, 2).route({ logits: rows(a, [0.99, 0.01]), numTokens: 2, numExperts: 2 });
    expect(routingStrings(keptRouting(withD, 2, 2), 1)[0]).toBe('1:0.1');
    // And with both neighbours (T = 3, C = 2) it gets both experts.
    const withBoth = ec({ capacityFactor: 1 }, 2).route({ logits: rows(a, [0.8, 0.2], [0.99, 0.01]), numTokens: 3, numExperts: 2 });
    expect(routingStrings(keptRouting(withBoth, 3, 2), 1)[0]).toBe('0:0.9 1:0.1');
  });

  it('defaults the capacity factor to the layer topK', () => {
    const logits = randomLogits(10, 4, 21);
    const d = ec({}, 4, 2).route({ logits, numTokens: 10, numExperts: 4 });
    expect(d.capacity).toBe(5); // ceil(10 * 2 / 4)
    expect(d.token.length).toBe(20);
  });

  it('agrees with a sort-based float64 oracle on random logits and drops nothing', () => {
    for (const [t, e, cf, seed] of [
      [33, 8, 2, 1],
      [16, 4, 1, 2],
      [64, 16, 1.5, 3], // C = 6
      [100, 4, 1, 4], // C = 25: the sort path
    ]) {
      const logits = randomLogits(t, e, seed);
      const d = ec({ capacityFactor: cf }, e).route({ logits, numTokens: t, numExperts: e });
      expect(routingDiff(keptRouting(d, t, e), oracleExpertChoice(logits, t, e, cf), 1e-6)).toEqual([]);
      const plan = buildRoutingPlan(d, t, e);
      expect(plan.dropped.token.length).toBe(0);
      expect(Array.from(plan.tokensPerExpert)).toEqual(new Array(e).fill(expertChoiceCapacity(t, e, cf)));
    }
  });
});
