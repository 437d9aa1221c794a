/**
 * The shared expert's gate is applied when the config says `gated`: the layer and the float64
 * reference must agree on that even when the weights carry a gate tensor the config does not use.
 */
import { describe, expect, it } from 'vitest';
import { checkAgainstReference, MoELayer, randomInput, randomWeights, type MoELayerConfig } from '../src/index.js';
import { createTestBackend } from '../src/testing/index.js';

const GATED: MoELayerConfig = {
  hiddenSize: 16,
  numExperts: 6,
  topK: 2,
  expert: { kind: 'swiglu', ffnSize: 12 },
  sharedExperts: { count: 1, ffnSize: 20, gated: true },
  router: { name: 'topk-softmax' },
};

describe('shared expert gate in the reference', () => {
  it.each([true, false])('follows config.sharedExperts.gated = %s like the layer does', async (gated) => {
    const config: MoELayerConfig = { ...GATED, sharedExperts: { count: 1, ffnSize: 20, gated } };
    const weights = randomWeights(GATED, { seed: 71 }); // always carries a sharedGate tensor
    expect(weights.sharedGate).toBeDefined();
    const x = randomInput(7, 16, 72);
    const layer = await MoELayer.create({ config, weights, backend: createTestBackend() });
    const result = await layer.forward(x);
    const check = checkAgainstReference(config, weights, x, result);
    expect(check.failures).toEqual([]);
    expect(check.relL2).toBeLessThan(1e-5);
    layer.dispose();
  });
});

describe('an empty batch', () => {
  it('MoELayer.forward on 0 tokens returns a [0, D] output and empty stats without routing anything', async () => {
    const weights = randomWeights(GATED, { seed: 73 });
    const layer = await MoELayer.create({ config: GATED, weights, backend: createTestBackend() });
    const result = await layer.forward(new Float32Array(0));
    expect(result.output.shape).toEqual([0, 16]);
    expect(result.plan.numTokens).toBe(0);
    expect(result.stats.tokensPerExpert).toEqual([0, 0, 0, 0, 0, 0]);
    expect(result.stats.auxLoss).toBe(0);
    expect(checkAgainstReference(GATED, weights, new Float32Array(0), result).passed).toBe(true);
    // and a non-empty batch right after still matches the reference
    const x = randomInput(3, 16, 74);
    expect(checkAgainstReference(GATED, weights, x, await layer.forward(x)).failures).toEqual([]);
    layer.dispose();
  });
});
