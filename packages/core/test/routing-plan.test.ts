import { describe, expect, it } from 'vitest';
import { buildRoutingPlan, denseRoutingPlan, planRows, RouterError, type RouterDecision } from '../src/index.js';

function decision(list: [number, number, number][], capacity?: number): RouterDecision {
  return {
    token: Int32Array.from(list.map((a) => a[0])),
    expert: Int32Array.from(list.map((a) => a[1])),
    weight: Float32Array.from(list.map((a) => a[2])),
    capacity,
  };
}

// T = 4, E = 3, in the router's order per token.
const ASSIGNMENTS: [number, number, number][] = [
  [0, 2, 0.625],
  [0, 0, 0.375],
  [1, 0, 1],
  [2, 2, 0.75],
  [2, 1, 0.25],
  [3, 0, 0.5],
  [3, 2, 0.5],
];

describe('buildRoutingPlan', () => {
  it('groups rows by expert in token order, with the inverse permutation in router order', () => {
    const plan = buildRoutingPlan(decision(ASSIGNMENTS), 4, 3);
    expect(Array.from(plan.expertOffsets)).toEqual([0, 3, 4, 7]);
    expect(Array.from(plan.rowToken)).toEqual([0, 1, 3, 2, 0, 2, 3]);
    expect(Array.from(plan.rowExpert)).toEqual([0, 0, 0, 1, 2, 2, 2]);
    expect(Array.from(plan.rowWeight)).toEqual([0.375, 1, 0.5, 0.25, 0.625, 0.75, 0.5]);
    expect(Array.from(plan.tokenOffsets)).toEqual([0, 2, 3, 5, 7]);
    expect(Array.from(plan.tokenRows)).toEqual([4, 0, 1, 5, 3, 2, 6]);
    expect(Array.from(plan.tokensPerExpert)).toEqual([3, 1, 3]);
    expect(plan.capacity).toBeUndefined();
    expect(plan.dropped.token.length).toBe(0);
    expect(planRows(plan)).toBe(7);
    // The inverse permutation points back at each token's own rows.
    for (let t = 0; t < 4; t++) {
      for (let s = plan.tokenOffsets[t]; s < plan.tokenOffsets[t + 1]; s++) expect(plan.rowToken[plan.tokenRows[s]]).toBe(t);
    }
  });

  it('applies capacity in assignment order and records the drops', () => {
    const plan = buildRoutingPlan(decision(ASSIGNMENTS, 2), 4, 3);
    expect(plan.capacity).toBe(2);
    expect(Array.from(plan.tokensPerExpert)).toEqual([2, 1, 2]);
    expect(Array.from(plan.expertOffsets)).toEqual([0, 2, 3, 5]);
    expect(Array.from(plan.rowToken)).toEqual([0, 1, 2, 0, 2]);
    expect(Array.from(plan.rowExpert)).toEqual([0, 0, 1, 2, 2]);
    expect(Array.from(plan.tokenOffsets)).toEqual([0, 2, 3, 5, 5]); // token 3 lost both experts
    expect(Array.from(plan.dropped.token)).toEqual([3, 3]);
    expect(Array.from(plan.dropped.expert)).toEqual([0, 2]);
    expect(Array.from(plan.dropped.weight)).toEqual([0.5, 0.5]);
  });

  it('drops everything at capacity 0 and handles no tokens', () => {
    const plan = buildRoutingPlan(decision(ASSIGNMENTS, 0), 4, 3);
    expect(planRows(plan)).toBe(0);
    expect(plan.dropped.token.length).toBe(7);
    const empty = buildRoutingPlan(decision([]), 0, 3);
    expect(Array.from(empty.expertOffsets)).toEqual([0, 0, 0, 0]);
    expect(Array.from(empty.tokenOffsets)).toEqual([0]);
  });

  it('rejects a token assigned to the same expert twice', () => {
    expect(() => buildRoutingPlan(decision([[0, 1, 0.5], [1, 1, 1], [0, 1, 0.5]]), 2, 2)).toThrow(new RouterError('token 0 is assigned to expert 1 twice'));
  });

  it('rejects out-of-range tokens and experts, and non-finite weights', () => {
    expect(() => buildRoutingPlan(decision([[0, 3, 1]]), 1, 3)).toThrow(/assignment 0: expert 3 is outside \[0, 3\)/);
    expect(() => buildRoutingPlan(decision([[0, 0, 1], [-1, 0, 1]]), 1, 3)).toThrow(/assignment 1: token -1 is outside \[0, 1\)/);
    expect(() => buildRoutingPlan(decision([[2, 0, 1]]), 2, 3)).toThrow(RouterError);
    expect(() => buildRoutingPlan(decision([[0, 0, NaN]]), 1, 3)).toThrow(/weight NaN is not finite/);
    expect(() => buildRoutingPlan(decision([[0, 0, Infinity]]), 1, 3)).toThrow(RouterError);
  });

  it('rejects malformed decisions', () => {
    const d = decision(ASSIGNMENTS);
    expect(() => buildRoutingPlan({ ...d, token: [0, 0] as unknown as Int32Array }, 4, 3)).toThrow(/token: Int32Array/);
    expect(() => buildRoutingPlan({ ...d, weight: new Float32Array(2) }, 4, 3)).toThrow(/differ in length: token 7, expert 7, weight 2/);
    expect(() => buildRoutingPlan({ ...d, capacity: 1.5 }, 4, 3)).toThrow(/capacity must be a non-negative integer, got 1.5/);
    expect(() => buildRoutingPlan({ ...d, capacity: -1 }, 4, 3)).toThrow(RouterError);
  });
});

describe('denseRoutingPlan', () => {
  it('sends every token to every expert with its weight', () => {
    const plan = denseRoutingPlan(2, 3, Float32Array.from([0.25, 0.75]));
    expect(Array.from(plan.tokensPerExpert)).toEqual([2, 2, 2]);
    expect(Array.from(plan.rowToken)).toEqual([0, 1, 0, 1, 0, 1]);
    expect(Array.from(plan.rowWeight)).toEqual([0.25, 0.75, 0.25, 0.75, 0.25, 0.75]);
    expect(Array.from(plan.tokenRows)).toEqual([0, 2, 4, 1, 3, 5]);
    expect(Array.from(denseRoutingPlan(1, 2).rowWeight)).toEqual([1, 1]);
  });
});
