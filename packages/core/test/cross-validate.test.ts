/** The numerics policy's comparisons: output errors, routing agreement with near-ties, and the one-call check. */
import { describe, expect, it } from 'vitest';
import {
  buildRoutingPlan,
  checkAgainstReference,
  compareOutputs,
  compareRouting,
  HostTensor,
  MoELayer,
  plannedExperts,
  randomInput,
  randomWeights,
  type MoELayerConfig,
  type RouterDecision,
} from '../src/index.js';
import { createTestBackend } from '../src/testing/index.js';

function topk(experts: number[][]): RouterDecision {
  const token: number[] = [];
  const expert: number[] = [];
  experts.forEach((list, t) => list.forEach((e) => (token.push(t), expert.push(e))));
  return { token: Int32Array.from(token), expert: Int32Array.from(expert), weight: new Float32Array(token.length).fill(0.5) };
}

describe('compareOutputs', () => {
  it('computes relative L2 and max abs error', () => {
    expect(compareOutputs([1, 2, 2], [1, 2, 2])).toEqual({ relL2: 0, maxAbs: 0 });
    const r = compareOutputs([3, 4.5], [3, 4]); // ||d|| = 0.5, ||ref|| = 5
    expect(r.relL2).toBeCloseTo(0.1, 12);
    expect(r.maxAbs).toBe(0.5);
  });

  it('never passes NaN, and flags a length mismatch', () => {
    expect(compareOutputs([1, NaN], [1, 2]).relL2).toBeNaN();
    expect(compareOutputs([1, NaN], [1, 2]).maxAbs).toBeNaN();
    expect(compareOutputs([1], [1, 2]).relL2).toBeNaN();
  });
});

describe('compareRouting', () => {
  // 3 tokens, 4 experts; the reference picks {0, 1} for every token.
  const logits = Float32Array.from([3, 2, 2 - 1e-6, 0, 3, 2, 1, 0, 3, 2, 1.99995, 0]);
  const reference = topk([[0, 1], [0, 1], [0, 1]]);
  const refPlan = buildRoutingPlan(reference, 3, 4);

  it('agrees with itself', () => {
    expect(compareRouting(refPlan, refPlan, reference, logits)).toMatchObject({ agreement: 1, nearTies: 0, mismatches: 0 });
  });

  it('counts a swap between near-tied experts as a near-tie, and a real difference as a mismatch', () => {
    const actual = buildRoutingPlan(topk([[0, 2], [0, 2], [0, 2]]), 3, 4);
    const c = compareRouting(actual, refPlan, reference, logits, 1e-4);
    expect(c.agreement).toBe(0);
    expect(c.nearTies).toBe(2); // tokens 0 (gap 1e-6) and 2 (gap 5e-5)
    expect(c.mismatches).toBe(1); // token 1: gap 1
    expect(c.examples).toEqual([{ token: 1, expected: [0, 1], actual: [0, 2] }]);
    expect(compareRouting(actual, refPlan, reference, logits, 1e-5).nearTies).toBe(1); // token 2 is no longer a tie
    expect(plannedExperts(actual, 1)).toEqual([0, 2]);
  });

  it('judges near-ties on the selection scores when the router provides them', () => {
    const scores = Float32Array.from([0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0]); // experts 1 and 2 tie everywhere
    const actual = buildRoutingPlan(topk([[0, 2], [0, 2], [0, 2]]), 3, 4);
    expect(compareRouting(actual, refPlan, { ...reference, selectionScores: scores }, logits).nearTies).toBe(3);
  });

  it('counts a dropped token as a mismatch unless it is a tie', () => {
    const actual = buildRoutingPlan(topk([[0], [0, 1], [0, 1]]), 3, 4);
    expect(compareRouting(actual, refPlan, reference, logits).mismatches).toBe(1);
  });
});

