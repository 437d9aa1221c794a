import { describe, expect, it } from 'vitest';
import { createRouter } from '../src/index.js';
import { ctx, keptRouting, oracleTopKCapacity, oracleTopKSoftmax, randomLogits, routingDiff } from './routers-oracle.js';

// Hand cases of topk-softmax and switch live in builtin-routing.test.ts; these add agreement
// with the independent float64 oracles on random logits, so every built-in router has one.
describe('topk-softmax and switch against float64 oracles', () => {
  it('topk-softmax, renormalised or not', () => {
    for (const [t, e, k, seed] of [[40, 8, 2, 1], [30, 6, 3, 2], [20, 4, 1, 3]]) {
      const logits = randomLogits(t, e, seed);
      for (const renormalize of [true, false]) {
        const d = createRouter({ name: 'topk-softmax', options: { renormalize } }, ctx(e, k)).route({ logits, numTokens: t, numExperts: e });
        expect(routingDiff(keptRouting(d, t, e), oracleTopKSoftmax(logits, t, e, k, renormalize), 1e-6)).toEqual([]);
      }
    }
  });

  it('switch (= top-1 with capacity ceil(T/E * cf), no minimum, no renormalisation)', () => {
    for (const [t, e, cf, seed] of [[40, 4, 1, 4], [33, 8, 1.25, 5], [16, 2, 0.5, 6]]) {
      const logits = randomLogits(t, e, seed);
      const d = createRouter({ name: 'switch', options: { capacityFactor: cf } }, ctx(e, 1)).route({ logits, numTokens: t, numExperts: e });
      const expected = oracleTopKCapacity(logits, t, e, 1, { capacityFactor: cf, minCapacity: 0, renormalize: false, afterDrops: false });
      expect(routingDiff(keptRouting(d, t, e), expected, 1e-6)).toEqual([]);
    }
  });
});
