import { describe, expect, it } from 'vitest';
import { buildRoutingPlan, computeRoutingStats, createRouter, type RouterDecision } from '../src/index.js';
import { ctx, randomLogits } from './routers-oracle.js';

const H = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)); // entropy of (3/4, 1/4)

describe('routing statistics (checked by hand)', () => {
  // Rows: p = (1/2, 1/2), (3/4, 1/4), (1/4, 3/4), (3/4, 1/4); logsumexp = ln 2, ln 4, ln 4, ln 4.
  const logits = Float64Array.from([0, 0, Math.log(3), 0, 0, Math.log(3), Math.log(3), 0]);
  // Tokens 0..3 to experts 0, 0, 1, 0 with capacity 2: token 3 overflows expert 0.
  const decision: RouterDecision = {
    token: Int32Array.from([0, 1, 2, 3]),
    expert: Int32Array.from([0, 0, 1, 0]),
    weight: Float32Array.from([1, 1, 1, 1]),
    capacity: 2,
  };
  const stats = computeRoutingStats(logits, decision, buildRoutingPlan(decision, 4, 2));

  it('counts loads, drops and unrouted tokens', () => {
    expect(stats.tokensPerExpert).toEqual([2, 1]);
    expect(stats.assignments).toBe(4);
    expect(stats.droppedAssignments).toBe(1);
    expect(stats.droppedTokens).toBe(1);
    expect(stats.unroutedTokens).toBe(1);
    expect(stats.capacity).toBe(2);
  });

  it('computes max/mean, CV and load entropy', () => {
    expect(stats.maxLoad).toBe(2);
    expect(stats.meanLoad).toBe(1.5);
    expect(stats.maxOverMeanLoad).toBeCloseTo(4 / 3, 12);
    expect(stats.loadCv).toBeCloseTo(0.5 / 1.5, 12); // population std 0.5
    expect(stats.loadEntropy).toBeCloseTo(H, 12); // assignments 3 : 1 before capacity
  });

  it('computes router entropy, the Switch aux loss and the z-loss', () => {
    expect(stats.meanRouterEntropy).toBeCloseTo((Math.LN2 + 3 * H) / 4, 12);
    // f = (3/4, 1/4); mean P = (2.25/4, 1.75/4); E * sum f P = 2 * (0.421875 + 0.109375)
    expect(stats.auxLoss).toBeCloseTo(1.0625, 12);
    expect(stats.zLoss).toBeCloseTo((Math.LN2 ** 2 + 3 * Math.log(4) ** 2) / 4, 12);
  });

  it('gives aux loss 1, CV 0 and entropy ln E for a perfectly uniform routing', () => {
    const e = 4;
    const t = 8;
    const uniform = new Float64Array(t * e);
    const d: RouterDecision = {
      token: Int32Array.from({ length: t }, (_, i) => i),
      expert: Int32Array.from({ length: t }, (_, i) => i % e),
      weight: new Float32Array(t).fill(1),
    };
    const s = computeRoutingStats(uniform, d, buildRoutingPlan(d, t, e));
    expect(s.auxLoss).toBeCloseTo(1, 12);
    expect(s.loadCv).toBe(0);
    expect(s.maxOverMeanLoad).toBe(1);
    expect(s.loadEntropy).toBeCloseTo(Math.log(e), 12);
    expect(s.meanRouterEntropy).toBeCloseTo(Math.log(e), 12);
    expect(s.zLoss).toBeCloseTo(Math.log(e) ** 2, 12);
    expect(s.droppedTokens + s.unroutedTokens).toBe(0);
  });

  it('counts tokens expert choice leaves without an expert as unrouted, not dropped', () => {
    const logits = randomLogits(12, 4, 31, 3);
    const d = createRouter({ name: 'expert-choice', options: { capacityFactor: 1 } }, ctx(4, 1)).route({ logits, numTokens: 12, numExperts: 4 });
    const plan = buildRoutingPlan(d, 12, 4);
    const s = computeRoutingStats(logits, d, plan);
    let empty = 0;
    for (let i = 0; i < 12; i++) if (plan.tokenOffsets[i + 1] === plan.tokenOffsets[i]) empty++;
    expect(empty).toBeGreaterThan(0); // this seed leaves some token unpicked
    expect(s.unroutedTokens).toBe(empty);
    expect(s.droppedTokens).toBe(0);
    expect(s.loadCv).toBe(0); // every expert exactly full
  });
});