describe('checkAgainstReference', () => {
  const config: MoELayerConfig = { hiddenSize: 12, numExperts: 4, topK: 2, expert: { kind: 'swiglu', ffnSize: 8 }, router: { name: 'topk-softmax' } };

  it('accepts a routing flip at an exact tie, comparing the output under the backend routing', async () => {
    const base = randomWeights(config, { seed: 81 });
    // Experts 1 and 2 get identical router rows: their logits tie exactly for every token.
    const router = Float32Array.from(base.router.data as Float32Array);
    router.copyWithin(2 * 12, 1 * 12, 2 * 12);
    const weights = { ...base, router: HostTensor.float32([4, 12], router) };
    const backend = createTestBackend({ name: 'tie-flipper' });
    const linear = backend.linear.bind(backend);
    // This backend breaks the tie the other way (as a different summation order might).
    backend.linear = async (layer, x, rows) => {
      const y = await linear(layer, x, rows);
      if (layer.outFeatures === 4) for (let t = 0; t < rows; t++) y[t * 4 + 2] += 1e-6;
      return y;
    };
    const x = randomInput(10, 12, 82);
    const layer = await MoELayer.create({ config, weights, backend });
    const result = await layer.forward(x);
    const check = checkAgainstReference(config, weights, x, result);
    const flipped = Array.from({ length: 10 }, (_, t) => plannedExperts(result.plan, t)).filter((e) => e.includes(2) && !e.includes(1)).length;
    expect(flipped).toBeGreaterThan(0);
    expect(check.nearTies).toBe(flipped);
    expect(check.routingMismatches).toBe(0);
    expect(check.relL2).toBeLessThan(1e-5);
    expect(check.passed).toBe(true);
  });

  it('fails a backend whose routing differs for real', async () => {
    const weights = randomWeights(config, { seed: 85 });
    const backend = createTestBackend({ name: 'biased' });
    const linear = backend.linear.bind(backend);
    backend.linear = async (layer, x, rows) => {
      const y = await linear(layer, x, rows);
      if (layer.outFeatures === 4) for (let t = 0; t < rows; t++) y[t * 4 + 3] += 5; // everyone picks expert 3
      return y;
    };
    const x = randomInput(10, 12, 86);
    const result = await (await MoELayer.create({ config, weights, backend })).forward(x);
    const check = checkAgainstReference(config, weights, x, result);
    expect(check.passed).toBe(false);
    expect(check.routingMismatches).toBeGreaterThan(0);
    expect(check.failures.some((f) => /routing differs for \d+ token\(s\), e\.g\. token \d+: expected experts \[\d+,\d+\] got \[/.test(f))).toBe(true);
  });

  it('fails NaN output and applies maxAbs when asked', async () => {
    const weights = randomWeights(config, { seed: 83 });
    const x = randomInput(5, 12, 84);
    const layer = await MoELayer.create({ config, weights, backend: createTestBackend() });
    const result = await layer.forward(x);
    expect(checkAgainstReference(config, weights, x, result, { maxAbs: 1e-6 }).passed).toBe(true);
    const broken = { ...result, output: HostTensor.float32([5, 12], Float32Array.from(result.output.data as Float32Array)) };
    (broken.output.data as Float32Array)[7] = NaN;
    const check = checkAgainstReference(config, weights, x, broken);
    expect(check.passed).toBe(false);
    expect(check.failures[0]).toMatch(/relative L2 error NaN exceeds 0.00001/);
    (broken.output.data as Float32Array)[7] = (result.output.data as Float32Array)[7] + 0.01;
    expect(checkAgainstReference(config, weights, x, broken, { maxRelL2: 1, maxAbs: 1e-3 }).failures).toEqual([expect.stringMatching(/max abs error .* exceeds 0.001/)]);
  });

  it('counts an expert-choice slot moving between near-tied tokens as near-ties, and a far move as a mismatch', () => {
    // 2 tokens, 2 experts, each expert takes one token: expert 0's scores for the two tokens nearly tie.
    const scores = Float32Array.from([1, 0, 1 - 1e-6, 5]);
    const reference = topk([[0], [1]]);
    const refPlan = buildRoutingPlan(reference, 2, 2);
    const moved = buildRoutingPlan({ token: Int32Array.from([1, 1]), expert: Int32Array.from([0, 1]), weight: new Float32Array(2).fill(1) }, 2, 2);
    expect(compareRouting(moved, refPlan, reference, scores)).toMatchObject({ nearTies: 2, mismatches: 0 });
    const far = Float32Array.from([1, 0, 0.5, 5]);
    expect(compareRouting(moved, refPlan, reference, far)).toMatchObject({ nearTies: 0, mismatches: 2 });
  });
});
