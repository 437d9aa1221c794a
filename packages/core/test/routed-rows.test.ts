/** The one host gather and combine (core's routed-rows.ts): layout, order and accumulator precision. */
import { describe, expect, it } from 'vitest';
import { buildRoutingPlan, combineRows, denseRoutingPlan, createRng, gatherExpertRows, gatherRows, maxExpertRows, randomNormal, ShapeError, type RoutingPlan } from '../src/index.js';

/** T tokens, each to k distinct experts of E, in a seeded random order, with random weights. */
function randomPlan(seed: number, t: number, e: number, k: number): RoutingPlan {
  const rng = createRng(seed);
  const token: number[] = [];
  const expert: number[] = [];
  for (let i = 0; i < t; i++) {
    const chosen = new Set<number>();
    while (chosen.size < k) chosen.add(rng.int(e));
    for (const ex of chosen) {
      token.push(i);
      expert.push(ex);
    }
  }
  const weight = Float32Array.from(token, () => rng.next() * 2 - 0.5);
  return buildRoutingPlan({ token: Int32Array.from(token), expert: Int32Array.from(expert), weight }, t, e);
}

/** The combine written out in float64 from the plan's definition: sum over token t's rows in router order. */
function float64Combine(plan: RoutingPlan, rowsOut: Float32Array, d: number): Float64Array {
  const y = new Float64Array(plan.numTokens * d);
  for (let t = 0; t < plan.numTokens; t++) {
    for (let s = plan.tokenOffsets[t]; s < plan.tokenOffsets[t + 1]; s++) {
      const r = plan.tokenRows[s];
      for (let c = 0; c < d; c++) y[t * d + c] += plan.rowWeight[r] * rowsOut[r * d + c];
    }
  }
  return y;
}

describe('gatherRows', () => {
  it('copies each grouped row from its token, also into a padded block', () => {
    const d = 5;
    const plan = randomPlan(1, 9, 6, 3);
    const x = randomNormal(createRng(2), 9 * d);
    const all = gatherRows(x, d, plan);
    for (let r = 0; r < plan.rowToken.length; r++) expect(all.subarray(r * d, r * d + d)).toEqual(x.subarray(plan.rowToken[r] * d, plan.rowToken[r] * d + d));
    const e = plan.rowExpert[4];
    const n = plan.tokensPerExpert[e];
    expect(gatherExpertRows(x, d, plan, e)).toEqual(all.subarray(plan.expertOffsets[e] * d, (plan.expertOffsets[e] + n) * d));
    const dense = denseRoutingPlan(9, 2);
    expect(gatherExpertRows(x, d, dense, 1)).toBe(x); // every token in order: no copy
    const padded = gatherRows(x, d, plan, 2, 3, new Float32Array(3 * 8).fill(-1), 8);
    expect(padded.subarray(8, 8 + d)).toEqual(all.subarray(3 * d, 4 * d));
    expect(padded[8 + d]).toBe(-1); // padding untouched
  });
});

describe('combineRows', () => {
  it('equals the float64 sum in plan order rounded once to float32 (a float32 accumulator would not)', () => {
    const d = 64;
    const plan = randomPlan(3, 40, 8, 6);
    const rowsOut = randomNormal(createRng(4), plan.rowToken.length * d, 100);
    const exact = float64Combine(plan, rowsOut, d);
    const y = combineRows(plan, d, rowsOut);
    expect(y).toEqual(Float32Array.from(exact));
    // The check can fail: a float32 running sum of six rows rounds differently somewhere.
    const f32 = new Float32Array(plan.numTokens * d);
    for (let t = 0; t < plan.numTokens; t++) {
      for (let s = plan.tokenOffsets[t]; s < plan.tokenOffsets[t + 1]; s++) {
        const r = plan.tokenRows[s];
        for (let c = 0; c < d; c++) f32[t * d + c] += plan.rowWeight[r] * rowsOut[r * d + c];
      }
    }
    expect(f32).not.toEqual(y);
  });

  it('reads per-expert blocks and strided rows the same way, and zeroes tokens without rows', () => {
    const d = 7;
    const stride = 9;
    const plan = buildRoutingPlan({ token: Int32Array.of(0, 0, 2), expert: Int32Array.of(2, 0, 2), weight: Float32Array.of(0.25, 0.75, 1.5) }, 3, 4);
    const rowsOut = randomNormal(createRng(5), plan.rowToken.length * d);
    const grouped = combineRows(plan, d, rowsOut);
    const strided = new Float32Array(plan.rowToken.length * stride);
    for (let r = 0; r < plan.rowToken.length; r++) strided.set(rowsOut.subarray(r * d, r * d + d), r * stride);
    expect(combineRows(plan, d, strided, { stride })).toEqual(grouped);
    const blocks = Array.from({ length: 4 }, (_, e) => (plan.tokensPerExpert[e] ? rowsOut.slice(plan.expertOffsets[e] * d, plan.expertOffsets[e + 1] * d) : undefined));
    expect(combineRows(plan, d, blocks)).toEqual(grouped);
    expect(Array.from(grouped.subarray(d, 2 * d))).toEqual(new Array(d).fill(0)); // token 1 has no rows
    expect(() => combineRows(plan, d, [blocks[0]])).toThrow(ShapeError);
    expect(maxExpertRows(plan)).toBe(2);
  });
});
