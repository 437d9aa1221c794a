import { describe, expect, it } from 'vitest';
import { buildRoutingPlan, checkRoutingPlan, createRng, InvalidInputError, ShapeError, type RoutingPlan } from '../src/index.js';

function randomPlan(seed: number): RoutingPlan {
  const rng = createRng(seed);
  const t = 12;
  const e = 5;
  const token: number[] = [];
  const expert: number[] = [];
  for (let i = 0; i < t; i++) {
    const a = rng.int(e);
    const b = (a + 1 + rng.int(e - 1)) % e;
    token.push(i, i);
    expert.push(a, b);
  }
  const weight = Float32Array.from(token, () => rng.next());
  return buildRoutingPlan({ token: Int32Array.from(token), expert: Int32Array.from(expert), weight }, t, e);
}

describe('checkRoutingPlan', () => {
  it('accepts every plan buildRoutingPlan makes', () => {
    for (let seed = 1; seed <= 5; seed++) expect(() => checkRoutingPlan(randomPlan(seed), 5)).not.toThrow();
  });

  it('names the field of a plan that disagrees with itself or with the group', () => {
    const plan = randomPlan(9);
    expect(() => checkRoutingPlan(plan, 6)).toThrow(/plan\.numExperts is 5, expected the prepared group's 6/);
    const badRow = { ...plan, rowToken: plan.rowToken.map((v, i) => (i === 3 ? 99 : v)) };
    expect(() => checkRoutingPlan(badRow, 5)).toThrow(ShapeError);
    expect(() => checkRoutingPlan(badRow, 5)).toThrow(/plan\.rowToken\[3\] is 99/);
    const twice = { ...plan, tokenRows: plan.tokenRows.map((v, i) => (i === 1 ? plan.tokenRows[0] : v)) };
    expect(() => checkRoutingPlan(twice, 5)).toThrow(/plan\.tokenRows\[1\]/);
    const nanWeight = { ...plan, rowWeight: plan.rowWeight.map((v, i) => (i === 2 ? NaN : v)) };
    expect(() => checkRoutingPlan(nanWeight, 5)).toThrow(InvalidInputError);
    const counts = { ...plan, tokensPerExpert: plan.tokensPerExpert.map((v, i) => (i === 0 ? v + 1 : v)) };
    expect(() => checkRoutingPlan(counts, 5)).toThrow(/plan\.tokensPerExpert\[0\]/);
    const wrongExpert = { ...plan, rowExpert: plan.rowExpert.map((v, i) => (i === 0 ? v + 1 : v)) };
    expect(() => checkRoutingPlan(wrongExpert, 5)).toThrow(/plan\.rowExpert\[0\] is 1, expected 0/);
    expect(() => checkRoutingPlan({ ...plan, rowExpert: plan.rowExpert.subarray(1) }, 5)).toThrow(/plan\.rowExpert has 23 entries/);
  });
});
