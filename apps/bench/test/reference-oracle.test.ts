import { checkAgainstReference, MoELayer, randomInput, randomWeights, type MoELayerConfig } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { ReferenceOracle, rowsForOutput, sampleRows } from '../src/reference-oracle.js';
import { denseConfigOf, flopsPerToken } from '../src/workload.js';
import { createTestBackend } from '@moe-runtime/core/testing';

const TOL = { maxRelL2: 1e-5, tieTolerance: 1e-4 };

const qwenLike: MoELayerConfig = {
  hiddenSize: 24,
  numExperts: 6,
  topK: 2,
  expert: { kind: 'swiglu', ffnSize: 20 },
  sharedExperts: { count: 1, ffnSize: 40, gated: true },
  router: { name: 'topk-softmax', options: { renormalize: false } },
};

const switchLike: MoELayerConfig = {
  hiddenSize: 16,
  numExperts: 4,
  topK: 1,
  expert: { kind: 'relu', ffnSize: 24 },
  router: { name: 'switch', options: { capacityFactor: 1 } },
};

describe('sampleRows', () => {
  it('takes every row up to the limit, else evenly spaced rows with both ends', () => {
    expect(sampleRows(3, 8)).toEqual([0, 1, 2]);
    const rows = sampleRows(256, 16);
    expect(rows).toHaveLength(16);
    expect(rows[0]).toBe(0);
    expect(rows[15]).toBe(255);
    expect([...rows].sort((a, b) => a - b)).toEqual(rows);
    expect(sampleRows(10, 1)).toEqual([0]);
  });
});

describe('rowsForOutput', () => {
  it('shifts the sample by one row per output, so coverage grows with repeats', () => {
    expect(rowsForOutput(256, 16, 0)).toEqual(sampleRows(256, 16));
    expect(rowsForOutput(256, 16, 1)).toEqual(sampleRows(256, 16).map((r) => (r + 1) % 256).sort((a, b) => a - b));
    const covered = new Set([0, 1, 2, 3, 4].flatMap((i) => rowsForOutput(256, 16, i)));
    expect(covered.size).toBeGreaterThanOrEqual(70);
    expect(rowsForOutput(8, 16, 3)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('ReferenceOracle', () => {
  it("agrees with core's checkAgainstReference when every row is checked", async () => {
    const weights = randomWeights(qwenLike, { seed: 5 });
    const x = randomInput(9, qwenLike.hiddenSize, 6);
    const layer = await MoELayer.create({ config: qwenLike, weights, backend: createTestBackend({ name: 'naive' }) });
    const result = await layer.forward(x);
    const core = checkAgainstReference(qwenLike, weights, x, result, { maxRelL2: 1e-5 });
    const mine = new ReferenceOracle(qwenLike, weights, x, 16).check(result, TOL);
    expect(core.passed).toBe(true);
    expect(mine.passed).toBe(true);
    expect(mine.rowsChecked).toBe(9);
    expect(mine.relL2).toBe(core.relL2);
    expect(mine.maxAbs).toBe(core.maxAbs);
    expect(mine.routingAgreement).toBe(core.routingAgreement);
    expect(mine.relL2).toBeGreaterThan(0);
  });

  it('judges capacity drops on the whole batch while checking only sampled rows', async () => {
    const weights = randomWeights(switchLike, { seed: 7 });
    const x = randomInput(40, switchLike.hiddenSize, 8);
    const layer = await MoELayer.create({ config: switchLike, weights, backend: createTestBackend({ name: 'naive' }) });
    const result = await layer.forward(x);
    expect(result.plan.dropped.token.length).toBeGreaterThan(0);
    const oracle = new ReferenceOracle(switchLike, weights, x, 5);
    for (let i = 0; i < 4; i++) {
      const check = oracle.check(result, TOL, i);
      expect(check.rowsChecked).toBe(5);
      expect(check.rows).toEqual(rowsForOutput(40, 5, i));
      expect(check.passed).toBe(true);
      expect(check.relL2).toBeLessThan(1e-6);
    }
    expect(oracle.plan.dropped.token.length).toBe(result.plan.dropped.token.length);
  });

  it('fails a perturbed output and a different routing, naming why', async () => {
    const weights = randomWeights(qwenLike, { seed: 9 });
    const x = randomInput(20, qwenLike.hiddenSize, 10);
    const oracle = new ReferenceOracle(qwenLike, weights, x, 4);
    const perturbed = await (await MoELayer.create({ config: qwenLike, weights, backend: createTestBackend({ name: 'p', faults: { perturb: 1e-3 } }) })).forward(x);
    const bad = oracle.check(perturbed, TOL);
    expect(bad.passed).toBe(false);
    expect(bad.relL2).toBeGreaterThan(1e-4);
    expect(bad.failures[0]).toMatch(/relative L2 error .* exceeds 0.00001/);
    const rerouted = await (await MoELayer.create({ config: qwenLike, weights, backend: createTestBackend({ name: 'r', faults: { reverseLogits: true } }) })).forward(x);
    const wrong = oracle.check(rerouted, TOL);
    expect(wrong.passed).toBe(false);
    expect(wrong.routingAgreement).toBeLessThan(0.9);
    expect(wrong.failures.join(' ')).toMatch(/routing differs for \d+ of 20 token/);
    // Values are judged under the backend's own routing, so a routing fault is not also
    // reported as a numeric one.
    expect(wrong.relL2).toBeLessThan(1e-5);
    expect(wrong.failures.join(' ')).not.toMatch(/relative L2/);
  });
});

describe('dense equivalent and FLOPs', () => {
  it('keeps the shared experts and sizes the dense FFN k x F', () => {
    const dense = denseConfigOf(qwenLike);
    expect(dense).toMatchObject({ numExperts: 1, topK: 1, expert: { kind: 'swiglu', ffnSize: 40 }, sharedExperts: qwenLike.sharedExperts });
    // routed 2 x (3 x 24 x 20) + shared 1 x (3 x 24 x 40), times 2 flops per multiply-add
    expect(flopsPerToken(qwenLike)).toBe(2 * (2 * 3 * 24 * 20 + 3 * 24 * 40));
    expect(flopsPerToken(dense)).toBe(flopsPerToken(qwenLike));
  });
});
