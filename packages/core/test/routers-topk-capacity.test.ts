import { describe, expect, it } from 'vitest';
import { buildRoutingPlan, createRouter, topKCapacity } from '../src/index.js';
import { ctx, keptRouting, oracleTopKCapacity, randomLogits, routingDiff, routingStrings } from './routers-oracle.js';

const route = (options: Record<string, unknown>, logits: number[], t: number, e: number, k: number) =>
  createRouter({ name: 'topk-capacity', options }, ctx(e, k)).route({ logits: Float64Array.from(logits), numTokens: t, numExperts: e });

describe('topk-capacity (GShard / DeepSpeed)', () => {
  it('computes C = max(minCapacity, ceil(T/E * cf * k))', () => {
    expect(topKCapacity(10, 4, 2, 1, 4)).toBe(5); // ceil(5)
    expect(topKCapacity(9, 4, 2, 1, 4)).toBe(5); // ceil(4.5)
    expect(topKCapacity(4, 4, 2, 1, 4)).toBe(4); // ceil(2) raised to the minimum
    expect(topKCapacity(4, 4, 2, 1, 0)).toBe(2);
    expect(topKCapacity(8, 4, 1, 1.25, 0)).toBe(3); // ceil(2.5)
  });

  it('drops all first choices before second choices (slot-major position order)', () => {
    // token 0 prefers expert 0 then 1; token 1 prefers 1 then 0. C = ceil(2/2 * 0.25 * 2) = 1.
    // Slot order keeps both first choices and drops both second choices; token order would
    // instead keep token 0's two experts and drop token 1 entirely.
    const logits = [Math.log(0.7), Math.log(0.3), Math.log(0.4), Math.log(0.6)];
    const d = route({ capacityFactor: 0.25, minCapacity: 0, renormalize: false }, logits, 2, 2, 2);
    expect(d.capacity).toBe(1);
    expect(Array.from(d.token)).toEqual([0, 1, 0, 1]);
    expect(Array.from(d.expert)).toEqual([0, 1, 1, 0]);
    const plan = buildRoutingPlan(d, 2, 2);
    expect(Array.from(plan.dropped.token)).toEqual([0, 1]);
    expect(Array.from(plan.dropped.expert)).toEqual([1, 0]);
    expect(routingStrings(keptRouting(d, 2, 2), 4)).toEqual(['0:0.7000', '1:0.6000']);
  });

  it('overflows a full expert in token order and renormalises before or after the drops', () => {
    // E = 3, k = 2, T = 3: C = ceil(3/3 * 1 * 2) = 2. Every token's first choice is expert 0,
    // so token 2's first choice overflows; second choices (1, 1, 2) all fit.
    const p = [
      [0.5, 0.3, 0.2],
      [0.6, 0.3, 0.1],
      [0.5, 0.2, 0.3],
    ];
    const logits = p.flat().map(Math.log);
    const before = route({ minCapacity: 0 }, logits, 3, 3, 2);
    expect(before.capacity).toBe(2);
    expect(routingStrings(keptRouting(before, 3, 3), 4)).toEqual(['0:0.6250 1:0.3750', '0:0.6667 1:0.3333', '2:0.3750']);
    const after = route({ minCapacity: 0, renormalizeAfterDrops: true }, logits, 3, 3, 2);
    expect(routingStrings(keptRouting(after, 3, 3), 4)).toEqual(['0:0.6250 1:0.3750', '0:0.6667 1:0.3333', '2:1.0000']);
    const raw = route({ minCapacity: 0, renormalize: false }, logits, 3, 3, 2);
    expect(routingStrings(keptRouting(raw, 3, 3), 4)).toEqual(['0:0.5000 1:0.3000', '0:0.6000 1:0.3000', '2:0.3000']);
    const noDrop = route({ minCapacity: 0, dropTokens: false }, logits, 3, 3, 2);
    expect(noDrop.capacity).toBeUndefined();
    expect(buildRoutingPlan(noDrop, 3, 3).dropped.token.length).toBe(0);
  });

  it('breaks exact ties toward the lower expert id and never picks a -Infinity expert over a finite one', () => {
    const d = route({}, [1, 1, 1, 1, -Infinity, 0.5, 0.5, 0.5], 2, 4, 2);
    expect(routingStrings(keptRouting(d, 2, 4), 4)).toEqual(['0:0.5000 1:0.5000', '1:0.5000 2:0.5000']);
  });

  it('with k = 1, no minimum and no renormalisation equals switch', () => {
    const logits = randomLogits(40, 4, 9);
    const opts = { capacityFactor: 0.8 };
    const a = createRouter({ name: 'topk-capacity', options: { ...opts, minCapacity: 0, renormalize: false } }, ctx(4, 1)).route({ logits, numTokens: 40, numExperts: 4 });
    const b = createRouter({ name: 'switch', options: opts }, ctx(4, 1)).route({ logits, numTokens: 40, numExperts: 4 });
    expect(a.capacity).toBe(b.capacity);
    expect(routingStrings(keptRouting(a, 40, 4))).toEqual(routingStrings(keptRouting(b, 40, 4)));
    expect(buildRoutingPlan(a, 40, 4).dropped.token.length).toBeGreaterThan(0);
  });

  it('agrees with a cumsum-location float64 oracle on random logits', () => {
    for (const [t, e, k, cf, minCapacity, seed] of [
      [37, 8, 2, 1, 4, 1],
      [64, 4, 2, 0.5, 0, 2],
      [20, 6, 3, 0.75, 2, 3],
      [50, 5, 1, 0.8, 0, 4],
    ]) {
      const logits = randomLogits(t, e, seed);
      for (const [renormalize, afterDrops] of [[true, false], [true, true], [false, false]]) {
        const d = route({ capacityFactor: cf, minCapacity, renormalize, renormalizeAfterDrops: afterDrops }, Array.from(logits), t, e, k);
        const expected = oracleTopKCapacity(logits, t, e, k, { capacityFactor: cf, minCapacity, renormalize: renormalize as boolean, afterDrops: afterDrops as boolean });
        expect(routingDiff(keptRouting(d, t, e), expected, 1e-6)).toEqual([]);
      }
      // the case must actually drop something, or it tests nothing about capacity
      const dropped = buildRoutingPlan(route({ capacityFactor: cf, minCapacity }, Array.from(logits), t, e, k), t, e).dropped.token.length;
      expect(dropped).toBeGreaterThan(0);
    }
  });
});
