/** The built-in routers on hand-made logits with exact ties (router-specific suites live in routers*.test.ts). */
import { describe, expect, it } from 'vitest';
import { buildRoutingPlan, ConfigError, createRouter, listRouters, UnknownNameError, type RouterDecision } from '../src/index.js';

const ctx = (numExperts: number, topK: number) => ({ numExperts, topK, params: {} });

function assignments(d: RouterDecision): [number, number, number][] {
  return Array.from(d.token, (t, a) => [t, d.expert[a], d.weight[a]]);
}

describe('topk-softmax', () => {
  // token 0: experts 1 and 2 tie exactly; token 1: all four tie; token 2: 1 and 3 tie for first.
  const logits = Float32Array.from([1, 2, 2, 0, 3, 3, 3, 3, 0, 1, 0, 1]);
  const p0 = Math.E ** 2 / (Math.E + 2 * Math.E ** 2 + 1);
  const p2 = Math.E / (2 + 2 * Math.E);

  it('renormalizes the chosen probabilities by default (Mixtral)', () => {
    const router = createRouter({ name: 'topk-softmax' }, ctx(4, 2));
    const d = router.route({ logits, numTokens: 3, numExperts: 4 });
    expect(d.capacity).toBeUndefined();
    expect(Array.from(d.token)).toEqual([0, 0, 1, 1, 2, 2]);
    expect(Array.from(d.expert)).toEqual([1, 2, 0, 1, 1, 3]);
    expect(Array.from(d.weight)).toEqual([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
  });

  it('keeps the raw probabilities with renormalize: false', () => {
    const router = createRouter({ name: 'topk-softmax', options: { renormalize: false } }, ctx(4, 2));
    const d = router.route({ logits: Float64Array.from(logits), numTokens: 3, numExperts: 4 });
    expect(Array.from(d.expert)).toEqual([1, 2, 0, 1, 1, 3]);
    const w = Array.from(d.weight);
    expect(w[0]).toBe(Math.fround(p0));
    expect(w[1]).toBe(Math.fround(p0));
    expect(w[2]).toBe(0.25);
    expect(w[4]).toBe(Math.fround(p2));
  });

  it('top-1 picks the lower id of a tie', () => {
    const d = createRouter({ name: 'topk-softmax' }, ctx(4, 1)).route({ logits, numTokens: 3, numExperts: 4 });
    expect(Array.from(d.expert)).toEqual([1, 0, 1]);
    expect(Array.from(d.weight)).toEqual([1, 1, 1]);
  });

  it('rejects bad options and k > E with ConfigErrors naming the field', () => {
    expect(() => createRouter({ name: 'topk-softmax', options: { renormalize: 'yes' } }, ctx(4, 2))).toThrow(/router\.options\.renormalize: expected true or false/);
    expect(() => createRouter({ name: 'topk-softmax', options: { temperature: 2 } }, ctx(4, 2))).toThrow(/router\.options\.temperature: unknown option; 'topk-softmax' accepts renormalize/);
    expect(() => createRouter({ name: 'topk-softmax' }, ctx(4, 5))).toThrow(ConfigError);
  });
});

describe('switch', () => {
  // 5 tokens, 2 experts: tokens 0-3 prefer expert 0 (token 2 by an exact tie), token 4 expert 1.
  const logits = Float32Array.from([2, 0, 1, 0, 0.5, 0.5, 3, 1, 0, 1]);
  const sig = (x: number): number => 1 / (1 + Math.exp(-x));

  it('routes top-1 without renormalising and drops past capacity in token order', () => {
    const router = createRouter({ name: 'switch', options: { capacityFactor: 1 } }, ctx(2, 1));
    const d = router.route({ logits, numTokens: 5, numExperts: 2 });
    expect(d.capacity).toBe(3); // ceil(5 / 2 * 1)
    expect(assignments(d).map(([t, e]) => [t, e])).toEqual([[0, 0], [1, 0], [2, 0], [3, 0], [4, 1]]);
    expect(d.weight[0]).toBe(Math.fround(sig(2)));
    expect(d.weight[2]).toBe(0.5);
    expect(d.weight[4]).toBe(Math.fround(sig(1)));
    const plan = buildRoutingPlan(d, 5, 2);
    expect(Array.from(plan.tokensPerExpert)).toEqual([3, 1]);
    expect(Array.from(plan.dropped.token)).toEqual([3]); // the fourth token for expert 0 overflows
    expect(Array.from(plan.dropped.expert)).toEqual([0]);
    expect(plan.dropped.weight[0]).toBe(Math.fround(sig(2)));
    expect(plan.tokenOffsets[4] - plan.tokenOffsets[3]).toBe(0);
  });

  it('uses the default capacity factor 1.25 and can turn dropping off', () => {
    const d = createRouter({ name: 'switch' }, ctx(2, 1)).route({ logits, numTokens: 5, numExperts: 2 });
    expect(d.capacity).toBe(Math.ceil((5 / 2) * 1.25));
    const free = createRouter({ name: 'switch', options: { dropTokens: false } }, ctx(2, 1)).route({ logits, numTokens: 5, numExperts: 2 });
    expect(free.capacity).toBeUndefined();
    expect(buildRoutingPlan(free, 5, 2).dropped.token.length).toBe(0);
  });

  it('rejects k != 1 and a non-positive capacity factor', () => {
    expect(() => createRouter({ name: 'switch' }, ctx(2, 2))).toThrow(/topK: .*expected topK = 1, got 2/);
    expect(() => createRouter({ name: 'switch', options: { capacityFactor: 0 } }, ctx(2, 1))).toThrow(/router\.options\.capacityFactor: expected > 0, got 0/);
    expect(() => createRouter({ name: 'switch', options: { capacityFactor: 'big' } }, ctx(2, 1))).toThrow(ConfigError);
  });
});

describe('router registry lookups', () => {
  it('lists the built-ins and names the registered routers for an unknown one', () => {
    const names = listRouters().map((r) => r.name);
    expect(names).toContain('topk-softmax');
    expect(names).toContain('switch');
    let err: unknown;
    try {
      createRouter({ name: 'no-such-router' }, ctx(2, 1));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnknownNameError);
    expect((err as UnknownNameError).message).toMatch(/unknown router 'no-such-router'; registered: .*'switch'/);
  });
});
