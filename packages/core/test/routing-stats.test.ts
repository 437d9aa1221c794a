import { describe, expect, it } from 'vitest';
import { buildRoutingPlan, computeRoutingStats, type RouterDecision } from '../src/index.js';

const LN2 = Math.log(2);
// token 0: logits [1, 1] -> p = [1/2, 1/2], lse = 1 + ln 2
// token 1: logits [ln 3, 0] -> p = [3/4, 1/4], lse = ln 4
const logits = Float32Array.from([1, 1, Math.log(3), 0]);
const top1: RouterDecision = { token: Int32Array.from([0, 1]), expert: Int32Array.from([0, 0]), weight: Float32Array.from([0.5, 0.75]) };

describe('computeRoutingStats', () => {
  it('matches hand-computed aux loss, z-loss, load figures and entropies', () => {
    const s = computeRoutingStats(logits, top1, buildRoutingPlan(top1, 2, 2));
    // f = [1, 0], P = [(1/2 + 3/4) / 2, (1/2 + 1/4) / 2] = [0.625, 0.375]; aux = E * sum f P = 1.25
    expect(s.auxLoss).toBeCloseTo(1.25, 7);
    // z-loss = mean of lse^2
    const lse0 = 1 + LN2;
    const lse1 = Math.log(Math.fround(3) + 1);
    expect(s.zLoss).toBeCloseTo((lse0 ** 2 + lse1 ** 2) / 2, 6);
    expect(s.tokensPerExpert).toEqual([2, 0]);
    expect(s.meanLoad).toBe(1);
    expect(s.maxLoad).toBe(2);
    expect(s.maxOverMeanLoad).toBe(2);
    expect(s.loadCv).toBeCloseTo(1, 12); // std of [2, 0] is 1, mean 1
    expect(s.loadEntropy).toBe(0);
    const h1 = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25));
    expect(s.meanRouterEntropy).toBeCloseTo((LN2 + h1) / 2, 6);
    expect(s.assignments).toBe(2);
    expect(s.droppedAssignments).toBe(0);
    expect(s.droppedTokens).toBe(0);
  });

  it('counts drops after capacity while the aux loss uses the assignments before it', () => {
    const capped = { ...top1, capacity: 1 };
    const s = computeRoutingStats(logits, capped, buildRoutingPlan(capped, 2, 2));
    expect(s.auxLoss).toBeCloseTo(1.25, 7);
    expect(s.tokensPerExpert).toEqual([1, 0]);
    expect(s.droppedAssignments).toBe(1);
    expect(s.droppedTokens).toBe(1);
    expect(s.meanLoad).toBe(0.5);
    expect(s.loadCv).toBeCloseTo(1, 12);
  });

  it('gives aux loss 1, cv 0 and entropy ln E for a perfectly balanced routing', () => {
    // Four tokens with uniform logits, two per expert.
    const uniform = Float32Array.from([2, 2, -1, -1, 0.5, 0.5, 3, 3]);
    const d: RouterDecision = { token: Int32Array.from([0, 1, 2, 3]), expert: Int32Array.from([0, 1, 0, 1]), weight: Float32Array.from([0.5, 0.5, 0.5, 0.5]) };
    const s = computeRoutingStats(uniform, d, buildRoutingPlan(d, 4, 2));
    expect(s.auxLoss).toBeCloseTo(1, 12);
    expect(s.loadCv).toBe(0);
    expect(s.maxOverMeanLoad).toBe(1);
    expect(s.loadEntropy).toBeCloseTo(LN2, 12);
    expect(s.meanRouterEntropy).toBeCloseTo(LN2, 12);
  });
});
